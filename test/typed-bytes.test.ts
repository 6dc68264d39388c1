// Typing on bytes (src/read/typed-bytes.ts, what the load runs) agrees with typing on text
// (src/read/values.ts, the spec's rules as written) on every field: the same NULL, the same value,
// the same misfit, for ids, timestamps and numbers, on fuzzed fields near each form.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Kind } from '../src/model/export.ts';
import { EMPTY, FITS, MISFIT, TypedValue, timestampText, typedValue } from '../src/read/typed-bytes.ts';
import { parseValue } from '../src/read/values.ts';

const FC_SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`typed-bytes: FC_SEED=${FC_SEED}`);

/** typedValue's answer as values.ts would write it: null, the value, or undefined for a misfit. */
function onBytes(kind: Kind, text: string): string | null | undefined {
  const bytes = Buffer.concat([Buffer.from('<<'), Buffer.from(text), Buffer.from('>>')]); // a field inside a larger buffer
  const out = new TypedValue();
  const fit = typedValue(kind, bytes, 2, bytes.length - 2, out);
  if (fit === EMPTY) return null;
  if (fit === MISFIT) return undefined;
  assert.equal(fit, FITS);
  return kind === 'timestamp' ? timestampText(out.seconds) : out.buf.toString('utf8', out.start, out.end);
}

const spaces = fc.constantFrom('', ' ', '  ', '\t', '\u00a0', '\u3000', '\r', '\n');
const around = (core: fc.Arbitrary<string>) => fc.tuple(spaces, core, spaces).map(([a, b, c]) => a + b + c);
const digits = fc.stringMatching(/^[0-9]{0,14}$/);
const noise = fc.string({ unit: fc.constantFrom('0', '1', '9', 'A', 'z', '-', '/', ':', ' ', '.', '+', '"', '=', 'é', 'T', 'P', 'M'), maxLength: 24 });
const pad = (n: number, width: number) => String(n).padStart(width, '0');
const MONTHS = ['jan', 'FEB', 'Mar', 'apr', 'MAY', 'jun', 'Jul', 'aug', 'SEP', 'oct', 'Nov', 'dec', 'xyz'];
const timestampish = fc
  .tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.integer({ min: 0, max: 61 }), fc.nat(5))
  .map(([y, mo, d, h, mi, s, form]) => {
    if (form === 0) return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)} ${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}`;
    if (form === 1) return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}`;
    if (form === 2) return `${pad(mo, 2)}/${pad(d, 2)}/${pad(y, 4)} ${pad(h % 13, 2)}:${pad(mi, 2)}:${pad(s, 2)} ${h < 12 ? 'AM' : 'pm'}`;
    if (form === 3) return `${mo}/${d}/${y} ${h % 13}:${pad(mi, 2)}:${pad(s, 2)} ${h < 12 ? 'am' : 'PM'}`;
    return `${pad(d, 2)}-${MONTHS[mo % MONTHS.length]}-${pad(y, 4)} ${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}`;
  });
const numberish = fc.oneof(fc.stringMatching(/^[+-]?[0-9]{0,6}(\.[0-9]{0,5})?$/), fc.constantFrom('.', '+', '-', '1e5', '1.2.3', '0x1F', '١٢'));
const idish = fc.oneof(digits, fc.stringMatching(/^[A-Za-z0-9]{0,10}$/), digits.map((d) => `="${d}"`), fc.stringMatching(/^[A-Z0-9]{0,6}$/).map((d) => `=" ${d} "`), fc.constantFrom('="', '=""', '="12""3"', '12A', 'SN-1', '=0001'));

describe('typing on bytes agrees with typing on text', () => {
  const cases: Array<[Kind, fc.Arbitrary<string>]> = [
    ['digits', fc.oneof(around(idish), noise)],
    ['alnum', fc.oneof(around(idish), noise)],
    ['timestamp', fc.oneof(around(timestampish), noise)],
    ['number', fc.oneof(around(numberish), noise)],
  ];
  for (const [kind, field] of cases) {
    test(`${kind} (3,000 fields)`, () => {
      fc.assert(
        fc.property(field, (text) => {
          assert.equal(onBytes(kind, text), parseValue(kind, text), JSON.stringify(text));
        }),
        { numRuns: 3000, seed: FC_SEED },
      );
    });
  }

  test('every valid date of the three forms, from year 1 to 9999, gives the text path its timestamp', () => {
    for (const [y, mo, d] of [[1, 1, 1], [1999, 12, 31], [2000, 1, 1], [2000, 2, 29], [1900, 2, 28], [2024, 2, 29], [9999, 12, 31], [1582, 10, 10]]) {
      for (const [h, mi, s] of [[0, 0, 0], [12, 0, 0], [23, 59, 59], [1, 2, 3]]) {
        const iso = `${pad(y!, 4)}-${pad(mo!, 2)}-${pad(d!, 2)} ${pad(h!, 2)}:${pad(mi!, 2)}:${pad(s!, 2)}`;
        const us = `${pad(mo!, 2)}/${pad(d!, 2)}/${pad(y!, 4)} ${pad(h! % 12 === 0 ? 12 : h! % 12, 2)}:${pad(mi!, 2)}:${pad(s!, 2)} ${h! < 12 ? 'AM' : 'PM'}`;
        const oracle = `${pad(d!, 2)}-${MONTHS[mo! - 1]}-${pad(y!, 4)} ${pad(h!, 2)}:${pad(mi!, 2)}:${pad(s!, 2)}`;
        for (const text of [iso, us, oracle]) assert.equal(onBytes('timestamp', text), iso, text);
      }
    }
  });
});
