// CSV records from a stream of UTF-8 bytes, with csv-parse doing the tokenizing.
//
// What this adds to csv-parse: exact line numbers and raw text (its own `raw`/`lines` go wrong
// with CRLF, so both are derived here from its exact `bytes` offsets), and recovery. A record that
// cannot be parsed (an unterminated quote at the end, or a quote that swallows more than
// `maxRecordBytes`), and a multi-line record the caller finds unloadable, are cut back to their
// first physical line, which the caller quarantines; parsing restarts on the next line, so an
// unterminated quote never swallows the rest of a file unseen.
import { Parser, type Options } from 'csv-parse';

export interface CsvRecord {
  readonly kind: 'record';
  readonly fields: string[];
  /** 1-based physical line the record starts on. */
  readonly line: number;
  /** Number of physical lines the record spans. */
  readonly lineCount: number;
  /** True when the record is the last one and the object ends without a line break after it. */
  readonly atEndWithoutNewline: boolean;
  readonly start: number;
  readonly end: number;
}

/** A stretch the parser gave up on: its first physical line, to be quarantined. */
export interface CsvFault {
  readonly kind: 'fault';
  readonly reason: 'UNTERMINATED_QUOTE' | 'TRUNCATED_ROW' | 'RECORD_TOO_LARGE' | 'MALFORMED_CSV';
  readonly line: number;
  readonly raw: string;
  /** The same stretch as bytes, exactly as read (without its line break). */
  readonly rawBytes: Buffer;
  readonly message: string;
}

/** One physical line is longer than the record bound: the object cannot be read (it fails). */
export class RecordTooLargeError extends Error {
  override name = 'RecordTooLargeError';
  readonly code = 'RECORD_TOO_LARGE';
}

export const PARSER_OPTIONS: Options = {
  // Stray quotes inside unquoted fields are kept as text (spec defect 2).
  relax_quotes: true,
  // Field counts are judged by the row rules (short rows, defect-1 repair), not the parser.
  relax_column_count: true,
  record_delimiter: ['\r\n', '\n'],
  // Blank lines are not rows; skipped inside the parser they cost nothing (as records of one field
  // they cost csv-parse a CsvError each). White-space-only lines still arrive, and are dropped below.
  skip_empty_lines: true,
};

export const PARSE_PIECE_BYTES = 64 * 1024;

export interface ReadOptions {
  /** A record larger than this is given up on (guards memory against a runaway quote). */
  maxRecordBytes: number;
}

/** Tells whether a physical line looks like a whole CSV row (set once the header is known). */
export type RowDetector = (line: string) => boolean;

export class CsvRecordReader {
  private readonly chunks: AsyncIterable<Buffer>;
  private readonly maxRecordBytes: number;
  // The retained input: bytes from `windowStart` on (global offsets).
  private window: Buffer[] = [];
  private windowStart = 0;
  private windowEnd = 0;
  // Line bookkeeping: `lineAtMark` is the 1-based line number at global offset `mark`.
  private mark = 0;
  private lineAtMark = 1;
  private parser!: Parser;
  private parserBase = 0;
  private parsedUpTo = 0;
  // Records the parser produced and drain() has not taken yet, from `pendingAt` on. An index, not
  // shift(): a chunk of blank lines is tens of thousands of records, and shift() on an array that
  // long moves every element each time.
  private pending: Array<{ fields: string[]; end: number }> = [];
  private pendingAt = 0;
  /** Records the current parser has produced that were not blank. */
  private parserRecords = 0;
  private restartAt: number | undefined;
  private lastYielded: CsvRecord | undefined;
  private ended = false;
  /** Once set, an unterminated quote at the end swallows whole rows only if they look like rows. */
  looksLikeRow: RowDetector | undefined;

  constructor(chunks: AsyncIterable<Buffer>, options: ReadOptions) {
    this.chunks = chunks;
    this.maxRecordBytes = options.maxRecordBytes;
  }

  /**
   * The caller found the last yielded multi-line record unloadable: returns its first line (to
   * quarantine) and makes parsing resume at its second line.
   */
  splitFirstLine(record: CsvRecord): { line: number; raw: string; rawBytes: Buffer } {
    if (record !== this.lastYielded) throw new Error('splitFirstLine: only the last yielded record can be split');
    const firstLineEnd = this.indexOfNewline(record.start, record.end);
    const next = firstLineEnd === -1 ? record.end : firstLineEnd + 1;
    this.restartAt = next;
    return { line: record.line, raw: this.text(record.start, next), rawBytes: this.bytes(record.start, next) };
  }

  /** Text of a stretch of the input still held (the last yielded record's raw text, say), without its line break. */
  text(from: number, to: number): string {
    return this.slice(from, to).toString('utf8').replace(/\r?\n$/, '');
  }

  /** The same stretch as bytes (a copy), without its line break. */
  bytes(from: number, to: number): Buffer {
    const slice = this.slice(from, to);
    let end = slice.length;
    if (end > 0 && slice[end - 1] === 10) end--;
    if (end > 0 && slice[end - 1] === 13 && end < slice.length) end--;
    return Buffer.from(slice.subarray(0, end));
  }

