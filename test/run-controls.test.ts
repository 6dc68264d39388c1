// Operators steer runs (issue: run controls): `etl plan` says what the next run would do without
// changing anything; --only/--since/--until load a subset and never mark the rest gone; narrowing
// the source keeps the ledger's keys; `etl reload` loads objects again exactly once; unknown flags
// exit 2; read-only commands work with a read-only role; two installs share a database in schemas
// of their own. Through the CLI, against the real Postgres.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateExports, writeExports, type Expected } from '../src/sample/generator.ts';
import { runCli } from './helpers/cli.ts';
import { query, withReadOnlyRole } from './helpers/db.ts';
import { assertMatchesOracle, snapshot } from './helpers/oracle.ts';
import { freshDatabase, type FreshDatabase } from './helpers/services.ts';

interface PlanReport {
  source: string;
  load: Array<{ key: string; reason: string }>;
  waiting: Array<{ key: string }>;
  unchanged: number;
  skipped: Array<{ key: string }>;
  gone: string[];
}

async function planJson(env: Record<string, string>, args: string[] = []): Promise<PlanReport> {
  const result = await runCli(['plan', '--json', ...args], env);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return JSON.parse(result.stdout) as PlanReport;
}

/** Everything in the etl's own tables, for "changes nothing". */
async function ledgerState(url: string): Promise<unknown> {
  return {
    tables: await snapshot(url),
    runs: await query(url, 'SELECT run_id, status FROM etl_runs ORDER BY started_at'),
    source: await query(url, 'SELECT root FROM etl_source'),
  };
}

const errorLine = (result: { stdout: string; stderr: string }) => result.stdout + result.stderr;

