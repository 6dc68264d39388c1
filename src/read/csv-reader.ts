// CSV records from UTF-8 bytes, tokenized here byte by byte, with what a load needs and a
// general CSV parser does not give: the exact line number and raw bytes of every record, a bound
// on the size of a record, and recovery after a quote that never closes.
//
// Why our own tokenizer: csv-parse read these exports at about 25 MB/s and made a JS string of
// every field; this one reads at the speed of a byte loop and leaves fields as byte ranges, so
// that typing and the COPY encoding (read/row-shape.ts, read/stage-encoder.ts) copy bytes instead
// of making strings. csv-parse stays the test oracle: test/csv-reader-oracle.test.ts requires the
// same records from both on every fixture, csv-spectrum and fuzzed input.
//
// The quoting rules are csv-parse's with `relax_quotes` (what the loader used before, so that no
// export reads differently):
// - a field that starts with a quote is quoted; inside it `""` is a quote, and a quote followed
//   by the delimiter, a line break or the end closes it;
// - a quote followed by anything else closes it too, and the field reads on unquoted, keeping
//   both quotes: `"15"" LCD"x` is `"15" LCD"x` (csv-parse's relax_quotes);
// - a quote inside an unquoted field is text (`DISPLAY, 15" TOUCH`, defect 2);
// - line breaks are LF or CRLF (a CR alone is text), or CR alone for an export saved with bare
//   CR line breaks; blank lines are not records.
//
// Recovery: a quote still open at the end of the object, or one that runs on for more than
// `maxRecordBytes`, is given up on: the line that opened it is reported as a fault and reading
// goes on from the next line, so an unterminated quote never swallows the rest of a file unseen.
// The sink can ask for the same with a multi-line record it finds unloadable (record() returns
// true). A line longer than the bound cannot be read at all: RecordTooLargeError.

const QUOTE = 34;
const LF = 10;
const CR = 13;

/** How lines and fields are separated: decided once per object (read/layout-detect.ts). */
export interface Dialect {
  /** The field delimiter's byte: `,`, `;`, tab or `|`. */
  readonly delimiter: number;
  /** `lf`: LF or CRLF ends a line, a CR alone is text; `cr`: a CR alone ends a line. */
  readonly lineBreak: 'lf' | 'cr';
}

export const COMMA_LF: Dialect = { delimiter: 0x2c, lineBreak: 'lf' };

/** One line is longer than the record bound: the object cannot be read (it fails). */
export class RecordTooLargeError extends Error {
  override name = 'RecordTooLargeError';
  readonly code = 'RECORD_TOO_LARGE';
}

/**
 * The fields of the record being delivered, as byte ranges, reused from record to record (valid
 * during the sink's call only). A field's value is `buf[start, end)`, or `side[start, end)` when
 * `inSide` is set: a quoted field whose doubled quotes were undone.
 */
export class RecordFields {
  count = 0;
  start = new Int32Array(64);
  end = new Int32Array(64);
  inSide = new Uint8Array(64);
  /** The field was quoted: its value is not the bytes it was written as. */
  quoted = new Uint8Array(64);
  buf: Buffer = Buffer.alloc(0);
  side: Buffer = Buffer.allocUnsafe(4096);
  sideUsed = 0;

  /** The buffer holding field `i`'s value. */
  bufferOf(i: number): Buffer {
    return this.inSide[i] ? this.side : this.buf;
  }

  /** Field `i` as a string (for headers, messages and the rare value that needs one). */
  text(i: number): string {
    return this.bufferOf(i).toString('utf8', this.start[i], this.end[i]);
  }

  /** Every field as a string. */
  texts(): string[] {
    const out = new Array<string>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.text(i);
    return out;
  }

  length(i: number): number {
    return this.end[i]! - this.start[i]!;
  }

  /** Room for one more field; returns its index. */
  push(): number {
    const i = this.count++;
    if (i === this.start.length) {
      const grow = <T extends Int32Array | Uint8Array>(array: T, Type: new (n: number) => T): T => {
        const larger = new Type(array.length * 2);
        larger.set(array);
        return larger;
      };
      this.start = grow(this.start, Int32Array);
      this.end = grow(this.end, Int32Array);
      this.inSide = grow(this.inSide, Uint8Array);
      this.quoted = grow(this.quoted, Uint8Array);
    }
    return i;
  }

