// Exports saved again by spreadsheets and older exporters (spec, "Objects"; src/sample/variants.ts):
// bare-CR line breaks, `;`, tab or `|` as the delimiter, UTF-16 with a byte-order mark, and
// Excel for Mac's CR with `;`. Each variant of the same exports, loaded through the CLI into a
// real Postgres of its own, gives the five tables the comma/LF exports give, value by value, the
// same rows read, loaded and quarantined per object, and the ledger says how each was written.
// What cannot be read fails with a sentence that names what the object looks like; no object
// whose bytes hold rows loads as 0 rows; no log line grows past a few kilobytes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateExports, writeExports, type GeneratedObject } from '../src/sample/generator.ts';
import { saveAs, VARIANTS, type Variant } from '../src/sample/variants.ts';
import { runCli } from './helpers/cli.ts';
import { query } from './helpers/db.ts';
import { assertMatchesOracle, readTables } from './helpers/oracle.ts';
import { freshDatabase } from './helpers/services.ts';
import { csvLine, HEADERS, sampleRow } from './helpers/read.ts';

// Every defect but unquoted commas (text, not a split, in a `;` export) and cut objects.
const DEFECTS = { unquotedFreeText: 0, strayQuotes: 0.03, shortRows: 0.03, truncatedObjects: 0, duplicateRows: 0.05, badValues: 0.03 };

const FORMAT: Record<Variant, { delimiter: string; line_break: string; encoding?: string }> = {
  cr: { delimiter: ',', line_break: 'CR' },
  semicolon: { delimiter: ';', line_break: 'LF' },
  tab: { delimiter: 'tab', line_break: 'LF' },
  pipe: { delimiter: '|', line_break: 'LF' },
  'utf-16le': { delimiter: ',', line_break: 'LF', encoding: 'utf-16le' },
  'utf-16be': { delimiter: ',', line_break: 'LF', encoding: 'utf-16be' },
  'excel-mac': { delimiter: ';', line_break: 'CR' },
};

async function load(objects: readonly GeneratedObject[], prefix: string) {
  const db = await freshDatabase({ prefix });
  const dir = mkdtempSync(path.join(tmpdir(), `etl-${prefix}-`));
  await writeExports(dir, objects);
  const result = await runCli(['run'], { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, '.state'), LOG_FORMAT: 'json' });
  return { db, dir, result };
}

type Ledger = Array<{ object_key: string; status: string; rows_read: string; rows_loaded: string; rows_quarantined: string; delimiter: string | null; line_break: string | null; encoding: string | null }>;
const ledgerOf = (url: string) => query<Ledger[number]>(url, 'SELECT object_key, status, rows_read, rows_loaded, rows_quarantined, delimiter, line_break, encoding FROM etl_files ORDER BY object_key');

describe('exports saved by spreadsheets load the rows the comma/LF export loads', () => {
  const { objects, expected } = generateExports({ seed: 83, files: 8, rowsPerFile: 150, defects: DEFECTS });
  let original: Awaited<ReturnType<typeof load>>;
  before(async () => {
    original = await load(objects, 'variant_orig');
    assert.equal(original.result.code, 3, 'the sample holds one export without SR Number');
    await assertMatchesOracle(original.db.url, expected, 'the comma/LF exports');
  });
  after(async () => {
    await original?.db.drop();
    if (original) rmSync(original.dir, { recursive: true, force: true });
  });

  for (const variant of VARIANTS) {
    test(variant, async (t) => {
      const saved = await Promise.all(objects.map(async (object) => (object.data && object.body.length > 0 ? { ...object, body: await saveAs(object.body, variant) } : object)));
      const again = await load(saved, `variant_${variant.replace('-', '_')}`);
      t.after(async () => {
        await again.db.drop();
        rmSync(again.dir, { recursive: true, force: true });
      });
      assert.equal(again.result.code, 3, again.result.stderr);
      assert.deepEqual(await readTables(again.db.url), await readTables(original.db.url), `${variant}: the five tables, value by value`);
      const before = await ledgerOf(original.db.url);
      const after = await ledgerOf(again.db.url);
      const counts = (ledger: Ledger) => ledger.map(({ object_key, status, rows_read, rows_loaded, rows_quarantined }) => ({ object_key, status, rows_read, rows_loaded, rows_quarantined }));
      assert.deepEqual(counts(after), counts(before), `${variant}: rows read, loaded and quarantined per object`);
      for (const row of after.filter((entry) => entry.status === 'loaded' && Number(entry.rows_read) > 0)) {
        assert.equal(row.delimiter, FORMAT[variant].delimiter, row.object_key);
        assert.equal(row.line_break, FORMAT[variant].line_break, row.object_key);
        if (FORMAT[variant].encoding) assert.equal(row.encoding, FORMAT[variant].encoding, row.object_key);
      }
      const loaded = again.result.logs.filter((line) => line.msg === 'file loaded' && Number(line.rows_read) > 0);
      assert.ok(loaded.length > 0 && loaded.every((line) => line.delimiter === FORMAT[variant].delimiter && line.line_break === FORMAT[variant].line_break), 'the file log lines say how each object was written');
    });
  }
});

