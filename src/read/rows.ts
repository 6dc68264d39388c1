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
  | 'EXTRA_FIELDS_AMBIGUOUS'; // more fields than the header, and more than one free-text column fits

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
    }
  }
  return repairedColumn === undefined ? { ok: true, values, issues } : { ok: true, values, issues, repairedColumn };
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
