// Bad exports cannot stop the pipeline (issue: "every failure ends in an accounted object"). A
// healthy generated set and one object per data fault, from a folder and from MinIO, through the
// CLI into the real Postgres: the run exits 3 (objects failed) without a stack trace, every object
// is in the ledger with the right status and class, the healthy objects load exactly as the oracle
// says, the faulty rows are quarantined with their exact bytes, no run is left 'running', and a
// second run changes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { generateExports, writeExports, type Expected } from '../src/sample/generator.ts';
import { runCli, type CliResult } from './helpers/cli.ts';
import { query } from './helpers/db.ts';
import { assertMatchesOracle, snapshot } from './helpers/oracle.ts';
import { HEADERS, csvLine, sampleRow } from './helpers/read.ts';
import { createTestBucket, s3Env, type TestBucket } from './helpers/s3.ts';
import { freshDatabase, type FreshDatabase } from './helpers/services.ts';

const HEADER = HEADERS.join(',');
const PREFIX = 'Toshiba/Historical Tickets/';

/** A row of a fault object: keys that no generated export uses (SR 9xxxxxx, account 9999xxxxxx). */
function row(n: number, overrides: Record<string, string> = {}): string {
  return csvLine(HEADERS, sampleRow({ 'SR Number': String(9_000_000 + n), 'Account Number': '9999000001', 'Task Number': '', 'Part Number': '', ...overrides }));
}
const lines = (...rows: string[]) => body(rows);
/** Header and rows, each ended by a line break (no spread: 200,000 rows overflow the call stack). */
const body = (rows: readonly string[]) => `${[HEADER].concat(rows).join('\n')}\n`;

interface FaultObject {
  key: string;
  body: Buffer;
  /** Minutes after the base time (the order of modification times matters for latest-wins). */
  minute: number;
  status: 'loaded' | 'failed';
  errorClass?: string;
  /** Reasons of its quarantined rows, in line order (for a failed object: those kept). */
  reasons?: string[];
  /** At least this many rows quarantined (when there are too many to list). */
  atLeastQuarantined?: number;
  message?: RegExp;
}

