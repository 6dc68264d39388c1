// The header rules of the spec ("Columns"): aliases, case, spaces, order, extra columns, and a
// missing SR Number failing the object.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EXPORT_COLUMNS } from '../src/model/export.ts';
import { MissingRequiredColumnsError, layoutFromHeader, type Layout } from '../src/read/layout.ts';
import { HEADERS, csvLine, readBuffer, sampleRow, valuesByField } from './helpers/read.ts';

/** The header position of a column, by its field name. */
function positionOf(layout: Layout, field: string): number {
  const index = EXPORT_COLUMNS.findIndex((column) => column.field === field);
  assert.notEqual(index, -1, `no column ${field}`);
  return layout.positions[index]!;
}

describe('header layout', () => {
  test('the canonical header maps every column in order', () => {
    const layout = layoutFromHeader(HEADERS);
    assert.equal(layout.width, 29);
    assert.deepEqual(layout.positions, HEADERS.map((_, index) => index));
    assert.deepEqual(layout.extras, []);
    assert.deepEqual(layout.missing, []);
  });

  test('every alias the spec lists names its column', () => {
    // Spelled out from the spec's table, not taken from the model, so a lost alias is caught.
    const aliases: Array<[string, string]> = [
      ['SR #', 'sr_number'],
      ['Incident Number', 'sr_number'],
      ['Incident Date', 'created_at'],
      ['Customer Account', 'account_number'],
      ['Account #', 'account_number'],
      ['Task #', 'task_number'],
      ['Technician', 'technician'],
      ['Part #', 'part_number'],
      ['Item Number', 'part_number'],
      ['Qty', 'quantity'],
      ['Notes', 'note_text'],
      ['Note', 'note_text'],
    ];
    for (const [alias, field] of aliases) {
      const header = ['SR Number', alias];
      if (field === 'sr_number') header.shift();
      const layout = layoutFromHeader(header);
      assert.equal(positionOf(layout, field), header.indexOf(alias), alias);
      assert.deepEqual(layout.extras, [], alias);
    }
  });

  test('case, surrounding spaces and repeated inner spaces are ignored', () => {
    const layout = layoutFromHeader(['sr number', '  SR   STATUS  ', 'Created\tDate', 'part  #', ' QTY', 'nOtE tExT ']);
    assert.equal(positionOf(layout, 'sr_number'), 0);
    assert.equal(positionOf(layout, 'sr_status'), 1);
    assert.equal(positionOf(layout, 'created_at'), 2);
    assert.equal(positionOf(layout, 'part_number'), 3);
    assert.equal(positionOf(layout, 'quantity'), 4);
    assert.equal(positionOf(layout, 'note_text'), 5);
    assert.deepEqual(layout.extras, []);
  });

  test('columns in another order are found where they are', () => {
    const reversed = [...HEADERS].reverse();
    const layout = layoutFromHeader(reversed);
    EXPORT_COLUMNS.forEach((column, index) => assert.equal(layout.positions[index], 28 - index, column.header));
    // The repair candidates and typed columns follow the file's positions, not the spec's order.
    assert.deepEqual(layout.freeTextPositions, [0, 4, 20]); // Note Text, Part Description, SR Summary
    assert.deepEqual(
      [...layout.typedPositions].sort((a, b) => a.position - b.position).map(({ position }) => reversed[position]),
      ['Note Date', 'Quantity Used', 'Part Number', 'Actual End', 'Scheduled Start', 'Task Number', 'Serial Number', 'Account Number', 'Closed Date', 'Created Date', 'SR Number'],
    );
  });

  test('unknown columns, an empty name from a trailing comma included, are ignored and named', () => {
    const header = ['Region', ...HEADERS.slice(0, 10), 'Contract Type', ...HEADERS.slice(10), ''];
    const layout = layoutFromHeader(header);
    assert.equal(layout.width, 32);
    assert.deepEqual(layout.extras, ['Region', 'Contract Type', '']);
    assert.deepEqual(layout.missing, []);
    assert.equal(positionOf(layout, 'sr_number'), 1);
    assert.equal(positionOf(layout, 'customer_name'), 12);
    assert.equal(positionOf(layout, 'note_text'), 30);
  });

  test('optional columns may be missing: they are listed, and the object is read', () => {
    const layout = layoutFromHeader(HEADERS.filter((name) => !name.startsWith('Note')));
    assert.deepEqual(layout.missing, ['Note Type', 'Note Date', 'Note Text']);
    assert.equal(positionOf(layout, 'note_text'), -1);
  });

  test('no SR Number (nor an alias of it): MISSING_REQUIRED_COLUMNS', () => {
    for (const header of [HEADERS.slice(1), ['SR Num', ...HEADERS.slice(1)], ['']]) {
      assert.throws(
        () => layoutFromHeader(header),
        (error: unknown) =>
          error instanceof MissingRequiredColumnsError && error.errorClass === 'MISSING_REQUIRED_COLUMNS' && /"SR Number"/.test(error.message),
      );
    }
  });
});

describe('header variants in a file', () => {
  test('aliases, mixed case, reordered and extra columns: values land in their columns', async () => {
    const header = ['Region', 'note', 'QTY', 'Part  #', 'Account #', 'sr #', 'incident date', ...HEADERS.filter((name) => !['Note Text', 'Quantity Used', 'Part Number', 'Account Number', 'SR Number', 'Created Date'].includes(name)), 'Contract Type'];
    const row = sampleRow({ 'Note Text': 'Left voicemail', 'Quantity Used': '2', 'Part Number': 'PN9', 'Account Number': '0000042', 'SR Number': '777', 'Created Date': '2023-01-02 03:04:05' });
    const names: Record<string, string> = { note: 'Note Text', QTY: 'Quantity Used', 'Part  #': 'Part Number', 'Account #': 'Account Number', 'sr #': 'SR Number', 'incident date': 'Created Date' };
    const line = header.map((name) => (name in names ? row[names[name]!]! : name in row ? row[name]! : `${name} value`)).join(',');
    const { header: event, rows, rejects } = await readBuffer(`${header.join(',')}\n${line}\n`);
    assert.deepEqual(event?.layout.extras, ['Region', 'Contract Type']);
    assert.deepEqual(rejects, []);
    assert.equal(rows.length, 1);
    const values = valuesByField(rows[0]!);
    assert.equal(values.note_text, 'Left voicemail');
    assert.equal(values.quantity, '2');
    assert.equal(values.part_number, 'PN9');
    assert.equal(values.account_number, '0000042');
    assert.equal(values.sr_number, '777');
    assert.equal(values.created_at, '2023-01-02 03:04:05');
    assert.equal(values.customer_name, 'Acme Stores');
    assert.ok(!Object.values(values).some((value) => value?.endsWith(' value')), 'no extra column value lands in a column');
  });

  test('the first non-blank line is the header', async () => {
    const text = `\n   \n\r\n${HEADERS.join(',')}\n${csvLine(HEADERS, sampleRow())}\n`;
    const { header, rows } = await readBuffer(text);
    assert.equal(header?.line, 4);
    assert.deepEqual(rows.map((row) => row.line), [5]);
  });

  test('no SR Number column: reading the object fails with MissingRequiredColumnsError', async () => {
    const header = HEADERS.slice(1);
    const line = csvLine(header, sampleRow());
    await assert.rejects(readBuffer(`${header.join(',')}\n${line}\n`), MissingRequiredColumnsError);
  });
});
