// One fixture per known defect of the spec ("Known defects" 1-10, where reading decides), read
// through readExport: exact line numbers, raw text, reasons and values. Each fixture is read in one
// chunk and in small chunks, which must give the same events.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, gunzipSync } from 'node:zlib';
import { MissingRequiredColumnsError } from '../src/read/layout.ts';
import {
  HEADERS,
  csvLine,
  expectedValues,
  gzip,
  readBuffer,
  sampleRow,
  valuesByField,
  type ReadBufferOptions,
  type ReadResult,
} from './helpers/read.ts';

const HEADER = HEADERS.join(',');

/** Reads the bytes in one chunk and in chunks of 1, 2, 3 and 64 bytes; all must agree. */
async function readEveryWay(bytes: Buffer | string, options: ReadBufferOptions = {}): Promise<ReadResult> {
  const whole = await readBuffer(bytes, options);
  for (const chunkSize of [1, 2, 3, 64]) {
    const split = await readBuffer(bytes, { ...options, chunkSize });
    assert.deepEqual(split.events, whole.events, `reading in chunks of ${chunkSize} bytes gives other events`);
  }
  return whole;
}

/** A file: header and lines, each line ended by `eol`. */
function file(lines: readonly string[], eol = '\n', header = HEADER): string {
  return [header, ...lines].map((line) => line + eol).join('');
}

function row(overrides: Record<string, string> = {}): Record<string, string> {
  return sampleRow(overrides);
}

/** [line, reason, raw] of each reject. */
function rejectSummary(result: ReadResult): Array<[number, string, string]> {
  return result.rejects.map((reject) => [reject.line, reject.reason, reject.raw]);
}

