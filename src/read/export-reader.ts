// One export object read end to end: bytes -> records (read/csv-reader.ts) -> header layout ->
// rows (read/row-shape.ts) or rejects, handed to a sink as they are read.
//
// Every data record becomes exactly one row or reject, so the Nth data record is the same row on
// every read of the same bytes: `exclude` can name a row by that ordinal (the staging record
// Postgres refused) and the next read quarantines it. What a data record is checked for, in this
// order: cut off by the end of the object, bytes that are not UTF-8 in a UTF-8 export, a NUL byte,
// its shape (field count, defect-1 repair), values Postgres cannot store, a database refusal.
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { checkedUtf8, encodeCp1252, encodeUtf16, inflated, peek, profileContent, utf16ByBom, utf16ToUtf8, utf8Content, type ContentProfile, type Encoding } from './decode.ts';
import { CsvReader, type CsvFault, type CsvRecord, type Dialect } from './csv-reader.ts';
import { describeDialect, detectDialect, UnreadableLayoutError } from './dialect.ts';
import { layoutFromHeader, type Layout } from './layout.ts';
import { RowShaper, type RejectReason, type RowValues, type ValueIssue } from './row-shape.ts';
import { asciiText, storableText } from '../safe-text.ts';

export interface ReadExportOptions {
  /** A record larger than this is given up on; a single line larger than this fails the object. */
  maxRecordBytes?: number;
  /** Inflating a gzip object beyond this fails it (InflateLimitError). */
  maxInflatedBytes?: number;
  /**
   * The source omits the line break after the last row: a complete last row without one loads.
   * By default it is quarantined as TRUNCATED_ROW (spec, defect 4: the exporter ends every row with
   * a line break, so a last row without one was cut, even when it has every field).
   */
  sourceOmitsFinalNewline?: boolean;
  /**
   * Data records (by ordinal, 1-based) that Postgres refused on an earlier attempt, with its
   * message: a row becomes a DATABASE_REJECTED reject; a reject keeps only ASCII in its text.
   */
  exclude?: ReadonlyMap<number, string>;
  /**
   * Read in one pass, as plain UTF-8, and throw NeedsProfileError at the first chunk that is not
   * (before anything from it is read); the caller then reads again without this option.
   */
  assumeUtf8?: boolean;
}

export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** A quarantined row as it is kept: exact bytes, text for people, why. */
export interface Reject {
  readonly line: number;
  /** The record's bytes exactly as in the object (after gzip), without its line break. */
  readonly rawBytes: Buffer;
  /** The record as text: exact where text can hold it (a NUL or an invalid byte shows as U+FFFD). */
  readonly rawText: string;
  readonly reason: RejectReason;
  readonly detail: string;
}

/** How an object is written: its encoding, and how its fields and lines are separated (read/dialect.ts). */
export interface ExportFormat {
  readonly encoding: Encoding;
  /** `,`, `;`, `tab` or `|`. */
  readonly delimiter: string;
  /** `LF` (LF or CRLF) or `CR` (bare CR). */
  readonly lineBreak: string;
}

/** Where an object's rows go as they are read. */
export interface ExportSink {
  header(layout: Layout, format: ExportFormat, line: number): void;
  /** A loadable row; `values` is valid during the call only. */
  row(ordinal: number, line: number, values: RowValues): void;
  reject(ordinal: number, reject: Reject): void;
}

const PLAIN_UTF8: ContentProfile = { encoding: 'utf-8', damaged: false, hasNul: false };

/**
 * Reads an object into `sink`, yielding after each chunk of its content (so that the caller can
 * hand on what the sink holds). `open` is called twice: once to learn the encoding (the whole
 * object must be seen for that), once to read; once with `assumeUtf8`. Throws
 * MissingRequiredColumnsError, RecordTooLargeError, InflateLimitError, NeedsProfileError (with
 * `assumeUtf8`), what the sink throws and the errors of the stream.
 */
