// The per-session staging tables and the COPY statements that fill them.
//
// COPY has no ON CONFLICT, so a batch's rows go into temporary tables first and are merged from
// there: one narrow table per target table (etl_stage_customers, ...), holding that table's
// columns, and etl_stage for what is kept besides: quarantined rows ('q': raw bytes, readable
// text, reason, detail) and the value issues of loaded rows ('i': one per value). Every record
// carries its data row's line and the read attempt it came from (`object_index`: which object of
// the batch, load/merge.ts and load/quarantine.ts map it to the object's key). The parse worker
// writes the records in Postgres's binary COPY format (read/stage-encoder.ts), so the column
// types here are that encoder's contract.
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

/** Memory a load's session may use for its staging tables and for each sort of a merge. */
const STAGE_MEMORY = '64MB';

/** etl_stage's columns, in the order the encoder writes them. */
export const EXTRAS_COLUMNS = ['record_kind', 'object_index', 'line_number', 'issue_column', 'issue_value', 'raw', 'raw_text', 'reason', 'detail'] as const;

/** The staging table of a target table. */
export function stageOf(table: TargetTable): string {
  return `etl_stage_${table.name}`;
}

/** A target table's columns in staging order: its key, then its other columns. */
export function stagedColumns(table: TargetTable): string[] {
  return [...table.key, ...table.columns];
}

const sqlType = (field: string) => SQL_TYPE[EXPORT_COLUMNS[valueIndex(field)]!.kind];

// Rows vanish at commit; a rollback drops them too. Created once per session, after the two
// settings a batch needs: a batch's staging rows (tens of MiB) in memory instead of Postgres's
// default 8 MB of temporary buffers, whose overflow goes to disk, and the merges' sorts in memory
// instead of the default 4 MB (which spilled to temporary files). temp_buffers cannot change once
// the session used a temporary table: setting it again to the same value is allowed.
const CREATE_STAGES_SQL = [
  `SET temp_buffers = '${STAGE_MEMORY}'`,
  `SET work_mem = '${STAGE_MEMORY}'`,
  `CREATE TEMPORARY TABLE IF NOT EXISTS ${EXTRAS_STAGE} (
  record_kind  "char" NOT NULL,
  object_index integer NOT NULL,
  line_number  integer NOT NULL,
  issue_column text,
  issue_value  text,
  raw          bytea,
  raw_text     text,
  reason       text,
  detail       text
) ON COMMIT DELETE ROWS`,
  ...TARGET_TABLES.map(
    (table) => `CREATE TEMPORARY TABLE IF NOT EXISTS ${stageOf(table)} (
  line_number  integer NOT NULL,
  object_index integer NOT NULL,
  ${stagedColumns(table).map((field) => `${field} ${sqlType(field)}`).join(',\n  ')}
) ON COMMIT DELETE ROWS`,
  ),
].join(';\n');

/** The session's staging tables (created once per session, in one round trip; emptied at every commit). */
export async function createStage(client: ClientBase): Promise<void> {
  await client.query(CREATE_STAGES_SQL);
}

/** The COPY statement of each staging table (binary: read/stage-encoder.ts writes the records). */
export const COPY_SQL: Readonly<Record<string, string>> = Object.fromEntries([
  [EXTRAS_STAGE, `COPY ${EXTRAS_STAGE} (${EXTRAS_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`],
  ...TARGET_TABLES.map((table) => [stageOf(table), `COPY ${stageOf(table)} (line_number, object_index, ${stagedColumns(table).join(', ')}) FROM STDIN (FORMAT binary)`]),
]);

/** What starts and ends every binary COPY stream: the signature, no flags, no header extension; a field count of -1. */
export const BINARY_COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
export const BINARY_COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** Which etl_stage records are quarantined rows and which are value issues (used in SQL). */
export const QUARANTINED_ROW = "record_kind = 'q'";
export const VALUE_ISSUES = "record_kind = 'i'";

/**
 * The staging record Postgres refused during a COPY, from its error ("COPY etl_stage_tasks, line
 * 17": the 17th record of that COPY); undefined for other errors. Data errors only (classes 22,
 * 23, 54): what a value can cause.
 */
export function refusedRecord(error: unknown): { stage: string; record: number } | undefined {
  const err = error as { code?: string; where?: string } | undefined;
  if (!err?.code || !/^(22|23|54)/.test(err.code)) return undefined;
  const match = /COPY (etl_stage\w*), line (\d+)/.exec(err.where ?? '');
  if (!match) return undefined;
  return { stage: match[1]!, record: Number(match[2]) };
}
