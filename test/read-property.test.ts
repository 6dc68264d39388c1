// Property tests of the reader (fast-check):
// 1. A row whose free text is written without quotes (defect 1), in files with shuffled columns and
//    extra columns, is either repaired to exactly its values or quarantined as ambiguous — never
//    loaded with values in the wrong columns. An oracle written here from the spec says when the
//    row must be repaired and when it must be quarantined.
// 2. Properly quoted rows always read back exactly (any text, LF or CRLF, BOM, Windows-1252, gzip,
//    any chunking), on the lines they start on.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

// One seed for every property of this file, printed so that a failure can be replayed exactly:
// FC_SEED=<seed> npm test -- test/read-property.test.ts
const FC_SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`read-property: FC_SEED=${FC_SEED}`);
import { EXPORT_COLUMNS, type Kind } from '../src/model/export.ts';
import { gzip, quote, readBuffer } from './helpers/read.ts';

type Form = 'iso' | 'us' | 'oracle';
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** A value as written in the file and as it must be stored. */
interface Cell {
  raw: string;
  stored: string | null;
}

// ---- values of each kind ----

const digitsCell: fc.Arbitrary<Cell> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ raw: '', stored: null }) },
  { weight: 4, arbitrary: fc.stringMatching(/^[0-9]{1,12}$/).map((id) => ({ raw: id, stored: id })) },
  { weight: 1, arbitrary: fc.stringMatching(/^0[0-9]{1,9}$/).map((id) => ({ raw: `="${id}"`, stored: id })) },
);
const alnumCell: fc.Arbitrary<Cell> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ raw: '', stored: null }) },
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9]{1,12}$/).map((id) => ({ raw: id, stored: id })) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z0-9]{1,10}$/).map((id) => ({ raw: `="${id}"`, stored: id })) },
);
const numberCell: fc.Arbitrary<Cell> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ raw: '', stored: null }) },
  { weight: 4, arbitrary: fc.constantFrom('1', '4', '1.0', '2', '12', '0.5', '3.25').map((n) => ({ raw: n, stored: n })) },
);

const instant = fc
  .date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2035-12-31T23:59:59Z'), noInvalidDate: true })
  .map((date) => new Date(Math.floor(date.getTime() / 1000) * 1000));

function writeTimestamp(date: Date, form: Form, monthCase: number): string {
  const [y, mo, d, h, mi, s] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()];
  if (form === 'iso') return `${pad(y, 4)}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(s)}`;
  if (form === 'us') return `${pad(mo)}/${pad(d)}/${pad(y, 4)} ${pad(h % 12 === 0 ? 12 : h % 12)}:${pad(mi)}:${pad(s)} ${h < 12 ? 'AM' : 'PM'}`;
  const name = MONTHS[mo - 1]!;
  const spelled = [name, name.toLowerCase(), name[0] + name.slice(1).toLowerCase()][monthCase % 3]!;
  return `${pad(d)}-${spelled}-${pad(y, 4)} ${pad(h)}:${pad(mi)}:${pad(s)}`;
}

const timestampCell = (form: Form): fc.Arbitrary<Cell> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant({ raw: '', stored: null }) },
    {
      weight: 4,
      arbitrary: fc.tuple(instant, fc.nat()).map(([date, monthCase]) => ({
        raw: writeTimestamp(date, form, monthCase),
        stored: writeTimestamp(date, 'iso', 0),
      })),
    },
  );

/** Any text: commas, quotes, line breaks of all kinds, spaces, letters beyond ASCII. */
const anyText = (unit: fc.Arbitrary<string>): fc.Arbitrary<Cell> =>
  fc.string({ unit, maxLength: 24 }).map((text) => ({ raw: text, stored: text === '' ? null : text }));
