// The per-session staging table and the COPY text encoding of one row into it.
// COPY has no ON CONFLICT, so rows go into a temporary table first and are merged from there.
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
const STAGE_COLUMNS = ['line_number', ...EXPORT_COLUMNS.map((column) => column.field)];

/** Rows vanish at commit; a rollback drops them too. */
export const CREATE_STAGE_SQL = `CREATE TEMPORARY TABLE IF NOT EXISTS ${STAGE_TABLE} (
  line_number integer NOT NULL,
  ${EXPORT_COLUMNS.map((column) => `${column.field} ${SQL_TYPE[column.kind]}`).join(',\n  ')}
) ON COMMIT DELETE ROWS`;

export const COPY_STAGE_SQL = `COPY ${STAGE_TABLE} (${STAGE_COLUMNS.join(', ')}) FROM STDIN`;

const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPE = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const TAB = 9;
const NEWLINE = 10;
const BACKSLASH = 92;
const N = 78;

/**
 * Rows in COPY text format (tab-separated, \N for NULL, backslash escapes), written straight into
 * bytes: building a string per batch and encoding it afterwards cost about 1.7 times as much (the
 * string is a rope that V8 has to flatten first).
 */
export class CopyBatch {
  private readonly initialBytes: number;
  private buffer: Buffer;
  private used = 0;

  constructor(initialBytes = 512 * 1024) {
    this.initialBytes = initialBytes;
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  get bytes(): number {
    return this.used;
  }

  add(line: number, values: readonly (string | null)[]): void {
    this.reserve(12);
    this.used += this.buffer.write(String(line), this.used, 'latin1');
    for (const value of values) {
      if (value === null) {
        this.reserve(3);
        this.buffer[this.used++] = TAB;
        this.buffer[this.used++] = BACKSLASH;
        this.buffer[this.used++] = N;
        continue;
      }
      const text = NEEDS_ESCAPE.test(value) ? value.replace(ESCAPE, (c) => ESCAPES[c]!) : value;
      // A UTF-16 code unit takes at most 3 bytes in UTF-8.
      this.reserve(1 + text.length * 3);
      this.buffer[this.used++] = TAB;
      this.used += this.buffer.write(text, this.used, 'utf8');
    }
    this.reserve(1);
    this.buffer[this.used++] = NEWLINE;
  }

  /** The rows added so far; the batch starts empty again (the bytes handed out are not reused). */
  take(): Buffer {
    const rows = this.buffer.subarray(0, this.used);
    this.buffer = Buffer.allocUnsafe(Math.max(this.initialBytes, this.used));
    this.used = 0;
    return rows;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buffer.length) return;
    const larger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + bytes));
    this.buffer.copy(larger, 0, 0, this.used);
    this.buffer = larger;
  }
}
