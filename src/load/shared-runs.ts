// A run that several processes share (config run_id; migration 005): its row, its objects in the
// batches they load in, its workers, and the claims.
//
// A worker claims the rows of one batch inside the transaction that loads it (FOR UPDATE SKIP
// LOCKED) and marks them done in the same commit as the data and the ledger rows: an object is
// loaded by exactly one worker, and a worker that dies (kill -9, an OOM kill, a deleted pod)
// holds nothing once its connection is gone, because its transaction rolls back.
import type { ClientBase } from 'pg';
import type { SourceObject } from '../sources/source.ts';
import type { FileOutcome } from './ledger.ts';

export interface SharedRunRow {
  run_id: string;
  status: string;
  started_at: Date;
  trace_id: string | null;
  traceparent: string | null;
  /** What its planner found: the summary the run started with (files listed, planned, skipped...). */
  summary: Record<string, unknown> | null;
}

/** The run started with this id, if any. */
export async function sharedRun(client: ClientBase, sharedId: string): Promise<SharedRunRow | undefined> {
  const { rows } = await client.query<SharedRunRow>(`SELECT run_id, status, started_at, trace_id, traceparent, summary FROM etl_runs WHERE shared_id = $1`, [sharedId]);
  return rows[0];
}

export interface PlannedObject {
  object: SourceObject;
  reason: string;
  batch: number;
}