  /** Room for `bytes` more in the side buffer. */
  reserveSide(bytes: number): Buffer {
    if (this.sideUsed + bytes > this.side.length) {
      const larger = Buffer.allocUnsafe(Math.max(this.side.length * 2, this.sideUsed + bytes));
      this.side.copy(larger, 0, 0, this.sideUsed);
      this.side = larger;
    }
    return this.side;
  }
}

/** A record as the sink sees it (valid during its call only). */
export interface CsvRecord {
  /** 1-based physical line the record starts on. */
  readonly line: number;
  /** Physical lines it spans. */
  readonly lineCount: number;
  /** Offsets in the whole content: from its first byte to past its line break. */
  readonly start: number;
  readonly end: number;
  /** The last record, and the content ends without a line break after it. */
  readonly atEndWithoutNewline: boolean;
  readonly fields: RecordFields;
}

export type FaultReason = 'UNTERMINATED_QUOTE' | 'TRUNCATED_ROW' | 'RECORD_TOO_LARGE';

/** A stretch the reader gave up on: its first physical line (or, at the end, all of it), to be quarantined. */
export interface CsvFault {
  readonly reason: FaultReason;
  readonly line: number;
  /** The stretch's bytes exactly as read, without its line break (a copy). */
  readonly rawBytes: Buffer;
  readonly message: string;
}

export interface RecordSink {
  /** A record; returning true gives it up: its first line becomes a fault, and reading goes on from its second. */
  record(record: CsvRecord): boolean | void;
  fault(fault: CsvFault): void;
}

export interface CsvReaderOptions {
  /** A record larger than this is given up on (guards memory against a runaway quote). */
  maxRecordBytes: number;
  dialect?: Dialect;
}

const NEED_MORE = -1;
const UNTERMINATED = -2;
const NEVER_CLOSED = 'a quote opened on this line is still open at the end of the object';
const RUNS_OVER_ROWS = 'a quote opened on this line runs over the following rows';

export class CsvReader {
  /**
   * Fields in a whole row, once the header is known (set by the sink): a quote left open at the
   * end runs over whole rows only if lines after it have this many fields.
   */
  rowWidth: number | undefined;
  private readonly sink: RecordSink;
  private readonly maxRecordBytes: number;
  private readonly delimiter: number;
  private readonly crLines: boolean;
  /** The line break byte that is counted (LF, or CR for bare-CR content). */
  private readonly lineByte: number;
  private readonly fields = new RecordFields();
  // Bytes held: buf[0, len), whose offset in the whole content is `base`; read up to `pos`,
  // which starts line `posLine`.
  private buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  private len = 0;
  private base = 0;
  private pos = 0;
  private posLine = 1;
  private ended = false;
  /** Line breaks inside the quoted fields of the record tokenized last. */
  private innerBreaks = 0;
  private readonly record: { -readonly [K in keyof CsvRecord]: CsvRecord[K] } = { line: 0, lineCount: 0, start: 0, end: 0, atEndWithoutNewline: false, fields: this.fields };

  constructor(sink: RecordSink, options: CsvReaderOptions) {
    this.sink = sink;
    this.maxRecordBytes = options.maxRecordBytes;
    const dialect = options.dialect ?? COMMA_LF;
    this.delimiter = dialect.delimiter;
    this.crLines = dialect.lineBreak === 'cr';
    this.lineByte = this.crLines ? CR : LF;
  }