describe('defect 1: unquoted free text', () => {
  for (const column of ['SR Summary', 'Part Description', 'Note Text']) {
    test(`commas in ${column} written without quotes: the row is repaired to its values`, async () => {
      const broken = row({ [column]: 'Receipt printer jams, error 42, lane 3' });
      const result = await readEveryWay(file([csvLine(HEADERS, row()), csvLine(HEADERS, broken, { unquoted: [column] }), csvLine(HEADERS, row())]));
      assert.deepEqual(result.rejects, []);
      assert.deepEqual(result.rows.map((event) => event.line), [2, 3, 4]);
      assert.equal(result.rows[1]!.repairedColumn, column);
      assert.deepEqual(valuesByField(result.rows[1]!), expectedValues(broken));
      assert.deepEqual(result.rows[1]!.issues, []);
      assert.equal(result.rows[0]!.repairedColumn, undefined);
    });
  }

  test('30 and 89 fields for 29 columns (1 and 60 surplus commas)', async () => {
    const one = row({ 'SR Summary': 'Printer jams, error 7' });
    const sixty = row({ 'Note Text': Array.from({ length: 61 }, (_, i) => `part ${i}`).join(',') });
    const lines = [csvLine(HEADERS, one, { unquoted: ['SR Summary'] }), csvLine(HEADERS, sixty, { unquoted: ['Note Text'] })];
    assert.equal(lines[0]!.split(',').length, 30);
    assert.equal(lines[1]!.split(',').length, 89);
    const result = await readEveryWay(file(lines));
    assert.deepEqual(result.rejects, []);
    assert.deepEqual(result.rows.map((event) => [event.line, event.repairedColumn]), [
      [2, 'SR Summary'],
      [3, 'Note Text'],
    ]);
    assert.deepEqual(valuesByField(result.rows[0]!), expectedValues(one));
    assert.deepEqual(valuesByField(result.rows[1]!), expectedValues(sixty));
  });

  // A fixed shuffle of the 29 columns with two extra columns and a trailing comma on every line.
  const ORDER = [
    'Note Text', 'Site City', 'Serial Number', 'Region', 'Created Date', 'Part Description', 'SR Number', 'Task Type',
    'Quantity Used', 'Customer Name', 'Closed Date', 'SR Summary', 'Account Number', 'Note Date', 'Site State',
    'Problem Code', 'Task Number', 'Severity', 'Contract Type', 'Scheduled Start', 'Part Number', 'Site Postal Code',
    'SR Type', 'Actual End', 'Note Type', 'Resolution Code', 'Product', 'Task Status', 'Assigned Technician',
    'Site Country', 'SR Status', '',
  ];

  test('the fixed shuffle covers every column once', () => {
    assert.deepEqual(ORDER.filter((name) => HEADERS.includes(name)).sort(), [...HEADERS].sort());
  });

  for (const column of ['SR Summary', 'Part Description', 'Note Text']) {
    test(`reordered columns and extra columns: commas in ${column} repaired`, async () => {
      const extras = { Region: 'EAST', 'Contract Type': 'Premium, 24x7' };
      const broken = row({ [column]: 'Keyboard, 67 key, POS "USB"' });
      const lines = [csvLine(ORDER, broken, { unquoted: [column], extras }), csvLine(ORDER, row(), { extras })];
      const result = await readEveryWay(file(lines, '\n', ORDER.join(',')));
      assert.deepEqual(result.header?.layout.extras, ['Region', 'Contract Type', '']);
      assert.deepEqual(result.rejects, []);
      assert.deepEqual(result.rows.map((event) => [event.line, event.repairedColumn]), [
        [2, column],
        [3, undefined],
      ]);
      assert.deepEqual(valuesByField(result.rows[0]!), expectedValues(broken));
      assert.deepEqual(valuesByField(result.rows[1]!), expectedValues(row()));
    });
  }

  test('the surplus fits two free-text columns: quarantined as EXTRA_FIELDS_AMBIGUOUS', async () => {
    // "Cable, 2" unquoted with Quantity, Note Type and Note Date empty: " 2" is a fine quantity, so
    // the row reads either as Part Description "Cable, 2" or as Part Description "Cable", Quantity 2.
    const ambiguous = csvLine(HEADERS, row({ 'Part Description': 'Cable, 2', 'Quantity Used': '', 'Note Type': '', 'Note Date': '' }), {
      unquoted: ['Part Description'],
    });
    const result = await readEveryWay(file([csvLine(HEADERS, row()), ambiguous, csvLine(HEADERS, row())]));
    assert.deepEqual(rejectSummary(result), [[3, 'EXTRA_FIELDS_AMBIGUOUS', ambiguous]]);
    assert.match(result.rejects[0]!.detail, /Part Description.*Note Text/);
    assert.deepEqual(result.rows.map((event) => event.line), [2, 4]);
  });

  test('commas in a column that is no free text: no column fits, quarantined as EXTRA_FIELDS_NO_FIT', async () => {
    const noFit = csvLine(HEADERS, row({ 'Customer Name': 'Leclerc, Hypermarché' }), { unquoted: ['Customer Name'] });
    const result = await readEveryWay(file([noFit, csvLine(HEADERS, row())]));
    assert.deepEqual(rejectSummary(result), [[2, 'EXTRA_FIELDS_NO_FIT', noFit]]);
    assert.deepEqual(result.rows.map((event) => event.line), [3]);
  });

  test('commas in two free-text columns at once: no single column fits, quarantined', async () => {
    const two = csvLine(HEADERS, row({ 'SR Summary': 'Printer jams, error 42', 'Note Text': 'Called, no answer' }), { unquoted: ['SR Summary', 'Note Text'] });
    const result = await readEveryWay(file([two]));
    assert.deepEqual(rejectSummary(result), [[2, 'EXTRA_FIELDS_NO_FIT', two]]);
    assert.deepEqual(result.rows, []);
  });

  test('a header without free-text columns: surplus fields are quarantined, not cut off', async () => {
    const header = HEADERS.filter((name) => !['SR Summary', 'Part Description', 'Note Text'].includes(name));
    const line = `${csvLine(header, row())},surplus`;
    const result = await readEveryWay(file([line], '\n', header.join(',')));
    assert.deepEqual(rejectSummary(result), [[2, 'EXTRA_FIELDS_NO_FIT', line]]);
  });
});

describe('defect 2: stray quotes inside unquoted fields', () => {
  test('DISPLAY, 15" TOUCH unquoted in Part Description is repaired exactly', async () => {
    const broken = row({ 'Part Description': 'DISPLAY, 15" TOUCH' });
    const line = csvLine(HEADERS, broken, { unquoted: ['Part Description'] });
    assert.ok(line.includes(',DISPLAY, 15" TOUCH,'));
    const result = await readEveryWay(file([line, csvLine(HEADERS, row())]));
    assert.deepEqual(result.rejects, []);
    assert.deepEqual(result.rows.map((event) => [event.line, event.repairedColumn]), [
      [2, 'Part Description'],
      [3, undefined],
    ]);
    assert.equal(valuesByField(result.rows[0]!).part_description, 'DISPLAY, 15" TOUCH');
  });

  test('quotes inside unquoted text columns are kept as text', async () => {
    const values = row({ Product: '15" Touch Display', 'SR Summary': 'Customer reports "blue screen" at startup', 'Note Text': 'He said "ok"' });
    const line = csvLine(HEADERS, values, { unquoted: ['Product', 'SR Summary', 'Note Text'] });
    const result = await readEveryWay(file([line, csvLine(HEADERS, row())]));
    assert.deepEqual(result.rejects, []);
    assert.equal(result.rows.length, 2);
    assert.deepEqual(valuesByField(result.rows[0]!), expectedValues(values));
  });
});

