// The database fails while objects are in flight (issue: "no fault can stop the pipeline"): the
// loading connection terminated mid-COPY and mid-merge, the lock connection terminated, Postgres
// stopped and restarted, the network cut and stalled by a proxy. Each time the run ends by itself
// with exit 1 and one sentence (no stack trace), no object is half loaded, the ledger holds only
// whole objects, and the next run completes the work and closes the dead run's row; a third run
// changes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateExports, writeExports, type Expected } from '../src/sample/generator.ts';
import { runCli, startCli, type CliResult } from './helpers/cli.ts';
import { query } from './helpers/db.ts';
import { assertMatchesOracle, snapshot } from './helpers/oracle.ts';
import { startPrivatePostgres } from './helpers/private-postgres.ts';
import { freshDatabase, databaseUrl, type FreshDatabase } from './helpers/services.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';

let dir = '';
let expected: Expected;

before(async () => {
  // Objects large enough that a COPY and a merge each last a while.
  const generated = generateExports({ seed: 303, files: 4, rowsPerFile: 30_000, variations: false });
  expected = generated.expected;
  dir = await mkdtemp(path.join(tmpdir(), 'etl-db-faults-'));
  await writeExports(dir, generated.objects);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function assertOneSentence(result: CliResult, sentence: RegExp): void {
  const output = result.stdout + result.stderr;
  assert.doesNotMatch(output, /\n\s+at |Unhandled|TypeError|ReferenceError/, `a stack trace or a crash:\n${output.slice(-3000)}`);
  const errors = result.logs.filter((line) => line.level === 'error').map((line) => String(line.msg));
  assert.ok(errors.some((message) => sentence.test(message)), `no error line matches ${sentence}:\n${errors.join('\n')}`);
}

/** Polls pg_stat_activity of `server` until a backend of the database matches; returns its pid. */
async function waitForBackend(server: string, database: string, applicationName: string, query_: RegExp | null, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await query<{ pid: number; query: string; state: string }>(
      server,
      `SELECT pid, query, state FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
      [database, applicationName],
    ).catch(() => []);
    const found = rows.find((row) => (query_ === null ? true : row.state === 'active' && query_.test(row.query)));
    if (found) return found.pid;
    if (Date.now() > deadline) assert.fail(`no ${applicationName} backend ${query_ ?? ''} within ${timeoutMs} ms`);
    await sleep(15);
  }
}

/** After the fault: the ledger holds only whole objects, and none of the killed one's rows are in. */
async function assertWholeObjectsOnly(url: string): Promise<void> {
  const loaded = new Set((await query<{ object_key: string }>(url, `SELECT object_key FROM etl_files WHERE status = 'loaded'`)).map((row) => row.object_key));
  for (const table of ['customers', 'service_requests', 'tasks', 'parts_used', 'sr_notes']) {
    const owners = await query<{ source_object: string }>(url, `SELECT DISTINCT source_object FROM ${table}`);
    for (const owner of owners) assert.ok(loaded.has(owner.source_object), `${table} holds rows of ${owner.source_object}, which is not recorded loaded`);
  }
}

/** The next run completes the work and closes the dead run's row; a third changes nothing. */
async function assertNextRunCompletes(url: string, env: Record<string, string>): Promise<void> {
  const rerun = await runCli(['run'], env);
  assert.equal(rerun.code, 0, rerun.stdout.slice(-3000) + rerun.stderr);
  await assertMatchesOracle(url, expected, 'after the next run');
  assert.deepEqual(await query(url, `SELECT run_id FROM etl_runs WHERE status = 'running'`), [], 'no run is left running');
  const before = await snapshot(url);
  const third = await runCli(['run'], env);
  assert.equal(third.code, 0);
  assert.deepEqual(await snapshot(url), before);
}

describe('the database fails mid-run (shared server)', () => {
  let db: FreshDatabase;
  let stateDir: string;
  let env: Record<string, string>;
  before(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'etl-db-faults-state-'));
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });
  const fresh = async (name: string, extra: Record<string, string> = {}) => {
    db = await freshDatabase({ prefix: name });
    env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: stateDir, ETL_LOAD_CONCURRENCY: '1', ...extra };
  };

  for (const [stage, statement] of [['COPY', /^COPY /], ['merge', /^INSERT INTO /]] as const) {
    it(`the loading connection terminated mid-${stage}: the run stops in one sentence; the next run completes`, async (t) => {
      await fresh(`kill_${stage.toLowerCase()}`);
      t.after(() => db.drop());
      const run = startCli(['run'], env);
      const pid = await waitForBackend(databaseUrl(), db.name, 'etl-load', statement);
      await query(databaseUrl(), 'SELECT pg_terminate_backend($1)', [pid]);
      const result = await run.done;
      assert.equal(result.code, 1, result.stdout.slice(-3000) + result.stderr);
      assertOneSentence(result, /^The database connection was lost while loading exports\/.+: /);
      await assertWholeObjectsOnly(db.url);
      const [row] = await query<{ status: string }>(db.url, `SELECT status FROM etl_runs ORDER BY started_at DESC LIMIT 1`);
      assert.equal(row!.status, 'failed', 'the run row was written on a connection of its own');
      await assertNextRunCompletes(db.url, env);
    });
  }

  it('the lock connection terminated: the run stops (another run could now start) and the next completes', async (t) => {
    await fresh('kill_lock');
    t.after(() => db.drop());
    const run = startCli(['run'], env);
    await waitForBackend(databaseUrl(), db.name, 'etl-load', /^COPY /);
    const lockPid = await waitForBackend(databaseUrl(), db.name, 'etl-run-lock', null);
    await query(databaseUrl(), 'SELECT pg_terminate_backend($1)', [lockPid]);
    const result = await run.done;
    assert.equal(result.code, 1);
    assertOneSentence(result, /lost the connection that holds the run lock; stopping the run/);
    const [row] = await query<{ status: string; summary: { error: string } }>(db.url, `SELECT status, summary FROM etl_runs ORDER BY started_at DESC LIMIT 1`);
    assert.deepEqual([row!.status, row!.summary.error], ['aborted', 'the connection holding the run lock was lost']);
    await assertWholeObjectsOnly(db.url);
    await assertNextRunCompletes(db.url, env);
  });

  it('a proxy between the runner and Postgres cuts every connection: one sentence, and the next run completes', async (t) => {
    const proxy = await startTcpProxy('127.0.0.1', Number(new URL(databaseUrl()).port));
    t.after(() => proxy.close());
    db = await freshDatabase({ prefix: 'proxy_cut' });
    t.after(() => db.drop());
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    env = { ETL_SOURCE: dir, DATABASE_URL: viaProxy.toString(), ETL_STATE_DIR: stateDir, ETL_LOAD_CONCURRENCY: '1' };
    const run = startCli(['run'], env);
    await waitForBackend(databaseUrl(), db.name, 'etl-load', /^COPY /);
    proxy.cut();
    const result = await run.done;
    assert.equal(result.code, 1);
    assertOneSentence(result, /database connection was lost|lost the connection that holds the run lock/);
    await assertWholeObjectsOnly(db.url);
    await assertNextRunCompletes(db.url, env);
  });

  it('a proxy that silently stalls every connection: the run gives up within its timeouts, and the next completes', async (t) => {
    const proxy = await startTcpProxy('127.0.0.1', Number(new URL(databaseUrl()).port));
    t.after(() => proxy.close());
    db = await freshDatabase({ prefix: 'proxy_stall' });
    t.after(() => db.drop());
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    // Short timeouts for the test: a statement may take 4 s (the client gives up at 9.4 s), the
    // lock connection is checked every 2 s.
    const timeouts = { ETL_DB_STATEMENT_TIMEOUT: '4', ETL_DB_HEALTH_CHECK: '2' };
    env = { ETL_SOURCE: dir, DATABASE_URL: viaProxy.toString(), ETL_STATE_DIR: stateDir, ETL_LOAD_CONCURRENCY: '1', ...timeouts };
    const run = startCli(['run'], env);
    await waitForBackend(databaseUrl(), db.name, 'etl-load', /^COPY /);
    proxy.stall();
    const stalledAt = Date.now();
    const result = await run.done;
    const seconds = (Date.now() - stalledAt) / 1000;
    proxy.resume();
    assert.equal(result.code, 1, result.stdout.slice(-3000));
    assert.ok(seconds < 90, `the run took ${seconds} s to give up`);
    t.diagnostic(`the stalled run gave up after ${seconds.toFixed(1)} s`);
    assertOneSentence(result, /lost the connection that holds the run lock; stopping the run/);
    await assertWholeObjectsOnly(db.url);
    // The run row could not be written through the stalled proxy: the next run closes it.
    await assertNextRunCompletes(db.url, { ...env, DATABASE_URL: db.url });
  });
});

describe('Postgres stopped and restarted mid-run (a server of the test own)', () => {
  it('the run stops in one sentence; after the restart the next run closes its row and completes', async (t) => {
    const server = await startPrivatePostgres();
    t.after(() => server.destroy());
    await query(server.url, 'CREATE DATABASE etl');
    const url = new URL(server.url);
    url.pathname = '/etl';
    const stateDir = await mkdtemp(path.join(tmpdir(), 'etl-restart-state-'));
    t.after(() => rm(stateDir, { recursive: true, force: true }));
    const env = { ETL_SOURCE: dir, DATABASE_URL: url.toString(), ETL_STATE_DIR: stateDir, ETL_LOAD_CONCURRENCY: '1' };
    const run = startCli(['run'], env);
    await waitForBackend(server.url, 'etl', 'etl-load', /^COPY /);
    await server.stop();
    const result = await run.done;
    assert.equal(result.code, 1, result.stdout.slice(-3000));
    assertOneSentence(result, /database connection was lost|lost the connection that holds the run lock/);
    await server.start();
    const [dead] = await query<{ status: string }>(url.toString(), `SELECT status FROM etl_runs`);
    assert.equal(dead!.status, 'running', 'the database was down when the run ended: its row waits for the next run');
    await assertWholeObjectsOnly(url.toString());
    await assertNextRunCompletes(url.toString(), env);
    const [closed] = await query<{ status: string; summary: { error?: string } }>(url.toString(), `SELECT status, summary FROM etl_runs ORDER BY started_at LIMIT 1`);
    assert.notEqual(closed!.status, 'running');
    assert.match(closed!.summary.error ?? '', /database connection was lost|lock/, 'closed with the summary the dead run wrote to the state dir');
  });
});
