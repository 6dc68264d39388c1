// One export object read end to end: bytes -> records -> header layout -> rows or rejects.
import type { Readable } from 'node:stream';
import { detectEncoding, inflated, utf8Content, type Encoding } from './decode.ts';
import { layoutFromHeader, type Layout } from './layout.ts';
import { CsvRecordReader, type CsvRecord } from './records.ts';
import { shapeRow, type RejectReason, type ValueIssue } from './rows.ts';

export type ReadEvent =
  | { readonly type: 'header'; readonly layout: Layout; readonly encoding: Encoding; readonly line: number }
  | {
      readonly type: 'row';
      readonly line: number;
      readonly values: (string | null)[];
      readonly issues: ValueIssue[];
      readonly repairedColumn?: string;
    }
  | { readonly type: 'reject'; readonly line: number; readonly raw: string; readonly reason: RejectReason; readonly detail: string };

export interface ReadExportOptions {
  maxRecordBytes?: number;
  /**
   * The source omits the line break after the last row: a complete last row without one loads.
   * By default it is quarantined as TRUNCATED_ROW (spec, defect 4: the exporter ends every row with
   * a line break, so a last row without one was cut, even when it has every field).
   */
  sourceOmitsFinalNewline?: boolean;
}

const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * Reads an object. `open` is called twice: once to tell UTF-8 from Windows-1252 (the whole
 * object must be seen for that), once to parse. Throws MissingRequiredColumnsError.
 */
export async function* readExport(open: () => Promise<Readable>, options: ReadExportOptions = {}): AsyncGenerator<ReadEvent> {
  const encoding = await detectEncoding(inflated(await open()));
  let truncated = false; // the gzip stream was cut short
  const reader = new CsvRecordReader(utf8Content(inflated(await open(), () => (truncated = true)), encoding), {
    maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
  });
  let layout: Layout | undefined;
  for await (const item of reader.records()) {
    if (item.kind === 'fault') {
      yield { type: 'reject', line: item.line, raw: item.raw, reason: item.reason, detail: item.message };
      continue;
    }
    if (!layout) {
      layout = layoutFromHeader(item.fields);
      const commas = Math.max(1, layout.width - 1); // a whole row: as many fields as the header
      reader.looksLikeRow = (line) => countCommas(line) >= commas;
      yield { type: 'header', layout, encoding, line: item.line };
      continue;
    }
    const outcome = shapeRow(layout, item.fields);
    if (item.atEndWithoutNewline && (truncated || !options.sourceOmitsFinalNewline)) {
      // Defect 4: the object ends inside this row, however many fields it has (a last field cut
      // short still parses). Only a quote opened by mistake that ran over whole rows is split.
      if (!outcome.ok && item.lineCount > 1 && swallowsRows(item, layout.width)) {
        const first = reader.splitFirstLine(item);
        yield { type: 'reject', line: first.line, raw: first.raw, reason: 'UNTERMINATED_QUOTE', detail: 'a quote opened on this line runs over the following rows' };
        continue;
      }
      const detail = truncated ? 'the gzip stream ends inside this row' : 'the object ends without a line break after this row, so the row was cut';
      yield { type: 'reject', line: item.line, raw: reader.text(item.start, item.end), reason: 'TRUNCATED_ROW', detail };
      continue;
    }
    if (outcome.ok) {
      yield outcome.repairedColumn === undefined
        ? { type: 'row', line: item.line, values: outcome.values, issues: outcome.issues }
        : { type: 'row', line: item.line, values: outcome.values, issues: outcome.issues, repairedColumn: outcome.repairedColumn };
      continue;
    }
    if (item.lineCount > 1 && swallowsRows(item, layout.width)) {
      // A quote opened by mistake ran over whole rows: quarantine the line that opened it and
      // read the swallowed lines again as rows.
      const first = reader.splitFirstLine(item);
      yield { type: 'reject', line: first.line, raw: first.raw, reason: 'UNTERMINATED_QUOTE', detail: 'a quote opened on this line runs over the following rows' };
      continue;
    }
    const reason: RejectReason = item.atEndWithoutNewline && outcome.reason === 'SHORT_ROW' ? 'TRUNCATED_ROW' : outcome.reason;
    yield { type: 'reject', line: item.line, raw: reader.text(item.start, item.end), reason, detail: outcome.detail };
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
