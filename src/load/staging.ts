// The per-session staging table and the COPY text that fills it.
//
// COPY has no ON CONFLICT, so an object's rows go into a temporary table first and are merged
// from there. One COPY stream carries everything the object yields, one staging record per data
// row: a loaded row ('r': its 29 values and the value issues found in it) or a quarantined row
// ('q': raw bytes, readable text, reason, detail). So nothing waits in memory for the commit, and
// the Nth record of the stream is always the object's Nth data row: when Postgres refuses a record
// ("COPY etl_stage, line N"), a retry of the object can quarantine exactly that row.
import type { ClientBase } from 'pg';
import { EXPORT_COLUMNS, type Kind } from '../model/export.ts';

const SQL_TYPE: Record<Kind, string> = {
  digits: 'text',
  alnum: 'text',
  text: 'text',
  freetext: 'text',
  timestamp: 'timestamp',
  number: 'numeric',
};

export const STAGE_TABLE = 'etl_stage';

/** Rows vanish at commit; a rollback drops them too. */
export const CREATE_STAGE_SQL = `CREATE TEMPORARY TABLE IF NOT EXISTS ${STAGE_TABLE} (
  record_kind   "char" NOT NULL,
  line_number   integer NOT NULL,
  ${EXPORT_COLUMNS.map((column) => `${column.field} ${SQL_TYPE[column.kind]}`).join(',\n  ')},
  issue_columns text[],
  issue_values  text[],
  raw           bytea,
  raw_text      text,
  reason        text,
  detail        text
) ON COMMIT DELETE ROWS`;

/** The session's staging table (created once per session; emptied at every commit). */
export async function createStage(client: ClientBase): Promise<void> {
  await client.query(CREATE_STAGE_SQL);
}

const STAGE_COLUMNS = ['record_kind', 'line_number', ...EXPORT_COLUMNS.map((column) => column.field), 'issue_columns', 'issue_values', 'raw', 'raw_text', 'reason', 'detail'];

export const COPY_STAGE_SQL = `COPY ${STAGE_TABLE} (${STAGE_COLUMNS.join(', ')}) FROM STDIN`;

/** Which staging records are loaded rows and which are quarantined rows (used in SQL). */
export const LOADED_ROW = "record_kind = 'r'";
export const QUARANTINED_ROW = "record_kind = 'q'";

/** A value stored as NULL because it did not fit its kind: its column header and raw text. */
export interface StagedIssue {
  readonly column: string;
  readonly raw: string;
}

/** A quarantined row as it is kept: exact bytes, text for people, why. */
export interface StagedReject {
  readonly line: number;
  /** The record's bytes exactly as in the object (after gzip), without its line break. */
  readonly rawBytes: Uint8Array;
  /** The record as text: exact where text can hold it, U+FFFD where it cannot (a NUL, an invalid byte). */
  readonly rawText: string;
  readonly reason: string;
  readonly detail: string;
}