  /** The records one at a time (see batches()). */
  async *records(): AsyncGenerator<CsvRecord | CsvFault> {
    for await (const batch of this.batches()) yield* batch;
  }

  /**
   * The records in batches, about one parsed piece each: one await per batch, not per record (an
   * async generator step per record cost more than a tenth of the reading). A multi-line record is
   * always the last of its batch, so that the caller can split it (splitFirstLine) before the
   * records after it are parsed; a fault comes in a batch of its own.
   */
  async *batches(): AsyncGenerator<Array<CsvRecord | CsvFault>> {
    this.parser = this.newParser();
    const iterator = this.chunks[Symbol.asyncIterator]();
    for (;;) {
      const step = await iterator.next();
      if (step.done) break;
      // Parsed a piece at a time: csv-parse turns all it is given into records at once, and
      // thousands of records waiting to be drained across awaits outlive V8's young generation;
      // promoted, they grew the heap to 300 MiB on an object of short rows (80 MiB this way).
      for (let at = 0; at < step.value.length; at += PARSE_PIECE_BYTES) {
        const piece = step.value.subarray(at, at + PARSE_PIECE_BYTES);
        this.window.push(piece);
        this.windowEnd += piece.length;
        this.feed(piece);
        yield* this.drain(false);
      }
    }
    this.ended = true;
    this.feed(undefined);
    yield* this.drain(true);
  }

  private newParser(): Parser {
    const parser = new Parser({
      ...PARSER_OPTIONS,
      on_record: (fields: string[], context: { bytes: number }) => {
        this.pending.push({ fields, end: this.parserBase + context.bytes });
        return null;
      },
    });
    parser.on('error', () => {}); // errors are read through `errored`, synchronously, in drain()
    return parser;
  }

  private async *drain(atEnd: boolean): AsyncGenerator<Array<CsvRecord | CsvFault>> {
    let batch: CsvRecord[] = [];
    for (;;) {
      while (this.pendingAt < this.pending.length) {
        const next = this.pending[this.pendingAt++]!;
        if (this.pendingAt === this.pending.length) {
          this.pending = [];
          this.pendingAt = 0;
        }
        // Empty lines are skipped by csv-parse: the record starts after the line breaks before it.
        const start = this.pastLineBreaks(this.parsedUpTo, next.end);
        this.parsedUpTo = next.end;
        const fields = next.fields;
        // Blank (or white-space only) lines are not rows.
        if (fields.length === 1 && fields[0]!.trim() === '') {
          // csv-parse takes its first record's length as the expected one and builds an error
          // (with a stack trace) for every record of another length: a blank first line would make
          // that every row. Start a fresh parser after it instead.
          if (this.parserRecords === 0) this.restart(next.end);
          continue;
        }
        this.parserRecords++;
        const line = this.lineAt(start);
        const lineCount = this.countNewlines(start, next.end) + (this.endsWithNewline(next.end) ? 0 : 1);
        const record: CsvRecord = {
          kind: 'record',
          fields,
          line,
          lineCount: Math.max(1, lineCount),
          atEndWithoutNewline: this.ended && this.pendingAt >= this.pending.length && next.end === this.windowEnd && !this.endsWithNewline(next.end),
          start,
          end: next.end,
        };
        // The caller may still read the raw bytes of every record of the batch.
        if (batch.length === 0) this.discardBefore(start);
        batch.push(record);
        this.lastYielded = record;
        if (record.lineCount > 1) {
          yield batch;
          batch = [];
          if (this.restartAt !== undefined) {
            const at = this.restartAt;
            this.restartAt = undefined;
            this.restart(at);
          }
        }
      }
      if (batch.length > 0) {
        yield batch;
        batch = [];
      }
      const error = this.parser.errored as (Error & { code?: string }) | null;
      if (error) {
        yield [this.fault(error)];
        continue;
      }
      // A quote that runs on past the bound is given up on before it eats the memory: its first
      // line is quarantined and the rest read again. A single line past the bound cannot be read.
      if (!atEnd && this.windowEnd - this.parsedUpTo > this.maxRecordBytes) {
        if (this.indexOfNewline(this.parsedUpTo, this.windowEnd) === -1) {
          throw new RecordTooLargeError(
            `line ${this.lineAt(this.parsedUpTo)} runs on for more than ${this.maxRecordBytes} bytes without a line break (max_record_bytes); the object cannot be read as CSV`,
          );
        }
        yield [this.fault(Object.assign(new Error(`a record is larger than ${this.maxRecordBytes} bytes`), { code: 'CSV_MAX_RECORD_SIZE' }))];
        continue;
      }
      if (atEnd && !this.parser.writableFinished) {
        // end() flushes synchronously in practice; wait for it otherwise.
        await new Promise<void>((resolve) => {
          this.parser.once('finish', resolve);
          this.parser.once('error', () => resolve());
        });
        continue;
      }
      return;
    }
  }