  /** Reads the records of `chunk` that are complete (the rest waits for more bytes). */
  push(chunk: Buffer): void {
    if (this.ended) throw new Error('CsvReader: push after end');
    if (chunk.length === 0) return;
    this.append(chunk);
    this.readRecords();
    // What is left is one record that has not ended yet: bounded here (a quote that runs on).
    while (this.len - this.pos > this.maxRecordBytes) {
      const lineEnd = this.indexOfLineBreak(this.pos, this.len);
      if (lineEnd === -1) {
        throw new RecordTooLargeError(
          `line ${this.posLine} runs on for more than ${this.maxRecordBytes} bytes without a line break (max_record_bytes); the object cannot be read as CSV`,
        );
      }
      this.giveUpFirstLine(lineEnd + 1, 'RECORD_TOO_LARGE', `a record is larger than ${this.maxRecordBytes} bytes`);
      this.readRecords();
    }
  }

  /** The content has ended: reads the last record, or reports the quote left open. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.readRecords();
  }

  /** A stretch of the record with the sink (offsets in the whole content), as bytes (a copy) without its line break. */
  bytes(from: number, to: number): Buffer {
    const start = from - this.base;
    let end = to - this.base;
    if (start < 0 || end > this.len) throw new Error('CsvReader.bytes: that stretch is no longer held');
    if (this.crLines) {
      if (end > start && this.buf[end - 1] === CR) end--;
    } else if (end > start && this.buf[end - 1] === LF) {
      end--;
      if (end > start && this.buf[end - 1] === CR) end--;
    }
    return Buffer.from(this.buf.subarray(start, end));
  }

  /** The same stretch as text. */
  text(from: number, to: number): string {
    return this.bytes(from, to).toString('utf8');
  }

  /** Whether a field of the record holds line breaks followed by lines that look like whole rows (rowWidth fields). */
  swallowsRows(record: CsvRecord): boolean {
    const width = this.rowWidth;
    if (width === undefined || record.lineCount < 2) return false;
    const { fields } = record;
    for (let i = 0; i < fields.count; i++) {
      const buf = fields.bufferOf(i);
      const first = indexOf(buf, this.lineByte, fields.start[i]!, fields.end[i]!);
      if (first !== -1 && this.someLineIsARow(buf, first + 1, fields.end[i]!, width)) return true;
    }
    return false;
  }

