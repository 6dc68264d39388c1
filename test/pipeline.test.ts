// The pipeline end to end on a folder of exports and a real Postgres: exact counts against the
// generator's oracle, exactly-once reruns, changed objects, a crash mid-file, concurrent runs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { query, tableCounts, TABLES } from './helpers/db.ts';
import { useWorkspace, type Workspace } from './helpers/workspace.ts';
import { runCli, startCli } from './helpers/cli.ts';
import { assertMatchesOracle, snapshot } from './helpers/oracle.ts';

function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

function runEnv(ws: Workspace, extra: Record<string, string> = {}): Record<string, string> {
  return { ETL_SOURCE: ws.dir, DATABASE_URL: ws.db.url, ETL_STATE_DIR: ws.stateDir, ...extra };
}

describe('a folder of generated exports (with variations, clean rows)', () => {
  const ws = useWorkspace('pipeline', { seed: 7, files: 14, rowsPerFile: 150 });

  test('the first run loads every row of every table, value by value, as the oracle says', async () => {
    const result = await runCli(['run'], runEnv(ws));
    // The object without SR Number fails: exit 1, everything else loaded.
    assert.equal(result.code, ws.expected.files.some((file) => file.status === 'failed') ? 3 : 0, result.stdout + result.stderr);
    assert.deepEqual(await tableCounts(ws.db.url), ws.expected.tables);
    await assertMatchesOracle(ws.db.url, ws.expected, 'the first run');
  });

  test('the ledger accounts for every data object, row by row', async () => {
    const files = await query<{ object_key: string; status: string; error_class: string | null; rows_read: number; rows_loaded: number; rows_quarantined: number }>(
      ws.db.url,
      'SELECT object_key, status, error_class, rows_read::int, rows_loaded::int, rows_quarantined::int FROM etl_files ORDER BY object_key',
    );
    assert.equal(files.length, ws.expected.files.length);
    for (const want of ws.expected.files) {
      const got = files.find((file) => file.object_key === want.key);
      assert.ok(got, `no ledger row for ${want.key}`);
      assert.equal(got.status, want.status, want.key);
      if (want.status === 'failed') {
        assert.equal(got.error_class, want.errorClass);
        continue;
      }
      assert.equal(got.rows_read, want.rowsRead, want.key);
      assert.equal(got.rows_quarantined, want.rowsQuarantined, want.key);
      assert.equal(got.rows_read, got.rows_loaded + got.rows_quarantined, want.key);
    }
    const missing = files.find((file) => file.error_class === 'MISSING_REQUIRED_COLUMNS');
    assert.ok(missing, 'the object without SR Number is recorded as MISSING_REQUIRED_COLUMNS');
  });

  test('the run summary and failed-files log are on the state ws.dir', () => {
    const summaryFile = readdirSync(ws.stateDir).find((name) => /^pipeline_summary_\d{8}\.json$/.test(name));
    assert.ok(summaryFile, 'pipeline_summary_YYYYMMDD.json is written');
    const summary = JSON.parse(readFileSync(path.join(ws.stateDir, summaryFile), 'utf8')) as { runs: Array<{ rows: { read: number; loaded: number; quarantined: number } }> };
    const run = summary.runs[0]!;
    assert.equal(run.rows.read, ws.expected.rowsRead);
    assert.equal(run.rows.read, run.rows.loaded + run.rows.quarantined);
    const failedLog = JSON.parse(readFileSync(path.join(ws.stateDir, 'failed_files_log.json'), 'utf8')) as { failed_files: Array<{ object_key: string; error_class: string; attempts: number }> };
    assert.deepEqual(
      failedLog.failed_files.map((file) => [file.object_key, file.error_class, file.attempts]),
      ws.expected.files.filter((file) => file.status === 'failed').map((file) => [file.key, file.errorClass, 1]),
    );
  });

  test('a second run loads nothing again and changes nothing: every row, lineage, loaded_at and ledger row the same', async () => {
    const before = await snapshot(ws.db.url);
    const result = await runCli(['run'], runEnv(ws));
    // The object without SR Number stays failed: exit 3, as every run until it changes.
    assert.equal(result.code, ws.expected.files.some((file) => file.status === 'failed') ? 3 : 0, result.stdout + result.stderr);
    const planned = result.logs.find((line) => line.msg === 'run planned');
    assert.equal(planned?.to_load, 0);
    assert.deepEqual(await snapshot(ws.db.url), before);
    await assertMatchesOracle(ws.db.url, ws.expected, 'after the second run');
  });

  test('etl status --json reports files per status, rows per table and the last run', async () => {
    const result = await runCli(['status', '--json'], runEnv(ws));
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout) as { files: Record<string, { files: number; rows_read: number }>; tables: Record<string, number>; last_run: { status: string } };
    assert.deepEqual(status.tables, ws.expected.tables);
    assert.equal(status.files.loaded!.files, ws.expected.files.filter((file) => file.status === 'loaded').length);
    assert.equal(status.last_run.status, 'ok');
  });
});

