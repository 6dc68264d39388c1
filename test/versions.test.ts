// Nothing is lost across versions of one object: a failed attempt at a new version keeps the
// quarantine and value issues of the version whose rows are in the tables, and a rewrite of an
// object replaces its own earlier rows whatever its modification time (cp -p, rsync -a, a restore)
// instead of being recorded loaded with nothing applied.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCli } from './helpers/cli.ts';
import { query } from './helpers/db.ts';
import { useWorkspace, type Workspace } from './helpers/workspace.ts';

const HEADER = 'SR Number,SR Status,Account Number,Customer Name,Quantity Used';

function env(ws: Workspace): Record<string, string> {
  return { ETL_SOURCE: ws.dir, DATABASE_URL: ws.db.url, ETL_STATE_DIR: ws.stateDir };
}

function write(ws: Workspace, name: string, rows: string[], modified: string): void {
  const file = path.join(ws.dir, name);
  writeFileSync(file, `${HEADER}\n${rows.join('\n')}\n`);
  utimesSync(file, new Date(modified), new Date(modified));
}

describe('a failed attempt at a new version', () => {
  const ws = useWorkspace('versions_failed');

  test('keeps the quarantined rows and value issues of the loaded version; the ledger names that version', async () => {
    // Version 1 loads, with one short row and one value that does not fit.
    write(ws, 'a.csv', ['100,Open,0042,Acme,1', '101,Open', '102,Open,0042,Acme,12x', '103,Open,0042,Acme,2', '104,Open,0042,Acme,3', '105,Open,0042,Acme,4', '106,Open,0042,Acme,5'], '2024-01-01T00:00:00Z');
    assert.equal((await runCli(['run'], env(ws))).code, 0);
    const [v1] = await query<{ version: string }>(ws.db.url, `SELECT version FROM etl_files WHERE object_key = 'a.csv'`);
    const quarantine = () => query(ws.db.url, `SELECT version, line_number, reason FROM etl_rejects ORDER BY version, line_number`);
    const issues = () => query(ws.db.url, `SELECT version, line_number, column_name, raw_value FROM etl_value_issues ORDER BY line_number`);
    const v1Quarantine = await quarantine();
    const v1Issues = await issues();
    assert.equal(v1Quarantine.length, 1);
    assert.equal(v1Issues.length, 1);

    // Version 2 is mostly short rows: it fails over the threshold; its rows are not loaded.
    write(ws, 'a.csv', ['100,Closed,0042,Acme,1', ...Array.from({ length: 9 }, (_, i) => `${200 + i},bad`)], '2024-02-01T00:00:00Z');
    const failed = await runCli(['run'], env(ws));
    assert.equal(failed.code, 3);
    const [ledger] = await query<{ status: string; version: string; loaded_version: string }>(ws.db.url, `SELECT status, version, loaded_version FROM etl_files WHERE object_key = 'a.csv'`);
    assert.equal(ledger!.status, 'failed');
    assert.notEqual(ledger!.version, v1!.version);
    assert.equal(ledger!.loaded_version, v1!.version, 'the ledger still names the version whose rows are loaded');
    assert.deepEqual(await query(ws.db.url, `SELECT sr_status FROM service_requests WHERE sr_number = '100'`), [{ sr_status: 'Open' }]);
    const after = (await quarantine()) as Array<{ version: string }>;
    assert.deepEqual(after.filter((row) => row.version === v1!.version), v1Quarantine, "version 1's quarantine is kept");
    assert.equal(after.filter((row) => row.version === ledger!.version).length, 9, "the failed version's rejects explain its failure");
    assert.deepEqual(await issues(), v1Issues, "version 1's value issues are kept");

    // A third version that loads replaces all of it.
    write(ws, 'a.csv', ['100,Closed,0042,Acme,1'], '2024-03-01T00:00:00Z');
    assert.equal((await runCli(['run'], env(ws))).code, 0);
    assert.deepEqual(await quarantine(), []);
    assert.deepEqual(await issues(), []);
  });
});

describe('an object rewritten with an older modification time', () => {
  const ws = useWorkspace('versions_older');

  test('replaces its own earlier rows (the other objects still follow latest-wins)', async () => {
    write(ws, 'a.csv', ['100,Open,0042,Acme,1'], '2024-05-01T00:00:00Z');
    write(ws, 'b.csv', ['200,Open,0043,Beta,1'], '2024-04-01T00:00:00Z');
    assert.equal((await runCli(['run'], env(ws))).code, 0);
    // a.csv restored from a backup: other content, an older time than its loaded version.
    write(ws, 'a.csv', ['100,Closed,0042,Acme Restored,1'], '2024-03-01T00:00:00Z');
    const rerun = await runCli(['run'], env(ws));
    assert.equal(rerun.code, 0);
    assert.deepEqual(await query(ws.db.url, `SELECT sr_status, source_object, source_modified::text AS modified FROM service_requests WHERE sr_number = '100'`), [
      { sr_status: 'Closed', source_object: 'a.csv', modified: '2024-03-01 00:00:00+00' },
    ]);
    assert.deepEqual(await query(ws.db.url, `SELECT customer_name FROM customers WHERE account_number = '0042'`), [{ customer_name: 'Acme Restored' }]);
    // b.csv (newer than the restored a.csv) is still not overwritten by it.
    write(ws, 'c.csv', ['200,Closed,0043,Beta,1'], '2024-02-01T00:00:00Z');
    assert.equal((await runCli(['run'], env(ws))).code, 0);
    assert.deepEqual(await query(ws.db.url, `SELECT sr_status, source_object FROM service_requests WHERE sr_number = '200'`), [{ sr_status: 'Open', source_object: 'b.csv' }]);
  });
});