export async function* readExportInto(open: () => Promise<Readable> | Readable, options: ReadExportOptions, sink: ExportSink): AsyncGenerator<void> {
  const limits = { maxInflatedBytes: options.maxInflatedBytes };
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  let truncated = false; // the gzip stream was cut short
  const { head, content } = await peek(inflated(await open(), { ...limits, onTruncated: () => (truncated = true) }), 2);
  // UTF-16 by its byte-order mark; anything else is UTF-8, or decided over the whole object.
  const utf16 = utf16ByBom(head);
  let profile: ContentProfile;
  let utf8: AsyncIterable<Buffer>;
  if (utf16) {
    profile = { encoding: utf16, damaged: false, hasNul: true };
    utf8 = utf16ToUtf8(content, utf16);
  } else {
    profile = options.assumeUtf8 ? PLAIN_UTF8 : await profileContent(inflated(await open(), limits));
    utf8 = utf8Content(options.assumeUtf8 ? checkedUtf8(content) : content, profile.encoding);
  }
  // The dialect is decided on the header line: the content is held until it is whole.
  let records: ExportRecords | undefined;
  let held: Buffer[] = [];
  const start = (ended: boolean): boolean => {
    const bytes = held.length === 1 ? held[0]! : Buffer.concat(held);
    const dialect = detectDialect(bytes, ended, maxRecordBytes);
    if (!dialect) return false;
    records = new ExportRecords(sink, options, profile, dialect, () => truncated);
    held = [];
    records.reader.push(bytes);
    return true;
  };
  for await (const chunk of utf8) {
    if (records) records.reader.push(chunk);
    else {
      held.push(chunk);
      if (!start(false)) continue;
    }
    yield;
  }
  if (!records) start(true);
  records!.reader.end();
}

/** A row as an event (readExport). */
export interface RowEvent {
  readonly type: 'row';
  readonly line: number;
  readonly values: (string | null)[];
  readonly issues: ValueIssue[];
  readonly repairedColumn?: string;
}

export type ReadEvent =
  | { readonly type: 'header'; readonly layout: Layout; readonly encoding: Encoding; readonly format: ExportFormat; readonly line: number }
  | RowEvent
  | ({ readonly type: 'reject'; readonly raw: string } & Omit<Reject, 'rawText'>);

/** The object's rows and rejects as events with their values as text (tests, tools; the load uses readExportInto). */
export async function* readExport(open: () => Promise<Readable> | Readable, options: ReadExportOptions = {}): AsyncGenerator<ReadEvent> {
  const events: ReadEvent[] = [];
  const sink: ExportSink = {
    header: (layout, format, line) => events.push({ type: 'header', layout, encoding: format.encoding, format, line }),
    row: (_ordinal, line, values) =>
      events.push(
        values.repairedColumn === undefined
          ? { type: 'row', line, values: values.texts(), issues: values.issues }
          : { type: 'row', line, values: values.texts(), issues: values.issues, repairedColumn: values.repairedColumn },
      ),
    reject: (_ordinal, { line, rawBytes, rawText, reason, detail }) => events.push({ type: 'reject', line, raw: rawText, rawBytes, reason, detail }),
  };
  for await (const _ of readExportInto(open, options, sink)) {
    yield* events;
    events.length = 0;
  }
  yield* events;
}

/** The reading rules between the CSV reader and the sink. */
class ExportRecords {
  readonly reader: CsvReader;
  private readonly sink: ExportSink;
  private readonly options: ReadExportOptions;
  private readonly profile: ContentProfile;
  private readonly dialect: Dialect;
  private readonly truncated: () => boolean;
  private shaper: RowShaper | undefined;
  private ordinal = 0;

  constructor(sink: ExportSink, options: ReadExportOptions, profile: ContentProfile, dialect: Dialect, truncated: () => boolean) {
    this.sink = sink;
    this.options = options;
    this.profile = profile;
    this.dialect = dialect;
    this.truncated = truncated;
    this.reader = new CsvReader(
      { record: (record) => this.record(record), fault: (fault) => this.fault(fault) },
      { maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES, dialect },
    );
  }

