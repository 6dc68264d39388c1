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

/**
 * Tables whose rows of new keys are copied into them directly: COPY inserts rows in bulk, several
 * times cheaper for Postgres than an upsert each (its multi-insert, one WAL record per page). A
 * key is new when the table has no row of its first key column (for parts, the task; for notes,
 * the service request): the reader asks (existingFirstKeys) just before it copies. Customers are
 * left out: every export repeats them, so loads that run at once would insert the same new ones.
 * Another load may still insert one of the keys between the question and the COPY: the COPY then
 * fails (unique_violation, or a deadlock) and pipeline/file.ts loads the batch again merging
 * everything.
 */
export const DIRECT_TABLES: ReadonlySet<string> = new Set(['service_requests', 'tasks', 'parts_used', 'sr_notes']);

/** The COPY of a target table's rows of new keys, in the encoder's field order. */
function directCopySql(table: TargetTable): string {
  return `COPY ${table.name} (source_line, source_object, source_modified, ${stagedColumns(table).join(', ')}) FROM STDIN (FORMAT binary)`;
}

/**
 * Of `keys` (ids joined by commas: the first key columns are digits), those the table has rows of
 * as its first key column, joined the same way: one round trip, and one value each way rather
 * than an array of tens of thousands; the index on the key serves it. SQL from constants only:
 * the table comes from TARGET_TABLES.
 */
export async function existingFirstKeys(client: ClientBase, tableName: string, keys: string): Promise<string> {
  const table = TARGET_TABLES.find((candidate) => candidate.name === tableName);
  if (!table || !DIRECT_TABLES.has(tableName)) throw new Error(`existingFirstKeys: ${tableName} takes no rows directly`);
  if (keys === '') return '';
  const first = table.key[0]!;
  const found = await client.query<{ keys: string | null }>(`SELECT string_agg(DISTINCT ${first}, ',') AS keys FROM ${table.name} WHERE ${first} = ANY (string_to_array($1, ','))`, [keys]);
  return found.rows[0]?.keys ?? '';
}

/**
 * The DIRECT_TABLES that have no row at all (asked when a run starts): for those, a key is new
 * exactly when no load of the run had it before, and they need not be asked about keys
 * (read/stage-encoder.ts, NewKeyClaims).
 */
export async function emptyDirectTables(client: ClientBase): Promise<string[]> {
  const tables = [...DIRECT_TABLES];
  const { rows } = await client.query<Record<string, boolean>>(`SELECT ${tables.map((table) => `NOT EXISTS (SELECT 1 FROM ${table}) AS ${table}`).join(', ')}`);
  return tables.filter((table) => rows[0]![table] === true);
}

/** Whether an error of a COPY into a target table says another load inserted one of its new keys first. */
export function lostToAnotherLoad(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code === '23505' || code === '40P01';
}

/**
 * The COPY statement of each staging table, and of each target table that takes rows of new keys
 * directly (by its name): binary, read/stage-encoder.ts writes the records.
 */
export const COPY_SQL: Readonly<Record<string, string>> = Object.fromEntries([
  [EXTRAS_STAGE, `COPY ${EXTRAS_STAGE} (${EXTRAS_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`],
  ...TARGET_TABLES.map((table) => [stageOf(table), `COPY ${stageOf(table)} (line_number, object_index, ${stagedColumns(table).join(', ')}) FROM STDIN (FORMAT binary)`]),
  ...TARGET_TABLES.filter((table) => DIRECT_TABLES.has(table.name)).map((table) => [table.name, directCopySql(table)]),
]);

/** What starts and ends every binary COPY stream: the signature, no flags, no header extension; a field count of -1. */
export const BINARY_COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
export const BINARY_COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** Which etl_stage records are quarantined rows and which are value issues (used in SQL). */
export const QUARANTINED_ROW = "record_kind = 'q'";
export const VALUE_ISSUES = "record_kind = 'i'";

/**
 * The record Postgres refused during a COPY, from its error ("COPY etl_stage_tasks, line 17": the
 * 17th record of that COPY, of a staging table or of a target table taking rows directly);
 * undefined for other errors. Data errors only (classes 22, 23, 54): what a value can cause.
 */
const COPY_CONTEXT = new RegExp(`COPY (${EXTRAS_STAGE}\\w*|${TARGET_TABLES.map((table) => table.name).join('|')}), line (\\d+)`);

export function refusedRecord(error: unknown): { stage: string; record: number } | undefined {
  const err = error as { code?: string; where?: string } | undefined;
  if (!err?.code || !/^(22|23|54)/.test(err.code)) return undefined;
  const match = COPY_CONTEXT.exec(err.where ?? '');
  if (!match) return undefined;
  return { stage: match[1]!, record: Number(match[2]) };
}
