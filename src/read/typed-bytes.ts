// The spec's value rules (read/values.ts) applied to a field's bytes, without making a string of
// it: ids trimmed and Excel escapes unwrapped, the three timestamp forms, numbers. Only ASCII can
// fit an id, a timestamp or a number, so a field with a byte beyond ASCII (a no-break space that
// JavaScript's trim() would remove, say) is decided by read/values.ts on its text: the two always
// agree (test/typed-bytes.test.ts compares them on fuzzed fields).
import type { Kind } from '../model/export.ts';
import { parseValue } from './values.ts';

/** What a field holds for its kind. */
export const EMPTY = 0;
export const FITS = 1;
export const MISFIT = 2;
export type Fit = typeof EMPTY | typeof FITS | typeof MISFIT;

/** Seconds from 2000-01-01 00:00:00 (Postgres's epoch for timestamps) to 1970-01-01. */
const PG_EPOCH_DAYS = 10957;

/**
 * Where a typed value is: ids and numbers as a byte range (trimmed, unwrapped), timestamps as
 * seconds since 2000-01-01 (exact in a double for every year the forms can write).
 */
export class TypedValue {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  seconds = 0;
  /** Holds what a decision on text gives back (an id from read/values.ts). */
  private scratch = Buffer.allocUnsafe(256);

  /** The value given back by read/values.ts, as bytes. */
  setText(text: string): void {
    const bytes = Buffer.byteLength(text);
    if (bytes > this.scratch.length) this.scratch = Buffer.allocUnsafe(bytes * 2);
    this.buf = this.scratch;
    this.start = 0;
    this.end = this.scratch.write(text, 0);
  }
}

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);
const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlnum = (c: number) => (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 122);
const QUOTE = 34;

/** Whether buf[start, end) holds a byte beyond ASCII. */
function hasHighByte(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return true;
  return false;
}

/** The field's value of `kind` (not text): EMPTY, FITS (the value in `out`) or MISFIT. */
export function typedValue(kind: Kind, buf: Buffer, start: number, end: number, out: TypedValue): Fit {
  let s = start;
  let e = end;
  while (s < e && isSpace(buf[s]!)) s++;
  while (e > s && isSpace(buf[e - 1]!)) e--;
  if (s === e) return EMPTY;
  if (hasHighByte(buf, s, e)) return onText(kind, buf.toString('utf8', start, end), out);
  switch (kind) {
    case 'digits':
    case 'alnum': {
      // `="0001234567"`, Excel's "keep as text" escape.
      if (e - s >= 3 && buf[s] === 0x3d && buf[s + 1] === QUOTE && buf[e - 1] === QUOTE) {
        s += 2;
        e -= 1;
        while (s < e && isSpace(buf[s]!)) s++;
        while (e > s && isSpace(buf[e - 1]!)) e--;
        if (s === e) return EMPTY;
      }
      const check = kind === 'digits' ? isDigit : isAlnum;
      for (let i = s; i < e; i++) if (!check(buf[i]!)) return MISFIT;
      out.buf = buf;
      out.start = s;
      out.end = e;
      return FITS;
    }
    case 'number':
      if (!isNumber(buf, s, e)) return MISFIT;
      out.buf = buf;
      out.start = s;
      out.end = e;
      return FITS;
    case 'timestamp': {
      const seconds = paddedTimestamp(buf, s, e);
      if (seconds !== undefined) {
        out.seconds = seconds;
        return FITS;
      }
      // Other spellings the forms allow (one-digit days and hours, a T): decided on the text.
      return onText('timestamp', buf.toString('latin1', s, e), out);
    }
    default:
      throw new Error(`typedValue: ${kind} is text`);
  }
}

/** The same decision on the field's text, by read/values.ts. */
function onText(kind: Kind, text: string, out: TypedValue): Fit {
  const value = parseValue(kind, text);
  if (value === null) return EMPTY;
  if (value === undefined) return MISFIT;
  if (kind === 'timestamp') out.seconds = canonicalSeconds(value);
  else out.setText(value);
  return FITS;
}

/** `[+-]?(digits[.digits*] | .digits)`, as read/values.ts's NUMBER. */
function isNumber(buf: Buffer, s: number, e: number): boolean {
  let i = s;
  if (buf[i] === 0x2b || buf[i] === 0x2d) i++;
  let before = 0;
  while (i < e && isDigit(buf[i]!)) {
    i++;
    before++;
  }
  if (i === e) return before > 0;
  if (buf[i] !== 0x2e) return false;
  i++;
  let after = 0;
  while (i < e && isDigit(buf[i]!)) {
    i++;
    after++;
  }
  return i === e && (before > 0 || after > 0);
}

