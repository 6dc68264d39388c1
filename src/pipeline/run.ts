// One run, as named steps:
//   open       the source, the run's connection, migrations, the run lock (or step aside)
//   plan       close runs a dead process left 'running', list, plan, mark gone, the run row
//   load       the planned objects, load_concurrency at a time, each on its own connection
//   summarise  the status, failed_files_log.json, the summary file, the run row
// Only a lost database, a lost lock or a signal stops a run early; each ends in one sentence
// (summary.error) and a summary written wherever it can be.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { context as otelContext, SpanStatusCode, type Span } from '@opentelemetry/api';
import type { Settings } from '../config/load.ts';
import { migrate } from '../load/migrate.ts';
import { RunLock, runLockKey } from '../load/lock.ts';
import { markGone } from '../load/ledger.ts';
import { failedFiles } from '../load/reports.ts';
import { stateDirLayout } from '../state-dir.ts';
import { recordSourceRoot } from '../load/source-root.ts';
import { abandonedRuns, closeAbandonedRun, finishRun, insertRun, lastSuccess } from '../load/runs.ts';
import { closeClient, connectDatabase } from '../load/database.ts';
import { cancelBackend, rollback } from '../load/transaction.ts';
import { insertSharedRun, joinWorker, leaveWorker, sharedRunTotals } from '../load/shared-runs.ts';
import { openSource } from '../sources/index.ts';
import type { Source, SourceObject } from '../sources/source.ts';
import type { Logger } from '../telemetry/logger.ts';
import { contextOfTraceparent, failSpan, rememberRunTrace, traceparentOf, tracer } from '../telemetry/spans.ts';
import { ParseThread } from '../read/parse-thread.ts';
import { NewKeyClaims } from '../read/stage-encoder.ts';
import { emptyDirectTables } from '../load/staging.ts';
import { errorMessage, RunAbortedError } from './errors.ts';
import { loadBatch, type FileResult } from './file.ts';
import { batchesOf } from './batches.ts';
import type { Plan } from './plan.ts';
import { ledgerKeyedSource, planSource } from './listing.ts';
import { closeSharedRun, enterSharedRun, plannedBatches, SharedQueue, type SharedEntry } from './shared-run.ts';
import { selectionFields, type Selection } from './selection.ts';
import { appendRunSummary, readRunSummary, writeJsonAtomic } from './state-files.ts';
import { account, finish, newSummary, steppedAside, type RunSummary } from './summary.ts';

export type { RunStatus, RunSummary } from './summary.ts';

export interface RunOptions {
  signal?: AbortSignal;
  /** Follows the run as it goes (the terminal view); the logs carry the same events. */
  observer?: RunObserver;
  /** Only these objects (etl run --only/--since/--until); the others are neither loaded nor marked gone. */
  selection?: Selection;
}

/** What a view of a running run hears about. */
export interface RunObserver {
  planned(plan: { objects: number; bytes: number; waiting: number; skipped: number; unchanged: number }): void;
  started(object: SourceObject): void;
  /** Rows read so far in the object. */
  rows(object: SourceObject, rows: number): void;
  finished(object: SourceObject, result: FileResult): void;
}

/** What the steps of a run share. */
interface Run {
  settings: Settings;
  logger: Logger;
  summary: RunSummary;
  started: Date;
  /** The source as the ledger keys it, once planned (pipeline/listing.ts). */
  source: Source;
  selection: Selection;
  /** The run's own connection: migrations, ledger reads, the run row, cancelling loads. */
  client: pg.Client;
  /** Aborted by a signal or when the run lock is lost. */
  signal: AbortSignal;
  observer?: RunObserver;
}