describe('what cannot be read fails with its real reason', () => {
  const header = HEADERS.join(',');
  const rows = Array.from({ length: 20 }, (_, i) => csvLine(HEADERS, sampleRow({ 'SR Number': String(7_000_000 + i) })));
  const cases: Array<{ name: string; body: Buffer; errorClass: string; sentence: RegExp }> = [
    {
      name: 'UTF-16 without a byte-order mark',
      body: Buffer.from([header, ...rows].join('\n') + '\n', 'utf16le'),
      errorClass: 'CSV_FORMAT_ERROR',
      sentence: /^the object looks like UTF-16 without a byte-order mark \(\d+ of the \d+ bytes of its header line are 0\); save it as UTF-8, or as UTF-16 with its byte-order mark$/,
    },
    {
      name: 'no line break anywhere',
      body: Buffer.from('x'.repeat(300_000)),
      errorClass: 'CSV_FORMAT_ERROR',
      sentence: /^the object has no line break in its first 100000 bytes \(max_record_bytes\), so it has no header line to read; it is not a CSV export$/,
    },
    {
      name: 'a header that is an export header with two delimiters',
      body: Buffer.from('SR Number,Severity;SR Number\n1,2;3\n'),
      errorClass: 'CSV_FORMAT_ERROR',
      sentence: /^the header line reads as the export's header both with ',' and with ';' as the delimiter/,
    },
    {
      name: 'a quote opened in the header that closes rows later',
      body: Buffer.from(`SR Number,"SR Status\n${rows.join('\n')}\n",x\n`),
      errorClass: 'CSV_FORMAT_ERROR',
      sentence: /^the header line holds a line break inside a quoted column name \(a quote opened on line 1 closes 21 lines later\), so the header swallows rows; fix the export's header line$/,
    },
    {
      name: 'a header without SR Number, separated by semicolons',
      body: Buffer.from(`Ticket;SR Status;Severity\n1;Open;2\n`),
      errorClass: 'MISSING_REQUIRED_COLUMNS',
      sentence: /^the header has no "SR Number" column \(also accepted: SR #, Incident Number\) under any of the delimiters \(',', ';', tab, '\|'\); read with ';' its 3 fields begin "Ticket", "SR Status", "Severity"; fix the export's header line$/,
    },
  ];
  test('each fails alone, in one sentence naming what the object looks like, and the good export beside them loads', async (t) => {
    const db = await freshDatabase({ prefix: 'variant_bad' });
    const dir = mkdtempSync(path.join(tmpdir(), 'etl-variant-bad-'));
    t.after(async () => {
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    cases.forEach((item, index) => writeFileSync(path.join(dir, `bad_${index}.csv`), item.body));
    writeFileSync(path.join(dir, 'good.csv'), [header, ...rows].join('\n') + '\n');
    const result = await runCli(['run'], { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, '.state'), LOG_FORMAT: 'json', ETL_MAX_RECORD_BYTES: '100000' });
    assert.equal(result.code, 3, result.stderr);
    const files = await query<{ object_key: string; status: string; error_class: string; error_message: string; rows_loaded: number }>(db.url, 'SELECT object_key, status, error_class, error_message, rows_loaded::int FROM etl_files');
    for (const [index, item] of cases.entries()) {
      const file = files.find((row) => row.object_key === `bad_${index}.csv`)!;
      assert.equal(file.status, 'failed', item.name);
      assert.equal(file.error_class, item.errorClass, item.name);
      assert.match(file.error_message, item.sentence, item.name);
      assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.deepEqual(files.find((row) => row.object_key === 'good.csv'), { object_key: 'good.csv', status: 'loaded', error_class: null, error_message: null, rows_loaded: 20 });
  });

  test('a header of 20,000 extra columns, each a line long: the object loads, and no log line is over 16 KB', async (t) => {
    const db = await freshDatabase({ prefix: 'variant_wide' });
    const dir = mkdtempSync(path.join(tmpdir(), 'etl-variant-wide-'));
    t.after(async () => {
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    const extra = Array.from({ length: 20_000 }, (_, i) => `Extra ${i} ${'x'.repeat(200)}`);
    writeFileSync(path.join(dir, 'wide.csv'), [[header, ...extra].join(','), ...rows.map((row) => row + ','.repeat(extra.length))].join('\n') + '\n');
    const result = await runCli(['run'], { ETL_SOURCE: dir, DATABASE_URL: db.url, ETL_STATE_DIR: path.join(dir, '.state'), LOG_FORMAT: 'json' });
    assert.equal(result.code, 0, result.stderr);
    const longest = Math.max(...result.stdout.split('\n').map((line) => Buffer.byteLength(line)));
    assert.ok(longest < 16 * 1024, `the longest log line has ${longest} bytes`);
    const ignoring = result.logs.find((line) => line.msg === 'ignoring columns that are not in the export layout');
    assert.ok(ignoring, 'the extra columns are named');
    const named = ignoring.extra_columns as string[];
    assert.equal(named.length, 21);
    assert.equal(named.at(-1), '… and 19980 more');
    const [ledger] = await query<{ n: number; rows_loaded: number }>(db.url, 'SELECT cardinality(extra_columns) AS n, rows_loaded::int FROM etl_files');
    assert.deepEqual(ledger, { n: 21, rows_loaded: 20 });
  });
});