const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPE = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const TAB = 9;
const NEWLINE = 10;
const BACKSLASH = 92;
const N = 78;
const NULLS_AFTER_VALUES = 6; // issue_columns .. detail
const ARRAY_ESCAPE = /["\\]/g;
/** The columns whose values may hold a tab, a line break or a backslash: text, as in the export. */
const FREE_TEXT = EXPORT_COLUMNS.map((column) => column.kind === 'text' || column.kind === 'freetext');

/**
 * Rows in COPY text format (tab-separated, \N for NULL, backslash escapes), written straight into
 * bytes: building a string per batch and encoding it afterwards cost about 1.7 times as much (the
 * string is a rope that V8 has to flatten first).
 */
export class CopyBatch {
  private readonly initialBytes: number;
  private buffer: Buffer;
  private used = 0;
  private first = true;

  constructor(initialBytes = 512 * 1024) {
    this.initialBytes = initialBytes;
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  get bytes(): number {
    return this.used;
  }

  /** A row of a table whose first column is an integer and the others text: `line, ...values`. */
  add(line: number, values: readonly (string | null)[]): void {
    this.ascii(String(line));
    for (const value of values) this.text(value);
    this.endRow();
  }

  /** The start of a row, already in COPY text (its fields escaped and tab-separated). */
  line(fields: string): void {
    this.reserve(1 + fields.length * 3);
    this.separate();
    this.used += this.buffer.write(fields, this.used, 'utf8');
  }

  /** A field of ASCII text that needs no escaping (a number, a one-letter code). */
  ascii(text: string): void {
    this.reserve(1 + text.length);
    this.separate();
    this.used += this.buffer.write(text, this.used, 'latin1');
  }

  /** A text field (or NULL), escaped for COPY. */
  text(value: string | null): void {
    if (value === null) {
      this.null();
      return;
    }
    const escaped = NEEDS_ESCAPE.test(value) ? value.replace(ESCAPE, (c) => ESCAPES[c]!) : value;
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    this.reserve(1 + escaped.length * 3);
    this.separate();
    this.used += this.buffer.write(escaped, this.used, 'utf8');
  }

  null(): void {
    this.reserve(3);
    this.separate();
    this.buffer[this.used++] = BACKSLASH;
    this.buffer[this.used++] = N;
  }

  /** A bytea field: `\x` and hex digits (the backslash doubled for COPY). */
  bytea(bytes: Uint8Array): void {
    this.reserve(3 + bytes.length * 2);
    this.separate();
    this.buffer[this.used++] = BACKSLASH;
    this.buffer[this.used++] = BACKSLASH;
    this.buffer[this.used++] = 120; // x
    this.used += this.buffer.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'), this.used, 'latin1');
  }

  /** A text[] field: `{"a","b"}`, each element quoted, `"` and `\` escaped inside. */
  textArray(values: readonly string[]): void {
    this.text(`{${values.map((value) => `"${value.replace(ARRAY_ESCAPE, (c) => `\\${c}`)}"`).join(',')}}`);
  }

  endRow(): void {
    this.reserve(1);
    this.buffer[this.used++] = NEWLINE;
    this.first = true;
  }

  /** The rows added so far; the batch starts empty again (the bytes handed out are not reused). */
  take(): Buffer {
    const rows = this.buffer.subarray(0, this.used);
    this.buffer = Buffer.allocUnsafe(Math.max(this.initialBytes, this.used));
    this.used = 0;
    return rows;
  }

  /**
   * The rows added so far as a new ArrayBuffer of their own (to transfer to another thread); the
   * batch starts empty again in the same buffer. One allocation per batch, not two: buffers
   * allocated per batch are freed only when V8 collects, and on an object of quarantined rows they
   * piled up to hundreds of MiB first.
   */
  takeCopy(): ArrayBuffer {
    const copy = new ArrayBuffer(this.used);
    new Uint8Array(copy).set(this.buffer.subarray(0, this.used));
    this.used = 0;
    return copy;
  }

  private separate(): void {
    if (this.first) this.first = false;
    else this.buffer[this.used++] = TAB;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes + 1 <= this.buffer.length) return;
    const larger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + bytes + 1));
    this.buffer.copy(larger, 0, 0, this.used);
    this.buffer = larger;
  }
}

/** Staging records in COPY text: one per data row of the object, loaded or quarantined. */
export class StageBatch {
  private readonly copy: CopyBatch;

  constructor(initialBytes?: number) {
    this.copy = new CopyBatch(initialBytes);
  }

  get bytes(): number {
    return this.copy.bytes;
  }

  /**
   * A loaded row: its values in EXPORT_COLUMNS order and the value issues found in it. The row is
   * built as one string and written with one call: a write per value cost a third of the encoding.
   * Only text columns can hold a character COPY must escape; ids, timestamps and numbers are
   * checked against their kind before they get here.
   */
  addRow(line: number, values: readonly (string | null)[], issues: readonly StagedIssue[]): void {
    let row = 'r\t' + line;
    for (let index = 0; index < values.length; index++) {
      const value = values[index];
      if (value === null || value === undefined) row += '\t\\N';
      else if (FREE_TEXT[index] && NEEDS_ESCAPE.test(value)) row += '\t' + value.replace(ESCAPE, (c) => ESCAPES[c]!);
      else row += '\t' + value;
    }
    this.copy.line(row);
    if (issues.length === 0) {
      this.copy.null();
      this.copy.null();
    } else {
      this.copy.textArray(issues.map((issue) => issue.column));
      this.copy.textArray(issues.map((issue) => issue.raw));
    }
    for (let i = 2; i < NULLS_AFTER_VALUES; i++) this.copy.null();
    this.copy.endRow();
  }

  /** A quarantined row. */
  addReject(reject: StagedReject): void {
    const copy = this.copy;
    copy.ascii('q');
    copy.ascii(String(reject.line));
    for (let i = 0; i < EXPORT_COLUMNS.length + 2; i++) copy.null();
    copy.bytea(reject.rawBytes);
    copy.text(reject.rawText);
    copy.text(reject.reason);
    copy.text(reject.detail);
    copy.endRow();
  }

  take(): Buffer {
    return this.copy.take();
  }

  takeCopy(): ArrayBuffer {
    return this.copy.takeCopy();
  }
}