describe('changed objects', () => {
  const header = 'SR Number,SR Status,Account Number,Customer Name,Task Number,Task Status';
  const ws = useWorkspace('changed');

  const write = (name: string, rows: string[], modified: string) => {
    const file = path.join(ws.dir, name);
    writeFileSync(file, [header, ...rows].join('\n') + '\n');
    utimesSync(file, new Date(modified), new Date(modified));
  };

  test('the later object wins, whatever order the objects are loaded in', async () => {
    write('b.csv', ['100,Closed,0042,Acme,9,Completed'], '2024-02-01T00:00:00Z');
    assert.equal((await runCli(['run'], runEnv(ws))).code, 0);
    // An older object arriving later must not overwrite the newer values.
    write('a.csv', ['100,Open,0042,Acme Old,9,Open'], '2024-01-01T00:00:00Z');
    assert.equal((await runCli(['run'], runEnv(ws))).code, 0);
    assert.deepEqual(await query(ws.db.url, 'SELECT sr_status, source_object FROM service_requests'), [{ sr_status: 'Closed', source_object: 'b.csv' }]);
    assert.deepEqual(await query(ws.db.url, 'SELECT customer_name FROM customers'), [{ customer_name: 'Acme' }]);
  });

  test('a changed object is loaded again and wins when it is the newest', async () => {
    write('a.csv', ['100,Reopened,0042,Acme Corp,9,Open', '101,Open,0042,Acme Corp,10,Open'], '2024-03-01T00:00:00Z');
    const result = await runCli(['run'], runEnv(ws));
    assert.equal(result.code, 0);
    assert.equal(result.logs.find((line) => line.msg === 'run planned')?.to_load, 1);
    assert.deepEqual(await query(ws.db.url, 'SELECT sr_number, sr_status FROM service_requests ORDER BY sr_number'), [
      { sr_number: '100', sr_status: 'Reopened' },
      { sr_number: '101', sr_status: 'Open' },
    ]);
    assert.deepEqual(await query(ws.db.url, 'SELECT customer_name FROM customers'), [{ customer_name: 'Acme Corp' }]);
    assert.deepEqual(await query(ws.db.url, `SELECT attempts, rows_read::int FROM etl_files WHERE object_key = 'a.csv'`), [{ attempts: 1, rows_read: 2 }]);
  });
});

