// One CSV record -> the values of one export row, as byte ranges (and timestamps as seconds),
// repaired, or the reason to quarantine it (spec, "Columns" and known defects 1 and 3).
import { EXPORT_COLUMNS, type Kind } from '../model/export.ts';
import type { RecordFields } from './csv-reader.ts';
import type { Layout } from './layout.ts';
import { EMPTY, MISFIT, TypedValue, timestampText, typedValue } from './typed-bytes.ts';

/** Why a row was quarantined (documented in the README). */
export type RejectReason =
  | 'SHORT_ROW' // fewer fields than the header (defect 3)
  | 'TRUNCATED_ROW' // the object ends inside this row (defect 4)
  | 'UNTERMINATED_QUOTE' // a quote opened and never closed (defect 4 or a stray quote)
  | 'RECORD_TOO_LARGE' // a quoted field ran on past the size bound
  | 'EXTRA_FIELDS_NO_FIT' // more fields than the header, and no free-text column makes the row fit (defect 1)
  | 'EXTRA_FIELDS_AMBIGUOUS' // more fields than the header, and more than one free-text column fits
  | 'INVALID_ENCODING' // a byte sequence that is not UTF-8 in a UTF-8 export (defect 7, a damaged export)
  | 'NUL_BYTE' // a NUL byte, which Postgres text cannot hold
  | 'KEY_TOO_LONG' // an id longer than MAX_KEY_BYTES: no index can hold it
  | 'VALUE_OUT_OF_RANGE' // a number with more digits than Postgres numeric holds
  | 'DATABASE_REJECTED'; // Postgres refused the row while loading it (its message is the detail)

export interface Rejection {
  readonly reason: RejectReason;
  readonly detail: string;
}

/** A value stored as NULL because it did not fit its kind: its column and raw text. */
export interface ValueIssue {
  /** Export column header (canonical). */
  readonly column: string;
  readonly raw: string;
}

/** Ids used in keys and indexes are refused past this many bytes (a btree entry holds about 2,700). */
export const MAX_KEY_BYTES = 1000;
/** Postgres numeric: at most 131,072 digits before the decimal point and 16,383 after it. */
const MAX_NUMERIC_INTEGER_DIGITS = 131_072;
const MAX_NUMERIC_FRACTION_DIGITS = 16_383;
const KEY_FIELDS = new Set(['sr_number', 'account_number', 'task_number', 'part_number']);

export const COLUMN_COUNT = EXPORT_COLUMNS.length;
const NO_ISSUES: ValueIssue[] = Object.freeze([]) as unknown as ValueIssue[];
const KINDS: readonly Kind[] = EXPORT_COLUMNS.map((column) => column.kind);
const IS_TEXT = KINDS.map((kind) => kind === 'text' || kind === 'freetext');
const IS_KEY = EXPORT_COLUMNS.map((column) => KEY_FIELDS.has(column.field));

/**
 * A row's values in EXPORT_COLUMNS order, reused from row to row: for each column, NULL
 * (`present` 0) or its value, text, ids and numbers as `buf[start, end)`, timestamps as
 * seconds since 2000-01-01.
 */
export class RowValues {
  readonly present = new Uint8Array(COLUMN_COUNT);
  readonly buf: Buffer[] = new Array<Buffer>(COLUMN_COUNT).fill(Buffer.alloc(0));
  readonly start = new Int32Array(COLUMN_COUNT);
  readonly end = new Int32Array(COLUMN_COUNT);
  readonly seconds = new Float64Array(COLUMN_COUNT);
  issues: ValueIssue[] = NO_ISSUES;
  /** The free-text column the defect-1 repair rejoined, if it did. */
  repairedColumn: string | undefined;

  /** Column `index` as read/values.ts gives it: the text, or null. */
  text(index: number): string | null {
    if (!this.present[index]) return null;
    if (KINDS[index] === 'timestamp') return timestampText(this.seconds[index]!);
    return this.buf[index]!.toString('utf8', this.start[index], this.end[index]);
  }

