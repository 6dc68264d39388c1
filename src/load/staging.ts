// The per-session staging tables and the COPY text that fills them.
//
// COPY has no ON CONFLICT, so an object's rows go into temporary tables first and are merged from
// there: one narrow table per target table (etl_stage_customers, ...), holding that table's
// columns of the object's rows, and etl_stage for what is kept besides, quarantined rows ('q':
// raw bytes, readable text, reason, detail) and the value issues of loaded rows ('i'). The parse
// worker spreads each row over the tables as it reads (ObjectStage) and keeps one record per key
// of the tables whose keys repeat within an export, so Postgres receives, sorts and merges each
// table's rows instead of the whole wide row five times. Paired runs over the bench's exports
// (one wide staging table against these): Postgres's CPU, vacuum included, 3-19% lower; the
// runner's 7-28% higher (README, Performance).
import type { ClientBase } from 'pg';
import { EXPORT_COLUMNS, type Kind } from '../model/export.ts';
import { TARGET_TABLES, valueIndex, type TargetTable } from './target-tables.ts';

const SQL_TYPE: Record<Kind, string> = {
  digits: 'text',
  alnum: 'text',
  text: 'text',
  freetext: 'text',
  timestamp: 'timestamp',
  number: 'numeric',
};

/** Quarantined rows and value issues. */
export const EXTRAS_STAGE = 'etl_stage';

/** The staging table of a target table. */
export function stageOf(table: TargetTable): string {
  return `etl_stage_${table.name}`;
}

/** A target table's columns in staging order: its key, then its other columns. */
export function stagedColumns(table: TargetTable): string[] {
  return [...table.key, ...table.columns];
}

const sqlType = (field: string) => SQL_TYPE[EXPORT_COLUMNS[valueIndex(field)]!.kind];

// Rows vanish at commit; a rollback drops them too. Created once per session.
const CREATE_STAGES_SQL = [
  `CREATE TEMPORARY TABLE IF NOT EXISTS ${EXTRAS_STAGE} (
  record_kind   "char" NOT NULL,
  line_number   integer NOT NULL,
  issue_columns text[],
  issue_values  text[],
  raw           bytea,
  raw_text      text,
  reason        text,
  detail        text
) ON COMMIT DELETE ROWS`,
  ...TARGET_TABLES.map(
    (table) => `CREATE TEMPORARY TABLE IF NOT EXISTS ${stageOf(table)} (
  line_number integer NOT NULL,
  ${stagedColumns(table).map((field) => `${field} ${sqlType(field)}`).join(',\n  ')}
) ON COMMIT DELETE ROWS`,
  ),
].join(';\n');

/** The session's staging tables (created once per session, in one round trip; emptied at every commit). */
export async function createStage(client: ClientBase): Promise<void> {
  await client.query(CREATE_STAGES_SQL);
}

/** The COPY statement of each staging table. */
export const COPY_SQL: Readonly<Record<string, string>> = Object.fromEntries([
  [EXTRAS_STAGE, `COPY ${EXTRAS_STAGE} (record_kind, line_number, issue_columns, issue_values, raw, raw_text, reason, detail) FROM STDIN`],
  ...TARGET_TABLES.map((table) => [stageOf(table), `COPY ${stageOf(table)} (line_number, ${stagedColumns(table).join(', ')}) FROM STDIN`]),
]);

