// Every defect of the spec at high rates, loaded through the CLI into a real Postgres and compared
// with the generator's oracle value by value: every row of the five tables, every quarantined row
// and recorded value, every ledger row; then a second run that changes nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { generateExports, writeExports, type Expected } from '../src/sample/generator.ts';
import { freshDatabase, type FreshDatabase } from './helpers/services.ts';
import { runCli } from './helpers/cli.ts';
import { assertMatchesOracle, snapshot } from './helpers/oracle.ts';
import { query } from './helpers/db.ts';
import { csvLine, HEADERS, sampleRow } from './helpers/read.ts';

const TABLES = ['customers', 'service_requests', 'tasks', 'parts_used', 'sr_notes'] as const;

let db: FreshDatabase;
let dir: string;
let stateDir: string;
let expected: Expected;
let generated: ReturnType<typeof generateExports>;
let client: pg.Client;

before(async () => {
  db = await freshDatabase({ prefix: 'defects' });
  dir = mkdtempSync(path.join(tmpdir(), 'etl-defects-'));
  stateDir = mkdtempSync(path.join(tmpdir(), 'etl-state-'));
  generated = generateExports({
    seed: 3,
    files: 16,
    rowsPerFile: 300,
    // Far above production rates, still under the file-level threshold.
    defects: { unquotedFreeText: 0.06, strayQuotes: 0.05, shortRows: 0.04, truncatedObjects: 0.5, duplicateRows: 0.05, badValues: 0.04, invalidBytes: 0.01 },
  });
  expected = generated.expected;
  await writeExports(dir, generated.objects);
  client = new pg.Client({ connectionString: db.url });
});
after(async () => {
  await client.end().catch(() => {});
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
});

test('the generator injected every defect (the fixture is what it claims)', () => {
  const injected = expected.injected;
  for (const key of ['unquotedRepaired', 'unquotedAmbiguous', 'unquotedNoColumnFits', 'strayQuotes', 'shortRows', 'truncatedObjects', 'duplicateRowsWithinFile', 'duplicateRowsAcrossFiles', 'badValues', 'invalidBytes'] as const) {
    assert.ok(injected[key] > 0, `no ${key} in the fixture`);
  }
});

test('the fixture has what the every-value checks need: in-object changes, equal times, every form', () => {
  // Two rows of one key with different values inside one object, for each table.
  // (The generator's own tests check this on the bytes; here it is asserted of this very fixture.)
  const times = generated.objects.filter((object) => object.data).map((object) => object.lastModified.getTime());
  assert.ok(times.some((time, i) => i > 0 && time === times[i - 1]), 'two objects with the same modification time');
  assert.ok(expected.rejects.some((reject) => reject.reason === 'TRUNCATED_ROW'), 'a cut last row');
  assert.ok(expected.rows.parts_used.some((row) => row.quantity === '1.50' || row.quantity === '999999999.99'), 'edge numbers');
});

test('a run over every defect loads exactly what the spec says, value by value', async () => {
  const result = await runCli(['run'], { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: stateDir });
  assert.equal(result.code, expected.files.some((file) => file.status === 'failed') ? 3 : 0, result.stdout + result.stderr);
  await client.connect();
  for (const table of TABLES) {
    const count = Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    assert.equal(count, expected.tables[table], `${table}`);
  }
  await assertMatchesOracle(db.url, expected, 'the defect-heavy load');
});

test('a second run over the same exports changes nothing and still matches, value by value', async () => {
  const before = await snapshot(db.url);
  const result = await runCli(['run'], { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: stateDir });
  // The object without SR Number is still failed: the second run exits 3 too.
  assert.equal(result.code, expected.files.some((file) => file.status === 'failed') ? 3 : 0, result.stdout + result.stderr);
  assert.deepEqual(await snapshot(db.url), before);
  await assertMatchesOracle(db.url, expected, 'after the second run');
});

