// Pure reading helpers: run readExport over bytes held in memory, and build export lines.
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { EXPORT_COLUMNS } from '../../src/model/export.ts';
import { readExport, type ReadEvent, type ReadExportOptions } from '../../src/read/export-reader.ts';
import { CsvReader, type CsvFault, type Dialect } from '../../src/read/csv-reader.ts';

export type RowEvent = Extract<ReadEvent, { type: 'row' }>;
export type RejectEvent = Extract<ReadEvent, { type: 'reject' }>;
export type HeaderEvent = Extract<ReadEvent, { type: 'header' }>;

export interface ReadResult {
  header: HeaderEvent | undefined;
  rows: RowEvent[];
  rejects: RejectEvent[];
  events: ReadEvent[];
}

/** Splits bytes into chunks of `size` (to exercise chunk boundaries); Infinity = one chunk. */
export function chunked(bytes: Buffer, size: number): Buffer[] {
  if (!Number.isFinite(size) || size >= bytes.length) return bytes.length === 0 ? [] : [bytes];
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

export interface ReadBufferOptions extends ReadExportOptions {
  /** Size of the chunks the stream delivers (default: one chunk). */
  chunkSize?: number;
}

/** All events readExport yields for an object whose bytes are `bytes`. */
export async function readBuffer(bytes: Buffer | string, options: ReadBufferOptions = {}): Promise<ReadResult> {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const { chunkSize = Infinity, ...readOptions } = options;
  const open = async () => Readable.from(chunked(buffer, chunkSize), { objectMode: false });
  const events: ReadEvent[] = [];
  for await (const event of readExport(open, readOptions)) events.push(event);
  return {
    header: events.find((event): event is HeaderEvent => event.type === 'header'),
    rows: events.filter((event): event is RowEvent => event.type === 'row'),
    rejects: events.filter((event): event is RejectEvent => event.type === 'reject'),
    events,
  };
}

/** A record as the CSV reader gave it, its fields as text. */
export interface RecordRead {
  readonly kind: 'record';
  readonly fields: string[];
  readonly line: number;
  readonly lineCount: number;
  readonly atEndWithoutNewline: boolean;
}

export type FaultRead = CsvFault & { readonly kind: 'fault' };

/** All records and faults the CSV reader gives for UTF-8 bytes, fed in chunks of `chunkSize`. */
export function readRecords(bytes: Buffer | string, chunkSize = Infinity, maxRecordBytes = 1 << 20, dialect?: Dialect): Array<RecordRead | FaultRead> {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const out: Array<RecordRead | FaultRead> = [];
  const reader = new CsvReader(
    {
      record: (record) => {
        out.push({ kind: 'record', fields: record.fields.texts(), line: record.line, lineCount: record.lineCount, atEndWithoutNewline: record.atEndWithoutNewline });
      },
      fault: (fault) => out.push({ kind: 'fault', ...fault }),
    },
    { maxRecordBytes, ...(dialect ? { dialect } : {}) },
  );
  for (const chunk of chunked(buffer, chunkSize)) reader.push(chunk);
  reader.end();
  return out;
}

export const HEADERS: readonly string[] = EXPORT_COLUMNS.map((column) => column.header);
export const FIELDS: readonly string[] = EXPORT_COLUMNS.map((column) => column.field);

/** A row's values by field name (snake_case), from a row event. */
export function valuesByField(row: RowEvent): Record<string, string | null> {
  return Object.fromEntries(FIELDS.map((field, index) => [field, row.values[index] ?? null]));
}

/** A typical valid row, by canonical header (every field fits its kind). */
export function sampleRow(overrides: Record<string, string> = {}): Record<string, string> {
  const row: Record<string, string> = {
    'SR Number': '1000001',
    'SR Type': 'Break/Fix',
    'SR Status': 'Closed',
    Severity: '2',
    'Created Date': '2023-04-05 13:22:10',
    'Closed Date': '2023-04-06 09:00:00',
    'Problem Code': 'HW',
    'Resolution Code': 'REPLACED',
    'SR Summary': 'Printer jam',
    'Account Number': '0001234567',
    'Customer Name': 'Acme Stores',
    'Site City': 'Durham',
    'Site State': 'NC',
    'Site Postal Code': '27701',
    'Site Country': 'US',
    Product: 'TCx 810',
    'Serial Number': 'SN12345',
    'Task Number': '5000001',
    'Task Type': 'Onsite',
    'Task Status': 'Complete',
    'Assigned Technician': 'J Smith',
    'Scheduled Start': '2023-04-05 15:00:00',
    'Actual End': '2023-04-05 17:30:00',
    'Part Number': 'PN4711',
    'Part Description': 'Print head',
    'Quantity Used': '1',
    'Note Type': 'Resolution',
    'Note Date': '2023-04-05 17:31:00',
    'Note Text': 'Replaced head',
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in row)) throw new Error(`sampleRow: unknown column ${key}`);
    row[key] = value;
  }
  return row;
}

/** Quotes a field when CSV needs it. */
export function quote(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * One CSV line of `row` in the order of `headers`; headers that are no export column take their
 * value from `extras`. Fields named in `unquoted` are written as they are (defect 1), others are
 * quoted when needed.
 */
export function csvLine(
  headers: readonly string[],
  row: Record<string, string>,
  options: { unquoted?: readonly string[]; extras?: Record<string, string> } = {},
): string {
  return headers
    .map((header) => {
      const value = header in row ? row[header]! : (options.extras?.[header] ?? '');
      return options.unquoted?.includes(header) ? value : quote(value);
    })
    .join(',');
}

/** The gzip of a text or bytes. */
export function gzip(content: string | Buffer): Buffer {
  return gzipSync(typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
}

/** Values a row event should carry for a sample row (by field name), given how each kind is stored. */
export function expectedValues(row: Record<string, string>): Record<string, string | null> {
  return Object.fromEntries(EXPORT_COLUMNS.map((column) => [column.field, row[column.header] === '' ? null : row[column.header]!]));
}
