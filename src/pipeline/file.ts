// One source object end to end, in one transaction, and the one owner of that transaction and of
// every error on it:
//   local copy -> stage (the parse worker's records, COPY into the staging tables) -> decide (read failure,
//   reject threshold) -> merge -> quarantine, value issues and ledger row -> commit.
// A crash anywhere leaves all of it or nothing. Whatever fails, the object ends accounted for in
// the ledger (loaded, or failed with its class) unless the database connection itself is gone, in
// which case the run stops and the next run completes the object.
// Child spans of the file's span: etl.download, etl.parse and etl.copy (they may overlap in time),
// etl.merge, etl.record.
import type pg from 'pg';
import type { Logger } from '../telemetry/logger.ts';
import { inSpan } from '../telemetry/spans.ts';
import { ReadSpans } from '../telemetry/read-spans.ts';
import type { ParseThread, ReadRequest } from '../read/parse-thread.ts';
import { StageCopies } from '../load/stage-copies.ts';
import { createStage } from '../load/staging.ts';
import { mergeStaged } from '../load/merge.ts';
import { recordFile, type FileOutcome, type RetryPolicy } from '../load/ledger.ts';
import { keepFailedAttempt, replaceWithStaged } from '../load/quarantine.ts';
import { begin, commit, rollback } from '../load/transaction.ts';
import type { LocalCopy, Source, SourceObject } from '../sources/source.ts';
import { classify, errorMessage, refusedRow, RejectThresholdError, RunAbortedError } from './errors.ts';

export interface FileLimits {
  rejectThreshold: number;
  rejectThresholdMinRows: number;
  maxRejectsPerObject: number;
  maxRecordBytes: number;
  maxGzipRatio: number;
  sourceOmitsFinalNewline: boolean;
}

export interface FileContext {
  /** The load's own connection. */
  client: pg.Client;
  source: Source;
  /** Reads the object on a worker thread; one per concurrent load. */
  parser: ParseThread;
  logger: Logger;
  runId: string;
  traceId?: string;
  limits: FileLimits;
  retry: RetryPolicy;
  signal: AbortSignal;
  /** Called with the number of rows read so far, for progress. */
  onRows?: (rows: number) => void;
}

export interface FileResult extends FileOutcome {
  key: string;
  durationMs: number;
  tables?: Record<string, number>;
  /** The database connection is gone: the run cannot go on; the object is not recorded. */
  fatal?: boolean;
}

const COPY_BATCH_BYTES = 256 * 1024;
/** Rows Postgres may refuse in one object (each costs a new read of it) before the object fails. */
const MAX_REFUSED_ROWS = 20;
const MIN_INFLATE_BOUND = 64 * 1024 * 1024;

type Attempt =
  | (FileOutcome & { tables?: Record<string, number>; fatal?: boolean })
  | { refused: { ordinal: number; message: string } }
  /** The object turned out not to be plain UTF-8 after rows were staged: read it again, profiled first. */
  | { readAgain: true };

export async function loadFile(object: SourceObject, context: FileContext): Promise<FileResult> {
  const started = Date.now();
  const done = (outcome: FileOutcome & { tables?: Record<string, number>; fatal?: boolean }): FileResult => ({
    ...outcome,
    key: object.key,
    durationMs: Date.now() - started,
  });
  let local: LocalCopy;
  try {
    local = await inSpan('etl.download', {}, () => context.source.localCopy(object, context.signal));
  } catch (error) {
    if (context.signal.aborted) throw new RunAbortedError('the run was stopped');
    return done(await recordFailure(object, context, emptyOutcome(), error));
  }
  try {
    // Rows Postgres refused on an earlier attempt (by ordinal): the next read quarantines them.
    const refused = new Map<number, string>();
    let assumeUtf8 = true;
    for (;;) {
      const attempt = await loadOnce(object, local.path, { refused, assumeUtf8 }, context);
      if ('readAgain' in attempt) {
        assumeUtf8 = false;
        continue;
      }
      if (!('refused' in attempt)) return done(attempt);
      const { ordinal, message } = attempt.refused;
      if (refused.size >= MAX_REFUSED_ROWS) {
        const error = Object.assign(new Error(`Postgres refused more than ${MAX_REFUSED_ROWS} rows of the object (the last: ${message}); check the database encoding (UTF8 is needed)`), { code: '22000' });
        return done(await recordFailure(object, context, emptyOutcome(), error));
      }
      context.logger.warn({ object_key: object.key, data_row: ordinal, err: message }, 'the database refused a row; reading the object again with that row quarantined');
      refused.set(ordinal, message);
    }
  } finally {
    await local.release().catch((error: unknown) => context.logger.warn({ object_key: object.key, err: errorMessage(error) }, 'could not remove the local copy'));
  }
}