describe('a last row without a line break (spec, defect 4)', () => {
  const ws = useWorkspace('final_newline');
  const header = 'SR Number,SR Status,Account Number,Customer Name,Note Text';

  test('is quarantined as TRUNCATED_ROW by default, and loads when source_omits_final_newline says the source drops it', async () => {
    const last = '101,Open,0042,Acme,printer ja';
    writeFileSync(path.join(ws.dir, 'cut.csv'), `${header}\n100,Closed,0042,Acme,printer jam\n${last}`);
    const result = await runCli(['run'], runEnv(ws));
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(await query(ws.db.url, 'SELECT object_key, line_number, reason, raw FROM etl_rejects'), [
      { object_key: 'cut.csv', line_number: 3, reason: 'TRUNCATED_ROW', raw: last },
    ]);
    assert.deepEqual(await query(ws.db.url, 'SELECT sr_number FROM service_requests'), [{ sr_number: '100' }]);

    // The same bytes from a source known to omit the final line break: the row loads.
    await query(ws.db.url, 'TRUNCATE etl_files, etl_rejects, customers, service_requests, tasks, parts_used, sr_notes');
    const omitting = await runCli(['run'], runEnv(ws, { ETL_SOURCE_OMITS_FINAL_NEWLINE: 'true' }));
    assert.equal(omitting.code, 0, omitting.stdout + omitting.stderr);
    assert.deepEqual(await query(ws.db.url, 'SELECT count(*)::int AS n FROM etl_rejects'), [{ n: 0 }]);
    assert.deepEqual(await query(ws.db.url, 'SELECT note_text FROM sr_notes ORDER BY note_text'), [{ note_text: 'printer ja' }, { note_text: 'printer jam' }]);
  });
});