  /** Every column as text (tests, and the few callers that want strings). */
  texts(): (string | null)[] {
    return Array.from({ length: COLUMN_COUNT }, (_, index) => this.text(index));
  }
}

export class RowShaper {
  readonly values = new RowValues();
  private readonly layout: Layout;
  private readonly delimiter: number;
  private readonly typed = new TypedValue();
  /** A rejoined free-text value (defect 1) when its fragments cannot be taken as written. */
  private joined = Buffer.allocUnsafe(4096);
  // The record being shaped: its fields, and where the repair put the surplus (-1: none).
  private fields!: RecordFields;
  private repairAt = -1;
  private surplus = 0;

  constructor(layout: Layout, delimiter: number) {
    this.layout = layout;
    this.delimiter = delimiter;
  }

  /** Shapes a record into `values`; a Rejection when the row is quarantined. */
  shape(fields: RecordFields): Rejection | undefined {
    const { layout } = this;
    this.fields = fields;
    this.repairAt = -1;
    this.surplus = 0;
    const values = this.values;
    values.repairedColumn = undefined;
    // A new array for each row that has issues: a caller may keep the last one.
    values.issues = NO_ISSUES;
    if (fields.count < layout.width) {
      return { reason: 'SHORT_ROW', detail: `${fields.count} fields where the header has ${layout.width}` };
    }
    if (fields.count > layout.width) {
      const repair = this.repair();
      if (repair) return repair;
    }
    const positions = layout.positions;
    for (let index = 0; index < COLUMN_COUNT; index++) {
      const position = positions[index]!;
      if (position === -1) {
        values.present[index] = 0;
        continue;
      }
      this.locate(position);
      const { buf, start, end } = this;
      if (IS_TEXT[index]) {
        values.present[index] = end > start ? 1 : 0;
        values.buf[index] = buf;
        values.start[index] = start;
        values.end[index] = end;
        continue;
      }
      const typed = this.typed;
      const fit = typedValue(KINDS[index]!, buf, start, end, typed);
      if (fit === EMPTY) {
        values.present[index] = 0;
      } else if (fit === MISFIT) {
        values.present[index] = 0;
        if (values.issues === NO_ISSUES) values.issues = [];
        values.issues.push({ column: EXPORT_COLUMNS[index]!.header, raw: buf.toString('utf8', start, end) });
      } else {
        values.present[index] = 1;
        values.buf[index] = typed.buf;
        values.start[index] = typed.start;
        values.end[index] = typed.end;
        values.seconds[index] = typed.seconds;
        if (typed.end - typed.start > 1000) {
          const unstorable = this.unstorable(index);
          if (unstorable) return unstorable;
        }
        // The TypedValue's own scratch holds at most one value: a second one must not overwrite it.
        if (typed.buf !== buf && KINDS[index] !== 'timestamp') this.keepCopy(index);
      }
    }
    return undefined;
  }

  // The field at a header position of the (repaired) row: set by locate().
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;

  /** Points buf/start/end at the value of header position `position`. */
  private locate(position: number): void {
    const at = this.repairAt;
    const f = this.fields;
    let i = position;
    if (at !== -1 && position >= at) {
      if (position === at) {
        this.locateJoined();
        return;
      }
      i = position + this.surplus;
    }
    this.buf = f.bufferOf(i);
    this.start = f.start[i]!;
    this.end = f.end[i]!;
  }

  /** The rejoined free text: fields at..at+surplus with the delimiter between them. */
  private locateJoined(): void {
    const f = this.fields;
    const first = this.repairAt;
    const last = first + this.surplus;
    let asWritten = true;
    for (let i = first; i <= last; i++) if (f.quoted[i] || f.inSide[i]) asWritten = false;
    if (asWritten) {
      // Unquoted fragments side by side: the joined text is the bytes as written.
      this.buf = f.buf;
      this.start = f.start[first]!;
      this.end = f.end[last]!;
      return;
    }
    let bytes = 0;
    for (let i = first; i <= last; i++) bytes += f.length(i) + 1;
    if (bytes > this.joined.length) this.joined = Buffer.allocUnsafe(bytes * 2);
    let w = 0;
    for (let i = first; i <= last; i++) {
      if (i > first) this.joined[w++] = this.delimiter;
      w += f.bufferOf(i).copy(this.joined, w, f.start[i], f.end[i]);
    }
    this.buf = this.joined;
    this.start = 0;
    this.end = w;
  }

