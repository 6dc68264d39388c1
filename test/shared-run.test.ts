// One run over many processes (ETL_RUN_ID), against the real Postgres, from a folder and from the
// real MinIO, each worker with its own state dir (a pod's): the tables value by value as the
// generator's oracle says, every object loaded once by one worker, one run row with the run's
// totals; a worker killed with SIGKILL mid-COPY and the run still exact; a process with another
// run id, or none, steps aside; a worker that comes after the run finds it over.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateExports, type Expected } from '../src/sample/generator.ts';
import { runCli, startCli, type CliResult } from './helpers/cli.ts';
import { allJoined, query, tableCounts } from './helpers/db.ts';
import { assertMatchesOracle } from './helpers/oracle.ts';
import { createTestBucket, s3Env, type TestBucket } from './helpers/s3.ts';
import { freshDatabase, type FreshDatabase } from './helpers/services.ts';
import { useWorkspace, type Workspace } from './helpers/workspace.ts';

const explain = (results: CliResult[]) => results.map((result, at) => `worker ${at}: exit ${result.code} ${result.signal ?? ''}\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-1500)}`).join('\n');
const stateDirs: string[] = [];
after(() => {
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});
/** A state dir of its own per worker, as each pod has. */
function stateDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'etl-worker-state-'));
  stateDirs.push(dir);
  return dir;
}

function workerEnv(source: Record<string, string>, url: string, runId: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return { ...source, DATABASE_URL: url, ETL_STATE_DIR: stateDir(), ...(runId ? { ETL_RUN_ID: runId } : {}), ...extra };
}

/** The last worker out exits with the run's code; the others 0 (commands/run.ts: workerExitCode). */
function assertExitCodes(results: CliResult[], expected: Expected, killed = -1): void {
  const closer = results.findIndex((result) => result.logs.some((log) => log.msg === 'the last worker out closed the shared run'));
  assert.ok(closer >= 0 && closer !== killed, `one worker closed the run\n${explain(results)}`);
  for (const [index, result] of results.entries()) {
    if (index === killed) continue;
    assert.equal(result.code, index === closer ? expectedCode(expected) : 0, explain(results));
    if (index !== closer) assert.ok(!result.logs.some((log) => log.msg === 'the last worker out closed the shared run'), explain(results));
  }
}

/** N workers of one run, started together; none finishes a batch before all have joined (allJoined). */
async function runWorkers(url: string, count: number, env: () => Record<string, string>): Promise<CliResult[]> {
  assert.equal((await runCli(['migrate'], { DATABASE_URL: url })).code, 0);
  return allJoined(url, count, () => Promise.all(Array.from({ length: count }, () => runCli(['run'], env()))));
}

const expectedCode = (expected: Expected) => (expected.files.some((file) => file.status === 'failed') ? 3 : 0);

/** What a user checks of a shared run: its run row, its workers, and that each object was loaded once. */
async function assertRunOnce(url: string, sharedId: string, expected: Expected, workers: number): Promise<void> {
  const runs = await query<{ run_id: string; status: string; files: { loaded: number; failed: number }; rows: { read: number } }>(
    url,
    `SELECT run_id, status, summary->'files' AS files, summary->'rows' AS rows FROM etl_runs WHERE shared_id = $1`,
    [sharedId],
  );
  assert.equal(runs.length, 1, 'one run row for the shared run');
  const [run] = runs;
  const failed = expected.files.filter((file) => file.status === 'failed').length;
  assert.equal(run!.status, failed > 0 ? 'failed' : 'ok');
  assert.equal(run!.files.loaded, expected.files.length - failed, 'the run row counts every object once');
  assert.equal(run!.files.failed, failed);
  assert.equal(run!.rows.read, expected.files.reduce((sum, file) => sum + file.rowsRead, 0));
  assert.deepEqual(await query(url, 'SELECT count(*)::int AS n FROM etl_runs'), [{ n: 1 }], 'no other run row');
  const objects = await query<{ object_key: string; done_by: string | null; status: string; rows_read: number }>(
    url,
    'SELECT object_key, done_by, status, rows_read::int FROM etl_run_objects WHERE run_id = $1 ORDER BY object_key',
    [run!.run_id],
  );
  assert.deepEqual(
    objects.map((object) => [object.object_key, object.status, object.rows_read]),
    [...expected.files].sort((a, b) => (a.key < b.key ? -1 : 1)).map((file) => [file.key, file.status, file.rowsRead]),
    'every object of the run done once, with its outcome',
  );
  const ledger = await query<{ object_key: string; run_id: string; attempts: number }>(url, 'SELECT object_key, run_id::text, attempts FROM etl_files');
  assert.equal(ledger.length, expected.files.length);
  for (const row of ledger) {
    assert.equal(row.run_id, run!.run_id, `${row.object_key} was recorded by the shared run`);
    assert.equal(row.attempts, 1, `${row.object_key} was recorded once`);
  }
  const rows = await query<{ worker: string; planned: boolean; done: number }>(
    url,
    `SELECT w.worker, w.planned, (SELECT count(*)::int FROM etl_run_objects o WHERE o.run_id = w.run_id AND o.done_by = w.worker) AS done
     FROM etl_run_workers w WHERE w.run_id = $1`,
    [run!.run_id],
  );
  assert.equal(rows.length, workers, 'every worker is in the run');
  assert.equal(rows.filter((worker) => worker.planned).length, 1, 'one worker planned the run');
  assert.ok(rows.filter((worker) => worker.done > 0).length >= 2, `the work was shared: ${JSON.stringify(rows)}`);
}

