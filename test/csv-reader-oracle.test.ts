// The CSV reader (src/read/csv-reader.ts) against csv-parse, the parser it replaced on the hot
// path (test/helpers/csv-parse-oracle.ts, with the options the loader used): on every fixture
// (the csv-spectrum corpus, generated exports with every variation and defect) and on fuzzed
// input (quotes, doubled quotes, CR and LF inside and outside quotes, stray bytes, NUL, cut ends,
// in any chunks), both give the same records. Where the data contract says otherwise, the test
// says so by name:
//   BLANK_LINES   a line of white space (or of one empty quoted field) is a record of one blank
//                 field to csv-parse; the spec says blank lines are not rows, and the reader drops them.
//   OPEN_QUOTE    a quote still open at the end makes csv-parse stop with CSV_QUOTE_NOT_CLOSED; the
//                 reader gives the records before it the same, then one fault holding the rest
//                 (from the line that opened the quote), which the loader quarantines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { generateExports } from '../src/sample/generator.ts';
import { csvParseRecords } from './helpers/csv-parse-oracle.ts';
import { readRecords, type FaultRead, type RecordRead } from './helpers/read.ts';

const FC_SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`csv-reader-oracle: FC_SEED=${FC_SEED}`);

/** BLANK_LINES: what the reader drops of csv-parse's records. */
const blank = (record: string[]) => record.length === 1 && record[0]!.trim() === '';

/** Whether the reader read `bytes` (in chunks of `chunkSize`) as csv-parse does, with the named exceptions; a reason when not. */
function differs(bytes: Buffer, chunkSize: number): string | undefined {
  const oracle = csvParseRecords(bytes);
  const expected = oracle.records.filter((record) => !blank(record));
  const read = readRecords(bytes, chunkSize, 1 << 24);
  const records = read.filter((item): item is RecordRead => item.kind === 'record').map((item) => item.fields);
  const faults = read.filter((item): item is FaultRead => item.kind === 'fault');
  if (JSON.stringify(records) !== JSON.stringify(expected)) return `records differ:\n  csv-parse ${JSON.stringify(expected)}\n  reader    ${JSON.stringify(records)}`;
  if (!oracle.unterminated) return faults.length === 0 ? undefined : `a fault where csv-parse read to the end: ${JSON.stringify(faults)}`;
  // OPEN_QUOTE: one fault, last, holding the rest from the line the quote opened on.
  if (faults.length !== 1 || read.at(-1)!.kind !== 'fault') return `csv-parse ended inside a quote; the reader gave ${faults.length} faults`;
  const fault = faults[0]!;
  if (!['UNTERMINATED_QUOTE', 'TRUNCATED_ROW'].includes(fault.reason)) return `open quote reported as ${fault.reason}`;
  const rest = fault.rawBytes;
  const tail = bytes.subarray(bytes.length - rest.length - (bytes.at(-1) === 10 ? (bytes.at(-2) === 13 ? 2 : 1) : 0));
  if (!Buffer.concat([rest]).equals(tail.subarray(0, rest.length))) return `the fault does not hold the end of the object: ${JSON.stringify(rest.toString())}`;
  return undefined;
}

function assertSame(bytes: Buffer, where: string): void {
  for (const chunkSize of [Infinity, 1, 7, 4096]) {
    const problem = differs(bytes, chunkSize);
    assert.equal(problem, undefined, `${where} (chunks of ${chunkSize}): ${problem}`);
  }
}

describe('the CSV reader reads as csv-parse does', () => {
  test('csv-spectrum', () => {
    const corpus = dirname(createRequire(import.meta.url).resolve('csv-spectrum/package.json'));
    const names = readdirSync(join(corpus, 'csvs')).filter((name) => name.endsWith('.csv'));
    assert.ok(names.length >= 12);
    for (const name of names) assertSame(readFileSync(join(corpus, 'csvs', name)), name);
  });

  test('generated exports: every variation and defect, ten seeds', () => {
    let objects = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const generated = generateExports({
        seed,
        files: 8,
        rowsPerFile: 150,
        defects: { unquotedFreeText: 0.05, strayQuotes: 0.05, shortRows: 0.03, truncatedObjects: 0.3, duplicateRows: 0.05, badValues: 0.05 },
      });
      for (const object of generated.objects.filter((candidate) => candidate.data)) {
        const body = /\.gz$/i.test(object.key) ? gunzipSync(object.body) : object.body;
        // csv-parse had the content as UTF-8 (decode.ts transcodes Windows-1252 first); either reads bytes.
        const problem = differs(body, 4096);
        assert.equal(problem, undefined, `seed ${seed} ${object.key} (${object.features.join(', ')}): ${problem}`);
        objects++;
      }
    }
    assert.ok(objects > 50, `${objects} objects`);
  });

  test('fuzzed input: quotes, doubled quotes, CR and LF in and out of quotes, stray bytes, NUL, cut ends; any chunks (10,000 runs)', () => {
    const unit = fc.oneof(
      fc.constantFrom(',', '"', '""', '\n', '\r\n', '\r', 'a', 'b', ' ', '\t', 'x,y', '"a"', '"a"b', '"a""b"c', ',"', '"\r', '\n\n', '"\n', ',,', '="01"', '15" TOUCH'),
      fc.constantFrom('é', '’', '😀', '\u00a0', '\u0000').map((text) => Buffer.from(text)),
      fc.integer({ min: 0x80, max: 0xff }).map((byte) => Buffer.from([byte])),
    );
    const input = fc.tuple(fc.array(unit, { maxLength: 80 }), fc.nat(120)).map(([parts, cut]) => {
      const bytes = Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part)));
      // Cut ends: an object stopped anywhere.
      return cut < bytes.length && cut % 3 === 0 ? bytes.subarray(0, cut) : bytes;
    });
    fc.assert(
      fc.property(input, fc.integer({ min: 1, max: 64 }), (bytes, chunkSize) => {
        const problem = differs(bytes, chunkSize) ?? differs(bytes, Infinity);
        if (problem) throw new Error(`${JSON.stringify(bytes.toString('latin1'))}: ${problem}`);
      }),
      { numRuns: 10_000, seed: FC_SEED },
    );
  });
});
