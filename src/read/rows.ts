// One CSV record -> the values of one export row, repaired, or a reason to quarantine it.
import { EXPORT_COLUMNS } from '../model/export.ts';
import type { Layout } from './layout.ts';
import { fitsKind, parseValue } from './values.ts';

/** Why a row was quarantined (documented in the README). */
export type RejectReason =
  | 'SHORT_ROW' // fewer fields than the header (defect 3)
  | 'TRUNCATED_ROW' // the object ends inside this row (defect 4)
  | 'UNTERMINATED_QUOTE' // a quote opened and never closed (defect 4 or a stray quote)
  | 'RECORD_TOO_LARGE' // a quoted field ran on past the size bound
  | 'MALFORMED_CSV' // the CSV parser could not read the line
  | 'EXTRA_FIELDS_NO_FIT' // more fields than the header, and no free-text column makes the row fit (defect 1)
  | 'EXTRA_FIELDS_AMBIGUOUS' // more fields than the header, and more than one free-text column fits
  | 'INVALID_ENCODING' // a byte sequence that is not UTF-8 in a UTF-8 export (defect 7, a damaged export)
  | 'NUL_BYTE' // a NUL byte, which Postgres text cannot hold
  | 'KEY_TOO_LONG' // an id longer than MAX_KEY_BYTES: no index can hold it
  | 'VALUE_OUT_OF_RANGE' // a number with more digits than Postgres numeric holds
  | 'DATABASE_REJECTED'; // Postgres refused the row while loading it (its message is the detail)

/** Ids used in keys and indexes are refused past this many bytes (a btree entry holds about 2,700). */
export const MAX_KEY_BYTES = 1000;
/** Postgres numeric: at most 131,072 digits before the decimal point and 16,383 after it. */
const MAX_NUMERIC_INTEGER_DIGITS = 131_072;
const MAX_NUMERIC_FRACTION_DIGITS = 16_383;
const KEY_FIELDS = new Set(['sr_number', 'account_number', 'task_number', 'part_number']);

export interface ValueIssue {
  /** Export column header (canonical). */
  readonly column: string;
  readonly raw: string;
}

export type RowOutcome =
  | { readonly ok: true; readonly values: (string | null)[]; readonly issues: ValueIssue[]; readonly repairedColumn?: string }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string };

const KINDS = EXPORT_COLUMNS.map((column) => column.kind);

export function shapeRow(layout: Layout, fields: string[]): RowOutcome {
  let row = fields;
  let repairedColumn: string | undefined;
  if (fields.length < layout.width) {
    return { ok: false, reason: 'SHORT_ROW', detail: `${fields.length} fields where the header has ${layout.width}` };
  }
  if (fields.length > layout.width) {
    const repair = repairUnquotedFreeText(layout, fields);
    if (!repair.ok) return repair;
    row = repair.fields;
    repairedColumn = repair.column;
  }
  const values: (string | null)[] = new Array(KINDS.length);
  const issues: ValueIssue[] = [];
  const positions = layout.positions;
  for (let index = 0; index < KINDS.length; index++) {
    const position = positions[index]!;
    if (position === -1) {
      values[index] = null;
      continue;
    }
    const raw = row[position]!;
    const value = parseValue(KINDS[index]!, raw);
    if (value === undefined) {
      issues.push({ column: EXPORT_COLUMNS[index]!.header, raw });
      values[index] = null;
    } else {
      values[index] = value;
      if (value !== null) {
        const unstorable = unstorableValue(index, value);
        if (unstorable) return unstorable;
      }
    }
  }
  return repairedColumn === undefined ? { ok: true, values, issues } : { ok: true, values, issues, repairedColumn };
}

/** A value that fits its kind but that Postgres cannot store: the row is quarantined. */
function unstorableValue(index: number, value: string): { ok: false; reason: RejectReason; detail: string } | undefined {
  const column = EXPORT_COLUMNS[index]!;
  if (KEY_FIELDS.has(column.field) && value.length > MAX_KEY_BYTES) {
    return { ok: false, reason: 'KEY_TOO_LONG', detail: `"${column.header}" is ${value.length} characters long; ids used as keys may have at most ${MAX_KEY_BYTES}` };
  }
  if (column.kind === 'number' && value.length > 1000) {
    const [integer = '', fraction = ''] = value.replace(/^[+-]/, '').split('.');
    const significant = integer.replace(/^0+/, '').length;
    if (significant > MAX_NUMERIC_INTEGER_DIGITS || fraction.length > MAX_NUMERIC_FRACTION_DIGITS) {
      return {
        ok: false,
        reason: 'VALUE_OUT_OF_RANGE',
        detail: `"${column.header}" has ${significant} digits before the point and ${fraction.length} after; Postgres numeric holds at most ${MAX_NUMERIC_INTEGER_DIGITS} and ${MAX_NUMERIC_FRACTION_DIGITS}`,
      };
    }
  }
  return undefined;
}

/**
 * Defect 1: a free-text column was written with unquoted commas, so the row has surplus fields.
 * Rejoin the surplus with ',' into the one free-text column for which every id, timestamp and
 * number column then fits its kind; none or several such columns -> quarantine.
 */
export function repairUnquotedFreeText(
  layout: Layout,
  fields: string[],
): { ok: true; fields: string[]; column: string } | { ok: false; reason: RejectReason; detail: string } {
  const surplus = fields.length - layout.width;
  const fitting: number[] = [];
  for (const candidate of layout.freeTextPositions) {
    const fits = layout.typedPositions.every(({ position, kind }) => {
      if (position === candidate) return true;
      const shifted = position < candidate ? position : position + surplus;
      return fitsKind(kind, fields[shifted]!);
    });
    if (fits) fitting.push(candidate);
  }
  const names = (positions: number[]) => positions.map((position) => `"${headerAt(layout, position)}"`).join(' and ');
  if (fitting.length === 0) {
    return {
      ok: false,
      reason: 'EXTRA_FIELDS_NO_FIT',
      detail: `${fields.length} fields where the header has ${layout.width}, and no free-text column (${names([...layout.freeTextPositions]) || 'none in the header'}) makes every id, date and number fit`,
    };
  }
  if (fitting.length > 1) {
    return {
      ok: false,
      reason: 'EXTRA_FIELDS_AMBIGUOUS',
      detail: `${fields.length} fields where the header has ${layout.width}, and the surplus fits both ${names(fitting)}`,
    };
  }
  const at = fitting[0]!;
  const repaired = [...fields.slice(0, at), fields.slice(at, at + surplus + 1).join(','), ...fields.slice(at + surplus + 1)];
  return { ok: true, fields: repaired, column: headerAt(layout, at) };
}

function headerAt(layout: Layout, position: number): string {
  const index = layout.positions.indexOf(position);
  return index === -1 ? `column ${position + 1}` : EXPORT_COLUMNS[index]!.header;
}
