// One run over many processes (config run_id, ETL_RUN_ID; the chart's Indexed Job of workers).
//
// Processes started with the same run id join one run, one at a time (load/lock.ts, enterShared):
//   the first, when no worker of any run is alive, plans it (as a run of its own does) and writes
//     its objects in batches (load/shared-runs.ts); its etl.run span is the run's trace;
//   the others join it: their etl.run spans are children of the planner's, in the same trace;
//   a worker restarted after every worker died joins it again and finishes it;
//   a worker that comes after the run was closed finds nothing left (exit 0, touches nothing);
//   a process with another run id while the run's workers are alive steps aside, as today.
// Every worker then claims batches in the transactions that load them (SharedQueue) until none is
// left, waiting on batches other workers hold (one that dies leaves its batch to the waiter). The
// last worker out closes the run: one etl_runs row with the run's totals, and the run's metrics.
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Settings } from '../config/load.ts';
import { connectDatabase, closeClient } from '../load/database.ts';
import { migrate } from '../load/migrate.ts';
import { RunLock, runLockKey } from '../load/lock.ts';
import {
  claimNextBatch,
  claimObjects,
  markObjectDone,
  objectsToDo,
  sharedRun,
  sharedRunObjects,
  sharedRunStart,
  sharedRunTotals,
  waitForHeldBatch,
  type SharedRunRow,
} from '../load/shared-runs.ts';
import { finishRun } from '../load/runs.ts';
import { begin, commit, rollback } from '../load/transaction.ts';
import type { FileOutcome } from '../load/ledger.ts';
import type { SourceObject } from '../sources/source.ts';
import type { Logger } from '../telemetry/logger.ts';
import { batchesOf } from './batches.ts';
import type { Plan } from './plan.ts';
import type { RunStatus, RunSummary } from './summary.ts';

/** Loads of up to this many workers at once are planned apart (pipeline/batches.ts: stretches). */
const STRETCHES_PER_LOAD = 4;

/** This process, as the run's workers table names it (a pod's name in Kubernetes). */
export function workerName(): string {
  return `${hostname()}:${process.pid}`;
}

/** A worker at the door of its shared run, holding its turn to join (RunLock.endJoin). */
export interface SharedEntry {
  sharedId: string;
  worker: string;
  /** The run's connection (migrations applied). */
  client: pg.Client;
  lock: RunLock;
  role: SharedRole;
}

/**
 * plan: no worker is alive and the run does not exist yet; join: the run is running (its workers
 * alive, or all of them gone, and this one finishes it); done: the run was closed; elsewhere:
 * another run's workers are alive.
 */
export type SharedRole = { kind: 'plan' } | { kind: 'join'; row: SharedRunRow } | { kind: 'done'; row: SharedRunRow } | { kind: 'elsewhere' };

/**
 * Connects, applies migrations, and waits for this worker's turn to join; undefined when a run of
 * its own (without run_id) holds the run lock. Done before the worker's span starts, so that a
 * joining worker's span can be a child of the run's.
 */
export async function enterSharedRun(settings: Settings, logger: Logger): Promise<SharedEntry | undefined> {
  const client = await connectDatabase(settings.databaseUrl, 'etl-run', settings.database, settings.databaseSchema);
  try {
    const applied = await migrate(client, settings.databaseSchema);
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied database migrations');
    const entered = await RunLock.enterShared(settings.databaseUrl, runLockKey(settings.databaseSchema), settings.database);
    if (!entered) {
      await closeClient(client);
      return undefined;
    }
    const row = await sharedRun(client, settings.runId);
    return { sharedId: settings.runId, worker: workerName(), client, lock: entered.lock, role: roleOf(entered.alone, row) };
  } catch (error) {
    await closeClient(client);
    throw error;
  }
}

function roleOf(alone: boolean, row: SharedRunRow | undefined): SharedRole {
  if (row && row.status !== 'running') return { kind: 'done', row };
  // Running: its workers are alive (no other run can be: the planner of any later run would have
  // closed it), or they are all gone and this one finishes it.
  if (row) return { kind: 'join', row };
  return alone ? { kind: 'plan' } : { kind: 'elsewhere' };
}

/** The planned objects with the batch each loads in (the order workers claim them). */
export function plannedBatches(plan: Plan, loadConcurrency: number): Array<{ object: SourceObject; reason: string; batch: number }> {
  return batchesOf(plan.load, plan.reasons, loadConcurrency * STRETCHES_PER_LOAD).flatMap((objects, batch) =>
    objects.map((object) => ({ object, reason: plan.reasons.get(object.key) ?? 'new', batch })),
  );
}