/** The run row of a shared run and its objects, in one transaction: a joiner sees both or neither. */
export async function insertSharedRun(
  client: ClientBase,
  run: { runId: string; sharedId: string; startedAt: Date; traceId: string | null; traceparent: string | null; summary: unknown },
  objects: readonly PlannedObject[],
): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`INSERT INTO etl_runs (run_id, started_at, status, trace_id, shared_id, traceparent, summary) VALUES ($1, $2, 'running', $3, $4, $5, $6)`, [
      run.runId,
      run.startedAt,
      run.traceId,
      run.sharedId,
      run.traceparent,
      run.summary,
    ]);
    // One statement whatever the number of objects: arrays of the columns.
    await client.query(
      `INSERT INTO etl_run_objects (run_id, object_key, version, size, last_modified, reason, batch)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::text[], $7::int[])`,
      [
        run.runId,
        objects.map((planned) => planned.object.key),
        objects.map((planned) => planned.object.version),
        objects.map((planned) => planned.object.size),
        objects.map((planned) => planned.object.lastModified),
        objects.map((planned) => planned.reason),
        objects.map((planned) => planned.batch),
      ],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** When the run started, and the summary its planner wrote (what the last worker out closes it with). */
export async function sharedRunStart(client: ClientBase, runId: string): Promise<{ started_at: Date; summary: Record<string, unknown> | null } | undefined> {
  const { rows } = await client.query<{ started_at: Date; summary: Record<string, unknown> | null }>('SELECT started_at, summary FROM etl_runs WHERE run_id = $1', [runId]);
  return rows[0];
}

/** A worker joins (or, restarted, joins again). */
export async function joinWorker(client: ClientBase, runId: string, worker: string, planned: boolean): Promise<void> {
  await client.query(
    `INSERT INTO etl_run_workers (run_id, worker, planned) VALUES ($1, $2, $3)
     ON CONFLICT (run_id, worker) DO UPDATE SET joined_at = now(), left_at = NULL, status = 'running', summary = NULL`,
    [runId, worker, planned],
  );
}

export async function leaveWorker(client: ClientBase, runId: string, worker: string, status: string, summary: unknown): Promise<void> {
  await client.query(`UPDATE etl_run_workers SET left_at = now(), status = $3, summary = $4 WHERE run_id = $1 AND worker = $2`, [runId, worker, status, summary]);
}

interface ObjectRow {
  object_key: string;
  version: string;
  size: number;
  last_modified: Date;
}

const toObject = (row: ObjectRow): SourceObject => ({ key: row.object_key, version: row.version, size: Number(row.size), lastModified: row.last_modified });

/**
 * In the caller's open transaction: claims the rows not done of the first batch that no other
 * worker holds (the oldest batches first), and returns its objects; none when every batch not done
 * is held by another worker or there is none.
 */
export async function claimNextBatch(client: ClientBase, runId: string): Promise<SourceObject[]> {
  const { rows } = await client.query<ObjectRow>(
    `WITH first AS (
       SELECT batch FROM etl_run_objects WHERE run_id = $1 AND done_by IS NULL ORDER BY batch, object_key FOR UPDATE SKIP LOCKED LIMIT 1
     )
     SELECT object_key, version, size, last_modified FROM etl_run_objects
     WHERE run_id = $1 AND done_by IS NULL AND batch = (SELECT batch FROM first)
     ORDER BY object_key FOR UPDATE SKIP LOCKED`,
    [runId],
  );
  return rows.map(toObject);
}

/**
 * In the caller's open transaction: waits for the first object not done that another worker
 * holds, until that worker commits (the row is done: none is returned) or dies (its transaction
 * rolled back: the row is this worker's now, and the rest of its batch with it).
 */
export async function waitForHeldBatch(client: ClientBase, runId: string): Promise<SourceObject[]> {
  const { rows } = await client.query<{ batch: number }>(
    `SELECT batch FROM etl_run_objects WHERE run_id = $1 AND done_by IS NULL ORDER BY batch, object_key LIMIT 1 FOR UPDATE`,
    [runId],
  );
  if (rows.length === 0) return [];
  const rest = await client.query<ObjectRow>(
    `SELECT object_key, version, size, last_modified FROM etl_run_objects
     WHERE run_id = $1 AND done_by IS NULL AND batch = $2 ORDER BY object_key FOR UPDATE SKIP LOCKED`,
    [runId, rows[0]!.batch],
  );
  return rest.rows.map(toObject);
}

/** Objects of the run not done yet (held by a worker or not). */
export async function objectsToDo(client: ClientBase, runId: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(`SELECT count(*) AS n FROM etl_run_objects WHERE run_id = $1 AND done_by IS NULL`, [runId]);
  return rows[0]!.n;
}

/**
 * In the caller's open transaction: claims these objects (again: a batch read a second time, or
 * loaded one by one, is a new transaction); returns the keys that are no longer this worker's
 * (another worker holds them, or has loaded them).
 */
export async function claimObjects(client: ClientBase, runId: string, keys: readonly string[]): Promise<Set<string>> {
  const { rows } = await client.query<{ object_key: string }>(
    `SELECT object_key FROM etl_run_objects WHERE run_id = $1 AND object_key = ANY($2::text[]) AND done_by IS NULL FOR UPDATE SKIP LOCKED`,
    [runId, keys],
  );
  const mine = new Set(rows.map((row) => row.object_key));
  return new Set(keys.filter((key) => !mine.has(key)));
}

/** In the transaction that loads (or records the failure of) the object: it is done. */
export async function markObjectDone(client: ClientBase, runId: string, worker: string, key: string, outcome: FileOutcome): Promise<void> {
  await client.query(
    `UPDATE etl_run_objects SET done_by = $3, done_at = now(), status = $4, rows_read = $5, rows_loaded = $6, rows_quarantined = $7, rows_repaired = $8, values_recorded = $9
     WHERE run_id = $1 AND object_key = $2`,
    [runId, key, worker, outcome.status, outcome.rowsRead, outcome.rowsLoaded, outcome.rowsQuarantined, outcome.rowsRepaired, outcome.valuesRecorded],
  );
}

export interface SharedRunTotals {
  objects: number;
  /** Their sizes, as listed. */
  bytes: number;
  to_do: number;
  loaded: number;
  failed: number;
  rows_read: number;
  rows_loaded: number;
  rows_quarantined: number;
  rows_repaired: number;
  values_recorded: number;
}

/** What the run's objects came to so far. */
export async function sharedRunTotals(client: ClientBase, runId: string): Promise<SharedRunTotals> {
  const { rows } = await client.query<Record<keyof SharedRunTotals, string | number | null>>(
    `SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes, count(*) FILTER (WHERE done_by IS NULL) AS to_do,
            count(*) FILTER (WHERE status = 'loaded') AS loaded, count(*) FILTER (WHERE status = 'failed') AS failed,
            coalesce(sum(rows_read), 0) AS rows_read, coalesce(sum(rows_loaded), 0) AS rows_loaded, coalesce(sum(rows_quarantined), 0) AS rows_quarantined,
            coalesce(sum(rows_repaired), 0) AS rows_repaired, coalesce(sum(values_recorded), 0) AS values_recorded
     FROM etl_run_objects WHERE run_id = $1`,
    [runId],
  );
  return Object.fromEntries(Object.entries(rows[0]!).map(([name, value]) => [name, Number(value ?? 0)])) as unknown as SharedRunTotals;
}

/** The run's objects that are done, with what the ledger says of the failed ones. */
export async function sharedRunObjects(
  client: ClientBase,
  runId: string,
): Promise<Array<{ object_key: string; status: string; rows_read: number; rows_loaded: number; rows_quarantined: number; extra_columns: string[]; error_class: string | null; error_message: string | null }>> {
  const { rows } = await client.query(
    `SELECT o.object_key, o.status, o.rows_read, o.rows_loaded, o.rows_quarantined, f.extra_columns, f.error_class, f.error_message
     FROM etl_run_objects o LEFT JOIN etl_files f USING (object_key)
     WHERE o.run_id = $1 AND o.done_by IS NOT NULL ORDER BY o.done_at, o.object_key`,
    [runId],
  );
  return rows;
}

export interface RunWorker {
  worker: string;
  planned: boolean;
  joined_at: Date;
  left_at: Date | null;
  status: string;
  objects_done: number;
}

/** The workers of a run, with the objects each has done. */
export async function runWorkers(client: ClientBase, runId: string): Promise<RunWorker[]> {
  const { rows } = await client.query<RunWorker>(
    `SELECT w.worker, w.planned, w.joined_at, w.left_at, w.status,
            (SELECT count(*) FROM etl_run_objects o WHERE o.run_id = w.run_id AND o.done_by = w.worker) AS objects_done
     FROM etl_run_workers w WHERE w.run_id = $1 ORDER BY w.joined_at, w.worker`,
    [runId],
  );
  return rows;
}