const UTF8_UNIT = fc.oneof(
  fc.constantFrom(',', '"', '\n', '\r\n', '\r', ' ', '  ', 'é', '’', '–', 'ʤ', '😀', '="', 'SR'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((char) => !char.includes('\u0000')),
  // A note line listing many things: a line with many commas inside a quoted field.
  fc.constant('\nChecked lanes 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16'),
);

/**
 * Free text written without quotes: fragments joined by commas; no line breaks, and no fragment
 * starts with a quote (that would be CSV quoting, not text). Fragments are drawn to look like ids,
 * dates and numbers often, so that a shifted reading sometimes fits too.
 */
const unquotedFreeText = (form: Form): fc.Arbitrary<Cell> => {
  const fragment = fc.oneof(
    fc.constantFrom('', ' ', 'Printer jams', ' error 42', ' lane 3', 'DISPLAY', ' 15" TOUCH', 'said "ok"', ' Réparé – OK', '4', ' 2', '1.0', '0001', 'SN123', 'x', 'a b'),
    fc.stringMatching(/^[0-9]{1,6}$/),
    fc.stringMatching(/^[A-Za-z0-9 "'.:/-]{0,12}$/).filter((text) => !text.startsWith('"')),
    timestampCell(form).map((cell) => cell.raw),
  );
  return fc.array(fragment, { minLength: 1, maxLength: 6 }).map((fragments) => {
    const text = fragments.join(',');
    return { raw: text, stored: text === '' ? null : text };
  });
};

function cellFor(kind: Kind, form: Form, text: fc.Arbitrary<Cell>): fc.Arbitrary<Cell> {
  switch (kind) {
    case 'digits':
      return digitsCell;
    case 'alnum':
      return alnumCell;
    case 'number':
      return numberCell;
    case 'timestamp':
      return timestampCell(form);
    case 'text':
    case 'freetext':
      return text;
  }
}

// ---- files ----

const EXTRA_NAMES = ['Region', 'Contract Type'];

/** The file's header: the 29 columns in some order (sometimes named by an alias), extras, a trailing comma. */
interface Shape {
  /** Header cells as written. */
  names: string[];
  /** For each position: the export column's index, or -1 for an extra column. */
  columns: number[];
  form: Form;
  trailingComma: boolean;
}

const shapeArb: fc.Arbitrary<Shape> = fc
  .record({
    order: fc.shuffledSubarray(EXPORT_COLUMNS.map((_, index) => index), { minLength: EXPORT_COLUMNS.length, maxLength: EXPORT_COLUMNS.length }),
    aliasPicks: fc.array(fc.nat(), { minLength: EXPORT_COLUMNS.length, maxLength: EXPORT_COLUMNS.length }),
    extras: fc.subarray(EXTRA_NAMES),
    extraSpots: fc.array(fc.nat(), { minLength: 2, maxLength: 2 }),
    form: fc.constantFrom<Form>('iso', 'us', 'oracle'),
    trailingComma: fc.boolean(),
  })
  .map(({ order, aliasPicks, extras, extraSpots, form, trailingComma }) => {
    const columns = [...order];
    extras.forEach((_, i) => columns.splice(extraSpots[i]! % (columns.length + 1), 0, -1 - i));
    const names = columns.map((index) => {
      if (index < 0) return extras[-1 - index]!;
      const column = EXPORT_COLUMNS[index]!;
      const spellings = [column.header, column.header, ...column.aliases];
      return spellings[aliasPicks[index]! % spellings.length]!;
    });
    return { names, columns: columns.map((index) => (index < 0 ? -1 : index)), form, trailingComma };
  });

/** One data row: a cell per header position, and which position (if any) is written unquoted. */
interface Row {
  cells: Cell[];
  unquoted: number | undefined;
}

function rowArb(shape: Shape, text: fc.Arbitrary<Cell>, withUnquoted: boolean): fc.Arbitrary<Row> {
  const cells = fc.tuple(...shape.columns.map((index) => (index < 0 ? text : cellFor(EXPORT_COLUMNS[index]!.kind, shape.form, text))));
  if (!withUnquoted) return cells.map((list) => ({ cells: list, unquoted: undefined }));
  const freePositions = shape.columns.flatMap((index, position) => (index >= 0 && EXPORT_COLUMNS[index]!.kind === 'freetext' ? [position] : []));
  return fc.tuple(cells, fc.constantFrom(...freePositions), unquotedFreeText(shape.form)).map(([list, position, free]) => {
    const copy = [...list];
    copy[position] = free;
    return { cells: copy, unquoted: position };
  });
}

/** The fields of a row as a CSV parser gives them (the unquoted text splits at its commas). */
function physicalFields(row: Row): string[] {
  return row.cells.flatMap((cell, position) => (position === row.unquoted ? cell.raw.split(',') : [cell.raw]));
}

function lineOf(shape: Shape, row: Row): string {
  return row.cells.map((cell, position) => (position === row.unquoted ? cell.raw : quote(cell.raw))).join(',') + (shape.trailingComma ? ',' : '');
}

function headerLine(shape: Shape): string {
  return shape.names.map(quote).join(',') + (shape.trailingComma ? ',' : '');
}

/** Expected stored values of a row, in EXPORT_COLUMNS order. */
function storedValues(shape: Shape, row: Row): (string | null)[] {
  const values: (string | null)[] = EXPORT_COLUMNS.map(() => null);
  shape.columns.forEach((index, position) => {
    if (index >= 0) values[index] = row.cells[position]!.stored;
  });
  return values;
}

// ---- the oracle: the spec's defect-1 rule, judged independently of src/read ----

type Fit = 'yes' | 'no' | 'maybe';

function validDate(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s));
  date.setUTCFullYear(y);
  return y >= 1 && date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && date.getUTCHours() === h && date.getUTCMinutes() === mi && date.getUTCSeconds() === s;
}

function timestampForm(text: string): Form | undefined {
  let m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (m && validDate(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) return 'iso';
  m = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2}) (AM|PM)$/.exec(text);
  if (m && +m[4]! >= 1 && +m[4]! <= 12 && validDate(+m[3]!, +m[1]!, +m[2]!, (+m[4]! % 12) + (m[7] === 'PM' ? 12 : 0), +m[5]!, +m[6]!)) return 'us';
  m = /^(\d{2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  const month = m ? MONTHS.indexOf(m[2]!.toUpperCase()) + 1 : 0;
  if (m && month > 0 && validDate(+m[3]!, month, +m[1]!, +m[4]!, +m[5]!, +m[6]!)) return 'oracle';
  return undefined;
}

function fit(kind: Kind, raw: string, form: Form): Fit {
  if (raw === '') return 'yes';
  if (kind === 'text' || kind === 'freetext') return 'yes';
  const text = raw.trim();
  if (text === '') return 'maybe'; // blank: empty (NULL) or not? The spec does not say.
  const padded = text !== raw;
  const sure = (ok: boolean): Fit => (ok ? (padded ? 'maybe' : 'yes') : 'no');
  switch (kind) {
    case 'digits':
    case 'alnum': {
      const excel = /^="(.*)"$/.exec(text);
      const id = excel ? excel[1]! : text;
      if (id === '') return 'maybe';
      if ((kind === 'digits' ? /^[0-9]+$/ : /^[A-Za-z0-9]+$/).test(id)) return sure(true);
      return /^[\p{L}\p{N}]+$/u.test(id) ? 'maybe' : 'no';
    }
    case 'number':
      if (/^[0-9]{1,9}(\.[0-9]+)?$/.test(text)) return sure(true);
      return /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(text) ? 'maybe' : 'no';
    case 'timestamp': {
      const found = timestampForm(text);
      if (found === undefined) return 'no';
      return found === form ? sure(true) : 'maybe';
    }
  }
}

/** For each free-text position: would rejoining the surplus there make every typed column fit? */
function candidates(shape: Shape, fields: string[]): Map<number, Fit> {
  const width = shape.columns.length + (shape.trailingComma ? 1 : 0);
  const surplus = fields.length - width;
  const result = new Map<number, Fit>();
  shape.columns.forEach((index, candidate) => {
    if (index < 0 || EXPORT_COLUMNS[index]!.kind !== 'freetext') return;
    let verdict: Fit = 'yes';
    shape.columns.forEach((other, position) => {
      if (other < 0 || position === candidate) return;
      const kind = EXPORT_COLUMNS[other]!.kind;
      if (kind === 'text' || kind === 'freetext') return;
      const f = fit(kind, fields[position < candidate ? position : position + surplus]!, shape.form);
      if (f === 'no') verdict = 'no';
      else if (f === 'maybe' && verdict === 'yes') verdict = 'maybe';
    });
    result.set(candidate, verdict);
  });
  return result;
}

// ---- properties ----

interface FileCase {
  shape: Shape;
  rows: Row[];
}

const unquotedCase: fc.Arbitrary<FileCase> = shapeArb.chain((shape) =>
  fc
    .array(rowArb(shape, anyText(UTF8_UNIT), true), { minLength: 1, maxLength: 4 })
    .map((rows) => ({ shape, rows })),
);

function fileText(shape: Shape, rows: Row[], eol: string): string {
  return [headerLine(shape), ...rows.map((row) => lineOf(shape, row))].map((line) => line + eol).join('');
}

/** The line each row starts on: physical lines, counted by line feeds. */
function startLines(rows: Row[], shape: Shape): number[] {
  let line = 2;
  return rows.map((row) => {
    const at = line;
    line += lineOf(shape, row).split('\n').length;
    return at;
  });
}

describe('property: free text written without quotes', () => {
  test('is repaired to exactly its values or quarantined as ambiguous; never loaded into the wrong columns', async () => {
    let repaired = 0;
    let quarantined = 0;
    const decisive = { only: 0, several: 0, open: 0 };
    await fc.assert(
      fc.asyncProperty(unquotedCase, fc.constantFrom('\n', '\r\n'), fc.constantFrom(Infinity, 16), async ({ shape, rows }, eol, chunkSize) => {
        const result = await readBuffer(fileText(shape, rows, eol), { chunkSize });
        const lines = startLines(rows, shape);
        const data = result.events.filter((event) => event.type !== 'header');
        assert.equal(data.length, rows.length, 'one row or reject per data row');
        rows.forEach((row, i) => {
          const event = data[i]!;
          assert.equal(event.line, lines[i], `row ${i + 1} starts on line ${lines[i]}`);
          const fields = physicalFields(row).concat(shape.trailingComma ? [''] : []);
          const verdicts = candidates(shape, fields);
          const surplus = fields.length > shape.columns.length + (shape.trailingComma ? 1 : 0);
          // Without surplus fields there is nothing to repair and no column to choose.
          const others = surplus ? [...verdicts].filter(([position]) => position !== row.unquoted).map(([, verdict]) => verdict) : [];
          if (surplus) decisive[others.every((v) => v === 'no') ? 'only' : others.includes('yes') ? 'several' : 'open']++;
          if (event.type === 'row') {
            assert.deepEqual(event.values, storedValues(shape, row), 'a loaded row carries exactly its values');
            assert.deepEqual(event.issues, []);
            assert.ok(!others.includes('yes'), 'loaded although another free-text column fits too');
            if (event.repairedColumn !== undefined) repaired++;
          } else {
            assert.equal(event.type, 'reject');
            if (event.type !== 'reject') return;
            assert.equal(event.reason, 'EXTRA_FIELDS_AMBIGUOUS', event.detail);
            assert.ok(surplus, 'quarantined a row without surplus fields');
            assert.ok(!others.every((verdict) => verdict === 'no'), 'quarantined although only the right column fits');
            assert.equal(event.raw, lineOf(shape, row), 'the raw text is the line as written');
            quarantined++;
          }
        });
      }),
      { numRuns: 300, seed: FC_SEED },
    );
    // The generator must exercise both outcomes, or the property proves little.
    assert.ok(repaired > 100, `only ${repaired} rows repaired`);
    assert.ok(quarantined > 5, `only ${quarantined} rows quarantined`);
    assert.ok(decisive.only > 100 && decisive.several > 20, `the oracle decided too few rows: ${JSON.stringify(decisive)}`);
  });
});

// ---- property 2: quoted rows round-trip ----

// Any ASCII but NUL: a row holding a NUL is quarantined (NUL_BYTE), not loaded; read-defects.test.ts covers it.
const CP1252_UNIT = fc.oneof(
  fc.constantFrom(',', '"', '\n', '\r\n', ' ', 'é', 'ü', '’', '–', '“', '”', '€', 'ÿ'),
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }).filter((char) => char !== '\u0000'),
);
const CP1252 = new Map<string, number>();
{
  const decoder = new TextDecoder('windows-1252');
  for (let byte = 0; byte < 256; byte++) CP1252.set(decoder.decode(Uint8Array.of(byte)), byte);
}
function encodeCp1252(text: string): Buffer {
  return Buffer.from([...text].map((ch) => {
    const byte = CP1252.get(ch);
    if (byte === undefined) throw new Error(`not in Windows-1252: ${ch}`);
    return byte;
  }));
}

