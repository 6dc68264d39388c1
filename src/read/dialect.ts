// How an object's lines and fields are separated, decided once per object from its header line
// (spec, "Objects"): an export saved again by a spreadsheet may end its lines with a bare CR
// (Excel's "CSV (Macintosh)") and separate its fields with `;` (Excel in most European locales),
// a tab ("Unicode Text") or `|`. The delimiter is the one under which the header names the export's
// columns, SR Number among them; the line break is the one that ends the header line.
import { columnForHeader, EXPORT_COLUMNS } from '../model/export.ts';
import { CsvReader, type Dialect } from './csv-reader.ts';

const CR = 13;
const LF = 10;
const QUOTE = 34;

export const DELIMITERS: ReadonlyArray<{ byte: number; name: string }> = [
  { byte: 0x2c, name: "','" },
  { byte: 0x3b, name: "';'" },
  { byte: 0x09, name: 'tab' },
  { byte: 0x7c, name: "'|'" },
];

/** How the object's lines and fields are separated, in words for the ledger and the log line. */
export function describeDialect(dialect: Dialect): { delimiter: string; lineBreak: string } {
  return { delimiter: DELIMITERS.find((candidate) => candidate.byte === dialect.delimiter)?.name.replaceAll("'", '') ?? '?', lineBreak: dialect.lineBreak === 'cr' ? 'CR' : 'LF' };
}

/** The object's layout cannot be read (not its header's content): the sentence says what it looks like. */
export class UnreadableLayoutError extends Error {
  override name = 'UnreadableLayoutError';
  readonly code = 'CSV_LAYOUT';
}

const REQUIRED = EXPORT_COLUMNS.filter((column) => column.required);

/**
 * The dialect of content (UTF-8, BOM dropped) whose first `head` bytes are given; undefined when
 * the header line does not end within them and more may come (`ended` false). Throws
 * UnreadableLayoutError when no line break comes within `maxBytes`, when the header line looks like
 * UTF-16 without a byte-order mark, and when two delimiters read the header equally well.
 */
export function detectDialect(head: Buffer, ended: boolean, maxBytes: number): Dialect | undefined {
  let start = 0;
  while (start < head.length && (head[start] === LF || head[start] === CR)) start++;
  let end = -1;
  let quoted = false;
  for (let i = start; i < head.length; i++) {
    const c = head[i];
    if (c === QUOTE) quoted = !quoted;
    else if (!quoted && (c === LF || c === CR)) {
      end = i;
      break;
    }
  }
  if (end === -1) {
    if (!ended) {
      if (head.length - start > maxBytes) {
        throw new UnreadableLayoutError(`the object has no line break in its first ${maxBytes} bytes (max_record_bytes), so it has no header line to read; it is not a CSV export`);
      }
      return undefined;
    }
    end = head.length;
  }
  let lineBreak: Dialect['lineBreak'] = 'lf';
  if (head[end] === CR) {
    if (end + 1 >= head.length && !ended) return undefined;
    // CRLF ends lines, or a CR alone does (also the last byte of an object of one line).
    if (end + 1 >= head.length || head[end + 1] !== LF) lineBreak = 'cr';
  }
  const line = head.subarray(start, end);
  let zeros = 0;
  for (const byte of line) if (byte === 0) zeros++;
  if (line.length >= 8 && zeros * 4 >= line.length) {
    throw new UnreadableLayoutError(
      `the object looks like UTF-16 without a byte-order mark (${zeros} of the ${line.length} bytes of its header line are 0); save it as UTF-8, or as UTF-16 with its byte-order mark`,
    );
  }
  const readings = DELIMITERS.map((delimiter) => ({ delimiter, ...reading(line, { delimiter: delimiter.byte, lineBreak }) }));
  const complete = readings.filter((candidate) => candidate.required).sort((a, b) => b.known - a.known);
  if (complete.length === 0) {
    // No delimiter names SR Number: the header lacks it (layout.ts says so); read as the
    // delimiter under which it names the most columns, which that message shows.
    const best = [...readings].sort((a, b) => b.known - a.known)[0]!;
    return { delimiter: best.known > 0 ? best.delimiter.byte : DELIMITERS[0]!.byte, lineBreak };
  }
  if (complete.length > 1 && complete[1]!.known === complete[0]!.known) {
    throw new UnreadableLayoutError(
      `the header line reads as the export's header both with ${complete[0]!.delimiter.name} and with ${complete[1]!.delimiter.name} as the delimiter (${complete[0]!.known} columns each); save the export with one delimiter that no column name holds`,
    );
  }
  return { delimiter: complete[0]!.delimiter.byte, lineBreak };
}

/** How the header line reads with a dialect: export columns it names, and whether the required ones are among them. */
function reading(line: Buffer, dialect: Dialect): { known: number; required: boolean } {
  let fields: string[] = [];
  const reader = new CsvReader({ record: (record) => void (fields = record.fields.texts()), fault: () => {} }, { maxRecordBytes: line.length + 1, dialect });
  reader.push(line);
  reader.end();
  const columns = new Set(fields.map((name) => columnForHeader(name)).filter((column) => column !== undefined));
  return { known: columns.size, required: REQUIRED.every((column) => columns.has(column)) };
}
