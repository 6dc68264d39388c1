// What the commands ask the database (`etl status`, `rejects`, `check`, `demo`, `why`, and the
// failed-files log of a run): every statement here, none built from data. Table and column names
// come from the model's constants (target-tables.ts); every value is a parameter.
import type { ClientBase } from 'pg';
import { TARGET_TABLES, type TargetTable } from './target-tables.ts';

export interface FilesOfStatus {
  status: string;
  files: number;
  rows_read: number;
  rows_loaded: number;
  rows_quarantined: number;
}

/** `etl demo`: its database in the embedded server, once (the name is a constant, never data). */
export async function createDemoDatabase(client: ClientBase): Promise<void> {
  const exists = (await client.query(`SELECT 1 FROM pg_database WHERE datname = 'etl_demo'`)).rowCount;
  if (!exists) await client.query('CREATE DATABASE etl_demo');
}

/** `etl check`: the server's version. */
export async function serverVersion(client: ClientBase): Promise<string> {
  return (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
}

/** `etl status`: files and their row accounts per ledger status. */
export async function filesByStatus(client: ClientBase): Promise<FilesOfStatus[]> {
  const { rows } = await client.query<FilesOfStatus>(
    `SELECT status, count(*) AS files, coalesce(sum(rows_read), 0) AS rows_read, coalesce(sum(rows_loaded), 0) AS rows_loaded,
            coalesce(sum(rows_quarantined), 0) AS rows_quarantined
     FROM etl_files GROUP BY status ORDER BY status`,
  );
  return rows;
}

/** Rows in each of the five tables. */
export async function tableCounts(client: ClientBase): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TARGET_TABLES) counts[table.name] = (await client.query<{ n: number }>(`SELECT count(*) AS n FROM ${table.name}`)).rows[0]!.n;
  return counts;
}

export interface FailedFile {
  object_key: string;
  version: string;
  error_class: string | null;
  error_message: string | null;
  attempts: number;
  first_seen_at: Date;
  last_failed_at: Date;
  next_attempt_at: Date | null;
}

/** The objects failed in the ledger: `etl status`'s list and the run's failed_files_log.json. */
export async function failedFiles(client: ClientBase): Promise<FailedFile[]> {
  const { rows } = await client.query<FailedFile>(
    `SELECT object_key, version, error_class, error_message, attempts, first_seen_at, updated_at AS last_failed_at, next_attempt_at
     FROM etl_files WHERE status = 'failed' ORDER BY object_key`,
  );
  return rows;
}

export interface LastRun {
  run_id: string;
  started_at: Date;
  finished_at: Date | null;
  status: string;
  trace_id: string | null;
  /** The summary's file and row counts. */
  files: unknown;
  rows: unknown;
}

/** The latest run row, with its summary's counts. */
export async function lastRun(client: ClientBase): Promise<LastRun | null> {
  const { rows } = await client.query<LastRun>(
    `SELECT run_id, started_at, finished_at, status, trace_id, summary->'files' AS files, summary->'rows' AS rows FROM etl_runs ORDER BY started_at DESC LIMIT 1`,
  );
  return rows[0] ?? null;
}

export interface QuarantinedRow {
  object_key: string;
  version: string;
  line_number: number;
  reason: string;
  detail: string | null;
  raw: string;
  raw_bytes: Buffer;
  /** Of the object, as the ledger has it: how raw_bytes read as text. */
  encoding: string | null;
}