describe('defect 3: short rows', () => {
  test('rows with fewer fields than the header are quarantined with their raw text; the rest loads', async () => {
    const short = '1000002,Break/Fix,Open';
    const oneShort = HEADERS.slice(0, 28).map((name) => row()[name]).join(',');
    const result = await readEveryWay(file([csvLine(HEADERS, row()), short, '', oneShort, csvLine(HEADERS, row())]));
    assert.deepEqual(rejectSummary(result), [
      [3, 'SHORT_ROW', short],
      [5, 'SHORT_ROW', oneShort],
    ]);
    assert.deepEqual(result.rows.map((event) => event.line), [2, 6], 'the blank line 4 is no row');
  });

  test('a short row spanning lines keeps all its lines in the raw text', async () => {
    const short = '1000002,"line one\nline two",Open';
    const result = await readEveryWay(file([short, csvLine(HEADERS, row())]));
    assert.deepEqual(rejectSummary(result), [[2, 'SHORT_ROW', short]]);
    assert.deepEqual(result.rows.map((event) => event.line), [4]);
  });
});

describe('defect 4: truncated object', () => {
  test('cut in the middle of a field without a quote: the cut row is TRUNCATED_ROW, the rest loads', async () => {
    const last = csvLine(HEADERS, row({ 'SR Number': '1000003' }));
    const cut = last.slice(0, last.indexOf('2023-04-05 17:31') + 7); // inside Note Date
    const text = file([csvLine(HEADERS, row()), csvLine(HEADERS, row({ 'SR Number': '1000002' }))]) + cut;
    const result = await readEveryWay(text);
    assert.deepEqual(rejectSummary(result), [[4, 'TRUNCATED_ROW', cut]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2, 3]);
  });

  test('cut inside the last field with the full field count: still TRUNCATED_ROW (the exporter ends every row with a line break)', async () => {
    const last = csvLine(HEADERS, row({ 'SR Number': '1000003', 'Note Text': 'printer jam' }));
    const cut = last.slice(0, last.length - 'm'.length); // `...,printer ja`
    const text = file([csvLine(HEADERS, row())]) + cut;
    const result = await readEveryWay(text);
    assert.deepEqual(rejectSummary(result), [[3, 'TRUNCATED_ROW', cut]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2]);
  });

  test('cut inside unquoted free text with commas: TRUNCATED_ROW, not "repaired" as defect 1', async () => {
    const last = csvLine(HEADERS, row({ 'SR Number': '1000003', 'Note Text': 'printer jam, receipt scanner' }), { unquoted: ['Note Text'] });
    const cut = last.slice(0, last.length - 'nner'.length); // `...,printer jam, receipt sca`
    const result = await readEveryWay(file([csvLine(HEADERS, row())]) + cut);
    assert.deepEqual(rejectSummary(result), [[3, 'TRUNCATED_ROW', cut]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2]);
  });

  test('a whole last row without a line break: TRUNCATED_ROW by default, loaded from a source that omits it', async () => {
    const last = csvLine(HEADERS, row({ 'SR Number': '1000003' }));
    const text = file([csvLine(HEADERS, row())]) + last;
    assert.deepEqual(rejectSummary(await readEveryWay(text)), [[3, 'TRUNCATED_ROW', last]]);
    const omitting = await readEveryWay(text, { sourceOmitsFinalNewline: true });
    assert.deepEqual(rejectSummary(omitting), []);
    assert.deepEqual(omitting.rows.map((event) => [event.line, event.values[0]]), [[2, '1000001'], [3, '1000003']]);
    // A short last row is cut either way.
    const short = '1000004,Open';
    assert.deepEqual(rejectSummary(await readEveryWay(file([csvLine(HEADERS, row())]) + short, { sourceOmitsFinalNewline: true })), [[3, 'TRUNCATED_ROW', short]]);
    // A header without a line break is a header: 0 rows, nothing quarantined.
    const headerOnly = await readEveryWay(HEADER);
    assert.deepEqual([headerOnly.rows.length, headerOnly.rejects.length], [0, 0]);
  });

  test('cut inside an open quote spanning lines: one TRUNCATED_ROW from its first line', async () => {
    const last = csvLine(HEADERS, row({ 'Note Text': 'Step 1: rebooted\nStep 2: reseated cable\nStep 3: tested OK' }));
    const cut = last.slice(0, last.indexOf('Step 3') + 4);
    const text = file([csvLine(HEADERS, row())]) + cut;
    const result = await readEveryWay(text);
    assert.deepEqual(rejectSummary(result), [[3, 'TRUNCATED_ROW', cut]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2]);
  });

  test('cut inside an open quote in a CRLF file', async () => {
    const last = csvLine(HEADERS, row({ 'Note Text': 'No answer at site\r\nWill retry' }));
    const cut = last.slice(0, last.indexOf('Will') + 2);
    const text = file([csvLine(HEADERS, row())], '\r\n') + cut;
    const result = await readEveryWay(text);
    assert.deepEqual(rejectSummary(result), [[3, 'TRUNCATED_ROW', cut]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2]);
  });

  test('a gzip stream cut short: the whole rows before the cut load and the cut row is TRUNCATED_ROW', async () => {
    const notes = ['Called customer, left voicemail', 'Parts ordered, ETA 3 days', 'Réparé – test OK', 'Escalated to L2'];
    const lines = Array.from({ length: 120 }, (_, i) =>
      csvLine(HEADERS, row({ 'SR Number': String(2000000 + i * 7919), 'Note Text': `${notes[i % 4]} #${(i * 104729) % 9973}` })),
    );
    const text = file(lines);
    const compressed = gzip(text);
    // Cut at many places: what a reader can inflate from the cut stream is `prefix`.
    let tried = 0;
    for (let cut = 40; cut < compressed.length - 8; cut += Math.ceil(compressed.length / 23)) {
      const prefix = gunzipSync(compressed.subarray(0, cut), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
      if (!prefix.startsWith(`${HEADER}\n`)) continue; // a cut inside the header is another story
      tried++;
      const whole = prefix.slice(0, prefix.lastIndexOf('\n') + 1).split('\n').length - 2; // data rows with their line break
      const partial = prefix.slice(prefix.lastIndexOf('\n') + 1);
      const label = `cut at byte ${cut} of ${compressed.length}`;
      const result = await readBuffer(compressed.subarray(0, cut)).catch((error: Error) => assert.fail(`${label}: ${error.message}`));
      assert.deepEqual(
        result.rows.map((event) => event.line),
        Array.from({ length: Math.max(0, whole) }, (_, i) => i + 2),
        label,
      );
      result.rows.forEach((event, i) => assert.equal(event.values[0], String(2000000 + i * 7919), label));
      assert.deepEqual(rejectSummary(result), partial === '' ? [] : [[whole + 2, 'TRUNCATED_ROW', partial]], label);
    }
    assert.ok(tried >= 15, `only ${tried} cut points after the header`);
  });

  test('a gzip stream cut inside the last field of the last row: that row is not loaded cut', async () => {
    const text = file([csvLine(HEADERS, row()), csvLine(HEADERS, row({ 'Note Text': 'A long note that the cut will shorten' }))]);
    const compressed = gzip(text);
    // Find a cut whose inflated prefix ends inside the note (29 fields are there: no short row).
    let found = false;
    for (let cut = compressed.length - 1; cut > 20 && !found; cut--) {
      const prefix = gunzipSync(compressed.subarray(0, cut), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
      if (!prefix.includes('A long note') || prefix.endsWith('shorten\n') || prefix.endsWith('shorten')) continue;
      found = true;
      const partial = prefix.slice(prefix.lastIndexOf('\n') + 1);
      const result = await readBuffer(compressed.subarray(0, cut));
      assert.deepEqual(result.rows.map((event) => event.line), [2]);
      assert.deepEqual(rejectSummary(result), [[3, 'TRUNCATED_ROW', partial]]);
    }
    assert.ok(found, 'no cut point inside the note');
  });

  test('a UTF-8 object cut inside a multi-byte character stays UTF-8 (plain and gzip)', async () => {
    const accented = row({ 'Customer Name': 'Café Müller', 'Assigned Technician': 'Renée Dupont' });
    const last = csvLine(HEADERS, row({ 'SR Number': '1000002', 'Note Type': 'Réparé – OK' }));
    const text = Buffer.from(file([csvLine(HEADERS, accented)]) + last);
    const at = text.lastIndexOf(Buffer.from('–')) + 1; // inside the 3 bytes of the dash, in Note Type
    for (const bytes of [text.subarray(0, at), gzip(text.subarray(0, at))]) {
      const result = await readEveryWay(bytes);
      assert.equal(result.header?.encoding, 'utf-8');
      assert.deepEqual(valuesByField(result.rows[0]!), expectedValues(accented));
      assert.deepEqual(result.rows.map((event) => event.line), [2]);
      assert.deepEqual(
        result.rejects.map((event) => [event.line, event.reason, event.raw.startsWith(last.slice(0, last.indexOf('–')))]),
        [[3, 'TRUNCATED_ROW', true]],
      );
    }
  });
});

describe('an unterminated quote in the middle of a file', () => {
  const ok = (n: number) => csvLine(HEADERS, row({ 'SR Number': String(1000000 + n) }));
  const open = ok(3).replace('Printer jam', '"Printer jam');
  const stray = csvLine(HEADERS, row({ 'SR Number': '1000006', 'Part Description': 'DISPLAY, 15" TOUCH' }), { unquoted: ['Part Description'] });

  test('quarantines the line that opens it and reads the rows after it', async () => {
    const result = await readEveryWay(file([ok(2), open, ok(4), ok(5), ok(6)]));
    assert.deepEqual(rejectSummary(result), [[3, 'UNTERMINATED_QUOTE', open]]);
    assert.deepEqual(result.rows.map((event) => [event.line, event.values[0]]), [
      [2, '1000002'],
      [4, '1000004'],
      [5, '1000005'],
      [6, '1000006'],
    ]);
  });

  test('also when a stray quote further down closes it', async () => {
    const result = await readEveryWay(file([ok(2), open, ok(4), ok(5), stray, ok(7)]));
    assert.deepEqual(rejectSummary(result), [[3, 'UNTERMINATED_QUOTE', open]]);
    assert.deepEqual(result.rows.map((event) => [event.line, event.values[0]]), [
      [2, '1000002'],
      [4, '1000004'],
      [5, '1000005'],
      [6, '1000006'],
      [7, '1000007'],
    ]);
    assert.equal(valuesByField(result.rows[3]!).part_description, 'DISPLAY, 15" TOUCH');
  });

  test('also in a CRLF file', async () => {
    const result = await readEveryWay(file([ok(2), open, ok(4), ok(5)], '\r\n'));
    assert.deepEqual(rejectSummary(result), [[3, 'UNTERMINATED_QUOTE', open]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2, 4, 5]);
  });

  test('also when the quote would run past the record size bound', async () => {
    const result = await readEveryWay(file([ok(2), open, ok(4), ok(5), ok(6)]), { maxRecordBytes: 1000 });
    assert.deepEqual(rejectSummary(result), [[3, 'RECORD_TOO_LARGE', open]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2, 4, 5, 6]);
  });

  test('on the last line, ended by a line break: that line is quarantined', async () => {
    const result = await readEveryWay(file([ok(2), open]));
    assert.deepEqual(rejectSummary(result), [[3, 'UNTERMINATED_QUOTE', open]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2]);
  });

  test('over lines at the end that are no rows: one reject holding them all', async () => {
    const result = await readEveryWay(file([ok(2), open, 'more of the note', 'and more']));
    assert.deepEqual(rejectSummary(result), [[3, 'UNTERMINATED_QUOTE', `${open}\nmore of the note\nand more`]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2]);
  });
});

describe('a quoted line break in a row that is quarantined', () => {
  // A note listing lanes is no swallowed row: the row is one reject, with all its lines.
  const note = 'Checked lanes:\n1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16';
  const after = csvLine(HEADERS, row({ 'SR Number': '1000002' }));
  for (const [name, line, reason] of [
    ['no fit', csvLine(HEADERS, row({ 'Note Text': note, 'Customer Name': 'Leclerc, Hyper' }), { unquoted: ['Customer Name'] }), 'EXTRA_FIELDS_NO_FIT'],
    ['ambiguous', csvLine(HEADERS, row({ 'Note Text': note, 'Part Description': 'Cable, 2', 'Quantity Used': '', 'Note Type': '', 'Note Date': '' }), { unquoted: ['Part Description'] }), 'EXTRA_FIELDS_AMBIGUOUS'],
    ['short', `1000001,"${note}",Open`, 'SHORT_ROW'],
  ] as const) {
    test(`${name}: one reject holding the whole row, with its own reason`, async () => {
      const result = await readEveryWay(file([line, after]));
      assert.deepEqual(rejectSummary(result), [[2, reason, line]]);
      assert.deepEqual(result.rows.map((event) => [event.line, event.values[0]]), [[4, '1000002']]);
    });
  }
});

describe('defect 5: duplicate rows', () => {
  test('the reader yields both copies (dropping duplicates is the loader’s job)', async () => {
    const line = csvLine(HEADERS, row());
    const result = await readEveryWay(file([line, line]));
    assert.deepEqual(result.rows.map((event) => event.line), [2, 3]);
    assert.deepEqual(result.rows[0]!.values, result.rows[1]!.values);
  });
});

describe('defect 6: header variants', () => {
  test('a trailing comma on every line: an empty-named extra column, rows load', async () => {
    const result = await readEveryWay(file([`${csvLine(HEADERS, row())},`, `${csvLine(HEADERS, row({ 'SR Number': '1000002' }))},`], '\n', `${HEADER},`));
    assert.deepEqual(result.header?.layout.extras, ['']);
    assert.deepEqual(result.rejects, []);
    assert.deepEqual(result.rows.map((event) => [event.line, event.values[0]]), [
      [2, '1000001'],
      [3, '1000002'],
    ]);
    assert.deepEqual(valuesByField(result.rows[0]!), expectedValues(row()));
  });

  test('aliases and odd spacing or case in a file', async () => {
    const header = HEADERS.map((name) => ({ 'SR Number': 'SR #', 'Account Number': 'ACCOUNT  #', 'Note Text': ' notes ', 'Quantity Used': 'qty' })[name] ?? name);
    const result = await readEveryWay(file([csvLine(HEADERS, row())], '\n', header.join(',')));
    assert.deepEqual(result.header?.layout.extras, []);
    assert.deepEqual(valuesByField(result.rows[0]!), expectedValues(row()));
  });
});

describe('defect 7: encodings and line endings', () => {
  const accented = row({ 'Customer Name': 'Café O’Brien – Zürich', 'Note Text': 'Réparé – “test” OK', 'Assigned Technician': 'François Lefèvre' });

  test('UTF-8 with a BOM: the BOM is no part of the first header', async () => {
    const quotedHeader = HEADERS.map((name) => `"${name}"`).join(',');
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(file([csvLine(HEADERS, accented)], '\n', quotedHeader))]);
    const result = await readEveryWay(bytes);
    assert.equal(result.header?.encoding, 'utf-8');
    assert.deepEqual(result.header?.layout.extras, []);
    assert.deepEqual(valuesByField(result.rows[0]!), expectedValues(accented));
  });

  test('Windows-1252: é ’ – “ ” arrive as the exporter meant them', async () => {
    const text = file([csvLine(HEADERS, accented), csvLine(HEADERS, row())], '\r\n');
    const high: Record<string, number> = { '’': 0x92, '–': 0x96, '“': 0x93, '”': 0x94 };
    const cp1252 = Buffer.from(text.replace(/[’–“”]/g, (ch) => String.fromCharCode(high[ch]!)), 'latin1');
    assert.ok(cp1252.includes(0x92) && cp1252.includes(0xe9), 'the fixture is cp1252 bytes');
    const result = await readEveryWay(cp1252);
    assert.equal(result.header?.encoding, 'windows-1252');
    assert.deepEqual(result.rejects, []);
    assert.deepEqual(valuesByField(result.rows[0]!), expectedValues(accented));
    assert.deepEqual(result.rows.map((event) => event.line), [2, 3]);
  });

  test('Windows-1252 whose only accented letter is its last byte', async () => {
    const last = csvLine(HEADERS, row({ 'Note Text': 'Paid in the café' }));
    const bytes = Buffer.from(file([csvLine(HEADERS, row())]) + last, 'latin1');
    // From a source that omits the final line break, the last row loads, decoded as Windows-1252.
    const omitting = await readEveryWay(bytes, { sourceOmitsFinalNewline: true });
    assert.equal(omitting.header?.encoding, 'windows-1252');
    assert.equal(valuesByField(omitting.rows[1]!).note_text, 'Paid in the café');
    // By default the row without a line break was cut: quarantined, its raw text decoded the same way.
    const result = await readEveryWay(bytes);
    assert.equal(result.header?.encoding, 'windows-1252');
    assert.deepEqual(rejectSummary(result), [[3, 'TRUNCATED_ROW', last]]);
  });

  test('CRLF: line breaks inside quoted fields are kept exactly, lines are counted physically', async () => {
    const crlf = row({ 'Note Text': 'Step 1: rebooted\r\nStep 2: reseated cable\r\n', 'SR Summary': 'one\ntwo' });
    const short = '1000009,Open';
    const text = file([csvLine(HEADERS, crlf), short, csvLine(HEADERS, row())], '\r\n');
    const result = await readEveryWay(text);
    assert.deepEqual(valuesByField(result.rows[0]!), expectedValues(crlf));
    assert.equal(valuesByField(result.rows[0]!).note_text, 'Step 1: rebooted\r\nStep 2: reseated cable\r\n');
    assert.deepEqual(rejectSummary(result), [[6, 'SHORT_ROW', short]]);
    assert.deepEqual(result.rows.map((event) => event.line), [2, 7]);
  });
});