export async function runPipeline(settings: Settings, logger: Logger, options: RunOptions = {}): Promise<RunSummary> {
  // A worker of a shared run joins first: its span is then a child of the run's (the planner's).
  let entry: SharedEntry | undefined;
  let entryError: unknown;
  if (settings.runId) entry = await enterSharedRun(settings, logger).catch((error: unknown) => ((entryError = error), undefined));
  const parent = entry?.role.kind === 'join' ? contextOfTraceparent(entry.role.row.traceparent) : otelContext.active();
  return tracer.startActiveSpan('etl.run', {}, parent, async (span) => {
    rememberRunTrace(span);
    try {
      const summary = await runSteps(settings, logger, options, span, settings.runId ? { entry, error: entryError } : undefined);
      span.setAttributes({
        'etl.run.id': summary.run_id,
        'etl.run.status': summary.status,
        'etl.source': summary.source,
        'etl.files.planned': summary.files.planned,
        'etl.files.loaded': summary.files.loaded,
        'etl.files.failed': summary.files.failed,
        'etl.files.skipped': summary.files.skipped,
        'etl.files.unchanged': summary.files.unchanged,
        'etl.rows.read': summary.rows.read,
        'etl.rows.loaded': summary.rows.loaded,
        'etl.rows.quarantined': summary.rows.quarantined,
        ...(summary.shared ? { 'etl.run.shared_id': summary.shared.id, 'etl.run.worker': summary.shared.worker, 'etl.run.planned_here': summary.shared.planned } : {}),
      });
      // The run span is in error only when the run itself could not finish (stopped, database
      // lost); a failed file is in error on its own etl.file span and counted in etl.files.failed.
      if (summary.error) span.setStatus({ code: SpanStatusCode.ERROR, message: summary.error });
      return summary;
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** `shared`: a worker of a shared run, at its turn to join (or what kept it from the door). */
async function runSteps(settings: Settings, logger: Logger, options: RunOptions, span: Span, shared?: { entry: SharedEntry | undefined; error: unknown }): Promise<RunSummary> {
  const started = new Date();
  const summary = newSummary(randomUUID(), span, started);
  const source = await openSource(settings);
  summary.source = source.description;
  let client: pg.Client | undefined = shared?.entry?.client;
  let lock: RunLock | undefined = shared?.entry?.lock;
  let runRowWritten = false;
  let queue: SharedQueue | undefined;
  try {
    if (shared) {
      if (shared.error !== undefined) throw shared.error;
      if (!shared.entry || shared.entry.role.kind === 'elsewhere') return stepAside(summary, started, logger, span, 'locked');
      if (shared.entry.role.kind === 'done') {
        await lock!.endJoin();
        return stepAside(summary, started, logger, span, 'done', shared.entry.role.row.run_id);
      }
    } else {
      client = await connectDatabase(settings.databaseUrl, 'etl-run', settings.database, settings.databaseSchema);
      const applied = await migrate(client, settings.databaseSchema);
      if (applied.length > 0) logger.info({ migrations: applied }, 'applied database migrations');
      lock = await RunLock.tryAcquire(settings.databaseUrl, runLockKey(settings.databaseSchema), settings.database);
      if (!lock) return stepAside(summary, started, logger, span, 'locked');
    }
    const run: Run = {
      settings,
      logger,
      summary,
      started,
      source,
      selection: options.selection ?? {},
      client: client!,
      signal: stopSignal(options.signal, lock!, settings, logger),
      observer: options.observer,
    };
    let plan: Plan;
    if (shared?.entry) {
      ({ plan, queue } = await joinOrPlan(run, shared.entry, span));
    } else {
      await closeAbandonedRuns(run);
      plan = await planObjects(run);
      await insertRun(run.client, { runId: summary.run_id, startedAt: started, traceId: summary.trace_id });
    }
    runRowWritten = true;
    run.observer?.planned({
      objects: plan.load.length,
      bytes: plan.load.reduce((sum, object) => sum + object.size, 0),
      waiting: plan.waiting.length,
      skipped: plan.skipped.length,
      unchanged: plan.unchanged.length,
    });
    await loadObjects(run, plan, queue);
    await summarise(run, lock!);
    return finish(summary, started);
  } catch (error) {
    // E.g. the source cannot be listed: the summary says the run failed, and why, in one sentence.
    summary.status = error instanceof RunAbortedError ? 'aborted' : 'failed';
    summary.error = errorMessage(error);
    finish(summary, started);
    throw error;
  } finally {
    if (!steppedAside(summary)) {
      summary.summary_file = await appendRunSummary(settings.stateDir, summary).catch((error: unknown) => {
        logger.warn({ err: errorMessage(error) }, 'could not write the run summary file');
        return undefined;
      });
      if (runRowWritten && summary.shared) await leaveSharedRun(client!, lock!, summary, logger);
      else if (runRowWritten) await writeRunRow(client!, settings, summary, logger);
    }
    if (lock) {
      const released = await lock.release().catch(() => false);
      if (!released && !lock.lost && !summary.shared) logger.warn('the run lock was not held at release');
    }
    await closeClient(client);
    await source.close?.();
  }
}

/** Another run holds the run lock, or the shared run this worker was started for is over: nothing is touched. */
function stepAside(summary: RunSummary, started: Date, logger: Logger, span: Span, status: 'locked' | 'done', runId?: string): RunSummary {
  if (status === 'locked') {
    logger.info('another run holds the run lock; this run exits without touching data');
    span.addEvent('run lock held by another run');
    span.setAttribute('etl.run.lock_held_elsewhere', true);
  } else {
    logger.info({ run_id: runId }, 'the shared run this worker was started for is over; nothing is left to do');
    span.addEvent('shared run already closed');
  }
  summary.status = status;
  return finish(summary, started);
}

/**
 * A worker of a shared run, at its turn to join: plans the run (the first one), or joins it; the
 * next worker joins after this one has.
 */
async function joinOrPlan(run: Run, entry: SharedEntry, span: Span): Promise<{ plan: Plan; queue: SharedQueue }> {
  const { summary, client } = run;
  let planned = false;
  try {
    if (entry.role.kind === 'plan') {
      await closeAbandonedRuns(run);
      const plan = await planObjects(run);
      await insertSharedRun(
        client,
        { runId: summary.run_id, sharedId: entry.sharedId, startedAt: run.started, traceId: summary.trace_id, traceparent: traceparentOf(span), summary: { ...summary, status: 'running' } },
        plannedBatches(plan, run.settings.loadConcurrency),
      );
      planned = true;
    } else if (entry.role.kind === 'join') {
      const { row } = entry.role;
      // Every worker of it gone (this one was restarted): runs that others left open are closed; not this one.
      await closeAbandonedRuns(run, row.run_id);
      summary.run_id = row.run_id;
      summary.trace_id = row.trace_id;
      run.source = await ledgerKeyedSource(client, run.source, run.settings);
    }
    summary.shared = { id: entry.sharedId, worker: entry.worker, planned };
    await joinWorker(client, summary.run_id, entry.worker, planned);
    run.logger.info({ run_id: summary.run_id, shared_id: entry.sharedId, worker: entry.worker }, planned ? 'planned the shared run; loading its objects with its other workers' : 'joined the shared run');
  } finally {
    await entry.lock.endJoin().catch(() => {});
  }
  const plan: Plan = { load: [], reasons: new Map(), unchanged: [], waiting: [], skipped: [] };
  return { plan, queue: new SharedQueue(summary.run_id, entry.worker) };
}

/** A worker of a shared run leaves: its row in the run's workers; the last one out closes the run. */
async function leaveSharedRun(client: pg.Client, lock: RunLock, summary: RunSummary, logger: Logger): Promise<void> {
  try {
    const last = await lock.leaveShared();
    await leaveWorker(client, summary.run_id, summary.shared!.worker, summary.status, summary);
    if (!last) return;
    summary.shared!.run = await closeSharedRun(client, summary);
    logger.info({ run_id: summary.run_id, status: summary.shared!.run.status }, 'the last worker out closed the shared run');
  } catch (error) {
    logger.warn({ err: errorMessage(error) }, 'could not record leaving the shared run; the next run closes it');
  }
}

/** Aborted on the caller's signal and when the run lock is lost (its connection died or stalled). */
function stopSignal(signal: AbortSignal | undefined, lock: RunLock, settings: Settings, logger: Logger): AbortSignal {
  const lockLost = new AbortController();
  lock.onLost((error) => {
    logger.error({ err: errorMessage(error) }, 'lost the connection that holds the run lock; stopping the run');
    lockLost.abort();
  });
  lock.watch(settings.database.healthCheckMs);
  return signal ? AbortSignal.any([signal, lockLost.signal]) : lockLost.signal;
}

/**
 * Plan: close what dead runs left open, list the source (keyed as the ledger keys it), compare with
 * the ledger, mark gone objects; the first run on a ledger records its source.
 */
async function planObjects(run: Run): Promise<Plan> {
  const { client, summary, logger } = run;
  const planned = await planSource(client, run.source, run.settings, run.selection, run.signal).catch((error: unknown) => {
    if (run.signal.aborted) throw new RunAbortedError('the run was stopped while listing the source');
    throw error;
  });
  if (planned.ledgerRoot === undefined) await recordSourceRoot(client, planned.root);
  run.source = planned.source;
  const { plan } = planned;
  const gone = await markGone(client, planned.gone);
  summary.files.listed = planned.listed;
  summary.files.gone = gone.length;
  summary.files.planned = plan.load.length;
  summary.files.unchanged = plan.unchanged.length;
  summary.files.waiting = plan.waiting.length;
  summary.files.skipped = plan.skipped.length;
  summary.skipped_objects = plan.skipped;
  logger.info(
    {
      source: run.source.description,
      ...selectionFields(run.selection),
      listed: planned.listed,
      to_load: plan.load.length,
      unchanged: plan.unchanged.length,
      waiting: plan.waiting.length,
      skipped: plan.skipped.length,
      gone: gone.length,
    },
    'run planned',
  );
  for (const skipped of plan.skipped) logger.info({ object_key: skipped.key, reason: skipped.reason }, 'skipping object');
  for (const waiting of plan.waiting) {
    logger.info(
      { object_key: waiting.object.key, error_class: waiting.errorClass, retry_after: waiting.until?.toISOString() ?? 'when the object changes' },
      'failed earlier; not retried yet',
    );
  }
  return plan;
}

/** Runs left 'running' by a process that died are closed (but `except`), with the summary they wrote if any. */
async function closeAbandonedRuns(run: Run, except?: string): Promise<void> {
  for (const abandoned of await abandonedRuns(run.client, except)) {
    const written = await readRunSummary(run.settings.stateDir, abandoned.run_id, abandoned.started_at);
    await closeAbandonedRun(run.client, abandoned.run_id, written);
    run.logger.warn({ run_id: abandoned.run_id, status: written?.status ?? 'aborted' }, 'closed a run that an earlier process left running');
  }
}

/**
 * Load: the planned objects in batches (pipeline/batches.ts), `load_concurrency` at a time, each on
 * its own connection and parse thread; in a shared run, the batches its workers claim (`shared`).
 */
async function loadObjects(run: Run, plan: Plan, shared?: SharedQueue): Promise<void> {
  const { settings, logger, summary, signal } = run;
  // Batches load `load_concurrency` at a time: while one batch's merge keeps Postgres busy, the
  // next is read. The result does not depend on the order (lineage decides), and merges insert
  // in key order, so they wait for each other, never deadlock.
  const workers = shared ? settings.loadConcurrency : Math.min(settings.loadConcurrency, Math.max(1, plan.load.length));
  const queue = batchesOf(plan.load, plan.reasons, workers);
  const inFlight = new Map<string, number>(); // rows read so far by each object in a load, for progress
  // The loads' claims on the new keys they copy in directly (read/stage-encoder.ts), and the
  // tables that are empty now: for those, the claims alone say which keys are new. A shared run's
  // other processes have claims of their own, so there every batch asks the tables (a key two
  // processes both took for new makes one of them merge its batch: lostToAnotherLoad).
  const sharedTotals = shared ? await sharedRunTotals(run.client, summary.run_id) : undefined;
  const claims = NewKeyClaims.forRun(sharedTotals?.bytes ?? plan.load.reduce((sum, object) => sum + object.size, 0));
  const emptyAtStart = plan.load.length > 0 && !shared ? await emptyDirectTables(run.client) : [];
  const total = sharedTotals?.objects ?? plan.load.length;
  const busy = new Set<pg.Client>(); // connections in a load, to cancel on a stop
  let stopped = false;
  const progress = setInterval(() => {
    const seconds = (Date.now() - run.started.getTime()) / 1000;
    const rows = summary.rows.read + [...inFlight.values()].reduce((a, b) => a + b, 0);
    logger.info(
      { files_done: summary.files.loaded + summary.files.failed, files_failed: summary.files.failed, files_total: total, rows, rows_per_second: Math.round(rows / seconds) },
      'progress',
    );
  }, settings.progressIntervalMs);
  progress.unref();
  // A stop (signal, lost lock) cancels the statements in flight (a merge can take minutes), so the
  // run ends within the pod's grace period; their transactions roll back.
  const cancelInFlight = () => {
    for (const client of busy) void cancelStatement(run.client, client);
  };
  signal.addEventListener('abort', cancelInFlight, { once: true });

  const stop = (error: string) => {
    stopped = true;
    if (summary.status === 'ok') {
      summary.status = 'failed';
      summary.error = error;
    }
  };
  const worker = async () => {
    const parser = new ParseThread(settings.limits.maxRecordBytes, claims);
    let client: pg.Client | undefined;
    try {
      client = await connectDatabase(settings.databaseUrl, 'etl-load', settings.database, settings.databaseSchema);
      while (!stopped && !signal.aborted) {
        busy.add(client);
        let results: FileResult[];
        let batch: SourceObject[] | undefined;
        try {
          // A shared run's batch comes claimed, in a transaction its load goes on in.
          batch = shared ? await shared.next(client, signal) : queue.shift();
          if (!batch) return;
          results = await loadBatch(batch, {
            client,
            source: run.source,
            parser,
            logger,
            runId: run.summary.run_id,
            traceId: run.summary.trace_id ?? undefined,
            limits: {
              rejectThreshold: settings.rejectThreshold,
              rejectThresholdMinRows: settings.rejectThresholdMinRows,
              maxRejectsPerObject: settings.limits.maxRejectsPerObject,
              maxRecordBytes: settings.limits.maxRecordBytes,
              maxGzipRatio: settings.limits.maxGzipRatio,
              sourceOmitsFinalNewline: settings.sourceOmitsFinalNewline,
            },
            retry: { baseSeconds: settings.retryBaseSeconds, maxSeconds: settings.retryMaxSeconds },
            signal: run.signal,
            emptyAtStart,
            shared: shared?.claims,
            onStart: (object) => {
              inFlight.set(object.key, 0);
              run.observer?.started(object);
            },
            onRows: (object, rows) => {
              inFlight.set(object.key, rows);
              run.observer?.rows(object, rows);
            },
          }, shared !== undefined);
        } catch (error) {
          if (shared) await rollback(client);
          if (error instanceof RunAbortedError || (shared && signal.aborted)) return;
          throw error;
        } finally {
          busy.delete(client);
          for (const object of batch ?? []) inFlight.delete(object.key);
        }
        const byKey = new Map(batch.map((object) => [object.key, object]));
        for (const result of results) {
          account(summary, result);
          run.observer?.finished(byKey.get(result.key)!, result);
          if (result.fatal) stop(`The database connection was lost while loading ${result.key}: ${result.errorMessage}`);
        }
      }
    } catch (error) {
      stop(errorMessage(error));
    } finally {
      await parser.close();
      await closeClient(client);
    }
  };
  try {
    await Promise.all(Array.from({ length: workers }, () => worker()));
  } finally {
    clearInterval(progress);
    signal.removeEventListener('abort', cancelInFlight);
  }
}

/** Asks Postgres to cancel what a load's connection is running; a dead run connection closes it instead. */
async function cancelStatement(runClient: pg.Client, client: pg.Client): Promise<void> {
  const pid = (client as unknown as { processID: number | null }).processID;
  try {
    if (pid === null) throw new Error('no backend');
    await cancelBackend(runClient, pid);
  } catch {
    await closeClient(client);
  }
}

/** Summarise: how the run ended, and the failed-files log. */
async function summarise(run: Run, lock: RunLock): Promise<void> {
  const { summary } = run;
  if (run.signal.aborted) {
    summary.status = 'aborted';
    summary.error = lock.lost ? 'the connection holding the run lock was lost' : 'the run was stopped by a signal';
  } else if (summary.status === 'ok' && summary.files.failed > 0) {
    summary.status = 'failed';
  }
  try {
    summary.last_success_at = summary.status === 'ok' ? new Date().toISOString() : ((await lastSuccess(run.client))?.toISOString() ?? null);
  } catch {
    // the run's connection is gone: the metric is left out
  }
  try {
    const failed = await failedFiles(run.client);
    summary.files.failed_in_ledger = failed.length;
    // The log's own names (reason, not error_message), as operators' scripts read them.
    const listed = failed.map(({ error_message, ...file }) => ({ ...file, reason: error_message }));
    await writeJsonAtomic(stateDirLayout.failedFilesLog(run.settings.stateDir), { updated_at: new Date().toISOString(), failed_files: listed });
  } catch (error) {
    run.logger.warn({ err: errorMessage(error) }, 'could not write failed_files_log.json');
  }
}

/**
 * The run row gets its summary: on the run's connection, or on a new one when that died (the
 * database restarted). When the database cannot be reached, the next run closes the row from the
 * summary file.
 */
async function writeRunRow(client: pg.Client, settings: Settings, summary: RunSummary, logger: Logger): Promise<void> {
  const write = (target: pg.Client) => finishRun(target, summary.run_id, summary.finished_at, summary.status, summary);
  try {
    await write(client);
    return;
  } catch {
    // the run's connection is gone: try a new one
  }
  let fresh: pg.Client | undefined;
  try {
    fresh = await connectDatabase(settings.databaseUrl, 'etl-run', settings.database, settings.databaseSchema);
    await write(fresh);
  } catch (error) {
    logger.warn({ err: errorMessage(error) }, 'could not write the run row to etl_runs; the next run closes it from the summary file');
  } finally {
    await closeClient(fresh);
  }
}
