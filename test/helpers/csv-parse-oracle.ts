// csv-parse, the loader's CSV parser before src/read/csv-reader.ts replaced it on the hot path,
// kept as the test oracle for that reader (test/csv-reader-oracle.test.ts) and as the parser
// floor the bench compares with (bench/parse-floor.ts): the options the loader read exports with.
import { Parser, type Options } from 'csv-parse';
import type { Dialect } from '../../src/read/csv-reader.ts';

export const CSV_PARSE_OPTIONS: Options = {
  // Stray quotes inside unquoted fields are kept as text (spec defect 2).
  relax_quotes: true,
  // Field counts are judged by the row rules (short rows, defect-1 repair), not the parser.
  relax_column_count: true,
  record_delimiter: ['\r\n', '\n'],
  skip_empty_lines: true,
};

/** The same options for another dialect (delimiter, bare-CR line breaks). */
export function csvParseOptions(dialect?: Dialect): Options {
  if (!dialect) return CSV_PARSE_OPTIONS;
  return { ...CSV_PARSE_OPTIONS, delimiter: String.fromCharCode(dialect.delimiter), record_delimiter: dialect.lineBreak === 'cr' ? ['\r'] : ['\r\n', '\n'] };
}

/** csv-parse's records of the bytes, and whether it ended inside a quote (CSV_QUOTE_NOT_CLOSED). */
export function csvParseRecords(bytes: Buffer, dialect?: Dialect): { records: string[][]; unterminated: boolean } {
  const records: string[][] = [];
  const parser = new Parser({ ...csvParseOptions(dialect), on_record: (record: string[]) => {
    records.push(record);
    return null;
  } });
  parser.on('error', () => {}); // read synchronously below
  parser.write(bytes);
  parser.end();
  const error = parser.errored as (Error & { code?: string }) | null;
  if (error && error.code !== 'CSV_QUOTE_NOT_CLOSED') throw error;
  return { records, unterminated: error !== null };
}