type Encoding = 'utf-8' | 'utf-8 with BOM' | 'windows-1252';

const quotedCase = fc
  .record({ encoding: fc.constantFrom<Encoding>('utf-8', 'utf-8 with BOM', 'windows-1252'), eol: fc.constantFrom('\n', '\r\n'), zipped: fc.boolean(), chunkSize: fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 64 })) })
  .chain((settings) =>
    shapeArb.chain((shape) =>
      fc
        .array(rowArb(shape, anyText(settings.encoding === 'windows-1252' ? CP1252_UNIT : UTF8_UNIT), false), { minLength: 1, maxLength: 5 })
        .map((rows) => ({ ...settings, shape, rows })),
    ),
  );

describe('property: properly quoted rows', () => {
  test('read back exactly, on the lines they start on, whatever the encoding, line ending, gzip or chunking', async () => {
    await fc.assert(
      fc.asyncProperty(quotedCase, async ({ encoding, eol, zipped, chunkSize, shape, rows: generated }) => {
        // A Windows-1252 file is told by a byte that is no UTF-8: "Café " on the first row makes sure.
        const nameAt = shape.columns.indexOf(EXPORT_COLUMNS.findIndex((column) => column.field === 'customer_name'));
        const rows = generated.map((row, i) => {
          if (encoding !== 'windows-1252' || i > 0) return row;
          const name = `Café ${row.cells[nameAt]!.raw}`;
          return { ...row, cells: row.cells.map((cell, position) => (position === nameAt ? { raw: name, stored: name } : cell)) };
        });
        const text = fileText(shape, rows, eol);
        let bytes = encoding === 'windows-1252' ? encodeCp1252(text) : Buffer.from(text, 'utf8');
        if (encoding === 'utf-8 with BOM') bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
        if (zipped) bytes = gzip(bytes);
        const result = await readBuffer(bytes, { chunkSize });
        assert.equal(result.header?.encoding, encoding === 'windows-1252' ? 'windows-1252' : 'utf-8');
        assert.deepEqual(result.rejects, []);
        assert.deepEqual(
          result.rows.map((event) => [event.line, event.values, event.issues, event.repairedColumn]),
          rows.map((row, i) => [startLines(rows, shape)[i], storedValues(shape, row), [], undefined]),
        );
      }),
      { numRuns: 200, seed: FC_SEED },
    );
  });
});
