// One row per run in etl_runs: written when the run has its plan, finished with its summary.
// A run whose process died (killed, the database lost) leaves its row 'running'; the next run that
// takes the lock closes it, with the summary that run wrote to the state dir when there is one.
import type { ClientBase } from 'pg';

export interface RunRow {
  runId: string;
  startedAt: Date;
  traceId: string | null;
}

export async function insertRun(client: ClientBase, run: RunRow): Promise<void> {
  await client.query(`INSERT INTO etl_runs (run_id, started_at, status, trace_id) VALUES ($1, $2, 'running', $3)`, [run.runId, run.startedAt, run.traceId]);
}

export async function finishRun(client: ClientBase, runId: string, finishedAt: string, status: string, summary: unknown): Promise<void> {
  await client.query(`UPDATE etl_runs SET finished_at = $2, status = $3, summary = $4 WHERE run_id = $1`, [runId, finishedAt, status, summary]);
}

/** When the last run that ended 'ok' finished (null when none has). */
export async function lastSuccess(client: ClientBase): Promise<Date | null> {
  const { rows } = await client.query<{ at: Date | null }>(`SELECT max(finished_at) AS at FROM etl_runs WHERE status = 'ok'`);
  return rows[0]?.at ?? null;
}

/**
 * Runs left 'running' by processes that are gone (the caller holds the run lock, so none is
 * alive), but `except` (a shared run that a restarted worker joins again).
 */
export async function abandonedRuns(client: ClientBase, except?: string): Promise<Array<{ run_id: string; started_at: Date }>> {
  const { rows } = await client.query<{ run_id: string; started_at: Date }>(`SELECT run_id, started_at FROM etl_runs WHERE status = 'running' AND run_id IS DISTINCT FROM $1`, [except ?? null]);
  return rows;
}

/** Closes an abandoned run: as 'aborted', or with the summary it managed to write to the state dir. */
export async function closeAbandonedRun(client: ClientBase, runId: string, summary: { status?: string; finished_at?: string } | undefined): Promise<void> {
  await client.query(
    `UPDATE etl_runs SET status = $2, finished_at = COALESCE($3::timestamptz, finished_at, now()), summary = COALESCE($4, summary)
     WHERE run_id = $1 AND status = 'running'`,
    [runId, summary?.status ?? 'aborted', summary?.finished_at ?? null, summary ?? null],
  );
}