  /** Quarantine the first line of the record that failed and parse again from the next line. */
  private fault(error: Error & { code?: string }): CsvFault {
    const start = this.parsedUpTo;
    const lineEnd = this.indexOfNewline(start, this.windowEnd);
    let next = lineEnd === -1 ? this.windowEnd : lineEnd + 1;
    let reason: CsvFault['reason'] =
      error.code === 'CSV_QUOTE_NOT_CLOSED' ? 'UNTERMINATED_QUOTE' : error.code === 'CSV_MAX_RECORD_SIZE' ? 'RECORD_TOO_LARGE' : 'MALFORMED_CSV';
    if (this.ended && reason === 'UNTERMINATED_QUOTE') {
      // A quote left open at the end: the object was cut inside its last row (defect 4), whose
      // quoted text may span lines. Only lines that look like whole rows are parsed again.
      const rest = this.text(next, this.windowEnd).split('\n');
      const swallowsRows = this.looksLikeRow !== undefined && rest.some((line) => this.looksLikeRow!(line));
      if (!swallowsRows) next = this.windowEnd;
      if (!this.endsWithNewline(this.windowEnd) && !swallowsRows) reason = 'TRUNCATED_ROW';
    }
    const fault: CsvFault = {
      kind: 'fault',
      reason,
      line: this.lineAt(start),
      raw: this.text(start, next),
      rawBytes: this.bytes(start, next),
      message: error.message.split('\n')[0]!,
    };
    this.restart(next);
    return fault;
  }

  /**
   * Hands bytes (or the end) to csv-parse. It builds a CsvError for every record whose field count
   * differs from the first one's, even with relax_column_count, and the stack trace of each cost
   * about 35 µs: a blank line, a short row, a row with unquoted commas. Without stack traces while
   * it runs (they are never shown), a file of blank lines reads 20 times faster.
   */
  private feed(chunk: Buffer | undefined): void {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      if (chunk === undefined) this.parser.end();
      else this.parser.write(chunk);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  private restart(at: number): void {
    this.parser.removeAllListeners();
    this.parser.on('error', () => {}); // the old parser's late error event is already handled
    this.parser.destroy();
    this.pending = [];
    this.pendingAt = 0;
    this.parserRecords = 0;
    this.parsedUpTo = at;
    this.parserBase = at;
    this.discardBefore(Math.min(at, this.mark));
    this.parser = this.newParser();
    if (at < this.windowEnd) this.feed(this.slice(at, this.windowEnd));
    if (this.ended) this.feed(undefined);
  }

  /** The offset after the line breaks (LF or CRLF) that start at `from`, at most `to`. */
  private pastLineBreaks(from: number, to: number): number {
    let at = from;
    while (at < to) {
      const head = this.slice(at, Math.min(to, at + 2));
      if (head[0] === 10) at += 1;
      else if (head[0] === 13 && head[1] === 10) at += 2;
      else break;
    }
    return at;
  }

  private lineAt(offset: number): number {
    if (offset < this.mark) throw new Error('lineAt: offset before the mark');
    this.lineAtMark += this.countNewlines(this.mark, offset);
    this.mark = offset;
    return this.lineAtMark;
  }

  private countNewlines(from: number, to: number): number {
    let count = 0;
    this.forEachPiece(from, to, (piece) => {
      let at = piece.indexOf(10);
      while (at !== -1) {
        count++;
        at = piece.indexOf(10, at + 1);
      }
    });
    return count;
  }

  private indexOfNewline(from: number, to: number): number {
    let found = -1;
    let base = from;
    this.forEachPiece(from, to, (piece) => {
      if (found !== -1) return;
      const at = piece.indexOf(10);
      if (at !== -1) found = base + at;
      base += piece.length;
    });
    return found;
  }

  private endsWithNewline(end: number): boolean {
    if (end === 0) return false;
    let last = -1;
    this.forEachPiece(end - 1, end, (piece) => {
      last = piece[0]!;
    });
    return last === 10;
  }

  private slice(from: number, to: number): Buffer {
    const pieces: Buffer[] = [];
    this.forEachPiece(from, to, (piece) => pieces.push(piece));
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  }

  private forEachPiece(from: number, to: number, visit: (piece: Buffer) => void): void {
    if (from < this.windowStart) throw new Error('read window: bytes already discarded');
    let offset = this.windowStart;
    for (const chunk of this.window) {
      const chunkEnd = offset + chunk.length;
      if (chunkEnd > from && offset < to) {
        visit(chunk.subarray(Math.max(0, from - offset), Math.min(chunk.length, to - offset)));
      }
      if (chunkEnd >= to) break;
      offset = chunkEnd;
    }
  }

  private discardBefore(offset: number): void {
    const keepFrom = Math.min(offset, this.mark);
    while (this.window.length > 1 && this.windowStart + this.window[0]!.length <= keepFrom) {
      this.windowStart += this.window[0]!.length;
      this.window.shift();
    }
  }
}
