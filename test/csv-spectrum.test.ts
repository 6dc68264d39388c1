// The public csv-spectrum corpus (npm csv-spectrum) read through the CSV reader: every CSV's
// records (its header and its rows) must be what the corpus' JSON says, in one chunk or byte by byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { profileContent, inflated, utf8Content } from '../src/read/decode.ts';
import { gzip, readRecords, type FaultRead, type RecordRead } from './helpers/read.ts';

const corpus = dirname(createRequire(import.meta.url).resolve('csv-spectrum/package.json'));
const names = readdirSync(join(corpus, 'csvs'))
  .filter((name) => name.endsWith('.csv'))
  .map((name) => basename(name, '.csv'))
  .sort();

// Where the corpus' JSON disagrees with its own CSV (upstream errata): the CSV's text is right.
// Each entry is checked to still be an erratum, so it cannot hide a reading error.
const ERRATA: Record<string, { row: number; column: string; json: string; csv: string }> = {
  location_coordinates: { row: 0, column: 'Contact Phone Number', json: '1234567890', csv: '2095257564' },
};

/** [header, ...rows] as the JSON expects them (an object alone stands for one row). */
function expectedRecords(name: string): string[][] {
  const parsed = JSON.parse(readFileSync(join(corpus, 'json', `${name}.json`), 'utf8')) as Record<string, string> | Array<Record<string, string>>;
  const rows = Array.isArray(parsed) ? parsed : [parsed];
  const erratum = ERRATA[name];
  if (erratum) {
    assert.equal(rows[erratum.row]![erratum.column], erratum.json, `${name}: the erratum is gone; drop it from ERRATA`);
    rows[erratum.row]![erratum.column] = erratum.csv;
  }
  const header = Object.keys(rows[0]!);
  return [header, ...rows.map((row) => header.map((column) => row[column]!))];
}

function fieldsOf(items: Array<RecordRead | FaultRead>, name: string): string[][] {
  return items.map((item) => {
    assert.equal(item.kind, 'record', `${name}: the reader gave up on line ${item.line}: ${item.kind === 'fault' ? item.message : ''}`);
    return (item as RecordRead).fields;
  });
}

/** Records of an object's bytes the way readExport reads them: gunzip, charset, BOM, records. */
async function decodedRecords(bytes: Buffer): Promise<Array<RecordRead | FaultRead>> {
  const { encoding } = await profileContent(inflated(Readable.from([bytes])));
  const chunks: Buffer[] = [];
  for await (const chunk of utf8Content(inflated(Readable.from([bytes])), encoding)) chunks.push(chunk);
  return readRecords(Buffer.concat(chunks));
}

test('the corpus is there', () => {
  assert.ok(names.length >= 12, `only ${names.length} CSVs in ${corpus}`);
  for (const name of names) assert.ok(readdirSync(join(corpus, 'json')).includes(`${name}.json`), `${name}.json is missing`);
});

for (const name of names) {
  test(`csv-spectrum ${name}`, async () => {
    const bytes = readFileSync(join(corpus, 'csvs', `${name}.csv`));
    const expected = expectedRecords(name);
    assert.deepEqual(fieldsOf(readRecords(bytes), name), expected);
    assert.deepEqual(fieldsOf(readRecords(bytes, 1), name), expected, 'read byte by byte');
    assert.deepEqual(fieldsOf(await decodedRecords(gzip(bytes)), name), expected, 'gzipped, through decode');
  });
}

test('csv-spectrum line numbers: records spanning lines start where they start', async () => {
  const lines = async (name: string) =>
    readRecords(readFileSync(join(corpus, 'csvs', `${name}.csv`))).map((item) => [item.line, item.kind === 'record' ? item.lineCount : 0]);
  assert.deepEqual(await lines('newlines'), [
    [1, 1],
    [2, 1],
    [3, 2],
    [5, 1],
  ]);
  assert.deepEqual(await lines('newlines_crlf'), [
    [1, 1],
    [2, 1],
    [3, 2],
    [5, 1],
  ]);
  assert.deepEqual(await lines('quotes_and_newlines'), [
    [1, 1],
    [2, 3],
    [5, 1],
  ]);
});