function faultObjects(): FaultObject[] {
  const nulNote = row(2, { 'Note Text': 'before\u0000after' });
  const damaged = Buffer.from(lines(row(20, { 'Account Number': '9999000002', 'Customer Name': 'Café Montréal', 'Site City': 'Québec' }), row(21, { 'Note Text': 'Paid XX' })));
  damaged[damaged.indexOf('XX')] = 0xff; // one stray byte in one note of a UTF-8 export
  // Plain UTF-8 for 2,000 rows (past the first batches sent to COPY), then one row that is not:
  // the object is read again with its encoding decided over the whole of it.
  const lateRow = (first: number, overrides: Record<string, string>, bytes: Record<string, Buffer>) => {
    let text = lines(...Array.from({ length: 2000 }, (_, i) => row(first + i)), row(first + 2000, overrides));
    const parts: Buffer[] = [];
    for (const [marker, replacement] of Object.entries(bytes)) {
      const at = text.indexOf(marker);
      parts.push(Buffer.from(text.slice(0, at)), replacement);
      text = text.slice(at + marker.length);
    }
    return Buffer.concat([...parts, Buffer.from(text)]);
  };
  return [
    { key: 'faults/nul-value.csv', body: Buffer.from(lines(row(1), nulNote, row(3))), minute: 1, status: 'loaded', reasons: ['NUL_BYTE'] },
    { key: 'faults/nul-tail.csv', body: Buffer.concat([Buffer.from(lines(row(4), row(5))), Buffer.alloc(4096)]), minute: 2, status: 'loaded', reasons: ['TRUNCATED_ROW'] },
    { key: 'faults/nul-header.csv', body: Buffer.from(`${HEADER},Reg\u0000ion\n${row(6)},EAST\n`), minute: 3, status: 'loaded', reasons: [] },
    {
      key: 'faults/nul-over-threshold.csv',
      body: Buffer.from(lines(row(7), row(8), ...Array.from({ length: 8 }, (_, i) => `${9_000_100 + i},Op\u0000en`))),
      minute: 4,
      status: 'failed',
      errorClass: 'CSV_FORMAT_ERROR',
      reasons: Array.from({ length: 8 }, () => 'NUL_BYTE'),
      message: /could not be loaded, more than reject_threshold/,
    },
    { key: 'faults/huge-number.csv', body: Buffer.from(lines(row(9), row(10, { 'Quantity Used': '9'.repeat(140_000) }))), minute: 5, status: 'loaded', reasons: ['VALUE_OUT_OF_RANGE'] },
    { key: 'faults/long-key.csv', body: Buffer.from(lines(row(11), row(12, { 'SR Number': '7'.repeat(3000) }))), minute: 6, status: 'loaded', reasons: ['KEY_TOO_LONG'] },
    {
      key: 'faults/bad-rows.csv',
      body: Buffer.from(body(Array.from({ length: 10 }, (_, i) => row(200 + i)).concat(Array.from({ length: 200_000 }, (_, i) => `${9_100_000 + i},short`)))),
      minute: 7,
      status: 'failed',
      errorClass: 'CSV_FORMAT_ERROR',
      atLeastQuarantined: 100_000,
      message: /more than 100000 rows were quarantined \(max_rejects_per_object\)/,
    },
    {
      key: 'faults/long-line.csv',
      body: Buffer.concat([Buffer.from(lines(row(13))), Buffer.alloc(64 * 1024 * 1024 + 1, 0x78)]),
      minute: 8,
      status: 'failed',
      errorClass: 'CSV_FORMAT_ERROR',
      message: /line 3 runs on for more than 16777216 bytes without a line break \(max_record_bytes\)/,
    },
    {
      key: 'faults/bomb.csv.gz',
      body: gzipSync(Buffer.alloc(300 * 1024 * 1024), { level: 9 }),
      minute: 9,
      status: 'failed',
      errorClass: 'CSV_FORMAT_ERROR',
      message: /inflates to more than \d+ bytes .*gzip bomb/,
    },
    // An export, then a newer copy with one stray byte in one note: the copy stays UTF-8.
    { key: 'faults/damaged-older.csv', body: Buffer.from(lines(row(20, { 'Account Number': '9999000002', 'Customer Name': 'Café Montréal', 'Site City': 'Québec' }), row(21))), minute: 10, status: 'loaded', reasons: [] },
    { key: 'faults/damaged.csv', body: damaged, minute: 11, status: 'loaded', reasons: ['INVALID_ENCODING'] },
    { key: 'faults/cp1252-late.csv', body: lateRow(1000, { 'Account Number': '9999000003', 'Site City': 'QuXXbec' }, { XX: Buffer.from([0xe9]) }), minute: 12, status: 'loaded', reasons: [] },
    { key: 'faults/damaged-late.csv', body: lateRow(3100, { 'Note Text': 'Caf\u00e9 Montr\u00e9al XX' }, { XX: Buffer.from([0xff]) }), minute: 13, status: 'loaded', reasons: ['INVALID_ENCODING'] },
    { key: 'faults/nul-late.csv', body: lateRow(5200, { 'Note Text': 'aXXb' }, { XX: Buffer.from([0]) }), minute: 14, status: 'loaded', reasons: ['NUL_BYTE'] },
  ];
}

const BASE = Date.UTC(2025, 0, 1) / 1000;

function assertNoStackTrace(result: CliResult): void {
  const output = result.stdout + result.stderr;
  assert.doesNotMatch(output, /\n\s+at |Unhandled|TypeError|ReferenceError/, `a stack trace or a crash in the output:\n${output.slice(-3000)}`);
}

