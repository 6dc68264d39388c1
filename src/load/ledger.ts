// The ledger of source objects (etl_files), the quarantined rows (etl_rejects) and the recorded
// value issues (etl_value_issues). Written in the same transaction as the data: exactly once.
import type { ClientBase } from 'pg';
import type { SourceObject } from '../sources/source.ts';

export type FileStatus = 'loaded' | 'failed' | 'gone';

export type ErrorClass =
  | 'CSV_FORMAT_ERROR'
  | 'SCHEMA_LENGTH_ERROR'
  | 'MISSING_REQUIRED_COLUMNS'
  | 'SOURCE_ERROR'
  | 'DATABASE_CONNECTION_ERROR'
  | 'OTHER_ERROR';

export interface LedgerEntry {
  objectKey: string;
  version: string;
  lastModified: Date;
  status: FileStatus;
  errorClass: ErrorClass | null;
  attempts: number;
  nextAttemptAt: Date | null;
  retryRequested: boolean;
}

/** When a failed object is tried again: after a doubling delay, or only when it changes. */
export type RetryRule = 'backoff' | 'on_change';

export interface FileOutcome {
  status: 'loaded' | 'failed';
  errorClass?: ErrorClass;
  errorMessage?: string;
  /** For a failed object (default backoff). A deterministic failure waits for the object to change. */
  retry?: RetryRule;
  encoding?: string;
  /** How the object's fields and lines are separated (read/dialect.ts): `,` `;` `tab` `|`, `LF` or `CR`. */
  delimiter?: string;
  lineBreak?: string;
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  valuesRecorded: number;
  rowsRepaired: number;
  extraColumns: string[];
}

export async function readLedger(client: ClientBase): Promise<Map<string, LedgerEntry>> {
  const { rows } = await client.query<{
    object_key: string;
    version: string;
    last_modified: Date;
    status: FileStatus;
    error_class: ErrorClass | null;
    attempts: number;
    next_attempt_at: Date | null;
    retry_requested: boolean;
  }>('SELECT object_key, version, last_modified, status, error_class, attempts, next_attempt_at, retry_requested FROM etl_files');
  return new Map(
    rows.map((row) => [
      row.object_key,
      {
        objectKey: row.object_key,
        version: row.version,
        lastModified: row.last_modified,
        status: row.status,
        errorClass: row.error_class,
        attempts: row.attempts,
        nextAttemptAt: row.next_attempt_at,
        retryRequested: row.retry_requested,
      },
    ]),
  );
}

export interface RetryPolicy {
  baseSeconds: number;
  maxSeconds: number;
}

/**
 * Records the outcome of one object. Attempts count loads of the same version; a failed object
 * waits base * 2^(attempts-1) seconds (at most max) before the planner tries it again, and one
 * that failed deterministically (its bytes will fail the same way: next_attempt_at NULL) waits
 * for a new version. loaded_version stays the version whose rows are in the tables.
 */
export async function recordFile(
  client: ClientBase,
  object: SourceObject,
  outcome: FileOutcome,
  context: { runId: string; traceId?: string; retry: RetryPolicy },
): Promise<void> {
  await client.query(
    `INSERT INTO etl_files AS f (object_key, version, size, last_modified, status, error_class, error_message, encoding,
       rows_read, rows_loaded, rows_quarantined, values_recorded, rows_repaired, extra_columns, attempts, next_attempt_at,
       retry_requested, run_id, trace_id, loaded_at, updated_at, loaded_version, delimiter, line_break)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1,
       CASE WHEN $5 = 'failed' AND $19 = 'backoff' THEN now() + make_interval(secs => LEAST($17::float8, $18::float8)) END,
       false, $15, $16, CASE WHEN $5 = 'loaded' THEN now() END, now(), CASE WHEN $5 = 'loaded' THEN $2 END, $20, $21)
     ON CONFLICT (object_key) DO UPDATE SET
       version = excluded.version, size = excluded.size, last_modified = excluded.last_modified, status = excluded.status,
       error_class = excluded.error_class, error_message = excluded.error_message, encoding = excluded.encoding,
       rows_read = excluded.rows_read, rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,
       values_recorded = excluded.values_recorded, rows_repaired = excluded.rows_repaired, extra_columns = excluded.extra_columns,
       delimiter = excluded.delimiter, line_break = excluded.line_break,
       attempts = CASE WHEN f.version = excluded.version AND f.status <> 'gone' THEN f.attempts + 1 ELSE 1 END,
       -- The exponent is capped: power(2, attempts) overflows a float past about 1,000 attempts.
       next_attempt_at = CASE WHEN excluded.status = 'failed' AND $19 = 'backoff'
         THEN now() + make_interval(secs => LEAST($17::float8 * power(2, LEAST(CASE WHEN f.version = excluded.version THEN f.attempts ELSE 0 END, 40)), $18::float8)) END,
       retry_requested = false, run_id = excluded.run_id, trace_id = excluded.trace_id,
       loaded_at = COALESCE(excluded.loaded_at, f.loaded_at), updated_at = now(),
       loaded_version = CASE WHEN excluded.status = 'loaded' THEN excluded.version ELSE f.loaded_version END`,
    [
      object.key,
      object.version,
      object.size,
      object.lastModified,
      outcome.status,
      outcome.errorClass ?? null,
      outcome.errorMessage ?? null,
      outcome.encoding ?? null,
      outcome.rowsRead,
      outcome.rowsLoaded,
      outcome.rowsQuarantined,
      outcome.valuesRecorded,
      outcome.rowsRepaired,
      outcome.extraColumns,
      context.runId,
      context.traceId ?? null,
      context.retry.baseSeconds,
      context.retry.maxSeconds,
      outcome.retry ?? 'backoff',
      outcome.delimiter ?? null,
      outcome.lineBreak ?? null,
    ],
  );
}


/** Objects that are no longer in the source (pipeline/plan.ts: goneKeys): marked gone, their rows kept. */
export async function markGone(client: ClientBase, keys: readonly string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const { rows } = await client.query<{ object_key: string }>(
    `UPDATE etl_files SET status = 'gone', updated_at = now() WHERE status <> 'gone' AND object_key = ANY($1::text[]) RETURNING object_key`,
    [keys],
  );
  return rows.map((row) => row.object_key);
}

/** `etl reload`: these objects are loaded again by the next run, whatever their state (gone ones are not in the source). */
export async function requestReload(client: ClientBase, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const result = await client.query(
    `UPDATE etl_files SET retry_requested = true, next_attempt_at = now(), updated_at = now() WHERE status <> 'gone' AND object_key = ANY($1::text[])`,
    [keys],
  );
  return result.rowCount ?? 0;
}

/** `etl retry`: the given objects (or every failed one) are loaded by the next run. */
export async function requestRetry(client: ClientBase, target: { key: string } | { allFailed: true }): Promise<number> {
  const result =
    'key' in target
      ? await client.query(`UPDATE etl_files SET retry_requested = true, next_attempt_at = now(), updated_at = now() WHERE object_key = $1`, [target.key])
      : await client.query(`UPDATE etl_files SET retry_requested = true, next_attempt_at = now(), updated_at = now() WHERE status = 'failed'`);
  return result.rowCount ?? 0;
}