/** What the loads of a shared run do about claims (pipeline/file.ts). */
export interface SharedClaims {
  /** In the open transaction: claims these objects; returns the keys another worker has. */
  claim(client: pg.ClientBase, keys: readonly string[]): Promise<Set<string>>;
  /** In the transaction that records the object: it is done. */
  done(client: pg.ClientBase, key: string, outcome: FileOutcome): Promise<void>;
}

/** The batches of a shared run, claimed from its objects in the database. */
export class SharedQueue {
  readonly claims: SharedClaims;
  private readonly runId: string;

  constructor(runId: string, worker: string) {
    this.runId = runId;
    this.claims = {
      claim: (client, keys) => claimObjects(client, runId, keys),
      done: (client, key, outcome) => markObjectDone(client, runId, worker, key, outcome),
    };
  }

  /**
   * Opens a transaction on `client` and claims the next batch in it (the caller loads it in that
   * transaction); when every batch left is held by other workers, waits on one until its worker
   * commits or dies. Undefined, with no transaction open, when nothing is left.
   */
  async next(client: pg.Client, signal: AbortSignal): Promise<SourceObject[] | undefined> {
    while (!signal.aborted) {
      await begin(client);
      try {
        const free = await claimNextBatch(client, this.runId);
        if (free.length > 0) return free;
        if ((await objectsToDo(client, this.runId)) === 0) {
          await commit(client);
          return undefined;
        }
        const held = await waitForHeldBatch(client, this.runId);
        if (held.length > 0) return held;
        await commit(client);
      } catch (error) {
        await rollback(client);
        // Waited longer than lock_timeout on a long batch: wait again.
        if ((error as { code?: string }).code === '55P03' && !signal.aborted) continue;
        throw error;
      }
    }
    return undefined;
  }
}

/**
 * The last worker out closes the run: its row gets the run's totals (the planner's plan, every
 * object's outcome) and how the run ended. Returns that summary.
 */
export async function closeSharedRun(client: pg.ClientBase, last: RunSummary): Promise<RunSummary> {
  const runId = last.run_id;
  const totals = await sharedRunTotals(client, runId);
  const objects = await sharedRunObjects(client, runId);
  const row = await sharedRunStart(client, runId);
  const planned = (row?.summary ?? null) as Partial<RunSummary> | null;
  const started = row?.started_at ?? new Date(last.started_at);
  const finished = new Date(last.finished_at);
  const duration = Math.round((finished.getTime() - started.getTime()) / 10) / 100;
  let status: RunStatus = 'ok';
  if (totals.to_do > 0) status = last.status === 'aborted' ? 'aborted' : 'failed';
  else if (totals.failed > 0 || last.status === 'failed') status = 'failed';
  const run: RunSummary = {
    ...last,
    status,
    started_at: started.toISOString(),
    duration_seconds: duration,
    source: (planned?.source as string | undefined) ?? last.source,
    files: {
      ...last.files,
      ...(planned?.files ?? {}),
      planned: totals.objects,
      loaded: totals.loaded,
      failed: totals.failed,
      failed_in_ledger: last.files.failed_in_ledger,
    },
    rows: { read: totals.rows_read, loaded: totals.rows_loaded, quarantined: totals.rows_quarantined, repaired: totals.rows_repaired, values_recorded: totals.values_recorded },
    rows_per_second: duration > 0 ? Math.round(totals.rows_read / duration) : 0,
    skipped_objects: (planned?.skipped_objects as RunSummary['skipped_objects'] | undefined) ?? [],
    failed_files: objects
      .filter((object) => object.status === 'failed')
      .map((object) => ({ key: object.object_key, error_class: object.error_class ?? 'OTHER_ERROR', message: object.error_message ?? '' })),
    loaded_files: objects
      .filter((object) => object.status === 'loaded')
      .map((object) => ({ key: object.object_key, rows_read: Number(object.rows_read), rows_loaded: Number(object.rows_loaded), rows_quarantined: Number(object.rows_quarantined), extra_columns: object.extra_columns ?? [] })),
    ...(totals.to_do > 0 ? { error: last.error ?? `${totals.to_do} objects of the run were not loaded: its workers stopped before them` } : {}),
  };
  delete run.shared;
  await finishRun(client, runId, run.finished_at, run.status, run);
  return run;
}