test('every row is accounted for, object by object', async () => {
  const files = (
    await client.query<{ object_key: string; status: string; rows_read: number; rows_loaded: number; rows_quarantined: number; values_recorded: number }>(
      'SELECT object_key, status, rows_read, rows_loaded, rows_quarantined, values_recorded FROM etl_files',
    )
  ).rows;
  const byKey = new Map(files.map((file) => [file.object_key, file]));
  for (const want of expected.files) {
    const got = byKey.get(want.key);
    assert.ok(got, `no ledger row for ${want.key}`);
    assert.equal(got.status, want.status, want.key);
    if (want.status !== 'loaded') continue;
    assert.equal(Number(got.rows_read), want.rowsRead, `${want.key} rows_read`);
    assert.equal(Number(got.rows_quarantined), want.rowsQuarantined, `${want.key} rows_quarantined`);
    assert.equal(Number(got.rows_loaded), want.rowsLoaded, `${want.key} rows_loaded`);
    assert.equal(Number(got.values_recorded), want.valueIssues, `${want.key} values recorded`);
  }
  const rejects = Number((await client.query('SELECT count(*) AS n FROM etl_rejects')).rows[0].n);
  assert.equal(rejects, expected.rowsQuarantined, 'one etl_rejects row per quarantined row');
  const issues = Number((await client.query('SELECT count(*) AS n FROM etl_value_issues')).rows[0].n);
  assert.equal(issues, expected.valueIssues, 'one etl_value_issues row per value that did not fit');
});

test('quarantined rows keep object, line, raw text and a documented reason; value issues their column and raw value', async () => {
  // The exact rows are compared with the oracle above; here, that the fixture exercises them.
  const reasons = ['SHORT_ROW', 'TRUNCATED_ROW', 'UNTERMINATED_QUOTE', 'RECORD_TOO_LARGE', 'MALFORMED_CSV', 'EXTRA_FIELDS_NO_FIT', 'EXTRA_FIELDS_AMBIGUOUS', 'INVALID_ENCODING', 'NUL_BYTE', 'KEY_TOO_LONG', 'VALUE_OUT_OF_RANGE', 'DATABASE_REJECTED'];
  const rows = (await client.query<{ reason: string; detail: string }>('SELECT reason, detail FROM etl_rejects')).rows;
  for (const row of rows) assert.ok(reasons.includes(row.reason), `undocumented reason ${row.reason}`);
  for (const reason of ['SHORT_ROW', 'TRUNCATED_ROW', 'EXTRA_FIELDS_NO_FIT', 'EXTRA_FIELDS_AMBIGUOUS', 'INVALID_ENCODING']) {
    assert.ok(rows.some((row) => row.reason === reason), `no ${reason} in the fixture`);
  }
  assert.ok(rows.every((row) => row.detail.length > 0), 'every quarantined row says why in its detail');
  const columns = new Set(expected.issues.map((issue) => issue.column));
  assert.ok(columns.size >= 4, `value issues in several columns: ${[...columns].join(', ')}`);
});

test('etl rejects lists them without SQL, filtered by object and reason', async () => {
  const env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: stateDir };
  const all = await runCli(['rejects', '--json', '--limit', '100000'], env);
  assert.equal(all.code, 0, all.stderr);
  const listed = JSON.parse(all.stdout) as { total: number; rows: Array<{ object_key: string; reason: string }> };
  assert.equal(listed.total, expected.rowsQuarantined);
  const one = listed.rows[0]!;
  const filtered = await runCli(['rejects', '--json', '--object', one.object_key, '--reason', one.reason], env);
  const subset = JSON.parse(filtered.stdout) as { rows: Array<{ object_key: string; reason: string }> };
  assert.ok(subset.rows.length > 0 && subset.rows.every((row) => row.object_key === one.object_key && row.reason === one.reason));
  const text = await runCli(['rejects', '--object', one.object_key], env);
  assert.match(text.stdout, new RegExp(`${one.object_key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+ +[A-Z_]+`));
});