/** Which etl_stage records are quarantined rows and which are value issues (used in SQL). */
export const QUARANTINED_ROW = "record_kind = 'q'";
export const VALUE_ISSUES = "record_kind = 'i'";

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
const ARRAY_ESCAPE = /["\\]/g;
/** The columns whose values may hold a tab, a line break or a backslash: text, as in the export. */
const FREE_TEXT = EXPORT_COLUMNS.map((column) => column.kind === 'text' || column.kind === 'freetext');

/**
 * Rows in COPY text format (tab-separated, \N for NULL, backslash escapes), written straight into
 * bytes: building a string per batch and encoding it afterwards cost about 1.7 times as much (the
 * string is a rope that V8 has to flatten first).
 */
export class CopyBatch {
  private buffer: Buffer;
  private used = 0;
  private first = true;

  constructor(initialBytes = 512 * 1024) {
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

  /** The rows added so far (a view: valid until the next write or clear()). */
  view(): Buffer {
    return this.buffer.subarray(0, this.used);
  }

  /** Starts empty again in the same buffer. */
  clear(): void {
    this.used = 0;
    this.first = true;
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

/** Staging records for one staging table in COPY text, with the data row each came from. */
export interface StagedChunk {
  readonly stage: string;
  readonly bytes: ArrayBuffer;
  /** The ordinal of each record's data row, in record order. */
  readonly ordinals: Int32Array;
}

/**
 * Records of one staging table held as COPY text, off the JS heap (held rows as objects made the
 * worker's garbage collection cost more than the parsing they saved the database), with the data
 * row of each; optionally only the latest record of each key.
 */
class HeldRecords {
  readonly stage: string;
  readonly copy: CopyBatch;
  private starts: number[] = [];
  private ordinals: number[] = [];
  /** Per key, its latest record (a holder, so that a repeat costs one lookup); undefined when every record is kept. */
  private readonly latest: Map<string, { index: number }> | undefined;
  /** Records a later record of their key replaced. */
  private replaced: number[] = [];
  /** Where take() gathers a chunk (kept for the next object). */
  private scratch: Buffer | undefined;

  constructor(stage: string, initialBytes: number, oneRecordPerKey: boolean) {
    this.stage = stage;
    this.copy = new CopyBatch(initialBytes);
    this.latest = oneRecordPerKey ? new Map() : undefined;
  }

  get bytes(): number {
    return this.copy.bytes;
  }

  /** Starts a record of data row `ordinal`; the caller writes it into `copy`. */
  begin(ordinal: number): void {
    this.starts.push(this.copy.bytes);
    this.ordinals.push(ordinal);
  }

  /** The record just written is the latest of `key`: the earlier one, if any, is dropped. */
  keep(key: string): void {
    const index = this.starts.length - 1;
    const earlier = this.latest!.get(key);
    if (earlier === undefined) {
      this.latest!.set(key, { index });
      return;
    }
    this.replaced.push(earlier.index);
    earlier.index = index;
  }

  /** Drops every record held. */
  clear(): void {
    this.copy.clear();
    this.starts = [];
    this.ordinals = [];
    this.replaced = [];
    this.latest?.clear();
  }

  /** The records kept, in chunks of about `chunkBytes`; then none is held. */
  *take(chunkBytes: number): Generator<StagedChunk> {
    const count = this.starts.length;
    const held = this.copy.view();
    const dropped = new Uint8Array(count);
    for (const index of this.replaced) dropped[index] = 1;
    let chunk = (this.scratch ??= Buffer.allocUnsafe(chunkBytes * 2));
    let used = 0;
    let ordinals: number[] = [];
    for (let index = 0; index < count; index++) {
      if (dropped[index]) continue;
      const start = this.starts[index]!;
      const end = index + 1 < count ? this.starts[index + 1]! : held.length;
      if (used + end - start > chunk.length) chunk = this.scratch = grown(chunk, used, used + end - start);
      held.copy(chunk, used, start, end);
      used += end - start;
      ordinals.push(this.ordinals[index]!);
      if (used >= chunkBytes) {
        yield this.chunk(chunk, used, ordinals);
        used = 0;
        ordinals = [];
      }
    }
    if (used > 0) yield this.chunk(chunk, used, ordinals);
    this.clear();
  }

  /**
   * A chunk as a new ArrayBuffer of its own, to transfer to the main thread; gathered in the kept
   * scratch buffer, so one allocation per chunk, not two: buffers allocated per batch are freed
   * only when V8 collects, and on an object of quarantined rows they piled up to hundreds of MiB.
   */
  private chunk(chunk: Buffer, used: number, ordinals: number[]): StagedChunk {
    const bytes = new ArrayBuffer(used);
    new Uint8Array(bytes).set(chunk.subarray(0, used));
    return { stage: this.stage, bytes, ordinals: Int32Array.from(ordinals) };
  }
}

function grown(buffer: Buffer, used: number, needed: number): Buffer {
  const larger = Buffer.allocUnsafe(Math.max(buffer.length * 2, needed));
  buffer.copy(larger, 0, 0, used);
  return larger;
}

/** One target table's staging records and how a row becomes one. */
interface TableStage {
  readonly records: HeldRecords;
  /** Positions in a row's values of the staged columns (stagedColumns order). */
  readonly positions: readonly number[];
  /** Per staged column: text that may hold a character COPY must escape. */
  readonly escapable: readonly boolean[];
  /** Positions of the values a row needs to yield a row of this table. */
  readonly required: readonly number[];
  /** Position of the table's one-column key, when the worker keeps one record per key. */
  readonly keyPosition: number | undefined;
}

/**
 * Tables whose keys repeat within an export, kept one record per key by the worker: of 12,642
 * rows of a seed export, 1,670 customers, 4,778 service requests, 6,856 tasks. Parts and notes
 * repeat in about 4% of rows and have keys of several columns (a note's text among them), so
 * their repeats are left to the merge's DISTINCT ON.
 */
const ONE_RECORD_PER_KEY = new Set(['customers', 'service_requests', 'tasks']);

/**
 * An object's staging records while it is read: its rows spread over the five tables (customers,
 * service requests and tasks one per key, the later row of a key replacing the earlier, as the
 * merge would), its quarantined rows and its value issues. take() hands them out as COPY text,
 * staging table by staging table. The caller takes them when the object ends, or earlier when
 * heldBytes passes its bound: a key may then be staged twice, which the merge's DISTINCT ON
 * settles, so memory stays bounded whatever the object.
 */
export class ObjectStage {
  readonly chunkBytes: number;
  private readonly extras: HeldRecords;
  private readonly tables: TableStage[];

  /** `chunkBytes`: the size of the COPY text chunks take() hands out. */
  constructor(chunkBytes = 256 * 1024) {
    this.chunkBytes = chunkBytes;
    this.extras = new HeldRecords(EXTRAS_STAGE, chunkBytes, false);
    this.tables = TARGET_TABLES.map((table) => {
      const positions = stagedColumns(table).map(valueIndex);
      const oneRecordPerKey = ONE_RECORD_PER_KEY.has(table.name);
      return {
        records: new HeldRecords(stageOf(table), chunkBytes * 2, oneRecordPerKey),
        positions,
        escapable: positions.map((position) => FREE_TEXT[position]!),
        required: table.requires.map(valueIndex),
        keyPosition: oneRecordPerKey ? valueIndex(table.key[0]!) : undefined,
      };
    });
  }

  /** The bytes of COPY text held. */
  get heldBytes(): number {
    let bytes = this.extras.bytes;
    for (const table of this.tables) bytes += table.records.bytes;
    return bytes;
  }

  /** A loaded row: its values in EXPORT_COLUMNS order and the value issues found in it. */
  addRow(ordinal: number, line: number, values: readonly (string | null)[], issues: readonly StagedIssue[]): void {
    for (const table of this.tables) {
      if (!present(values, table.required)) continue;
      const { records } = table;
      records.begin(ordinal);
      records.copy.line(stagedRow(line, values, table));
      records.copy.endRow();
      if (table.keyPosition !== undefined) records.keep(values[table.keyPosition]!);
    }
    if (issues.length > 0) {
      const extras = this.extras;
      const copy = extras.copy;
      extras.begin(ordinal);
      copy.ascii('i');
      copy.ascii(String(line));
      copy.textArray(issues.map((issue) => issue.column));
      copy.textArray(issues.map((issue) => issue.raw));
      for (let i = 0; i < 4; i++) copy.null();
      copy.endRow();
    }
  }

  /** A quarantined row. */
  addReject(ordinal: number, reject: StagedReject): void {
    const extras = this.extras;
    const copy = extras.copy;
    extras.begin(ordinal);
    copy.ascii('q');
    copy.ascii(String(reject.line));
    copy.null();
    copy.null();
    copy.bytea(reject.rawBytes);
    copy.text(reject.rawText);
    copy.text(reject.reason);
    copy.text(reject.detail);
    copy.endRow();
  }

  /** Drops everything held (the object is read again from its start). */
  clear(): void {
    this.extras.clear();
    for (const table of this.tables) table.records.clear();
  }

  /** Everything held, as COPY text in chunks of about chunkBytes, etl_stage's first; none is held after. */
  *take(): Generator<StagedChunk> {
    yield* this.extras.take(this.chunkBytes);
    for (const table of this.tables) yield* table.records.take(this.chunkBytes);
  }
}

function present(values: readonly (string | null)[], positions: readonly number[]): boolean {
  for (const position of positions) if (values[position] === null) return false;
  return true;
}

/**
 * A row's record for one table in COPY text, without its line break: `line, columns...`. Built as
 * one string and written with one call: a write per value cost a third of the encoding. Only text
 * columns can hold a character COPY must escape; ids, timestamps and numbers are checked against
 * their kind before they get here.
 */
function stagedRow(line: number, values: readonly (string | null)[], table: TableStage): string {
  let text = String(line);
  const { positions, escapable } = table;
  for (let index = 0; index < positions.length; index++) {
    const value = values[positions[index]!];
    if (value === null || value === undefined) text += '\t\\N';
    else if (escapable[index] && NEEDS_ESCAPE.test(value)) text += '\t' + value.replace(ESCAPE, (c) => ESCAPES[c]!);
    else text += '\t' + value;
  }
  return text;
}