describe('three processes with one ETL_RUN_ID over a folder', () => {
  const ws: Workspace = useWorkspace('shared', { seed: 23, files: 30, rowsPerFile: 400 });
  const source = () => ({ ETL_SOURCE: ws.dir });

  test('load every object once, by one worker, and the tables as the oracle says', async () => {
    const results = await runWorkers(ws.db.url, 3, () => workerEnv(source(), ws.db.url, 'job-1'));
    assertExitCodes(results, ws.expected);
    assert.deepEqual(await tableCounts(ws.db.url), ws.expected.tables);
    await assertMatchesOracle(ws.db.url, ws.expected, 'three workers');
    await assertRunOnce(ws.db.url, 'job-1', ws.expected, 3);
    // Every worker logged its own part.
    const loadedByWorkers = results.reduce((sum, result) => sum + Number((result.logs.find((log) => log.summary) as { summary: { files: { loaded: number } } }).summary.files.loaded), 0);
    assert.equal(loadedByWorkers, ws.expected.files.filter((file) => file.status === 'loaded').length, 'the workers together loaded each object once');
  });

  test('a worker that comes after the run finds it over and touches nothing', async () => {
    const before = await query(ws.db.url, 'SELECT object_key, updated_at FROM etl_files ORDER BY object_key');
    const late = await runCli(['run'], workerEnv(source(), ws.db.url, 'job-1'));
    assert.equal(late.code, 0, explain([late]));
    assert.ok(late.logs.some((log) => log.msg === 'the shared run this worker was started for is over; nothing is left to do'), explain([late]));
    assert.deepEqual(await query(ws.db.url, 'SELECT object_key, updated_at FROM etl_files ORDER BY object_key'), before);
    assert.deepEqual(await query(ws.db.url, 'SELECT count(*)::int AS n FROM etl_run_workers'), [{ n: 3 }]);
  });
});