test('a file over the threshold fails as CSV_FORMAT_ERROR, loads none of its rows, keeps its rejects', async () => {
  const strictDb = await freshDatabase({ prefix: 'threshold' });
  try {
    const env = { ETL_SOURCE: dir, DATABASE_URL: strictDb.url, ETL_STATE_DIR: stateDir, ETL_REJECT_THRESHOLD: '0.01', ETL_REJECT_THRESHOLD_MIN_ROWS: '1' };
    const result = await runCli(['run'], env);
    assert.equal(result.code, 3);
    const strict = new pg.Client({ connectionString: strictDb.url });
    await strict.connect();
    try {
      const over = expected.files.filter((file) => file.status === 'loaded' && file.rowsQuarantined / Math.max(1, file.rowsRead) > 0.01);
      assert.ok(over.length > 0, 'the fixture has files over 1%');
      for (const file of over) {
        const row = (await strict.query(`SELECT status, error_class, rows_loaded FROM etl_files WHERE object_key = $1`, [file.key])).rows[0];
        assert.deepEqual({ ...row, rows_loaded: Number(row.rows_loaded) }, { status: 'failed', error_class: 'CSV_FORMAT_ERROR', rows_loaded: 0 }, file.key);
        const loaded = Number((await strict.query(`SELECT count(*) AS n FROM service_requests WHERE source_object = $1`, [file.key])).rows[0].n);
        assert.equal(loaded, 0, `${file.key} loaded rows although it failed`);
        const kept = Number((await strict.query(`SELECT count(*) AS n FROM etl_rejects WHERE object_key = $1`, [file.key])).rows[0].n);
        assert.equal(kept, file.rowsQuarantined, `${file.key} rejects stay visible`);
      }
    } finally {
      await strict.end();
    }
  } finally {
    await strictDb.drop();
  }
});

test('a LATIN1 database refuses what it cannot hold: those rows are quarantined (DATABASE_REJECTED), the rest load', async (t) => {
  const latin1 = await freshDatabase({ prefix: 'latin1', encoding: 'LATIN1' });
  const latinDir = mkdtempSync(path.join(tmpdir(), 'etl-latin1-'));
  const latinState = mkdtempSync(path.join(tmpdir(), 'etl-latin1-state-'));
  t.after(async () => {
    await latin1.drop();
    rmSync(latinDir, { recursive: true, force: true });
    rmSync(latinState, { recursive: true, force: true });
  });
  // Each row its own keys. '’' (U+2019) has no LATIN1 byte; 'ñ' has. Row 3's '’' is in a customer
  // column, row 5's in a note, row 6's in the raw text of a value that did not fit (a value issue).
  const row = (n: number, overrides: Record<string, string> = {}) =>
    csvLine(HEADERS, sampleRow({ 'SR Number': `${7_000_000 + n}`, 'Account Number': `${8_000_000 + n}`, 'Task Number': `${9_000_000 + n}`, 'Note Text': `note ${n}`, ...overrides }));
  const lines = [
    HEADERS.join(','),
    row(2, { 'Customer Name': 'Señor Frog' }),
    row(3, { 'Customer Name': 'Señor Frog’s' }),
    row(4),
    row(5, { 'Note Text': 'customer’s printer' }),
    row(6, { 'Created Date': 'yesterday’s' }),
    row(7),
  ];
  writeFileSync(path.join(latinDir, 'latin1.csv'), lines.join('\n') + '\n');
  const result = await runCli(['run'], { ETL_SOURCE: latinDir, DATABASE_URL: latin1.url, ETL_STATE_DIR: latinState });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const rejects = await query<{ line_number: number; reason: string; detail: string }>(latin1.url, 'SELECT line_number, reason, detail FROM etl_rejects ORDER BY line_number');
  assert.deepEqual(
    rejects.map((reject) => [reject.line_number, reject.reason]),
    [
      [3, 'DATABASE_REJECTED'],
      [5, 'DATABASE_REJECTED'],
      [6, 'DATABASE_REJECTED'],
    ],
  );
  for (const reject of rejects) assert.match(reject.detail, /the database refused the row: 22P05/);
  const srs = await query<{ sr_number: string }>(latin1.url, 'SELECT sr_number FROM service_requests ORDER BY sr_number');
  assert.deepEqual(
    srs.map((sr) => sr.sr_number),
    ['7000002', '7000004', '7000007'],
  );
  const customers = await query<{ customer_name: string }>(latin1.url, "SELECT customer_name FROM customers WHERE account_number = '8000002'");
  assert.deepEqual(customers, [{ customer_name: 'Señor Frog' }]);
  const [file] = await query<{ status: string; rows_read: string; rows_loaded: string; rows_quarantined: string }>(latin1.url, 'SELECT status, rows_read, rows_loaded, rows_quarantined FROM etl_files');
  assert.deepEqual(file, { status: 'loaded', rows_read: '6', rows_loaded: '3', rows_quarantined: '3' });
});