  /** A value decided on its text (read/values.ts) lives in the TypedValue's scratch: copied so the next one does not overwrite it. */
  private keepCopy(index: number): void {
    const values = this.values;
    const copy = Buffer.from(values.buf[index]!.subarray(values.start[index], values.end[index]));
    values.buf[index] = copy;
    values.start[index] = 0;
    values.end[index] = copy.length;
  }

  /**
   * Defect 1: a free-text column was written with unquoted commas, so the row has surplus fields.
   * The surplus is rejoined into the one free-text column for which every id, timestamp and
   * number column then fits its kind; none or several such columns -> quarantine.
   */
  private repair(): Rejection | undefined {
    const { layout, fields } = this;
    const surplus = fields.count - layout.width;
    const fitting: number[] = [];
    for (const candidate of layout.freeTextPositions) {
      let fits = true;
      for (const { position, kind } of layout.typedPositions) {
        if (position === candidate) continue;
        const i = position < candidate ? position : position + surplus;
        if (typedValue(kind, fields.bufferOf(i), fields.start[i]!, fields.end[i]!, this.typed) === MISFIT) {
          fits = false;
          break;
        }
      }
      if (fits) fitting.push(candidate);
    }
    const names = (positions: readonly number[]) => positions.map((position) => `"${headerAt(layout, position)}"`).join(' and ');
    if (fitting.length === 0) {
      return {
        reason: 'EXTRA_FIELDS_NO_FIT',
        detail: `${fields.count} fields where the header has ${layout.width}, and no free-text column (${names(layout.freeTextPositions) || 'none in the header'}) makes every id, date and number fit`,
      };
    }
    if (fitting.length > 1) {
      return { reason: 'EXTRA_FIELDS_AMBIGUOUS', detail: `${fields.count} fields where the header has ${layout.width}, and the surplus fits both ${names(fitting)}` };
    }
    this.repairAt = fitting[0]!;
    this.surplus = surplus;
    this.values.repairedColumn = headerAt(layout, this.repairAt);
    return undefined;
  }

  /** A value that fits its kind but that Postgres cannot store: the row is quarantined. */
  private unstorable(index: number): Rejection | undefined {
    const column = EXPORT_COLUMNS[index]!;
    const values = this.values;
    const length = values.end[index]! - values.start[index]!;
    if (IS_KEY[index] && length > MAX_KEY_BYTES) {
      return { reason: 'KEY_TOO_LONG', detail: `"${column.header}" is ${length} characters long; ids used as keys may have at most ${MAX_KEY_BYTES}` };
    }
    if (column.kind === 'number') {
      const text = values.buf[index]!.toString('latin1', values.start[index], values.end[index]);
      const [integer = '', fraction = ''] = text.replace(/^[+-]/, '').split('.');
      const significant = integer.replace(/^0+/, '').length;
      if (significant > MAX_NUMERIC_INTEGER_DIGITS || fraction.length > MAX_NUMERIC_FRACTION_DIGITS) {
        return {
          reason: 'VALUE_OUT_OF_RANGE',
          detail: `"${column.header}" has ${significant} digits before the point and ${fraction.length} after; Postgres numeric holds at most ${MAX_NUMERIC_INTEGER_DIGITS} and ${MAX_NUMERIC_FRACTION_DIGITS}`,
        };
      }
    }
    return undefined;
  }
}

function headerAt(layout: Layout, position: number): string {
  const index = layout.positions.indexOf(position);
  return index === -1 ? `column ${position + 1}` : EXPORT_COLUMNS[index]!.header;
}