for (const where of ['folder', 's3'] as const) {
  describe(`bad exports beside good ones (${where})`, () => {
    const faults = faultObjects();
    let expected: Expected;
    let healthy: Set<string>;
    let db: FreshDatabase;
    let stateDir: string;
    let dir: string;
    let bucket: TestBucket | undefined;
    let env: Record<string, string>;
    let first: CliResult;

    before(async () => {
      db = await freshDatabase({ prefix: `faults_${where}` });
      stateDir = await mkdtemp(path.join(tmpdir(), 'etl-faults-state-'));
      const generated = generateExports({ seed: 202, files: 5, rowsPerFile: 120, variations: false });
      expected = generated.expected;
      healthy = new Set(expected.files.map((file) => file.key));
      if (where === 'folder') {
        dir = await mkdtemp(path.join(tmpdir(), 'etl-faults-'));
        await writeExports(dir, generated.objects);
        for (const fault of faults) {
          const file = path.join(dir, fault.key);
          await mkdir(path.dirname(file), { recursive: true });
          await writeFile(file, fault.body);
          await utimes(file, BASE + fault.minute * 60, BASE + fault.minute * 60);
        }
        env = { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: stateDir };
      } else {
        bucket = await createTestBucket('etl-faults');
        // In time order: S3 stamps LastModified at upload.
        for (const object of [...generated.objects, ...faults].sort((a, b) => ('minute' in a ? 1 : 0) - ('minute' in b ? 1 : 0))) await bucket.put(PREFIX + object.key, object.body);
        env = { ...s3Env(bucket.name, PREFIX), DATABASE_URL: db.url, ETL_STATE_DIR: stateDir };
      }
      first = await runCli(['run'], env);
    });
    after(async () => {
      await db?.drop();
      await bucket?.drop();
      for (const folder of [dir, stateDir]) if (folder) await rm(folder, { recursive: true, force: true });
    });

    it('the run ends with exit 3 (objects failed) and no stack trace', () => {
      assert.equal(first.code, 3, first.stdout.slice(-3000) + first.stderr);
      assertNoStackTrace(first);
      const summary = first.logs.find((line) => line.summary !== undefined)?.summary as { status: string; files: { failed: number } } | undefined;
      assert.equal(summary?.status, 'failed');
      assert.equal(summary?.files.failed, faults.filter((fault) => fault.status === 'failed').length);
    });

    it('the healthy objects load exactly as the oracle says', async () => {
      await assertMatchesOracle(db.url, expected, 'the healthy objects', { objects: healthy });
    });

    it('every fault object is in the ledger with its status, class and quarantined rows', async () => {
      for (const fault of faults) {
        const [ledger] = await query<{ status: string; error_class: string | null; error_message: string | null; rows_quarantined: number }>(
          db.url,
          'SELECT status, error_class, error_message, rows_quarantined::int FROM etl_files WHERE object_key = $1',
          [fault.key],
        );
        assert.ok(ledger, `${fault.key} is not in the ledger`);
        assert.equal(ledger.status, fault.status, `${fault.key}: ${ledger.error_message}`);
        assert.equal(ledger.error_class, fault.errorClass ?? null, fault.key);
        if (fault.message) assert.match(ledger.error_message ?? '', fault.message, fault.key);
        const rejects = await query<{ reason: string }>(db.url, 'SELECT reason FROM etl_rejects WHERE object_key = $1 ORDER BY line_number', [fault.key]);
        if (fault.reasons) assert.deepEqual(rejects.map((reject) => reject.reason), fault.reasons, fault.key);
        if (fault.atLeastQuarantined) assert.ok(rejects.length >= fault.atLeastQuarantined, `${fault.key}: ${rejects.length} rejects kept`);
      }
    });

    it('quarantined rows keep their exact bytes (NUL, stray byte) and header names are storable', async () => {
      const nul = await query<{ raw: string; bytes: string }>(db.url, `SELECT raw, encode(raw_bytes, 'hex') AS bytes FROM etl_rejects WHERE object_key = 'faults/nul-value.csv'`);
      assert.equal(nul.length, 1);
      assert.equal(nul[0]!.bytes, Buffer.from(row(2, { 'Note Text': 'before\u0000after' })).toString('hex'));
      assert.match(nul[0]!.raw, /before\uFFFDafter/);
      const threshold = await query<{ bytes: string }>(db.url, `SELECT encode(raw_bytes, 'hex') AS bytes FROM etl_rejects WHERE object_key = 'faults/nul-over-threshold.csv' ORDER BY line_number LIMIT 1`);
      assert.equal(threshold[0]!.bytes, Buffer.from('9000100,Op\u0000en').toString('hex'));
      const stray = await query<{ bytes: string }>(db.url, `SELECT encode(raw_bytes, 'hex') AS bytes FROM etl_rejects WHERE object_key = 'faults/damaged.csv'`);
      assert.ok(stray[0]!.bytes.includes('ff'), 'the stray byte is kept');
      const [header] = await query<{ extra_columns: string[] }>(db.url, `SELECT extra_columns FROM etl_files WHERE object_key = 'faults/nul-header.csv'`);
      assert.deepEqual(header!.extra_columns, ['Reg\uFFFDion']);
      const text = await runCli(['rejects', '--object', 'faults/nul-value.csv'], env);
      assert.match(text.stdout, /before\\x00after/, 'etl rejects shows the NUL readably');
    });

    it('a newer copy damaged by one stray byte keeps every accent: its good rows win, its damaged row is quarantined', async () => {
      const [customer] = await query<{ customer_name: string; site_city: string; source_object: string }>(
        db.url,
        `SELECT customer_name, site_city, source_object FROM customers WHERE account_number = '9999000002'`,
      );
      assert.deepEqual(customer, { customer_name: 'Café Montréal', site_city: 'Québec', source_object: 'faults/damaged.csv' });
      const [note] = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM sr_notes WHERE note_text LIKE '%Ã%' OR note_text LIKE '%\uFFFD%'`);
      assert.equal(note!.n, 0, 'no mojibake and no replacement character in the tables');
    });

    it('objects that show they are not plain UTF-8 only after 2,000 rows load whole: every row, decoded as the whole object says', async () => {
      const ledger = await query<{ object_key: string; encoding: string; rows_loaded: number; rows_quarantined: number }>(
        db.url,
        `SELECT object_key, encoding, rows_loaded::int, rows_quarantined::int FROM etl_files WHERE object_key LIKE 'faults/%-late.csv' ORDER BY object_key`,
      );
      assert.deepEqual(ledger, [
        { object_key: 'faults/cp1252-late.csv', encoding: 'windows-1252', rows_loaded: 2001, rows_quarantined: 0 },
        { object_key: 'faults/damaged-late.csv', encoding: 'utf-8', rows_loaded: 2000, rows_quarantined: 1 },
        { object_key: 'faults/nul-late.csv', encoding: 'utf-8', rows_loaded: 2000, rows_quarantined: 1 },
      ]);
      const [city] = await query<{ site_city: string }>(db.url, `SELECT site_city FROM customers WHERE account_number = '9999000003'`);
      assert.equal(city?.site_city, 'Québec');
      const [loaded] = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM service_requests WHERE sr_number::bigint BETWEEN 9001000 AND 9007200`);
      assert.equal(loaded!.n, 2001 + 2000 + 2000);
    });

    it('no run is left running, and a second run changes nothing', async () => {
      assert.deepEqual(await query(db.url, `SELECT status FROM etl_runs WHERE status = 'running'`), []);
      const before = await snapshot(db.url);
      const second = await runCli(['run'], env);
      assertNoStackTrace(second);
      assert.equal(second.code, 3, 'the failed objects are still failed');
      assert.equal(second.logs.find((line) => line.msg === 'run planned')?.to_load, 0, 'the failed objects wait for a new version');
      assert.deepEqual(await snapshot(db.url), before);
    });
  });
}