describe('a crash in the middle of a file', () => {
  // Two objects: a small one, then a large one to be killed in.
  const ws = useWorkspace('crash', { seed: 11, files: 2, rowsPerFile: 60_000, variations: false });

  test('leaves no trace of that file, and the next run completes it', async () => {
    const [first, second] = [...ws.expected.files].sort((a, b) => (a.key < b.key ? -1 : 1));
    // One object at a time, so that the first is committed while the second is in flight.
    const run = startCli(['run'], runEnv(ws, { ETL_PROGRESS_INTERVAL: '0.05', ETL_LOAD_CONCURRENCY: '1' }));
    let firstLoaded = false;
    for await (const line of run.lines) {
      if (line.msg === 'file loaded' && line.object_key === first!.key) firstLoaded = true;
      // Kill -9 while the second file has rows in flight: no handler runs, the transaction dies.
      if (firstLoaded && line.msg === 'progress' && Number(line.rows) > first!.rowsRead + 1000) {
        run.child.kill('SIGKILL');
        break;
      }
    }
    const killed = await run.done;
    assert.equal(killed.signal, 'SIGKILL', 'the run was killed mid-file (it finished before the kill)');
    assert.deepEqual(await query(ws.db.url, 'SELECT object_key FROM etl_files'), [{ object_key: first!.key }]);
    for (const table of TABLES) {
      const rows = await query<{ n: string }>(ws.db.url, `SELECT count(*) AS n FROM ${table} WHERE source_object = $1`, [second!.key]);
      assert.equal(Number(rows[0]!.n), 0, `${table} holds rows of the killed file`);
    }
    // The lock died with the killed session; the next run takes it and completes.
    const rerun = await runCli(['run'], runEnv(ws));
    assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
    assert.deepEqual(await tableCounts(ws.db.url), ws.expected.tables);
    const ledger = await query<{ n: string }>(ws.db.url, `SELECT count(*) AS n FROM etl_files WHERE status = 'loaded'`);
    assert.equal(Number(ledger[0]!.n), 2);
  });

  test('SIGTERM rolls back the file in flight, writes the summary, exits 1; the next run completes', async () => {
    assert.equal((await runCli(['migrate'], { DATABASE_URL: ws.db.url })).code, 0);
    await query(ws.db.url, 'TRUNCATE etl_files, etl_runs, customers, service_requests, tasks, parts_used, sr_notes');
    const sigtermState = tempDir('etl-sigterm-');
    const run = startCli(['run'], runEnv(ws, { ETL_STATE_DIR: sigtermState, ETL_PROGRESS_INTERVAL: '0.05', ETL_LOAD_CONCURRENCY: '1' }));
    for await (const line of run.lines) {
      if (line.msg === 'progress' && Number(line.rows) > 1000) {
        run.child.kill('SIGTERM');
        break;
      }
    }
    const stopped = await run.done;
    assert.equal(stopped.code, 1, stopped.stdout + stopped.stderr);
    assert.ok(stopped.logs.some((line) => line.msg === 'run stopped: the file in flight was rolled back'));
    const loadedKeys = (await query<{ object_key: string }>(ws.db.url, `SELECT object_key FROM etl_files`)).map((row) => row.object_key);
    for (const file of ws.expected.files.filter((want) => !loadedKeys.includes(want.key))) {
      for (const table of TABLES) {
        const rows = await query<{ n: string }>(ws.db.url, `SELECT count(*) AS n FROM ${table} WHERE source_object = $1`, [file.key]);
        assert.equal(Number(rows[0]!.n), 0, `${table} holds rows of ${file.key}, which was rolled back`);
      }
    }
    assert.ok(loadedKeys.length < ws.expected.files.length, 'the run was stopped before it finished');
    const summaryFile = readdirSync(sigtermState).find((name) => name.startsWith('pipeline_summary_'));
    assert.ok(summaryFile, 'the summary is written on SIGTERM');
    const summary = JSON.parse(readFileSync(path.join(sigtermState, summaryFile), 'utf8')) as { runs: Array<{ status: string; error: string }> };
    assert.equal(summary.runs.at(-1)!.status, 'aborted');
    assert.equal(summary.runs.at(-1)!.error, 'the run was stopped by a signal');
    const [ledgerRun] = await query<{ status: string }>(ws.db.url, `SELECT status FROM etl_runs ORDER BY started_at DESC LIMIT 1`);
    assert.equal(ledgerRun!.status, 'aborted');
    const rerun = await runCli(['run'], runEnv(ws, { ETL_STATE_DIR: sigtermState }));
    assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
    assert.deepEqual(await tableCounts(ws.db.url), ws.expected.tables);
    rmSync(sigtermState, { recursive: true, force: true });
  });

  test('two concurrent runs: one loads, the other says so and exits 0 without touching data', async () => {
    // Make both objects due again by resetting the database.
    await query(ws.db.url, 'TRUNCATE etl_files, customers, service_requests, tasks, parts_used, sr_notes');
    const first = startCli(['run'], runEnv(ws));
    for await (const line of first.lines) if (line.msg === 'run planned') break;
    const second = await runCli(['run'], runEnv(ws));
    assert.equal(second.code, 0);
    assert.ok(
      second.logs.some((line) => String(line.msg).includes('another run holds the run lock')),
      `the second run says another run is active:\n${second.stdout}`,
    );
    assert.ok(!second.logs.some((line) => line.msg === 'file loaded'), 'the second run loaded nothing');
    const done = await first.done;
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.deepEqual(await tableCounts(ws.db.url), ws.expected.tables);
  });
});

describe('an unreachable database', () => {
  test('ends the run with one sentence naming the database, without its password', async () => {
    const dir = tempDir('etl-nodb-');
    try {
      const result = await runCli(['run'], { ETL_SOURCE: dir, DATABASE_URL: 'postgresql://etl:s3cret-pw@127.0.0.1:1/etl', ETL_STATE_DIR: path.join(dir, 'state') });
      assert.equal(result.code, 1);
      const output = result.stdout + result.stderr;
      assert.match(output, /Cannot connect to the database at postgresql:\/\/etl:\*\*\*@127\.0\.0\.1:1\/etl: the connection was refused\. Check pg_conn_string \(DATABASE_URL\)/);
      assert.ok(!output.includes('s3cret-pw'), 'the password is never printed');
      assert.ok(!/\n\s+at /.test(output), 'no stack trace');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
