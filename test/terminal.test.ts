// `etl run` as a person at a terminal sees it: run inside a real pseudo-terminal (a tmux pane of
// 100 x 30 on a private tmux server) and read off the screen with `tmux capture-pane`, as a person
// would read it: a live progress bar while it runs, a line per object that failed or quarantined
// rows, warnings, and a summary table at the end, all on one screen for 60 objects. `--quiet` and
// LOG_FORMAT=json keep the JSON lines.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateExports, writeExports, type Expected } from '../src/sample/generator.ts';
import { MAIN, runCli } from './helpers/cli.ts';
import { query } from './helpers/db.ts';
import { freshDatabase, type FreshDatabase } from './helpers/services.ts';

const WIDTH = 100;
const HEIGHT = 30;
const SERVER = `etl-test-${process.pid}`;

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', ['-L', SERVER, ...args], { encoding: 'utf8' });
  if (result.error) throw new Error(`tmux is missing (${result.error.message}): run \`npm run services:up\` (it installs it) or apt-get install tmux`);
  if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/** Starts `etl run ...` in a new pane with only `env`; the pane says EXIT=<code> when it ends. */
function startInPane(session: string, args: string[], env: Record<string, string>): void {
  const assignments = Object.entries({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', TERM: 'xterm-256color', ...env }).map(([name, value]) => `${name}=${quote(value)}`);
  const command = `env -i ${assignments.join(' ')} ${quote(process.execPath)} ${quote(MAIN)} ${args.map(quote).join(' ')}; echo EXIT=$?; sleep 600`;
  tmux('new-session', '-d', '-s', session, '-x', String(WIDTH), '-y', String(HEIGHT), command);
}

const screen = (session: string) => tmux('capture-pane', '-p', '-t', session);
/** Lines that scrolled off the top of the pane (0: everything is still on the screen). */
const scrolledOff = (session: string) => Number(tmux('display-message', '-p', '-t', session, '#{history_size}').trim());

async function waitForScreen(session: string, what: string, ready: (text: string) => boolean, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = screen(session);
    if (ready(text)) return text;
    assert.ok(Date.now() < deadline && (what === 'the end of the run' || !/^EXIT=\d+$/m.test(text)), `${what} never showed; the screen:\n${text}`);
    await sleep(50);
  }
}

describe('etl run at a terminal', () => {
  let dir = '';
  let expected: Expected;
  let db: FreshDatabase;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'etl-terminal-'));
    const generated = generateExports({ seed: 616, files: 60, rowsPerFile: 1500 });
    expected = generated.expected;
    await writeExports(path.join(dir, 'exports'), generated.objects);
  });
  after(async () => {
    spawnSync('tmux', ['-L', SERVER, 'kill-server']);
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows one live progress bar, a line per failed or quarantining object, warnings, and a summary table, on one screen', async () => {
    db = await freshDatabase({ prefix: 'terminal' });
    // A run row that a dead process left running: the run closes it with a warning, which must show.
    assert.equal((await runCli(['migrate'], { DATABASE_URL: db.url })).code, 0);
    await query(db.url, `INSERT INTO etl_runs (run_id, started_at, status) VALUES (gen_random_uuid(), now() - interval '1 day', 'running')`);
    startInPane('run', ['run'], { ETL_SOURCE: path.join(dir, 'exports'), DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, 'state') });

    // While it runs: one bar line with objects done/total, rows, rows/s, ETA, objects in flight.
    const bar = /^[█░]{20} (\d+)\/60 objects · [\d,]+ rows · [\d,]+ rows\/s · ETA (\d+:\d\d|--:--)( · \d+ failed)?( · now .+)?$/m;
    const during = await waitForScreen('run', 'the progress bar', (text) => bar.test(text) && / · now /.test(text));
    assert.equal(during.split('\n').filter((line) => bar.test(line)).length, 1, `one bar:\n${during}`);
    assert.doesNotMatch(during, /^\{"level"/m, 'no JSON log lines on the screen');

    const end = await waitForScreen('run', 'the end of the run', (text) => /^EXIT=\d+$/m.test(text));
    assert.match(end, /^EXIT=3$/m, `an object failed: exit 3\n${end}`);
    assert.doesNotMatch(end, bar, 'the bar is gone at the end');
    assert.doesNotMatch(end, /^\{"level"/m);
    assert.match(end, /^warn: closed a run that an earlier process left running/m, 'warnings stay visible');
    const failed = expected.files.filter((file) => file.status === 'failed');
    const quarantining = expected.files.filter((file) => file.status === 'loaded' && file.rowsQuarantined > 0);
    for (const file of failed) assert.match(end, new RegExp(`^✗ ${file.key}: ${file.errorClass}: `, 'm'));
    for (const file of quarantining) assert.match(end, new RegExp(`^! ${file.key}: ${file.rowsQuarantined} of [\\d,]+ rows quarantined$`, 'm'));
    assert.equal(end.split('\n').filter((line) => /^[✗!] /.test(line)).length, failed.length + quarantining.length, 'one line per failed or quarantining object, no more');
    // The closing table, read as a person would.
    assert.match(end, /^Run failed in [\d.]+ s \(exit 3\)\.$/m);
    const cell = (label: string) => Number(new RegExp(`${label} +([\\d,]+)`).exec(end)?.[1]?.replaceAll(',', ''));
    assert.equal(cell('  loaded'), expected.files.filter((file) => file.status === 'loaded').length);
    assert.equal(cell('failed'), failed.length);
    assert.equal(cell('read'), expected.rowsRead);
    assert.equal(cell('quarantined'), expected.rowsQuarantined);
    assert.match(end, /^Trace [0-9a-f]{32}$/m);
    assert.equal(scrolledOff('run'), 0, `everything fits on one ${WIDTH}x${HEIGHT} screen:\n${end}`);
    assert.ok(end.split('\n').every((line) => line.length <= WIDTH), 'no line wider than the terminal');
  });

  for (const [name, args, env] of [
    ['--quiet', ['run', '--quiet'], {}],
    ['LOG_FORMAT=json', ['run'], { LOG_FORMAT: 'json' }],
  ] as const) {
    it(`${name} keeps the JSON lines at a terminal`, async () => {
      const quietDb = await freshDatabase({ prefix: 'terminal_quiet' });
      try {
        const session = `quiet${name.length}`;
        startInPane(session, [...args], { ETL_SOURCE: path.join(dir, 'exports'), DATABASE_URL: quietDb.url, ETL_STATE_DIR: path.join(dir, `state-${session}`), ...env });
        const end = await waitForScreen(session, 'the end of the run', (text) => /^EXIT=\d+$/m.test(text));
        assert.match(end, /^EXIT=3$/m);
        const history = tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session);
        const jsonLines = history.split('\n').filter((line) => line.startsWith('{"level"'));
        assert.ok(jsonLines.length > 60, `JSON lines, one per object at least:\n${history.slice(0, 2000)}`);
        assert.ok(jsonLines.some((line) => (JSON.parse(line) as { msg: string }).msg.startsWith('run failed:')), 'the summary line');
        assert.doesNotMatch(history, /[█░]{20} \d+\/60 objects/, 'no progress bar');
      } finally {
        await quietDb.drop();
      }
    });
  }
});
