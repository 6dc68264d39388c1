// The spec's value rules ("Columns"): ids trimmed and Excel escapes unwrapped, the three timestamp
// forms, numbers, empty is NULL, and a value that does not fit is NULL and recorded.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTimestamp, parseValue, unwrapExcel } from '../src/read/values.ts';
import { HEADERS, csvLine, readBuffer, sampleRow, valuesByField } from './helpers/read.ts';

describe('ids', () => {
  test('digits keep their leading zeros and are trimmed', () => {
    assert.equal(parseValue('digits', '0001234567'), '0001234567');
    assert.equal(parseValue('digits', '  0042 '), '0042');
    assert.equal(parseValue('digits', '7'), '7');
  });

  test('the Excel text escape ="…" is unwrapped (digits and letters+digits)', () => {
    assert.equal(parseValue('digits', '="0001234567"'), '0001234567');
    assert.equal(parseValue('digits', ' ="0001234567" '), '0001234567');
    assert.equal(parseValue('alnum', '="AB00123"'), 'AB00123');
    assert.equal(unwrapExcel('="0001234567"'), '0001234567');
    // An escape around nothing is an empty id: NULL, not a value that does not fit.
    assert.equal(parseValue('digits', '=""'), null);
  });

  test('digits: anything but digits does not fit', () => {
    for (const raw of ['12A', '1.0', '-1', '1 234', '1,234', '="12A"', '=0001', 'SR1']) {
      assert.equal(parseValue('digits', raw), undefined, raw);
    }
  });

  test('letters and digits: other characters do not fit', () => {
    assert.equal(parseValue('alnum', 'SN12345'), 'SN12345');
    assert.equal(parseValue('alnum', 'abc123XYZ'), 'abc123XYZ');
    assert.equal(parseValue('alnum', ' PN4711 '), 'PN4711');
    for (const raw of ['SN-12345', 'PN 4711', 'PN_1', 'PN.1', '15" TOUCH']) {
      assert.equal(parseValue('alnum', raw), undefined, raw);
    }
  });

  test('an empty or blank id is NULL', () => {
    for (const kind of ['digits', 'alnum'] as const) {
      assert.equal(parseValue(kind, ''), null);
      assert.equal(parseValue(kind, '   '), null);
    }
  });
});

describe('timestamps', () => {
  test('the three forms of the spec give the same stored value', () => {
    assert.equal(parseValue('timestamp', '2023-04-05 13:22:10'), '2023-04-05 13:22:10');
    assert.equal(parseValue('timestamp', '04/05/2023 01:22:10 PM'), '2023-04-05 13:22:10');
    assert.equal(parseValue('timestamp', '05-APR-2023 13:22:10'), '2023-04-05 13:22:10');
  });

  test('month/day order of the US form: 04/05 is April 5th', () => {
    assert.equal(parseValue('timestamp', '12/31/2022 11:59:59 PM'), '2022-12-31 23:59:59');
    assert.equal(parseValue('timestamp', '01/02/2023 09:08:07 AM'), '2023-01-02 09:08:07');
  });

  test('12 AM is midnight and 12 PM is noon', () => {
    const cases: Array<[string, string]> = [
      ['04/05/2023 12:00:00 AM', '2023-04-05 00:00:00'],
      ['04/05/2023 12:59:59 AM', '2023-04-05 00:59:59'],
      ['04/05/2023 01:00:00 AM', '2023-04-05 01:00:00'],
      ['04/05/2023 11:59:59 AM', '2023-04-05 11:59:59'],
      ['04/05/2023 12:00:00 PM', '2023-04-05 12:00:00'],
      ['04/05/2023 12:30:15 PM', '2023-04-05 12:30:15'],
      ['04/05/2023 01:00:00 PM', '2023-04-05 13:00:00'],
      ['04/05/2023 11:59:59 PM', '2023-04-05 23:59:59'],
    ];
    for (const [raw, stored] of cases) assert.equal(parseValue('timestamp', raw), stored, raw);
  });

  test('a 12-hour clock has no hour 0 or 13', () => {
    assert.equal(parseValue('timestamp', '04/05/2023 00:30:00 AM'), undefined);
    assert.equal(parseValue('timestamp', '04/05/2023 13:00:00 PM'), undefined);
  });

  test('English month names in any case, all twelve', () => {
    const months = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
    months.forEach((month, index) => {
      const stored = `2023-${String(index + 1).padStart(2, '0')}-05 08:09:10`;
      for (const spelled of [month, month.toLowerCase(), month[0] + month.slice(1).toLowerCase(), month[0]!.toLowerCase() + month.slice(1)]) {
        assert.equal(parseValue('timestamp', `05-${spelled}-2023 08:09:10`), stored, spelled);
      }
    });
    assert.equal(parseValue('timestamp', '05-XYZ-2023 08:09:10'), undefined);
    assert.equal(parseValue('timestamp', '05-APRIL-2023 08:09:10'), undefined);
  });

  test('dates that do not exist do not fit', () => {
    for (const raw of [
      '02/30/2023 10:00:00 AM',
      '02/29/2023 10:00:00 AM',
      '04/31/2023 10:00:00 AM',
      '13/01/2023 10:00:00 AM',
      '00/10/2023 10:00:00 AM',
      '2023-02-29 10:00:00',
      '2023-02-30 10:00:00',
      '2023-13-01 10:00:00',
      '2023-00-10 10:00:00',
      '2023-04-00 10:00:00',
      '31-SEP-2023 10:00:00',
      '29-FEB-2023 10:00:00',
      '00-JAN-2023 10:00:00',
    ]) {
      assert.equal(parseValue('timestamp', raw), undefined, raw);
    }
  });

  test('leap days exist in leap years', () => {
    assert.equal(parseValue('timestamp', '02/29/2024 10:00:00 AM'), '2024-02-29 10:00:00');
    assert.equal(parseValue('timestamp', '2024-02-29 10:00:00'), '2024-02-29 10:00:00');
    assert.equal(parseValue('timestamp', '29-feb-2024 10:00:00'), '2024-02-29 10:00:00');
    assert.equal(parseValue('timestamp', '2000-02-29 00:00:00'), '2000-02-29 00:00:00');
    assert.equal(parseValue('timestamp', '1900-02-29 00:00:00'), undefined);
  });

  test('times out of range do not fit', () => {
    for (const raw of ['2023-04-05 24:00:00', '2023-04-05 13:60:00', '2023-04-05 13:22:60', '05-APR-2023 24:00:00']) {
      assert.equal(parseValue('timestamp', raw), undefined, raw);
    }
  });

  test('text in none of the three forms does not fit', () => {
    for (const raw of ['2023-04-05', '04/05/2023', '2023/04/05 13:22:10', '5 April 2023', 'yesterday', '1680700930', '13:22:10']) {
      assert.equal(parseValue('timestamp', raw), undefined, raw);
    }
    assert.equal(parseTimestamp('n/a'), undefined);
  });

  test('empty is NULL; surrounding spaces are not part of the value', () => {
    assert.equal(parseValue('timestamp', ''), null);
    assert.equal(parseValue('timestamp', '   '), null);
    assert.equal(parseValue('timestamp', ' 2023-04-05 13:22:10 '), '2023-04-05 13:22:10');
  });
});

