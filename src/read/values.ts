// Typed values (spec, "Columns"): ids, timestamps and numbers. Each parser returns the value as
// Postgres should store it, or `undefined` when the text does not fit its kind (the caller stores
// NULL and records the raw text). Empty text is NULL and always fits.
import type { Kind } from '../model/export.ts';

/** `="0001234567"` (Excel's "keep as text" escape) unwraps to `0001234567`. */
export function unwrapExcel(text: string): string {
  const trimmed = text.trim();
  if (trimmed.length >= 3 && trimmed.startsWith('="') && trimmed.endsWith('"')) {
    return trimmed.slice(2, -1).replace(/""/g, '"').trim();
  }
  return trimmed;
}

const DIGITS = /^[0-9]+$/;
const ALNUM = /^[A-Za-z0-9]+$/;
const NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/;

const ISO = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;
const US = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) ?([AaPp][Mm])$/;
const ORACLE = /^(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{1,2}):(\d{2}):(\d{2})$/;
const MONTHS: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };

/**
 * The three export forms — `2023-04-05 13:22:10`, `04/05/2023 01:22:10 PM`, `05-APR-2023 13:22:10` —
 * as `YYYY-MM-DD HH:MM:SS`; undefined when the text is none of them or not a real date.
 */
export function parseTimestamp(text: string): string | undefined {
  // Fast path: already 'YYYY-MM-DD HH:MM:SS' (the commonest form) is stored as it is once its
  // fields are checked, without a regular expression or a new string.
  if (text.length === 19 && text.charCodeAt(10) === 32 && isCanonical(text)) return text;
  // Fast paths for the zero-padded US and Oracle forms (what exports write), without a regular
  // expression: `04/05/2023 01:22:10 PM` and `05-APR-2023 13:22:10`.
  if (text.length === 22 && text.charCodeAt(2) === 47 && text.charCodeAt(5) === 47) {
    const fast = paddedUs(text);
    if (fast !== undefined) return fast;
  } else if (text.length === 20 && text.charCodeAt(2) === 45 && text.charCodeAt(6) === 45) {
    const fast = paddedOracle(text);
    if (fast !== undefined) return fast;
  }
  let m = ISO.exec(text);
  if (m) return timestamp(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  m = US.exec(text);
  if (m) {
    let hour = +m[4]!;
    if (hour < 1 || hour > 12) return undefined;
    const pm = m[7]!.toLowerCase() === 'pm';
    if (hour === 12) hour = pm ? 12 : 0;
    else if (pm) hour += 12;
    return timestamp(+m[3]!, +m[1]!, +m[2]!, hour, +m[5]!, +m[6]!);
  }
  m = ORACLE.exec(text);
  if (m) {
    const month = MONTHS[m[2]!.toLowerCase()];
    if (month === undefined) return undefined;
    return timestamp(+m[3]!, month, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  }
  return undefined;
}

/** Two digits at `at`, or -1. */
function twoDigits(text: string, at: number): number {
  const high = text.charCodeAt(at) - 48;
  const low = text.charCodeAt(at + 1) - 48;
  return high >= 0 && high <= 9 && low >= 0 && low <= 9 ? high * 10 + low : -1;
}

/** `MM/DD/YYYY HH:MM:SS AM`; undefined when it is not exactly that (the regular expression decides). */
function paddedUs(text: string): string | undefined {
  if (text.charCodeAt(10) !== 32 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58 || text.charCodeAt(19) !== 32) return undefined;
  const meridiem = text.charCodeAt(20) | 0x20;
  if ((meridiem !== 97 && meridiem !== 112) || (text.charCodeAt(21) | 0x20) !== 109) return undefined;
  const month = twoDigits(text, 0);
  const day = twoDigits(text, 3);
  const century = twoDigits(text, 6);
  const year = twoDigits(text, 8);
  const hour12 = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  if (month < 0 || day < 0 || century < 0 || year < 0 || hour12 < 1 || hour12 > 12 || minute < 0 || second < 0) return undefined;
  const hour = (hour12 % 12) + (meridiem === 112 ? 12 : 0);
  return timestamp(century * 100 + year, month, day, hour, minute, second);
}

/** `DD-MON-YYYY HH:MM:SS`; undefined when it is not exactly that. */
function paddedOracle(text: string): string | undefined {
  if (text.charCodeAt(11) !== 32 || text.charCodeAt(14) !== 58 || text.charCodeAt(17) !== 58) return undefined;
  const month = MONTHS[text.slice(3, 6).toLowerCase()];
  const day = twoDigits(text, 0);
  const century = twoDigits(text, 7);
  const year = twoDigits(text, 9);
  const hour = twoDigits(text, 12);
  const minute = twoDigits(text, 15);
  const second = twoDigits(text, 18);
  if (month === undefined || day < 0 || century < 0 || year < 0 || hour < 0 || minute < 0 || second < 0) return undefined;
  return timestamp(century * 100 + year, month, day, hour, minute, second);
}

const DIGIT_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

function isCanonical(text: string): boolean {
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return false;
  for (const at of DIGIT_AT) {
    const code = text.charCodeAt(at);
    if (code < 48 || code > 57) return false;
  }
  const n = (at: number) => (text.charCodeAt(at) - 48) * 10 + (text.charCodeAt(at + 1) - 48);
  const year = n(0) * 100 + n(2);
  return isValid(year, n(5), n(8), n(11), n(14), n(17));
}

function isValid(year: number, month: number, day: number, hour: number, minute: number, second: number): boolean {
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= daysInMonth;
}

const TWO_DIGITS = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'));

function timestamp(year: number, month: number, day: number, hour: number, minute: number, second: number): string | undefined {
  if (!isValid(year, month, day, hour, minute, second)) return undefined;
  return `${String(year).padStart(4, '0')}-${TWO_DIGITS[month]}-${TWO_DIGITS[day]} ${TWO_DIGITS[hour]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[second]}`;
}

/**
 * The stored form of one field: `null` for empty, the value, or `undefined` when it does not fit.
 * Text keeps its content exactly; ids are trimmed and unwrapped.
 */
export function parseValue(kind: Kind, raw: string): string | null | undefined {
  switch (kind) {
    case 'text':
    case 'freetext':
      return raw === '' ? null : raw;
    case 'digits': {
      const id = unwrapExcel(raw);
      if (id === '') return null;
      return DIGITS.test(id) ? id : undefined;
    }
    case 'alnum': {
      const id = unwrapExcel(raw);
      if (id === '') return null;
      return ALNUM.test(id) ? id : undefined;
    }
    case 'timestamp': {
      const text = raw.trim();
      if (text === '') return null;
      return parseTimestamp(text);
    }
    case 'number': {
      const text = raw.trim();
      if (text === '') return null;
      return NUMBER.test(text) ? text : undefined;
    }
  }
}

/** Whether the text fits its kind (used by the defect-1 repair to pick the free-text column). */
export function fitsKind(kind: Kind, raw: string): boolean {
  return parseValue(kind, raw) !== undefined;
}