/** `etl rejects`: quarantined rows (of one object, of one reason), by object and line; and how many match in all. */
export async function quarantinedRows(client: ClientBase, filter: { object?: string; reason?: string }, limit: number): Promise<{ rows: QuarantinedRow[]; total: number }> {
  const params = [filter.object ?? null, filter.reason ?? null];
  const { rows } = await client.query<QuarantinedRow>(
    `SELECT r.object_key, r.version, r.line_number, r.reason, r.detail, r.raw, r.raw_bytes, f.encoding
     FROM etl_rejects r LEFT JOIN etl_files f USING (object_key)
     WHERE ($1::text IS NULL OR r.object_key = $1) AND ($2::text IS NULL OR r.reason = $2)
     ORDER BY r.object_key, r.line_number LIMIT $3`,
    [...params, limit],
  );
  const total = (
    await client.query<{ n: number }>(`SELECT count(*) AS n FROM etl_rejects WHERE ($1::text IS NULL OR object_key = $1) AND ($2::text IS NULL OR reason = $2)`, params)
  ).rows[0]!.n;
  return { rows, total };
}

/** Quarantined rows per reason. */
export async function quarantinedByReason(client: ClientBase): Promise<Array<{ reason: string; n: number }>> {
  return (await client.query<{ reason: string; n: number }>(`SELECT reason, count(*) AS n FROM etl_rejects GROUP BY reason ORDER BY reason`)).rows;
}

/** The first rows of a table by key: its key and first columns (the demo's glance). */
export async function tableSample(client: ClientBase, table: TargetTable, rows: number): Promise<Array<Record<string, unknown>>> {
  const columns = [...table.key, ...table.columns.slice(0, 3)];
  return (await client.query(`SELECT ${columns.join(', ')} FROM ${table.name} ORDER BY ${table.key.join(', ')} LIMIT $1`, [rows])).rows;
}

// ---- etl why ----------------------------------------------------------------------------------

/** A key as `etl why` takes it: one value per key column, null where the column is NULL. */
export type KeyValues = ReadonlyArray<string | null>;

/** Key columns that are not text. */
const KEY_TYPES: Record<string, string> = { note_date: 'timestamp' };

/**
 * The WHERE clause that finds a key: `=` for a value (so the key's index serves it), `IS NULL`
 * for a NULL (sr_notes' key may hold NULLs: NULLS NOT DISTINCT); note_text through note_hash, the
 * column the unique constraint indexes. Built from constants; values are parameters from $first.
 */
function keyPredicate(table: TargetTable, key: KeyValues, first = 1): { where: string; params: Array<string> } {
  const parts: string[] = [];
  const params: string[] = [];
  table.key.forEach((column, at) => {
    const value = key[at] ?? null;
    if (value === null) {
      parts.push(`${column} IS NULL`);
      return;
    }
    params.push(value);
    const placeholder = `$${first + params.length - 1}`;
    if (column === 'note_text') parts.push(`note_hash = md5(${placeholder}::text) AND note_text = ${placeholder}::text`);
    else parts.push(`${column} = ${placeholder}::${KEY_TYPES[column] ?? 'text'}`);
  });
  return { where: parts.join(' AND '), params };
}

/** The row of a table with this key, as loaded (its lineage columns included), or undefined. */
export async function rowByKey(client: ClientBase, table: TargetTable, key: KeyValues): Promise<Record<string, unknown> | undefined> {
  const { where, params } = keyPredicate(table, key);
  const columns = [...table.key, ...table.columns, 'source_object', 'source_modified', 'source_line', 'loaded_at'];
  return (await client.query(`SELECT ${columns.join(', ')} FROM ${table.name} WHERE ${where}`, params)).rows[0];
}

export interface ObjectLoad {
  object_key: string;
  status: string;
  version: string;
  loaded_version: string | null;
  last_modified: Date;
  loaded_at: Date | null;
  encoding: string | null;
  delimiter: string | null;
  line_break: string | null;
}

/** The ledger rows of these objects. */
export async function objectLoads(client: ClientBase, keys: readonly string[]): Promise<ObjectLoad[]> {
  const { rows } = await client.query<ObjectLoad>(
    `SELECT object_key, status, version, loaded_version, last_modified, loaded_at, encoding, delimiter, line_break
     FROM etl_files WHERE object_key = ANY($1::text[]) ORDER BY last_modified DESC, object_key COLLATE "C" DESC`,
    [keys],
  );
  return rows;
}