  private append(chunk: Buffer): void {
    // Bytes read already go first.
    if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.len);
      this.len -= this.pos;
      this.base += this.pos;
      this.pos = 0;
    }
    if (this.len + chunk.length > this.buf.length) {
      const larger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + chunk.length));
      this.buf.copy(larger, 0, 0, this.len);
      this.buf = larger;
    }
    chunk.copy(this.buf, this.len);
    this.len += chunk.length;
  }

  private readRecords(): void {
    const { buf, lineByte } = this;
    for (;;) {
      if (!this.skipBlankLines()) return;
      const start = this.pos;
      const next = this.tokenize(start);
      if (next === NEED_MORE) return;
      if (next === UNTERMINATED) {
        this.unterminatedAtEnd();
        continue;
      }
      const breaks = this.innerBreaks;
      const terminated = buf[next - 1] === lineByte;
      const line = this.posLine;
      if (!this.isBlank()) {
        // One record object for every record (valid during the sink's call only): no garbage per row.
        const record = this.record;
        record.line = line;
        record.lineCount = breaks + 1;
        record.start = this.base + start;
        record.end = this.base + next;
        record.atEndWithoutNewline = this.ended && next === this.len && !terminated;
        if (this.sink.record(record) === true && breaks > 0) {
          // The sink gave the record up: its first line is quarantined, the lines after it read again.
          this.giveUpFirstLine(this.indexOfLineBreak(start, next) + 1, 'UNTERMINATED_QUOTE', RUNS_OVER_ROWS);
          continue;
        }
      }
      this.pos = next;
      this.posLine = line + breaks + (terminated ? 1 : 0);
    }
  }

  /** Moves past blank lines; false when the bytes held end before a record starts (or cannot tell yet). */
  private skipBlankLines(): boolean {
    const { buf, lineByte } = this;
    for (;;) {
      const p = this.pos;
      if (p >= this.len) return false;
      const c = buf[p];
      if (c === lineByte) {
        this.pos = p + 1;
        this.posLine++;
      } else if (c === CR && !this.crLines) {
        if (p + 1 >= this.len) {
          // A CR at the very end is text (a record of its own) unless an LF follows.
          return this.ended;
        }
        if (buf[p + 1] !== LF) return true;
        this.pos = p + 2;
        this.posLine++;
      } else return true;
    }
  }

  /** A record of one empty or white-space-only field is a blank line, not a row. */
  private isBlank(): boolean {
    const f = this.fields;
    if (f.count !== 1) return false;
    const buf = f.bufferOf(0);
    for (let i = f.start[0]!; i < f.end[0]!; i++) {
      const c = buf[i]!;
      if (c === 32 || (c >= 9 && c <= 13)) continue;
      // Beyond ASCII, JavaScript's idea of white space decides (a no-break space, ...).
      return c >= 0x80 && f.text(0).trim() === '';
    }
    return true;
  }

  /** Reports buf[pos, next) as a fault of its first line and reads on from `next`. */
  private giveUpFirstLine(next: number, reason: FaultReason, message: string): void {
    const rawBytes = this.bytes(this.base + this.pos, this.base + next);
    const line = this.posLine;
    this.pos = next;
    this.posLine = line + 1;
    this.sink.fault({ reason, line, rawBytes, message });
  }

  /**
   * A quote is still open at the end: the object was cut inside its last row (defect 4), whose
   * quoted text may span lines, or a quote opened by mistake ran on. Its first line is a fault;
   * the lines after it are read again only if some look like whole rows, else they go with it.
   */
  private unterminatedAtEnd(): void {
    const lineEnd = this.indexOfLineBreak(this.pos, this.len);
    const next = lineEnd === -1 ? this.len : lineEnd + 1;
    const width = this.rowWidth;
    if (width !== undefined && next < this.len && this.someLineIsARow(this.buf, next, this.len, width)) {
      this.giveUpFirstLine(next, 'UNTERMINATED_QUOTE', NEVER_CLOSED);
      return;
    }
    const endsWithLineBreak = this.buf[this.len - 1] === this.lineByte;
    const rawBytes = this.bytes(this.base + this.pos, this.base + this.len);
    const line = this.posLine;
    this.pos = this.len;
    this.sink.fault({ reason: endsWithLineBreak ? 'UNTERMINATED_QUOTE' : 'TRUNCATED_ROW', line, rawBytes, message: NEVER_CLOSED });
  }

  private indexOfLineBreak(from: number, to: number): number {
    return indexOf(this.buf, this.lineByte, from, to);
  }

  /** Whether a line of buf[from, to) has `width` fields (width - 1 delimiters, at least one). */
  private someLineIsARow(buf: Buffer, from: number, to: number, width: number): boolean {
    const d = this.delimiter;
    const lineByte = this.lineByte;
    const needed = Math.max(1, width - 1);
    let delimiters = 0;
    for (let i = from; i < to; i++) {
      const c = buf[i];
      if (c === d) {
        if (++delimiters >= needed) return true;
      } else if (c === lineByte) delimiters = 0;
    }
    return false;
  }

  /**
   * Tokenizes the record that starts at `pos` into this.fields; returns the offset past it (past
   * its line break), NEED_MORE when its end is not in the buffer yet, or UNTERMINATED when the
   * content ends inside a quote.
   */
  private tokenize(pos: number): number {
    const buf = this.buf;
    const len = this.len;
    const ended = this.ended;
    const d = this.delimiter;
    const crLines = this.crLines;
    const lineByte = this.lineByte;
    const f = this.fields;
    f.buf = buf;
    f.count = 0;
    f.sideUsed = 0;
    let breaks = 0;
    let p = pos;
    for (;;) {
      const i = f.push();
      f.inSide[i] = 0;
      f.quoted[i] = 0;
      if (p < len && buf[p] === QUOTE) {
        const contentStart = p + 1;
        let q = contentStart;
        let escaped = false;
        // The closing quote: one not doubled.
        for (;;) {
          if (q >= len) return ended ? UNTERMINATED : NEED_MORE;
          const c = buf[q]!;
          if (c === QUOTE) {
            if (q + 1 >= len) {
              if (!ended) return NEED_MORE;
              break;
            }
            if (buf[q + 1] !== QUOTE) break;
            escaped = true;
            q += 2;
            continue;
          }
          if (c <= CR) {
            // Bare-CR content: an LF inside quotes (a cell's line break, as spreadsheets write
            // it) is a line too, as an editor shows it.
            if (c === lineByte) breaks++;
            else if (crLines && c === LF && buf[q - 1] !== CR) breaks++;
          }
          q++;
        }
        const close = q;
        const after = close + 1;
        const n = after < len ? buf[after]! : -1;
        let endsHere = n === -1 || n === d || n === lineByte;
        if (!endsHere && n === CR && !crLines) {
          if (after + 1 >= len && !ended) return NEED_MORE;
          endsHere = after + 1 < len && buf[after + 1] === LF;
        }
        f.quoted[i] = 1;
        if (endsHere) {
          if (escaped) this.joinInto(f, i, contentStart, close, false, after, after);
          else {
            f.start[i] = contentStart;
            f.end[i] = close;
          }
          p = after;
        } else {
          // A quote followed by something else: csv-parse (relax_quotes) closes the quote and reads
          // on unquoted, keeping both quotes; before a NUL it closes and keeps neither.
          const tailEnd = this.unquotedEnd(after);
          if (tailEnd < 0) return tailEnd;
          if (n === 0) this.joinInto(f, i, contentStart, close, false, after, tailEnd);
          else if (escaped) this.joinInto(f, i, contentStart, close, true, close, tailEnd);
          else {
            // Exactly the bytes as written.
            f.start[i] = p;
            f.end[i] = tailEnd;
            f.quoted[i] = 0;
          }
          p = tailEnd;
        }
      } else {
        const fieldEnd = this.unquotedEnd(p);
        if (fieldEnd < 0) return fieldEnd;
        f.start[i] = p;
        f.end[i] = fieldEnd;
        p = fieldEnd;
      }
      // At the field's end: a delimiter, a line break, or the end of the content.
      if (p >= len) {
        if (!ended) return NEED_MORE;
        this.innerBreaks = breaks;
        return p;
      }
      if (buf[p] === d) {
        p++;
        if (p >= len && !ended) return NEED_MORE;
        continue;
      }
      this.innerBreaks = breaks;
      // The line break: one byte, or CRLF (a CR stops a field only when an LF follows).
      return buf[p] === lineByte ? p + 1 : p + 2;
    }
  }

  /** The end of an unquoted stretch from `p`: the delimiter or line break after it, or the end; NEED_MORE when undecided. */
  private unquotedEnd(p: number): number {
    const buf = this.buf;
    const len = this.len;
    const d = this.delimiter;
    const lineByte = this.lineByte;
    const crLines = this.crLines;
    for (; p < len; p++) {
      const c = buf[p];
      if (c === d || c === lineByte) return p;
      if (c === CR && !crLines) {
        if (p + 1 >= len) return this.ended ? len : NEED_MORE;
        if (buf[p + 1] === LF) return p;
      }
    }
    return this.ended ? len : NEED_MORE;
  }

  /**
   * Field i, in the side buffer: an opening quote when `openingQuote`, the quoted content
   * buf[from, to) with each doubled quote as one, then buf[tailFrom, tailTo) as written.
   */
  private joinInto(f: RecordFields, i: number, from: number, to: number, openingQuote: boolean, tailFrom: number, tailTo: number): void {
    const side = f.reserveSide(to - from + (tailTo - tailFrom) + 1);
    const start = f.sideUsed;
    let w = start;
    const buf = this.buf;
    if (openingQuote) side[w++] = QUOTE;
    for (let r = from; r < to; r++) {
      const c = buf[r]!;
      side[w++] = c;
      if (c === QUOTE) r++; // the second of a doubled quote
    }
    w += buf.copy(side, w, tailFrom, tailTo);
    f.inSide[i] = 1;
    f.start[i] = start;
    f.end[i] = w;
    f.sideUsed = w;
  }
}

/** indexOf of a byte in buf[from, to). */
function indexOf(buf: Buffer, byte: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (buf[i] === byte) return i;
  return -1;
}