  /** A record: the header, a row, or a reject; true gives it up (a quote that ran over whole rows). */
  private record(record: CsvRecord): boolean {
    const shaper = this.shaper;
    if (!shaper) {
      const names = record.fields.texts();
      const format: ExportFormat = { encoding: this.profile.encoding, ...describeDialect(this.dialect) };
      if (record.lineCount > 1 || names.some((name) => /[\r\n]/.test(name))) {
        throw new UnreadableLayoutError(
          `the header line holds a line break inside a quoted column name (a quote opened on line ${record.line} closes ${record.lineCount - 1} lines later), so the header swallows rows; fix the export's header line`,
        );
      }
      const layout = layoutFromHeader(names, format.delimiter);
      this.shaper = new RowShaper(layout, this.dialect.delimiter);
      this.reader.rowWidth = layout.width;
      this.sink.header(layout, format, record.line);
      return false;
    }
    const ordinal = this.ordinal + 1;
    const rejection = shaper.shape(record.fields);
    // A quote opened by mistake ran over whole rows: the line that opened it is quarantined (as a
    // fault, with this ordinal) and the swallowed lines are read again as rows.
    const splits = rejection !== undefined && record.lineCount > 1 && this.reader.swallowsRows(record);
    const { options, profile } = this;
    if (record.atEndWithoutNewline && (this.truncated() || !options.sourceOmitsFinalNewline)) {
      // Defect 4: the object ends inside this row, however many fields it has (a last field cut
      // short still parses).
      if (splits) return true;
      const detail = this.truncated() ? 'the gzip stream ends inside this row' : 'the object ends without a line break after this row, so the row was cut';
      this.rejectRecord(ordinal, record, 'TRUNCATED_ROW', detail);
      return false;
    }
    if (profile.damaged || profile.hasNul) {
      const bytes = this.reader.bytes(record.start, record.end);
      if (profile.damaged && !isUtf8(bytes)) {
        this.rejectRecord(ordinal, record, 'INVALID_ENCODING', 'the row holds bytes that are not UTF-8 in a UTF-8 export (a damaged export); its exact bytes are kept');
        return false;
      }
      if (profile.hasNul && bytes.includes(0)) {
        this.rejectRecord(ordinal, record, 'NUL_BYTE', 'the row holds a NUL byte, which Postgres text cannot store; its exact bytes are kept');
        return false;
      }
    }
    if (rejection === undefined) {
      const refused = options.exclude?.get(ordinal);
      if (refused !== undefined) {
        this.rejectRecord(ordinal, record, 'DATABASE_REJECTED', `the database refused the row: ${refused}`);
        return false;
      }
      this.ordinal = ordinal;
      this.sink.row(ordinal, record.line, shaper.values);
      return false;
    }
    if (splits) return true;
    const reason: RejectReason = record.atEndWithoutNewline && rejection.reason === 'SHORT_ROW' ? 'TRUNCATED_ROW' : rejection.reason;
    this.rejectRecord(ordinal, record, reason, rejection.detail);
    return false;
  }

  private fault(fault: CsvFault): void {
    this.ordinal++;
    const rawText = fault.rawBytes.toString('utf8');
    this.reject(this.ordinal, fault.line, rawText, this.originalBytes(rawText, fault.rawBytes), fault.reason, fault.message);
  }

  private rejectRecord(ordinal: number, record: CsvRecord, reason: RejectReason, detail: string): void {
    this.ordinal = ordinal;
    const bytes = this.reader.bytes(record.start, record.end);
    const rawText = bytes.toString('utf8');
    this.reject(ordinal, record.line, rawText, this.originalBytes(rawText, bytes), reason, detail);
  }

  private reject(ordinal: number, line: number, raw: string, rawBytes: Buffer, reason: RejectReason, detail: string): void {
    const refused = this.options.exclude?.get(ordinal);
    this.sink.reject(
      ordinal,
      refused === undefined
        ? { line, rawText: storableText(raw), rawBytes, reason, detail: storableText(detail) }
        : { line, rawText: asciiText(raw), rawBytes, reason, detail: asciiText(`${detail} (kept in ASCII: the database refused the text: ${refused})`) },
    );
  }

  /** The original bytes of a stretch: as read for UTF-8; for Windows-1252 and UTF-16, its text encoded back. */
  private originalBytes(text: string, utf8: Buffer): Buffer {
    const { encoding } = this.profile;
    if (encoding === 'windows-1252') return encodeCp1252(text);
    if (encoding === 'utf-16le' || encoding === 'utf-16be') return encodeUtf16(text, encoding);
    return utf8;
  }
}