describe('run controls', () => {
  let db: FreshDatabase;
  let dir: string;
  let env: Record<string, string>;
  let expected: Expected;
  let dataKeys: string[];

  before(async () => {
    db = await freshDatabase({ prefix: 'controls' });
    dir = await mkdtemp(path.join(tmpdir(), 'etl-controls-'));
    const generated = generateExports({ seed: 141, files: 8, rowsPerFile: 80 });
    expected = generated.expected;
    await writeExports(path.join(dir, 'src'), generated.objects);
    dataKeys = generated.objects.filter((object) => object.data).map((object) => object.key);
    env = { ETL_SOURCE: path.join(dir, 'src'), DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, 'state') };
  });
  after(async () => {
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('etl --version prints the version and exits 0', async () => {
    const result = await runCli(['--version'], env);
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), `etl ${version}`);
  });

  it('an unknown flag exits 2 with one sentence, and nothing is loaded', async () => {
    const result = await runCli(['run', '--dry-run'], env);
    assert.equal(result.code, 2, errorLine(result));
    assert.match(errorLine(result), /etl run: unknown option '--dry-run'; see `etl run --help`/);
    assert.doesNotMatch(errorLine(result), /\n\s+at /, 'no stack trace');
    const [tables] = await query<{ t: string | null }>(db.url, `SELECT to_regclass('etl_files')::text AS t`);
    assert.equal(tables!.t, null, 'not even the tables were created');
    for (const args of [['status', '--bogus'], ['plan', 'extra'], ['rejects', '--limit'], ['reload']]) {
      const other = await runCli(args, env);
      assert.equal(other.code, 2, `${args.join(' ')}: ${errorLine(other)}`);
    }
  });

  it('read commands never create the tables: they say what to do', async () => {
    for (const command of ['status', 'plan', 'rejects']) {
      const result = await runCli([command], env);
      assert.equal(result.code, 2, errorLine(result));
      assert.match(errorLine(result), /no etl tables yet: run `etl migrate`/);
    }
    const [tables] = await query<{ t: string | null }>(db.url, `SELECT to_regclass('etl_files')::text AS t`);
    assert.equal(tables!.t, null);
  });

  it('etl plan lists every export as new, the other files as skipped, and changes nothing', async () => {
    assert.equal((await runCli(['migrate'], env)).code, 0);
    const before = await ledgerState(db.url);
    const plan = await planJson(env);
    assert.deepEqual(plan.load.map((item) => item.key).sort(), [...dataKeys].sort());
    assert.ok(plan.load.every((item) => item.reason === 'new'));
    // A folder lists no folder markers (S3 does).
    assert.deepEqual(plan.skipped.map((item) => item.key).sort(), expected.skipped.filter((key) => !key.endsWith('/')).sort());
    assert.deepEqual(await ledgerState(db.url), before, 'etl plan changed the database');
  });

  it('run --only loads the matching objects; the others are neither loaded nor marked gone', async () => {
    const result = await runCli(['run', '--only', 'exports/2023/**'], env);
    assert.ok(result.code === 0 || result.code === 3, errorLine(result));
    const ledger = await query<{ object_key: string }>(db.url, 'SELECT object_key FROM etl_files ORDER BY 1');
    const in2023 = dataKeys.filter((key) => key.startsWith('exports/2023/')).sort();
    assert.deepEqual(ledger.map((row) => row.object_key), in2023);
    const plan = await planJson(env);
    assert.deepEqual(plan.load.map((item) => item.key).sort(), dataKeys.filter((key) => !key.startsWith('exports/2023/')).sort());
    assert.deepEqual(plan.gone, []);
  });

  it('--since and --until select by modification time', async () => {
    const times = expected.files.map((file) => file.key);
    const plan = await planJson(env, ['--until', '2000-01-01']);
    assert.deepEqual(plan.load, [], 'nothing was modified before 2000');
    const later = await planJson(env, ['--since', '2000-01-01']);
    assert.equal(later.load.length + later.unchanged + later.waiting.length, times.length);
    const bad = await runCli(['plan', '--since', 'yesterday-ish'], env);
    assert.equal(bad.code, 2);
    assert.match(errorLine(bad), /--since must be a date or a date-time/);
  });

  it('a narrower source (a folder inside) keeps the keys and marks nothing outside gone; a source outside is refused', async () => {
    const inside = { ...env, ETL_SOURCE: path.join(dir, 'src', 'exports', '2024') };
    const plan = await planJson(inside);
    assert.ok(plan.load.length > 0 && plan.load.every((item) => item.key.startsWith('exports/2024/')), JSON.stringify(plan.load));
    const result = await runCli(['run'], inside);
    assert.ok(result.code === 0 || result.code === 3, errorLine(result));
    const gone = await query(db.url, `SELECT object_key FROM etl_files WHERE status = 'gone'`);
    assert.deepEqual(gone, []);
    const keys = await query<{ object_key: string }>(db.url, 'SELECT object_key FROM etl_files ORDER BY 1');
    assert.deepEqual(keys.map((row) => row.object_key), [...dataKeys].sort(), 'every object once, keyed from the ledger source');
    const outside = await runCli(['run'], { ...env, ETL_SOURCE: dir });
    assert.equal(outside.code, 2, errorLine(outside));
    assert.match(errorLine(outside), /belongs to file:\/\/.*is not inside it/);
    await assertMatchesOracle(db.url, expected, 'after the subset, the narrowed and the full runs');
  });

  it('a newly arrived object and a rewritten one show in the plan, which still changes nothing', async () => {
    const [first] = dataKeys.filter((key) => key.endsWith('.csv')).sort();
    await cp(path.join(dir, 'src', first!), path.join(dir, 'src', 'exports', 'arrived.csv'));
    const before = await ledgerState(db.url);
    const plan = await planJson(env);
    assert.deepEqual(
      plan.load.map((item) => [item.key, item.reason]),
      [['exports/arrived.csv', 'new']],
    );
    assert.deepEqual(await ledgerState(db.url), before);
    await rm(path.join(dir, 'src', 'exports', 'arrived.csv'));
  });

  it('etl reload PREFIX loads those objects again, once each, and the tables still match the oracle', async () => {
    const target = dataKeys.filter((key) => key.startsWith('exports/2023/'));
    const before = await query<{ object_key: string; run_id: string }>(db.url, 'SELECT object_key, run_id FROM etl_files ORDER BY 1');
    const result = await runCli(['reload', 'exports/2023/'], env);
    assert.ok(result.code === 0 || result.code === 3, errorLine(result));
    const after = await query<{ object_key: string; run_id: string; retry_requested: boolean }>(db.url, 'SELECT object_key, run_id, retry_requested FROM etl_files ORDER BY 1');
    const reloadRun = (await query<{ run_id: string }>(db.url, 'SELECT run_id FROM etl_runs ORDER BY started_at DESC LIMIT 1'))[0]!.run_id;
    for (const row of after) {
      const was = before.find((entry) => entry.object_key === row.object_key)!;
      assert.equal(row.run_id === reloadRun, target.includes(row.object_key), `${row.object_key} reloaded: ${row.run_id === reloadRun}`);
      if (!target.includes(row.object_key)) assert.equal(row.run_id, was.run_id);
      assert.equal(row.retry_requested, false);
    }
    await assertMatchesOracle(db.url, expected, 'after etl reload');
  });

  it('a read-only role: status, rejects, plan and check answer and change nothing', async () => {
    await withReadOnlyRole(db.url, 'etl_reader', async (readerUrl) => {
      const reader = { ...env, DATABASE_URL: readerUrl };
      const before = await ledgerState(db.url);
      for (const args of [['status', '--json'], ['rejects', '--json'], ['plan', '--json'], ['check', '--json']]) {
        const result = await runCli(args, reader);
        assert.equal(result.code, 0, `${args.join(' ')}: ${errorLine(result)}`);
        JSON.parse(result.stdout);
      }
      const check = JSON.parse((await runCli(['check', '--json'], reader)).stdout) as { ok: boolean; database: { pending_migrations: string[] } };
      assert.equal(check.ok, true);
      assert.deepEqual(check.database.pending_migrations, []);
      assert.deepEqual(await ledgerState(db.url), before);
    });
  });
});