describe('defect 8: gzip', () => {
  test('a gzip object reads as its content', async () => {
    const text = file([csvLine(HEADERS, row()), '1000002,short', csvLine(HEADERS, row({ 'SR Summary': 'jams, again' }), { unquoted: ['SR Summary'] })]);
    const plain = await readBuffer(text);
    const zipped = await readEveryWay(gzip(text));
    assert.deepEqual(zipped.events, plain.events);
    assert.equal(zipped.rows.length, 2);
    assert.equal(zipped.rejects.length, 1);
  });

  test('gzip of Windows-1252 with CRLF', async () => {
    const cp1252 = Buffer.from(file([csvLine(HEADERS, row({ 'Customer Name': 'Café' }))], '\r\n'), 'latin1');
    const result = await readEveryWay(gzip(cp1252));
    assert.equal(result.header?.encoding, 'windows-1252');
    assert.equal(valuesByField(result.rows[0]!).customer_name, 'Café');
  });
});

describe('defect 9: empty and header-only objects', () => {
  for (const [name, bytes] of [
    ['0 bytes', Buffer.alloc(0)],
    ['only blank lines', Buffer.from('\n\r\n  \n')],
    ['one line break', Buffer.from('\n')],
    ['only a BOM', Buffer.from([0xef, 0xbb, 0xbf])],
    ['gzip of nothing', gzip('')],
  ] as const) {
    test(`${name}: no rows, no rejects, no failure`, async () => {
      const result = await readEveryWay(bytes);
      assert.deepEqual(result.events, []);
    });
  }

  for (const [name, text] of [
    ['header only', `${HEADER}\n`],
    ['header only, no line break', HEADER],
    ['header only, CRLF and blank lines after', `${HEADER}\r\n\r\n\r\n`],
  ] as const) {
    test(`${name}: a header and no rows`, async () => {
      const result = await readEveryWay(text);
      assert.equal(result.header?.line, 1);
      assert.deepEqual(result.rows, []);
      assert.deepEqual(result.rejects, []);
    });
  }
});