/** One transaction over the object: everything it yields is committed, or nothing. */
interface ReadPlan {
  /** Rows Postgres refused on earlier attempts, by ordinal: quarantined this time. */
  refused: ReadonlyMap<number, string>;
  /** Read in one pass as plain UTF-8 (the worker reads again itself when nothing was sent yet). */
  assumeUtf8: boolean;
}

async function loadOnce(object: SourceObject, path: string, plan: ReadPlan, context: FileContext): Promise<Attempt> {
  const { client } = context;
  const { refused } = plan;
  const outcome = emptyOutcome();
  const copies = new StageCopies(client);
  try {
    await begin(client);
    await createStage(client);
    const failure = (await stageObject(object, path, plan, context, outcome, copies)) ?? overThreshold(object, outcome, context.limits);
    if (failure) {
      // The object fails as a whole; the quarantined rows that explain it stay visible.
      const failed = failedOutcome(outcome, failure);
      await inSpan('etl.record', { 'etl.file.status': 'failed', 'etl.error.class': failed.errorClass! }, async () => {
        if (failed.errorClass === 'CSV_FORMAT_ERROR') await keepFailedAttempt(client, object);
        await recordFile(client, object, failed, context);
        await commit(client);
      });
      return failed;
    }
    const tables = await inSpan('etl.merge', {}, async (span) => {
      const counts = await mergeStaged(client, object.key, object.lastModified);
      for (const [table, rows] of Object.entries(counts)) span.setAttribute(`etl.merge.rows.${table}`, rows);
      return counts;
    });
    await inSpan('etl.record', { 'etl.file.status': 'loaded', 'etl.rows.quarantined': outcome.rowsQuarantined, 'etl.values.recorded': outcome.valuesRecorded }, async () => {
      await replaceWithStaged(client, object);
      await recordFile(client, object, outcome, context);
      await commit(client);
    });
    return { ...outcome, tables };
  } catch (error) {
    await rollback(client);
    if (context.signal.aborted || error instanceof RunAbortedError) throw new RunAbortedError('the run was stopped');
    if (needsProfile(error)) return { readAgain: true };
    const row = refusedRow(error, (stage, record) => copies.ordinalOf(stage, record));
    if (row && !refused.has(row.ordinal)) return { refused: row };
    return recordFailure(object, context, outcome, error);
  }
}

/**
 * The parse worker reads the object and its batches go into the staging tables through COPY.
 * Returns the reading's own failure (the rows read before it stay staged); throws what stops the
 * transaction.
 */