describe('two installs with different sources on one database (database_schema)', () => {
  let db: FreshDatabase;
  let dir: string;

  before(async () => {
    db = await freshDatabase({ prefix: 'schemas' });
    dir = await mkdtemp(path.join(tmpdir(), 'etl-schemas-'));
  });
  after(async () => {
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('run at the same time, each loads its own source into its own schema and never touches the other ledger', async () => {
    const sites = ['site_east', 'site_west'].map((schema, index) => ({ schema, ...generateExports({ seed: 500 + index, files: 5, rowsPerFile: 60, variations: false }) }));
    for (const site of sites) await writeExports(path.join(dir, site.schema), site.objects);
    const envOf = (schema: string) => ({ ETL_SOURCE: path.join(dir, schema), DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, `state-${schema}`), ETL_DATABASE_SCHEMA: schema });
    const results = await Promise.all(sites.map((site) => runCli(['run'], envOf(site.schema))));
    for (const result of results) {
      assert.ok(result.code === 0 || result.code === 3, errorLine(result));
      assert.notEqual(result.logs.find((line) => line.summary !== undefined)?.summary, undefined, 'each run loaded: neither waited on the other one\'s lock');
    }
    for (const site of sites) {
      const url = new URL(db.url);
      url.searchParams.set('options', `-c search_path=${site.schema}`);
      await assertMatchesOracle(url.toString(), site.expected, site.schema);
      const [root] = await query<{ root: string }>(db.url, `SELECT root FROM ${site.schema}.etl_source`);
      assert.match(root!.root, new RegExp(`${site.schema}/$`));
    }
    const [publicTables] = await query<{ t: string | null }>(db.url, `SELECT to_regclass('public.etl_files')::text AS t`);
    assert.equal(publicTables!.t, null, 'nothing in the public schema');
    await writeFile(path.join(dir, 'site_east', 'late.csv'), await readFile(path.join(dir, 'site_east', sites[0]!.objects.find((object) => object.data && object.key.endsWith('.csv'))!.key)));
    await utimes(path.join(dir, 'site_east', 'late.csv'), new Date(), new Date());
    const plan = await runCli(['plan', '--json'], envOf('site_west'));
    assert.deepEqual((JSON.parse(plan.stdout) as PlanReport).load, [], "the west install does not see the east's new object");
  });
});
