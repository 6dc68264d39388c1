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
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One line of COPY text format: tab-separated, \N for NULL, backslash escapes. */
export function copyLine(line: number, values: readonly (string | null)[]): string {
  let out = String(line);
  for (const value of values) {
    out += '\t';
    if (value === null) out += '\\N';
    else out += NEEDS_ESCAPE.test(value) ? value.replace(/[\\\n\r\t]/g, (c) => ESCAPES[c]!) : value;
  }
  return out + '\n';
}
