// One export object read end to end: bytes -> records -> header layout -> rows or rejects.
//
// Every data record becomes exactly one event, a row or a reject, so the Nth data record is the
// same row on every read of the same bytes: `exclude` can name a row by that ordinal (the COPY
// line Postgres refused) and the next read quarantines it. What a data record is checked for, in
// this order: cut off by the end of the object, bytes that are not UTF-8 in a UTF-8 export, a NUL
// byte, its shape (field count, defect-1 repair), values Postgres cannot store, a database refusal.
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { checkedUtf8, encodeCp1252, inflated, profileContent, utf8Content, type ContentProfile, type Encoding } from './decode.ts';
import { layoutFromHeader, type Layout } from './layout.ts';
import { CsvRecordReader, type CsvRecord } from './records.ts';
import { shapeRow, type RejectReason, type ValueIssue } from './rows.ts';
import { asciiText, storableText } from '../safe-text.ts';

export type ReadEvent =
  | { readonly type: 'header'; readonly layout: Layout; readonly encoding: Encoding; readonly line: number }
  | {
      readonly type: 'row';
      readonly line: number;
      readonly values: (string | null)[];
      readonly issues: ValueIssue[];
      readonly repairedColumn?: string;
    }
  | {
      readonly type: 'reject';
      readonly line: number;
      /** The record as text: exact where text can hold it (a NUL or an invalid byte shows as U+FFFD). */
      readonly raw: string;
      /** The record's bytes exactly as in the object (after gzip), without its line break. */
      readonly rawBytes: Buffer;
      readonly reason: RejectReason;
      readonly detail: string;
    };

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
   * (before anything from it is yielded); the caller then reads again without this option.
   */
  assumeUtf8?: boolean;
}

export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

const PLAIN_UTF8: ContentProfile = { encoding: 'utf-8', damaged: false, hasNul: false };

/**
 * Reads an object. `open` is called twice: once to learn the encoding (the whole object must be
 * seen for that), once to parse; once with `assumeUtf8`. Throws MissingRequiredColumnsError,
 * RecordTooLargeError, InflateLimitError, NeedsProfileError (with `assumeUtf8`) and the errors of
 * the stream.
 */
export async function* readExport(open: () => Promise<Readable> | Readable, options: ReadExportOptions = {}): AsyncGenerator<ReadEvent> {
  for await (const events of readExportBatches(open, options)) yield* events;
}

