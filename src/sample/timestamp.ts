// The three timestamp forms of the export (spec, "Columns"), written and recognised independently of
// src/read. The generator keeps every timestamp in canonical form ('2023-04-05 13:22:10') and writes
// it in the file's form only when rendering a row.

/** ymd: `2023-04-05 13:22:10`, mdy12: `04/05/2023 01:22:10 PM`, dmon: `05-APR-2023 13:22:10`. */
export type TimestampForm = 'ymd' | 'mdy12' | 'dmon';
export const TIMESTAMP_FORMS: readonly TimestampForm[] = ['ymd', 'mdy12', 'dmon'];

/** How a file writes month names in the dmon form (the spec allows any case). */
export type MonthCase = 'upper' | 'title' | 'lower';

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const MONTHS_TITLE = MONTHS.map((m) => m[0] + m.slice(1).toLowerCase());
const MONTHS_LOWER = MONTHS.map((m) => m.toLowerCase());

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Canonical text of a UTC-naive time given in epoch seconds. */
export function canonicalTimestamp(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  return (
    `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`
  );
}

/** Writes a canonical timestamp ('YYYY-MM-DD HH:MM:SS') in one of the three forms. */
export function formatTimestamp(canonical: string, form: TimestampForm, monthCase: MonthCase = 'upper'): string {
  if (form === 'ymd') return canonical;
  const yyyy = canonical.slice(0, 4);
  const mm = canonical.slice(5, 7);
  const dd = canonical.slice(8, 10);
  const time = canonical.slice(11, 19);
  if (form === 'mdy12') {
    const hour = Number(canonical.slice(11, 13));
    const h12 = hour % 12 === 0 ? 12 : hour % 12;
    return `${mm}/${dd}/${yyyy} ${pad2(h12)}${canonical.slice(13, 19)} ${hour < 12 ? 'AM' : 'PM'}`;
  }
  const names = monthCase === 'upper' ? MONTHS : monthCase === 'title' ? MONTHS_TITLE : MONTHS_LOWER;
  return `${dd}-${names[Number(mm) - 1]}-${yyyy} ${time}`;
}

const YMD = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;
const MDY12 = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([AaPp][Mm])$/;
const DMON = /^(\d{2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2})$/;

function valid(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  const days = new Date(Date.UTC(2000, mo, 0)).getUTCDate(); // month length in a leap year
  if (d > days) return false;
  if (mo === 2 && d === 29) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return true;
}

/**
 * Reads a timestamp written strictly in one of the three forms with a real calendar date and time.
 * Returns its form and canonical text, or undefined.
 */
export function parseTimestamp(text: string): { form: TimestampForm; canonical: string } | undefined {
  let m = YMD.exec(text);
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    return valid(y, mo, d, h, mi, s) ? { form: 'ymd', canonical: text } : undefined;
  }
  m = MDY12.exec(text);
  if (m) {
    const [mo, d, y, h12, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    if (h12 < 1 || h12 > 12) return undefined;
    const pm = (m[7] as string).toUpperCase() === 'PM';
    const h = (h12 % 12) + (pm ? 12 : 0);
    if (!valid(y, mo, d, h, mi, s)) return undefined;
    return { form: 'mdy12', canonical: `${m[3]}-${m[1]}-${m[2]} ${pad2(h)}:${m[5]}:${m[6]}` };
  }
  m = DMON.exec(text);
  if (m) {
    const mo = MONTHS.indexOf((m[2] as string).toUpperCase()) + 1;
    const [d, y, h, mi, s] = [m[1], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
    if (mo === 0 || !valid(y, mo, d, h, mi, s)) return undefined;
    return { form: 'dmon', canonical: `${m[3]}-${pad2(mo)}-${m[1]} ${m[4]}:${m[5]}:${m[6]}` };
  }
  return undefined;
}