export interface RunOfLoad {
  run_id: string;
  trace_id: string | null;
  started_at: Date;
  finished_at: Date | null;
  status: string;
}

/**
 * The run that wrote a row: a row's loaded_at is its transaction's time, inside its run's
 * (runs take turns on the run lock, so one run holds that time).
 */
export async function runAt(client: ClientBase, loadedAt: Date): Promise<RunOfLoad | undefined> {
  const { rows } = await client.query<RunOfLoad>(
    `SELECT run_id, trace_id, started_at, finished_at, status FROM etl_runs
     WHERE started_at <= $1 AND (finished_at IS NULL OR finished_at >= $1) ORDER BY started_at DESC LIMIT 1`,
    [loadedAt],
  );
  return rows[0];
}

export interface KeySighting {
  object_key: string;
  line: number;
  /** The table whose row shows that this object's line carried the key. */
  via: string;
}

/**
 * Other lines that carried the key, where the tables can tell: every export row carries its
 * SR Number and Account Number, so a task or note of an SR, or an SR of a customer, shows an
 * object and a line that held that key too (its own row of this table lost, or was the same).
 */
export async function keySightings(client: ClientBase, table: TargetTable, key: KeyValues): Promise<KeySighting[]> {
  const [value] = key;
  if (value === null || value === undefined) return [];
  const sql: Record<string, string> = {
    customers: `SELECT source_object AS object_key, source_line AS line, 'service_requests' AS via FROM service_requests WHERE account_number = $1`,
    service_requests: `SELECT source_object AS object_key, source_line AS line, 'tasks' AS via FROM tasks WHERE sr_number = $1
                       UNION ALL SELECT source_object, source_line, 'sr_notes' FROM sr_notes WHERE sr_number = $1`,
    tasks: `SELECT source_object AS object_key, source_line AS line, 'parts_used' AS via FROM parts_used WHERE task_number = $1`,
  };
  const query = sql[table.name];
  if (!query) return [];
  return (await client.query<KeySighting>(`${query} ORDER BY 1, 2 LIMIT 1000`, [value])).rows;
}

/**
 * Quarantined rows that hold the key's values in their text (a row that could not be loaded has
 * no columns to match: its raw text is searched for every key value that is not a date).
 */
export async function quarantinedWithKey(client: ClientBase, table: TargetTable, key: KeyValues, limit = 100): Promise<QuarantinedRow[]> {
  const values = table.key.map((column, at) => (KEY_TYPES[column] ? null : (key[at] ?? null))).filter((value): value is string => value !== null && value !== '');
  if (values.length === 0) return [];
  const { rows } = await client.query<QuarantinedRow>(
    `SELECT r.object_key, r.version, r.line_number, r.reason, r.detail, r.raw, r.raw_bytes, f.encoding
     FROM etl_rejects r LEFT JOIN etl_files f USING (object_key)
     WHERE (SELECT bool_and(strpos(r.raw, v) > 0) FROM unnest($1::text[]) AS v)
     ORDER BY r.object_key, r.line_number LIMIT $2`,
    [values, limit],
  );
  return rows;
}

export interface ValueIssue {
  object_key: string;
  line_number: number;
  column_name: string;
  raw_value: string;
}

/** Values recorded as unfit (stored NULL) on these lines of these objects. */
export async function valueIssuesAt(client: ClientBase, lines: ReadonlyArray<{ object_key: string; line: number }>): Promise<ValueIssue[]> {
  if (lines.length === 0) return [];
  const { rows } = await client.query<ValueIssue>(
    `SELECT i.object_key, i.line_number, i.column_name, i.raw_value
     FROM etl_value_issues i JOIN unnest($1::text[], $2::int[]) AS l(object_key, line) ON i.object_key = l.object_key AND i.line_number = l.line
     ORDER BY i.object_key, i.line_number, i.column_name`,
    [lines.map((line) => line.object_key), lines.map((line) => line.line)],
  );
  return rows;
}
