// Rows of keys the tables do not have yet go into the target tables by COPY, not one upsert each
// (src/load/staging.ts, DIRECT_TABLES). When another session inserts one of those keys while the
// batch copies it in (caused here for real: a transaction of the test's own holds the key, then
// commits), the COPY fails, the tables are asked again which keys they have, and the batch goes
// again from the records the parse worker holds, those keys merged (its objects are not read
// again); the tables come out exactly as the oracle says, latest-wins against the other session's
// row included.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { readExport } from '../src/read/export-reader.ts';
import { generateExports, writeExports } from '../src/sample/generator.ts';
import { runCli, startCli } from './helpers/cli.ts';
import { query } from './helpers/db.ts';
import { assertMatchesOracle } from './helpers/oracle.ts';
import { freshDatabase } from './helpers/services.ts';

describe('new keys copied into the tables directly', () => {
  test('rows copied in directly carry the same lineage as merged ones: the latest object, its modification time, the line', async (t) => {
    const db = await freshDatabase({ prefix: 'newkeys' });
    const dir = mkdtempSync(path.join(tmpdir(), 'etl-newkeys-'));
    t.after(async () => {
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    const { objects, expected } = generateExports({ seed: 71, files: 5, rowsPerFile: 300, variations: false });
    await writeExports(dir, objects);
    const result = await runCli(['run'], { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, 'state') });
    assert.equal(result.code, 0, result.stderr);
    await assertMatchesOracle(db.url, expected);
    // The lineage each service request must have: the last row of it in the latest object.
    const want = new Map<string, { object: string; modified: number; line: number }>();
    const data = objects.filter((object) => object.data).sort((a, b) => a.lastModified.getTime() - b.lastModified.getTime() || Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    for (const object of data) {
      for await (const event of readExport(() => Readable.from([object.body]))) {
        if (event.type === 'row' && event.values[0] !== null) want.set(event.values[0]!, { object: object.key, modified: object.lastModified.getTime(), line: event.line });
      }
    }
    const rows = await query<{ sr_number: string; source_object: string; source_modified: Date; source_line: number }>(db.url, 'SELECT sr_number, source_object, source_modified, source_line FROM service_requests');
    assert.equal(rows.length, want.size);
    for (const row of rows) {
      assert.deepEqual({ object: row.source_object, modified: row.source_modified.getTime(), line: row.source_line }, want.get(row.sr_number), row.sr_number);
    }
  });

  test('another session inserts a key the batch copies in: the batch is copied again, that key merged, without reading its objects again, and the tables are exact', async (t) => {
    const db = await freshDatabase({ prefix: 'newkeys_race' });
    const dir = mkdtempSync(path.join(tmpdir(), 'etl-newkeys-race-'));
    const other = new pg.Client({ connectionString: db.url });
    t.after(async () => {
      await other.end().catch(() => {});
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    const { objects, expected } = generateExports({ seed: 72, files: 3, rowsPerFile: 300, variations: false });
    await writeExports(dir, objects);
    const env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, 'state'), ETL_LOAD_CONCURRENCY: '1', LOG_FORMAT: 'json' };
    assert.equal((await runCli(['migrate'], env)).code, 0);
    // A service request of the exports, written by another session with an old modification
    // time (latest-wins gives it to the exports), held uncommitted while the run copies.
    const srNumber = Object.keys(expected.srStatus)[0]!;
    await other.connect();
    await other.query('BEGIN');
    await other.query(
      `INSERT INTO service_requests (sr_number, sr_status, source_object, source_modified, source_line) VALUES ($1, 'From elsewhere', 'elsewhere.csv', '2001-01-01', 1)`,
      [srNumber],
    );
    const run = startCli(['run'], env);
    // The run's COPY waits on the uncommitted key; then the other session commits it.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const waiting = await query<{ n: number }>(db.url, "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'etl-load' AND wait_event_type = 'Lock'");
      if (Number(waiting[0]!.n) > 0) break;
      assert.ok(Date.now() < deadline, 'the run never waited on the key the other session holds');
      await sleep(50);
    }
    await other.query('COMMIT');
    const result = await run.done;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(
      result.logs.some((line) => line.msg === 'another load inserted a key of this batch first; copying the batch again with the keys the tables have now merged'),
      'the run says it copied the batch again',
    );
    // Each object was read once: one line per object, no batch rolled back to be read again.
    assert.deepEqual(
      result.logs.filter((line) => line.msg === 'file loaded').map((line) => line.object_key).sort(),
      expected.files.map((file) => file.key).sort(),
    );
    assert.ok(!result.logs.some((line) => /rolled back|loading the batch again/.test(String(line.msg))), 'nothing was read again');
    await assertMatchesOracle(db.url, expected);
    const row = await query<{ sr_status: string; source_object: string }>(db.url, 'SELECT sr_status, source_object FROM service_requests WHERE sr_number = $1', [srNumber]);
    assert.deepEqual(row[0], { sr_status: expected.srStatus[srNumber], source_object: row[0]!.source_object });
    assert.notEqual(row[0]!.source_object, 'elsewhere.csv', "the exports' later row replaced the other session's");
  });
});
