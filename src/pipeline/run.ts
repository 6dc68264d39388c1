// One run: migrate, take the run lock, list and plan, load each object in its own transaction,
// account for everything in the summary.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { SpanStatusCode, type Span } from '@opentelemetry/api';
import type { Settings } from '../config/load.ts';
import { migrate } from '../load/migrate.ts';
import { RunLock } from '../load/lock.ts';
import { markGone, readLedger } from '../load/ledger.ts';
import { openSource } from '../sources/index.ts';
import { SourceError, type Source, type SourceObject } from '../sources/source.ts';
import type { Logger } from '../telemetry/logger.ts';
import { failSpan, rememberRunTrace, tracer } from '../telemetry/spans.ts';
import { connectDatabase } from '../load/database.ts';
import { errorMessage, RunAbortedError } from './errors.ts';
import { loadFile, type FileResult } from './file.ts';
import { loadOrder, planRun } from './plan.ts';
import { ParseThread } from '../read/parse-thread.ts';
import { appendRunSummary, writeJsonAtomic } from './state-files.ts';

export type RunStatus = 'ok' | 'failed' | 'locked' | 'aborted';

export interface RunSummary {
  run_id: string;
  trace_id: string | null;
  status: RunStatus;
  started_at: string;
  finished_at: string;
  duration_seconds: number;
  source: string;
  files: { listed: number; planned: number; loaded: number; failed: number; unchanged: number; waiting: number; skipped: number; gone: number };
  rows: { read: number; loaded: number; quarantined: number; repaired: number; values_recorded: number };
  rows_per_second: number;
  failed_files: Array<{ key: string; error_class: string; message: string }>;
  skipped_objects: Array<{ key: string; reason: string }>;
  loaded_files: Array<{ key: string; rows_read: number; rows_loaded: number; rows_quarantined: number; extra_columns: string[] }>;
  error?: string;
  summary_file?: string;
}

export interface RunOptions {
  signal?: AbortSignal;
}