describe('numbers', () => {
  test('1, 4 and 1.0 are numbers, kept as written', () => {
    assert.equal(parseValue('number', '1'), '1');
    assert.equal(parseValue('number', '4'), '4');
    assert.equal(parseValue('number', '1.0'), '1.0');
    assert.equal(parseValue('number', ' 2 '), '2');
  });

  test('empty is NULL; words and thousands separators do not fit', () => {
    assert.equal(parseValue('number', ''), null);
    assert.equal(parseValue('number', '  '), null);
    for (const raw of ['one', '1,0', '1.0.0', '2 pcs', '1e', 'N/A']) assert.equal(parseValue('number', raw), undefined, raw);
  });
});

describe('text', () => {
  test('text is kept exactly, spaces included; empty is NULL', () => {
    for (const kind of ['text', 'freetext'] as const) {
      assert.equal(parseValue(kind, '  Acme  Stores '), '  Acme  Stores ');
      assert.equal(parseValue(kind, 'DISPLAY, 15" TOUCH'), 'DISPLAY, 15" TOUCH');
      assert.equal(parseValue(kind, ''), null);
    }
  });
});

describe('values in a file', () => {
  test('each value is stored in its kind; a value that does not fit is NULL and recorded with its line, column and raw text', async () => {
    const header = HEADERS.join(',');
    const good = sampleRow({
      'SR Number': '="0000123"',
      'Created Date': '04/05/2023 12:05:00 AM',
      'Closed Date': '06-apr-2023 09:00:00',
      'Account Number': ' 0001234567 ',
      'Quantity Used': '1.0',
      'Note Date': '',
      'Customer Name': ' Café  Müller ',
    });
    const bad = sampleRow({ 'Created Date': '02/30/2023 10:00:00 AM', 'Quantity Used': 'two', 'Serial Number': 'SN-1', 'Task Number': '5000-1' });
    const { rows, rejects } = await readBuffer([header, csvLine(HEADERS, good), csvLine(HEADERS, bad)].join('\n') + '\n');
    assert.deepEqual(rejects, []);
    assert.equal(rows.length, 2);

    const first = valuesByField(rows[0]!);
    assert.equal(first.sr_number, '0000123');
    assert.equal(first.created_at, '2023-04-05 00:05:00');
    assert.equal(first.closed_at, '2023-04-06 09:00:00');
    assert.equal(first.account_number, '0001234567');
    assert.equal(first.quantity, '1.0');
    assert.equal(first.note_date, null);
    assert.equal(first.customer_name, ' Café  Müller ');
    assert.deepEqual(rows[0]!.issues, []);

    const second = valuesByField(rows[1]!);
    assert.equal(rows[1]!.line, 3);
    assert.equal(second.created_at, null);
    assert.equal(second.quantity, null);
    assert.equal(second.serial_number, null);
    assert.equal(second.task_number, null);
    assert.equal(second.sr_number, '1000001', 'the other values of the row are kept');
    assert.deepEqual(
      [...rows[1]!.issues].sort((a, b) => a.column.localeCompare(b.column)),
      [
        { column: 'Created Date', raw: '02/30/2023 10:00:00 AM' },
        { column: 'Quantity Used', raw: 'two' },
        { column: 'Serial Number', raw: 'SN-1' },
        { column: 'Task Number', raw: '5000-1' },
      ],
    );
  });
});