/** readExport's events in batches, one per batch of records (CsvRecordReader.batches). */
export async function* readExportBatches(open: () => Promise<Readable> | Readable, options: ReadExportOptions = {}): AsyncGenerator<ReadEvent[]> {
  const limits = { maxInflatedBytes: options.maxInflatedBytes };
  const profile: ContentProfile = options.assumeUtf8 ? PLAIN_UTF8 : await profileContent(inflated(await open(), limits));
  const { encoding } = profile;
  let truncated = false; // the gzip stream was cut short
  const content = inflated(await open(), { ...limits, onTruncated: () => (truncated = true) });
  const reader = new CsvRecordReader(utf8Content(options.assumeUtf8 ? checkedUtf8(content) : content, encoding), {
    maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
  });
  // The original bytes of a stretch: as read for UTF-8; for Windows-1252, its text encoded back.
  const originalBytes = (text: string, utf8: Buffer) => (encoding === 'windows-1252' ? encodeCp1252(text) : utf8);
  let layout: Layout | undefined;
  let ordinal = 0;
  const reject = (line: number, raw: string, rawBytes: Buffer, reason: RejectReason, detail: string): ReadEvent => {
    const refused = options.exclude?.get(ordinal);
    return refused === undefined
      ? { type: 'reject', line, raw: storableText(raw), rawBytes, reason, detail: storableText(detail) }
      : { type: 'reject', line, raw: asciiText(raw), rawBytes, reason, detail: asciiText(`${detail} (kept in ASCII: the database refused the text: ${refused})`) };
  };

  for await (const items of reader.batches()) {
    const events: ReadEvent[] = [];
    for (const item of items) {
      if (item.kind === 'fault') {
        ordinal++;
        events.push(reject(item.line, item.raw, originalBytes(item.raw, item.rawBytes), item.reason, item.message));
        continue;
      }
      if (!layout) {
        layout = layoutFromHeader(item.fields);
        const commas = Math.max(1, layout.width - 1); // a whole row: as many fields as the header
        reader.looksLikeRow = (line) => countCommas(line) >= commas;
        events.push({ type: 'header', layout, encoding, line: item.line });
        continue;
      }
      ordinal++;
      const rawOf = () => {
        const raw = reader.text(item.start, item.end);
        return { raw, rawBytes: originalBytes(raw, reader.bytes(item.start, item.end)) };
      };
      const outcome = shapeRow(layout, item.fields);
      if (item.atEndWithoutNewline && (truncated || !options.sourceOmitsFinalNewline)) {
        // Defect 4: the object ends inside this row, however many fields it has (a last field cut
        // short still parses). Only a quote opened by mistake that ran over whole rows is split.
        if (!outcome.ok && item.lineCount > 1 && swallowsRows(item, layout.width)) {
          const first = reader.splitFirstLine(item);
          events.push(reject(first.line, first.raw, originalBytes(first.raw, first.rawBytes), 'UNTERMINATED_QUOTE', 'a quote opened on this line runs over the following rows'));
          continue;
        }
        const { raw, rawBytes } = rawOf();
        const detail = truncated ? 'the gzip stream ends inside this row' : 'the object ends without a line break after this row, so the row was cut';
        events.push(reject(item.line, raw, rawBytes, 'TRUNCATED_ROW', detail));
        continue;
      }
      if (profile.damaged || profile.hasNul) {
        const bytes = reader.bytes(item.start, item.end);
        if (profile.damaged && !isUtf8(bytes)) {
          const { raw, rawBytes } = rawOf();
          events.push(reject(item.line, raw, rawBytes, 'INVALID_ENCODING', 'the row holds bytes that are not UTF-8 in a UTF-8 export (a damaged export); its exact bytes are kept'));
          continue;
        }
        if (profile.hasNul && bytes.includes(0)) {
          const { raw, rawBytes } = rawOf();
          events.push(reject(item.line, raw, rawBytes, 'NUL_BYTE', 'the row holds a NUL byte, which Postgres text cannot store; its exact bytes are kept'));
          continue;
        }
      }
      if (outcome.ok) {
        const refused = options.exclude?.get(ordinal);
        if (refused !== undefined) {
          const { raw, rawBytes } = rawOf();
          events.push(reject(item.line, raw, rawBytes, 'DATABASE_REJECTED', `the database refused the row: ${refused}`));
          continue;
        }
        events.push(
          outcome.repairedColumn === undefined
            ? { type: 'row', line: item.line, values: outcome.values, issues: outcome.issues }
            : { type: 'row', line: item.line, values: outcome.values, issues: outcome.issues, repairedColumn: outcome.repairedColumn },
        );
        continue;
      }
      if (item.lineCount > 1 && swallowsRows(item, layout.width)) {
        // A quote opened by mistake ran over whole rows: quarantine the line that opened it and
        // read the swallowed lines again as rows.
        const first = reader.splitFirstLine(item);
        events.push(reject(first.line, first.raw, originalBytes(first.raw, first.rawBytes), 'UNTERMINATED_QUOTE', 'a quote opened on this line runs over the following rows'));
        continue;
      }
      const reason: RejectReason = item.atEndWithoutNewline && outcome.reason === 'SHORT_ROW' ? 'TRUNCATED_ROW' : outcome.reason;
      const { raw, rawBytes } = rawOf();
      events.push(reject(item.line, raw, rawBytes, reason, outcome.detail));
    }
    yield events;
  }
}

/** Whether a quoted field of the record holds lines that look like whole rows (as many fields as the header). */
function swallowsRows(record: CsvRecord, width: number): boolean {
  const commas = Math.max(1, width - 1);
  return record.fields.some((field) => field.includes('\n') && field.split('\n').slice(1).some((line) => countCommas(line) >= commas));
}

function countCommas(line: string): number {
  let count = 0;
  for (let at = line.indexOf(','); at !== -1; at = line.indexOf(',', at + 1)) count++;
  return count;
}