const MONTHS = new Map<number, number>(
  ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'].map((name, index) => [(name.charCodeAt(0) << 16) | (name.charCodeAt(1) << 8) | name.charCodeAt(2), index + 1]),
);

function twoDigits(buf: Buffer, at: number): number {
  const high = buf[at]! - 48;
  const low = buf[at + 1]! - 48;
  return high >= 0 && high <= 9 && low >= 0 && low <= 9 ? high * 10 + low : -1;
}

/**
 * The zero-padded forms exports write: `2023-04-05 13:22:10`, `04/05/2023 01:22:10 PM`,
 * `05-APR-2023 13:22:10`; seconds since 2000-01-01, or undefined for anything else (an invalid
 * date too: read/values.ts then decides, and agrees).
 */
function paddedTimestamp(buf: Buffer, s: number, e: number): number | undefined {
  const length = e - s;
  let year: number;
  let month: number;
  let day: number;
  let hour: number;
  let minute: number;
  let second: number;
  if (length === 19 && buf[s + 4] === 0x2d && buf[s + 7] === 0x2d && buf[s + 10] === 0x20 && buf[s + 13] === 0x3a && buf[s + 16] === 0x3a) {
    const century = twoDigits(buf, s);
    const yy = twoDigits(buf, s + 2);
    if (century < 0 || yy < 0) return undefined;
    year = century * 100 + yy;
    month = twoDigits(buf, s + 5);
    day = twoDigits(buf, s + 8);
    hour = twoDigits(buf, s + 11);
    minute = twoDigits(buf, s + 14);
    second = twoDigits(buf, s + 17);
  } else if (length === 22 && buf[s + 2] === 0x2f && buf[s + 5] === 0x2f && buf[s + 10] === 0x20 && buf[s + 13] === 0x3a && buf[s + 16] === 0x3a && buf[s + 19] === 0x20) {
    const meridiem = buf[s + 20]! | 0x20;
    if ((meridiem !== 97 && meridiem !== 112) || (buf[s + 21]! | 0x20) !== 109) return undefined;
    const century = twoDigits(buf, s + 6);
    const yy = twoDigits(buf, s + 8);
    const hour12 = twoDigits(buf, s + 11);
    if (century < 0 || yy < 0 || hour12 < 1 || hour12 > 12) return undefined;
    year = century * 100 + yy;
    month = twoDigits(buf, s);
    day = twoDigits(buf, s + 3);
    hour = (hour12 % 12) + (meridiem === 112 ? 12 : 0);
    minute = twoDigits(buf, s + 14);
    second = twoDigits(buf, s + 17);
  } else if (length === 20 && buf[s + 2] === 0x2d && buf[s + 6] === 0x2d && buf[s + 11] === 0x20 && buf[s + 14] === 0x3a && buf[s + 17] === 0x3a) {
    const name = ((buf[s + 3]! | 0x20) << 16) | ((buf[s + 4]! | 0x20) << 8) | (buf[s + 5]! | 0x20);
    const m = MONTHS.get(name);
    const century = twoDigits(buf, s + 7);
    const yy = twoDigits(buf, s + 9);
    if (m === undefined || century < 0 || yy < 0) return undefined;
    year = century * 100 + yy;
    month = m;
    day = twoDigits(buf, s);
    hour = twoDigits(buf, s + 12);
    minute = twoDigits(buf, s + 15);
    second = twoDigits(buf, s + 18);
  } else return undefined;
  if (!isValid(year, month, day, hour, minute, second)) return undefined;
  return secondsSince2000(year, month, day, hour, minute, second);
}

function isValid(year: number, month: number, day: number, hour: number, minute: number, second: number): boolean {
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= daysInMonth;
}

/** Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function secondsSince2000(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  return (daysFromCivil(year, month, day) - PG_EPOCH_DAYS) * 86400 + hour * 3600 + minute * 60 + second;
}

/** Seconds since 2000-01-01 of `YYYY-MM-DD HH:MM:SS`. */
function canonicalSeconds(text: string): number {
  const n = (from: number, to: number) => Number(text.slice(from, to));
  return secondsSince2000(n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19));
}

const TWO = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'));

/** `YYYY-MM-DD HH:MM:SS` of seconds since 2000-01-01 (what read/values.ts gives for a timestamp). */
export function timestampText(seconds: number): string {
  const days = Math.floor(seconds / 86400) + PG_EPOCH_DAYS;
  let rest = seconds - (days - PG_EPOCH_DAYS) * 86400;
  const hour = Math.floor(rest / 3600);
  rest -= hour * 3600;
  const minute = Math.floor(rest / 60);
  const second = rest - minute * 60;
  // civil_from_days
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return `${String(year).padStart(4, '0')}-${TWO[month]}-${TWO[day]} ${TWO[hour]}:${TWO[minute]}:${TWO[second]}`;
}