describe('a worker killed with SIGKILL mid-COPY', () => {
  // Large objects, so that a batch is in flight for a while.
  const ws: Workspace = useWorkspace('shared-kill', { seed: 29, files: 24, rowsPerFile: 15_000, variations: false });

  test('leaves its batch to the others, and the run completes exact; another run id and a run of its own step aside meanwhile', async () => {
    const env = () => workerEnv({ ETL_SOURCE: ws.dir }, ws.db.url, 'job-kill', { ETL_PROGRESS_INTERVAL: '0.05' });
    const workers = [startCli(['run'], env()), startCli(['run'], env()), startCli(['run'], env())];
    // The first worker seen with rows in flight (reading and copying a batch) is killed.
    const victim = await Promise.race(
      workers.map(async (worker, index) => {
        for await (const line of worker.lines) if (line.msg === 'progress' && Number(line.rows) > 2000) return index;
        return -1;
      }),
    );
    assert.ok(victim >= 0, 'a worker had rows in flight');
    workers[victim]!.child.kill('SIGKILL');
    // Meanwhile: etl status shows the running run (its workers, how far it is), and a process with
    // another run id, and one without any, step aside.
    const [status, other, alone] = await Promise.all([
      runCli(['status', '--json'], { DATABASE_URL: ws.db.url }),
      runCli(['run'], workerEnv({ ETL_SOURCE: ws.dir }, ws.db.url, 'job-other')),
      runCli(['run'], workerEnv({ ETL_SOURCE: ws.dir }, ws.db.url, undefined)),
    ]);
    assert.equal(status.code, 0, explain([status]));
    const shown = JSON.parse(status.stdout) as { last_run: { status: string; workers: Array<{ worker: string }>; progress: { objects: number; done: number } } };
    assert.equal(shown.last_run.status, 'running', status.stdout);
    assert.equal(shown.last_run.workers.length, 3, status.stdout);
    assert.equal(shown.last_run.progress.objects, ws.expected.files.length, status.stdout);
    assert.ok(shown.last_run.progress.done < ws.expected.files.length, status.stdout);
    const results = await Promise.all(workers.map((worker) => worker.done));
    assert.equal(results[victim]!.signal, 'SIGKILL', explain(results));
    assertExitCodes(results, ws.expected, victim);
    for (const result of [other, alone]) {
      assert.equal(result.code, 0, explain([result]));
      assert.ok(result.logs.some((log) => log.msg === 'another run holds the run lock; this run exits without touching data'), explain([result]));
    }
    assert.deepEqual(await query(ws.db.url, `SELECT count(*)::int AS n FROM etl_runs WHERE shared_id IS DISTINCT FROM 'job-kill'`), [{ n: 0 }], 'the others wrote no run');
    assert.deepEqual(await tableCounts(ws.db.url), ws.expected.tables);
    await assertMatchesOracle(ws.db.url, ws.expected, 'three workers, one killed');
    await assertRunOnce(ws.db.url, 'job-kill', ws.expected, 3);
    // The killed worker never left: its row says so.
    const left = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM etl_run_workers WHERE left_at IS NULL`);
    assert.deepEqual(left, [{ n: 1 }]);
  });
});

describe('every worker of a shared run killed', () => {
  const ws: Workspace = useWorkspace('shared-restart', { seed: 37, files: 12, rowsPerFile: 12_000, variations: false });

  test('a worker started again with the same ETL_RUN_ID joins the run, finishes it and closes it; a later run does not load anything twice', async () => {
    const env = () => workerEnv({ ETL_SOURCE: ws.dir }, ws.db.url, 'job-restart', { ETL_PROGRESS_INTERVAL: '0.05' });
    const first = startCli(['run'], env());
    // Killed once it has loaded part of the run (objects done) and has rows in flight.
    let done = 0;
    for await (const line of first.lines) {
      if (line.msg === 'file loaded') done++;
      if (done > 0 && line.msg === 'progress' && Number(line.rows) > 0) break;
    }
    first.child.kill('SIGKILL');
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL', explain([killed]));
    const before = (await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM etl_run_objects WHERE done_by IS NOT NULL`))[0]!.n;
    assert.ok(before > 0 && before < ws.expected.files.length, `part of the run was done when it was killed: ${before}`);

    // The Job's replacement pod: the same run id, no other worker alive.
    const restarted = await runCli(['run'], env());
    assert.equal(restarted.code, 0, explain([restarted]));
    assert.ok(restarted.logs.some((log) => log.msg === 'joined the shared run'), explain([restarted]));
    assert.ok(restarted.logs.some((log) => log.msg === 'the last worker out closed the shared run'), explain([restarted]));
    assert.ok(!restarted.logs.some((log) => log.msg === 'closed a run that an earlier process left running'), 'its own run is not closed as abandoned');
    await assertMatchesOracle(ws.db.url, ws.expected, 'a killed worker and the one started again');
    const runs = await query<{ status: string; loaded: number }>(ws.db.url, `SELECT status, (summary->'files'->>'loaded')::int AS loaded FROM etl_runs`);
    assert.deepEqual(runs, [{ status: 'ok', loaded: ws.expected.files.length }]);
    const objects = await query<{ worker: string; n: number }>(ws.db.url, 'SELECT done_by AS worker, count(*)::int AS n FROM etl_run_objects GROUP BY done_by ORDER BY n');
    assert.equal(objects.reduce((sum, row) => sum + row.n, 0), ws.expected.files.length, 'every object done once');
    // Nothing is left to a later run of its own.
    const later = await runCli(['run'], workerEnv({ ETL_SOURCE: ws.dir }, ws.db.url, undefined));
    assert.equal(later.code, 0, explain([later]));
    assert.equal((later.logs.find((log) => log.summary) as { summary: { files: { loaded: number; unchanged: number } } }).summary.files.loaded, 0);
  });
});

describe('three processes with one ETL_RUN_ID over MinIO', () => {
  const PREFIX = 'Toshiba/Historical Tickets/';
  let bucket: TestBucket;
  let db: FreshDatabase;
  let expected: Expected;
  before(async () => {
    bucket = await createTestBucket('etl-shared');
    db = await freshDatabase({ prefix: 'shared_s3' });
    const generated = generateExports({ seed: 31, files: 24, rowsPerFile: 300 });
    expected = generated.expected;
    // In key order, one at a time: LastModified follows the generator's order (s3-pipeline.test.ts).
    for (const object of [...generated.objects].sort((a, b) => (a.key < b.key ? -1 : 1))) await bucket.put(PREFIX + object.key, object.body);
  });
  after(async () => {
    await db?.drop();
    await bucket?.drop();
  });

  test('load every object once, and the tables as the oracle says', async () => {
    const results = await runWorkers(db.url, 3, () => workerEnv(s3Env(bucket.name, PREFIX), db.url, 'job-s3'));
    assertExitCodes(results, expected);
    assert.deepEqual(await tableCounts(db.url), expected.tables);
    await assertMatchesOracle(db.url, expected, 'three workers from MinIO');
    await assertRunOnce(db.url, 'job-s3', expected, 3);
  });
});