describe('defect 10: missing required column', () => {
  test('no SR Number in the header: the object fails with MISSING_REQUIRED_COLUMNS', async () => {
    const header = HEADERS.slice(1);
    for (const bytes of [Buffer.from(file([csvLine(header, row())], '\n', header.join(','))), gzip(file([], '\n', header.join(',')))]) {
      await assert.rejects(readBuffer(bytes), (error: unknown) => error instanceof MissingRequiredColumnsError && error.errorClass === 'MISSING_REQUIRED_COLUMNS');
    }
  });
});

describe('the account', () => {
  test('every data line is a row or a reject, exactly once', async () => {
    const lines = [
      csvLine(HEADERS, row()),
      '1000002,short',
      csvLine(HEADERS, row({ 'Note Text': 'a, b' }), { unquoted: ['Note Text'] }),
      csvLine(HEADERS, row({ 'Customer Name': 'x, y' }), { unquoted: ['Customer Name'] }),
      '',
      csvLine(HEADERS, row()).replace('Printer jam', '"Printer jam'),
      csvLine(HEADERS, row({ 'Note Text': 'multi\nline' })),
      csvLine(HEADERS, row()),
    ];
    const result = await readEveryWay(file(lines) + '1000003,cut');
    const seen = [...result.rows.map((event) => event.line), ...result.rejects.map((event) => event.line)].sort((a, b) => a - b);
    assert.deepEqual(seen, [2, 3, 4, 5, 7, 8, 10, 11]);
    assert.deepEqual(result.rejects.map((event) => event.reason), ['SHORT_ROW', 'EXTRA_FIELDS_NO_FIT', 'UNTERMINATED_QUOTE', 'TRUNCATED_ROW']);
  });
});