export async function runPipeline(settings: Settings, logger: Logger, options: RunOptions = {}): Promise<RunSummary> {
  return tracer.startActiveSpan('etl.run', async (span) => {
    rememberRunTrace(span);
    try {
      const summary = await runInSpan(settings, logger, options, span);
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

async function runInSpan(settings: Settings, logger: Logger, options: RunOptions, span: Span): Promise<RunSummary> {
  const started = new Date();
  const runId = randomUUID();
  const traceId = span.spanContext().traceId;
  const summary: RunSummary = {
    run_id: runId,
    trace_id: span.isRecording() ? traceId : null,
    status: 'ok',
    started_at: started.toISOString(),
    finished_at: started.toISOString(),
    duration_seconds: 0,
    source: '',
    files: { listed: 0, planned: 0, loaded: 0, failed: 0, unchanged: 0, waiting: 0, skipped: 0, gone: 0 },
    rows: { read: 0, loaded: 0, quarantined: 0, repaired: 0, values_recorded: 0 },
    rows_per_second: 0,
    failed_files: [],
    skipped_objects: [],
    loaded_files: [],
  };
  const source = await openSource(settings);
  summary.source = source.description;
  const client = await connectDatabase(settings.databaseUrl, 'etl-run');
  let lock: RunLock | undefined;
  let progress: NodeJS.Timeout | undefined;
  try {
    const applied = await migrate(client);
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied database migrations');
    lock = await RunLock.tryAcquire(settings.databaseUrl);
    if (!lock) {
      logger.info('another run holds the run lock; this run exits without touching data');
      span.addEvent('run lock held by another run');
      span.setAttribute('etl.run.lock_held_elsewhere', true);
      summary.status = 'locked';
      return finish(summary, started);
    }
    const lockLost = new AbortController();
    lock.onLost((error) => {
      logger.error({ err: errorMessage(error) }, 'lost the connection that holds the run lock; stopping the run');
      lockLost.abort();
    });
    const signal = options.signal ? AbortSignal.any([options.signal, lockLost.signal]) : lockLost.signal;

    const objects = await source.list();
    summary.files.listed = objects.length;
    const ledger = await readLedger(client);
    const present = [...ledger.values()].filter((entry) => entry.status !== 'gone').length;
    if (objects.length === 0 && present > 0) {
      // Most likely a typo in the prefix or the wrong bucket: marking every object gone would make
      // the next correct run load them all again. Nothing is changed; the run fails so it is seen.
      throw new SourceError(
        `${source.description} lists no objects, but the ledger has ${present} objects from earlier runs that are not marked gone; nothing was changed. ` +
          'Check ETL_SOURCE (bucket and prefix). If the source was emptied on purpose, see "An empty source" in docs/s3.md',
      );
    }
    const plan = planRun(objects, ledger);
    const gone = await markGone(client, new Set(objects.map((object) => object.key)));
    summary.files.gone = gone.length;
    summary.files.planned = plan.load.length;
    summary.files.unchanged = plan.unchanged.length;
    summary.files.waiting = plan.waiting.length;
    summary.files.skipped = plan.skipped.length;
    summary.skipped_objects = plan.skipped;
    await client.query(`INSERT INTO etl_runs (run_id, started_at, status, trace_id) VALUES ($1, $2, 'running', $3)`, [runId, started, summary.trace_id]);
    logger.info(
      { source: source.description, listed: objects.length, to_load: plan.load.length, unchanged: plan.unchanged.length, waiting: plan.waiting.length, skipped: plan.skipped.length, gone: gone.length },
      'run planned',
    );
    for (const skipped of plan.skipped) logger.info({ object_key: skipped.key, reason: skipped.reason }, 'skipping object');
    for (const waiting of plan.waiting) {
      logger.info(
        { object_key: waiting.object.key, error_class: waiting.errorClass, retry_after: waiting.until?.toISOString() ?? 'when the object changes' },
        'failed earlier; not retried yet',
      );
    }

    // Rows of the files in flight, per worker, for the progress line.
    const inFlight = new Map<number, number>();
    progress = setInterval(() => {
      const seconds = (Date.now() - started.getTime()) / 1000;
      const rows = summary.rows.read + [...inFlight.values()].reduce((a, b) => a + b, 0);
      logger.info(
        { files_done: summary.files.loaded + summary.files.failed, files_failed: summary.files.failed, files_total: plan.load.length, rows, rows_per_second: Math.round(rows / seconds) },
        'progress',
      );
    }, settings.progressIntervalMs);
    progress.unref();

    // Objects load `load_concurrency` at a time, each on its own connection: while one object's
    // merge keeps Postgres busy, the next is parsed. The result does not depend on the order
    // (lineage decides), and merges insert in key order, so they wait for each other, never deadlock.
    const workers = Math.max(1, Math.min(settings.loadConcurrency, plan.load.length));
    const queue = loadOrder(plan.load, workers);
    let stopped = false;
    const worker = async (id: number, workerClient: pg.Client) => {
      const parser = new ParseThread();
      try {
        await loadObjects(id, workerClient, parser);
      } finally {
        await parser.close();
      }
    };
    const loadObjects = async (id: number, workerClient: pg.Client, parser: ParseThread) => {
      while (!stopped && !signal.aborted) {
        const object = queue.shift();
        if (!object) return;
        inFlight.set(id, 0);
        let result: Awaited<ReturnType<typeof loadOne>>;
        try {
          result = await loadOne(object, { client: workerClient, source, parser, logger, runId, traceId, settings, signal, onRows: (rows) => inFlight.set(id, rows) });
        } finally {
          inFlight.delete(id);
          // The file's transaction has ended, whatever its outcome: the source may drop its local copy.
          await source.release?.(object).catch((error: unknown) => logger.warn({ object_key: object.key, err: errorMessage(error) }, 'could not remove the local copy'));
        }
        if (result === 'aborted') {
          stopped = true;
          return;
        }
        account(summary, result);
        if (result.fatal) {
          stopped = true;
          summary.status = 'failed';
          summary.error = `The database connection was lost while loading ${object.key}: ${result.errorMessage}`;
          return;
        }
      }
    };
    const extraClients: pg.Client[] = [];
    try {
      for (let id = 1; id < workers; id++) extraClients.push(await connectDatabase(settings.databaseUrl, 'etl-run'));
      await Promise.all([worker(0, client), ...extraClients.map((extra, index) => worker(index + 1, extra))]);
    } finally {
      await Promise.all(extraClients.map((extra) => extra.end().catch(() => {})));
    }
    if (signal.aborted) {
      summary.status = 'aborted';
      summary.error = lock.lost ? 'the connection holding the run lock was lost' : 'the run was stopped by a signal';
    } else if (summary.status === 'ok' && summary.files.failed > 0) {
      summary.status = 'failed';
    }
    await writeFailedFilesLog(client, settings.stateDir).catch((error) => logger.warn({ err: errorMessage(error) }, 'could not write failed_files_log.json'));
    return finish(summary, started);
  } catch (error) {
    // E.g. the source cannot be listed: the summary says the run failed, and why, in one sentence.
    summary.status = 'failed';
    summary.error = errorMessage(error);
    finish(summary, started);
    throw error;
  } finally {
    if (progress) clearInterval(progress);
    if (summary.status !== 'locked') {
      summary.summary_file = await appendRunSummary(settings.stateDir, summary).catch((error) => {
        logger.warn({ err: errorMessage(error) }, 'could not write the run summary file');
        return undefined;
      });
      await client
        .query(`UPDATE etl_runs SET finished_at = $2, status = $3, summary = $4 WHERE run_id = $1`, [runId, summary.finished_at, summary.status, summary])
        .catch(() => {});
    }
    if (lock) {
      const released = await lock.release().catch(() => false);
      if (!released && !lock.lost) logger.warn('the run lock was not held at release');
    }
    await client.end().catch(() => {});
    await source.close?.();
  }
}

interface LoadOneContext {
  client: pg.Client;
  source: Source;
  logger: Logger;
  runId: string;
  traceId: string;
  settings: Settings;
  signal: AbortSignal;
  onRows: (rows: number) => void;
  parser: ParseThread;
}

async function loadOne(object: SourceObject, context: LoadOneContext): Promise<FileResult | 'aborted'> {
  return tracer.startActiveSpan('etl.file', async (span) => {
    span.setAttributes({ 'etl.object.key': object.key, 'etl.object.size': object.size, 'etl.object.version': object.version });
    const { logger } = context;
    try {
      const result = await loadFile(object, {
        client: context.client,
        source: context.source,
        parser: context.parser,
        logger,
        runId: context.runId,
        traceId: context.traceId,
        rejectThreshold: context.settings.rejectThreshold,
        rejectThresholdMinRows: context.settings.rejectThresholdMinRows,
        read: { sourceOmitsFinalNewline: context.settings.sourceOmitsFinalNewline },
        retry: { baseSeconds: context.settings.retryBaseSeconds, maxSeconds: context.settings.retryMaxSeconds },
        signal: context.signal,
        onRows: context.onRows,
      });
      span.setAttributes({
        'etl.rows.read': result.rowsRead,
        'etl.rows.loaded': result.rowsLoaded,
        'etl.rows.quarantined': result.rowsQuarantined,
        'etl.file.status': result.status,
      });
      if (result.status === 'failed') {
        span.setAttribute('etl.error.class', result.errorClass ?? 'OTHER_ERROR');
        span.recordException({ name: result.errorClass ?? 'OTHER_ERROR', message: result.errorMessage ?? '' });
        span.setStatus({ code: SpanStatusCode.ERROR, message: `${result.errorClass}: ${result.errorMessage}` });
        logger.error(
          { object_key: object.key, error_class: result.errorClass, rows_read: result.rowsRead, rows_quarantined: result.rowsQuarantined, err: result.errorMessage },
          `file failed: ${result.errorMessage}`,
        );
      } else {
        logger.info(
          {
            object_key: object.key,
            rows_read: result.rowsRead,
            rows_loaded: result.rowsLoaded,
            rows_quarantined: result.rowsQuarantined,
            rows_repaired: result.rowsRepaired,
            values_recorded: result.valuesRecorded,
            encoding: result.encoding,
            duration_ms: result.durationMs,
          },
          'file loaded',
        );
      }
      return result;
    } catch (error) {
      if (error instanceof RunAbortedError) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'run stopped; the file was rolled back' });
        logger.warn({ object_key: object.key }, 'run stopped: the file in flight was rolled back');
        return 'aborted';
      }
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

function account(summary: RunSummary, result: FileResult): void {
  summary.rows.read += result.rowsRead;
  summary.rows.loaded += result.rowsLoaded;
  summary.rows.quarantined += result.rowsQuarantined;
  summary.rows.repaired += result.rowsRepaired;
  summary.rows.values_recorded += result.valuesRecorded;
  if (result.status === 'loaded') {
    summary.files.loaded++;
    summary.loaded_files.push({
      key: result.key,
      rows_read: result.rowsRead,
      rows_loaded: result.rowsLoaded,
      rows_quarantined: result.rowsQuarantined,
      extra_columns: result.extraColumns,
    });
  } else {
    summary.files.failed++;
    summary.failed_files.push({ key: result.key, error_class: result.errorClass ?? 'OTHER_ERROR', message: result.errorMessage ?? '' });
  }
}

function finish(summary: RunSummary, started: Date): RunSummary {
  const finished = new Date();
  summary.finished_at = finished.toISOString();
  summary.duration_seconds = Math.round((finished.getTime() - started.getTime()) / 10) / 100;
  summary.rows_per_second = summary.duration_seconds > 0 ? Math.round(summary.rows.read / summary.duration_seconds) : 0;
  return summary;
}

/** failed_files_log.json: every object whose latest attempt failed, with reason and attempts. */
async function writeFailedFilesLog(client: pg.Client, stateDir: string): Promise<void> {
  const { rows } = await client.query(
    `SELECT object_key, version, error_class, error_message AS reason, attempts, first_seen_at, updated_at AS last_failed_at, next_attempt_at
     FROM etl_files WHERE status = 'failed' ORDER BY object_key`,
  );
  await writeJsonAtomic(path.join(stateDir, 'failed_files_log.json'), { updated_at: new Date().toISOString(), failed_files: rows });
}