async function stageObject(object: SourceObject, path: string, plan: ReadPlan, context: FileContext, outcome: FileOutcome, copy: StageCopies): Promise<Error | undefined> {
  const { limits } = context;
  const request: ReadRequest = {
    path,
    batchBytes: COPY_BATCH_BYTES,
    maxRejects: limits.maxRejectsPerObject,
    options: {
      maxRecordBytes: limits.maxRecordBytes,
      maxInflatedBytes: Math.max(MIN_INFLATE_BOUND, Math.round(limits.maxGzipRatio * object.size)),
      sourceOmitsFinalNewline: limits.sourceOmitsFinalNewline,
      exclude: [...plan.refused],
      assumeUtf8: plan.assumeUtf8,
    },
  };
  const spans = new ReadSpans();
  spans.startParse();
  const parseAttributes = () => ({
    'etl.rows.read': outcome.rowsRead,
    'etl.rows.quarantined': outcome.rowsQuarantined,
    'etl.rows.repaired': outcome.rowsRepaired,
    'etl.values.recorded': outcome.valuesRecorded,
    ...(outcome.encoding ? { 'etl.encoding': outcome.encoding } : {}),
    ...(outcome.extraColumns.length > 0 ? { 'etl.columns.extra': outcome.extraColumns } : {}),
  });
  let copyBytes = 0;
  let copyRecords = 0;
  let readFailure: Error | undefined;
  let writing = false;
  try {
    for await (const event of context.parser.read(request)) {
      if (event.type === 'header') {
        spans.startCopy();
        outcome.encoding = event.encoding;
        outcome.extraColumns = event.extras;
        if (event.extras.length > 0) context.logger.info({ object_key: object.key, extra_columns: event.extras }, 'ignoring columns that are not in the export layout');
        continue;
      }
      outcome.rowsRead += event.rows + event.rejects;
      outcome.rowsLoaded += event.rows;
      outcome.rowsQuarantined += event.rejects;
      outcome.rowsRepaired += event.repaired;
      outcome.valuesRecorded += event.issues;
      writing = true;
      await copy.write(event.stage, event.bytes, event.ordinals);
      writing = false;
      copyBytes += event.bytes.length;
      copyRecords += event.ordinals.length;
      if (context.signal.aborted) throw new RunAbortedError('the run was stopped');
      context.onRows?.(outcome.rowsRead);
    }
  } catch (error) {
    if (writing || copy.error || error instanceof RunAbortedError || needsProfile(error)) {
      if (error instanceof RunAbortedError) spans.stop('the run was stopped', parseAttributes());
      else if (needsProfile(error)) spans.stop('the object is not plain UTF-8; it is read again, its encoding decided first', parseAttributes());
      else spans.fail('copy', error, parseAttributes());
      await copy.abort(errorMessage(error));
      throw error;
    }
    // The reading failed: what was read before stays staged (its quarantined rows may explain it).
    readFailure = error as Error;
    spans.fail('parse', error, parseAttributes());
  }
  if (!readFailure) spans.endParse(parseAttributes());
  try {
    await copy.end();
  } catch (error) {
    spans.fail('copy', error, parseAttributes());
    throw error;
  }
  // Rows to merge; the COPYs carried one record per key and table, quarantined rows and value issues.
  spans.endCopy({ 'etl.copy.rows': outcome.rowsLoaded, 'etl.copy.records': copyRecords, 'etl.copy.bytes': copyBytes });
  context.onRows?.(outcome.rowsRead);
  return readFailure;
}

function needsProfile(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'NEEDS_PROFILE';
}

function overThreshold(object: SourceObject, outcome: FileOutcome, limits: FileLimits): Error | undefined {
  const { rowsQuarantined, rowsRead } = outcome;
  if (rowsQuarantined < Math.max(1, limits.rejectThresholdMinRows) || rowsQuarantined / rowsRead <= limits.rejectThreshold) return undefined;
  return new RejectThresholdError(
    `${rowsQuarantined} of ${rowsRead} rows (${percent(rowsQuarantined / rowsRead)}) could not be loaded, more than reject_threshold ${percent(limits.rejectThreshold)}; see \`etl rejects --object '${object.key}'\``,
  );
}

/** The outcome of a failed attempt: nothing loaded, the class and retry rule of the failure. */
function failedOutcome(outcome: FileOutcome, error: unknown): FileOutcome {
  const failure = classify(error);
  return { ...outcome, status: 'failed', errorClass: failure.errorClass, errorMessage: errorMessage(error), retry: failure.retry, rowsLoaded: 0 };
}

/**
 * Records a failure in a transaction of its own (the load's was rolled back). When the database
 * connection is gone nothing can be recorded: the result says so and the run stops.
 */
async function recordFailure(object: SourceObject, context: FileContext, outcome: FileOutcome, error: unknown): Promise<FileOutcome & { fatal?: boolean }> {
  const failed = failedOutcome(outcome, error);
  if (classify(error).stopsRun) return { ...failed, fatal: true };
  const { client } = context;
  try {
    await inSpan('etl.record', { 'etl.file.status': 'failed', 'etl.error.class': failed.errorClass! }, async () => {
      await begin(client);
      await recordFile(client, object, failed, context);
      await commit(client);
    });
    return failed;
  } catch (recordError) {
    await rollback(client);
    // The ledger cannot be written: the run cannot account for what it does, so it stops.
    return { ...failed, errorClass: 'DATABASE_CONNECTION_ERROR', errorMessage: `${failed.errorMessage}; recording that failed too: ${errorMessage(recordError)}`, fatal: true };
  }
}

function emptyOutcome(): FileOutcome {
  return { status: 'loaded', rowsRead: 0, rowsLoaded: 0, rowsQuarantined: 0, valuesRecorded: 0, rowsRepaired: 0, extraColumns: [] };
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.01 ? 2 : 1)}%`;
}