describe('bytes and values Postgres cannot store (each quarantines its row, never the object)', () => {
  const good = (n: number, overrides: Record<string, string> = {}) => csvLine(HEADERS, row({ 'SR Number': String(1000000 + n), ...overrides }));
  const bytesOf = (...parts: Array<string | Buffer>) => Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : part)));

  test('a UTF-8 export damaged by one stray byte stays UTF-8: only that row is INVALID_ENCODING, accents elsewhere intact', async () => {
    const damaged = good(3, { 'Note Text': 'Paid in the caf' });
    const cut = damaged.indexOf('caf') + 3;
    const bytes = bytesOf(HEADER, '\n', good(2, { 'Customer Name': 'Café Montréal', 'Site City': 'Québec' }), '\n', damaged.slice(0, cut), Buffer.of(0xe9), damaged.slice(cut), '\n', good(4, { 'Customer Name': 'Müller – Zürich' }), '\n');
    const result = await readEveryWay(bytes);
    assert.equal(result.header?.encoding, 'utf-8');
    assert.deepEqual(result.rows.map((event) => valuesByField(event).customer_name), ['Café Montréal', 'Müller – Zürich']);
    assert.deepEqual(result.rejects.map((event) => [event.line, event.reason]), [[3, 'INVALID_ENCODING']]);
    const reject = result.rejects[0]!;
    assert.ok(reject.rawBytes.includes(Buffer.of(0x63, 0x61, 0x66, 0xe9)), 'the exact bytes are kept');
    assert.equal(reject.raw, damaged.slice(0, cut) + '\uFFFD' + damaged.slice(cut), 'the text shows the stray byte as U+FFFD');
  });

  test('invalid bytes at least as many as valid multi-byte characters: Windows-1252 (the contract rule, at its edge)', async () => {
    // One valid 'é' (2 bytes) and one stray 0xE9: as many invalid bytes as valid sequences.
    const tie = bytesOf(HEADER, '\n', good(2, { 'Customer Name': 'Café' }), '\n', good(3, { 'Customer Name': 'Caf' }).replace('Caf', 'Caf\u0000'), '\n');
    const tied = Buffer.from(tie.toString('latin1').replace('Caf\u0000', 'Caf\u00e9'), 'latin1');
    assert.equal((await readEveryWay(tied)).header?.encoding, 'windows-1252');
    // Two valid 'é' and one stray byte: fewer invalid bytes: a damaged UTF-8 export.
    const more = Buffer.from(bytesOf(HEADER, '\n', good(2, { 'Customer Name': 'Café é' }), '\n', good(3, { 'Customer Name': 'Caf\u0000' }), '\n').toString('latin1').replace('Caf\u0000', 'Caf\u00e9'), 'latin1');
    const read = await readEveryWay(more);
    assert.equal(read.header?.encoding, 'utf-8');
    assert.deepEqual(read.rejects.map((event) => event.reason), ['INVALID_ENCODING']);
    assert.equal(valuesByField(read.rows[0]!).customer_name, 'Café é');
  });

  test('a NUL byte in a value, or in a padded file tail: NUL_BYTE (or TRUNCATED_ROW at the end), exact bytes kept', async () => {
    const withNul = good(3, { 'Note Text': 'before\u0000after' });
    const text = file([good(2), withNul, good(4)]) + '\u0000\u0000\u0000\u0000';
    const result = await readEveryWay(text);
    assert.deepEqual(result.rows.map((event) => event.line), [2, 4]);
    assert.deepEqual(result.rejects.map((event) => [event.line, event.reason]), [[3, 'NUL_BYTE'], [5, 'TRUNCATED_ROW']]);
    assert.ok(result.rejects[0]!.rawBytes.equals(Buffer.from(withNul, 'utf8')), 'exact bytes, NUL included');
    assert.equal(result.rejects[0]!.raw, withNul.replace('\u0000', '\uFFFD'), 'storable text');
    assert.ok(!result.rejects.some((event) => event.raw.includes('\u0000') || event.detail.includes('\u0000')), 'no NUL in text that goes to Postgres');
  });

  test('a NUL in an extra header name: the name is made storable', async () => {
    const result = await readEveryWay(`${HEADER},Reg\u0000ion\n${good(2)},x\n`);
    assert.deepEqual(result.header?.layout.extras, ['Reg\uFFFDion']);
    assert.equal(result.rows.length, 1);
  });

  test('an id too long for an index (a 3 KB SR Number): KEY_TOO_LONG; a number past numeric (140,000 digits): VALUE_OUT_OF_RANGE', async () => {
    const longKey = good(3, { 'SR Number': '7'.repeat(3000) });
    const hugeNumber = good(4, { 'Quantity Used': '9'.repeat(140_000) });
    const fine = good(5, { 'Quantity Used': '9'.repeat(900), 'SR Number': '1'.repeat(1000) });
    // Read in 64 KiB chunks: byte-sized chunks of 140 KB values would take half a minute.
    const result = await readBuffer(file([good(2), longKey, hugeNumber, fine]), { chunkSize: 65_536 });
    assert.deepEqual(result.rejects.map((event) => [event.line, event.reason]), [[3, 'KEY_TOO_LONG'], [4, 'VALUE_OUT_OF_RANGE']]);
    assert.deepEqual(result.rows.map((event) => event.line), [2, 5]);
  });

  test('rows the database refused on an earlier read (by ordinal) become DATABASE_REJECTED; a refused reject keeps ASCII text', async () => {
    const text = file([good(2), '1000003,short', good(4, { 'Customer Name': 'Señor Frog’s' })]);
    const result = await readEveryWay(text, { exclude: new Map([[3, '22P05: character with byte sequence 0xe2 0x80 0x99 has no equivalent in encoding "LATIN1"'], [2, 'refused too']]) });
    assert.deepEqual(result.rows.map((event) => event.line), [2]);
    assert.deepEqual(result.rejects.map((event) => [event.line, event.reason]), [[3, 'SHORT_ROW'], [4, 'DATABASE_REJECTED']]);
    assert.match(result.rejects[1]!.detail, /^the database refused the row: 22P05/);
    assert.match(result.rejects[0]!.detail, /kept in ASCII/);
    assert.ok([...result.rejects[0]!.raw].every((char) => char.charCodeAt(0) < 0x80), 'ASCII only');
  });

  test('a single line longer than the record bound fails the object (memory stays bounded); a gzip bomb too', async () => {
    await assert.rejects(readBuffer(file([good(2)]) + `3,${'x'.repeat(2_000_000)}`, { maxRecordBytes: 1_000_000, chunkSize: 65_536 }), { name: 'RecordTooLargeError', message: /line 3 runs on for more than 1000000 bytes without a line break/ });
    const bomb = gzip(file([good(2)]) + '\n'.repeat(5_000_000));
    await assert.rejects(readBuffer(bomb, { maxInflatedBytes: 1_000_000 }), { name: 'InflateLimitError' });
    assert.equal((await readBuffer(bomb, { maxInflatedBytes: 10_000_000 })).rows.length, 1, 'within the bound it reads');
  });
});
