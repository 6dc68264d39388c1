// A batch of source objects end to end, in one transaction, and the one owner of that transaction
// and of every error on it:
//   local copies -> each object read by the parse worker into the batch's staging records ->
//   COPY into the staging tables -> merge -> quarantine, value issues and ledger rows -> commit.
// A crash anywhere leaves all of the batch or nothing, so each object is loaded exactly once.
// Whatever fails, every object ends accounted for in the ledger (loaded, or failed with its
// class) unless the database connection itself is gone, in which case the run stops and the next
// run completes the objects.
//
// An object that fails while it is read is taken out of the batch again and recorded failed, so
// it never fails the others (pipeline/batches.ts says which objects share a batch). When that is
// not possible (its rows were handed out already), or the database refuses the batch, the batch
// is rolled back and its objects are loaded one by one, each as a batch of its own.
//
// Reading an object again is decided here: with its encoding decided first (content that is not
// plain UTF-8, found while reading), or with the rows Postgres refused quarantined.
//
// Spans: etl.batch, child of etl.run, holds an etl.file span per object (with etl.download and
// etl.parse) and the batch's etl.copy, etl.merge and etl.record.
import type pg from 'pg';
import { context as otelContext, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { Logger } from '../telemetry/logger.ts';
import { failSpan, inSpan, tracer } from '../telemetry/spans.ts';
import type { ChunkEvent, ObjectRead, ParseThread, ReadCounts } from '../read/parse-thread.ts';
import type { ExportFormat } from '../read/export-reader.ts';
import { StageCopies } from '../load/stage-copies.ts';
import { createStage, existingFirstKeys, lostToAnotherLoad } from '../load/staging.ts';
import { mergeStaged } from '../load/merge.ts';
import { recordFile, type FileOutcome, type RetryPolicy } from '../load/ledger.ts';
import { keepFailedAttempt, replaceWithStaged } from '../load/quarantine.ts';
import { begin, commit, rollback, rollbackToSavepoint, savepoint } from '../load/transaction.ts';
import type { LocalCopy, Source, SourceObject } from '../sources/source.ts';
import { classify, errorMessage, RunAbortedError } from './errors.ts';
import { boundedList } from '../safe-text.ts';
import type { SharedClaims } from './shared-run.ts';

export interface FileLimits {
  rejectThreshold: number;
  rejectThresholdMinRows: number;
  maxRejectsPerObject: number;
  maxRecordBytes: number;
  maxGzipRatio: number;
  sourceOmitsFinalNewline: boolean;
}

export interface LoadContext {
  /** The load's own connection. */
  client: pg.Client;
  source: Source;
  /** Reads the objects on a worker thread; one per concurrent load. */
  parser: ParseThread;
  logger: Logger;
  runId: string;
  traceId?: string;
  limits: FileLimits;
  retry: RetryPolicy;
  signal: AbortSignal;
  /** An object's reading starts. */
  onStart?: (object: SourceObject) => void;
  /** Rows of an object read so far, for progress. */
  onRows?: (object: SourceObject, rows: number) => void;
  /**
   * Target tables that were empty when the run started: a key of theirs is new exactly when no
   * load of the run had it (read/stage-encoder.ts, NewKeyClaims), so they are not asked about keys.
   */
  emptyAtStart: readonly string[];
  /**
   * In a shared run (pipeline/shared-run.ts): every transaction claims its objects, and records
   * them done with their ledger rows; an object another worker has taken meanwhile is left to it.
   */
  shared?: SharedClaims;
}

export interface FileResult extends FileOutcome {
  key: string;
  durationMs: number;
  /** The database connection is gone: the run cannot go on; the object is not recorded. */
  fatal?: boolean;
}

const COPY_CHUNK_BYTES = 256 * 1024;
/** Direct COPYs of a batch that loses keys to other loads, before every row of it is merged. */
const MAX_DIRECT_COPIES = 3;
/** Rows Postgres may refuse in one object (each costs a new read of it) before the object fails. */
const MAX_REFUSED_ROWS = 20;
const MIN_INFLATE_BOUND = 64 * 1024 * 1024;

/**
 * Loads a batch of objects; one result per object, oldest first (in a shared run, per object this
 * worker kept: one that another worker took between two of this batch's transactions is that
 * worker's to load and report). Throws RunAbortedError when the run is stopped (the batch in flight
 * is rolled back). `claimed`: a transaction is open on the load's connection with the batch claimed
 * in it (SharedQueue.next), and the first attempt goes on in it.
 */
export async function loadBatch(batch: readonly SourceObject[], context: LoadContext, claimed = false): Promise<FileResult[]> {
  // Oldest first, ties by key byte by byte (COLLATE "C"): the worker's later record of a key wins.
  const objects = [...batch].sort((a, b) => a.lastModified.getTime() - b.lastModified.getTime() || Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  const together = await loadTogether(objects, context, claimed);
  if (together !== 'one by one') return together;
  context.logger.warn({ objects: boundedList(objects.map((object) => object.key), 10) }, 'the batch was rolled back; loading its objects one by one');
  const results: FileResult[] = [];
  for (const object of objects) {
    const alone = await loadTogether([object], context);
    if (alone === 'one by one') throw new Error('a batch of one object is not split');
    results.push(...alone);
  }
  return results;
}

/** One object of a batch: its span, its local copy, what happened to it. */
class FileLoad {
  readonly object: SourceObject;
  /** Its object_index in the batch's staging records (1-based). */
  readonly index: number;
  readonly span: Span;
  readonly started = Date.now();
  local: LocalCopy | undefined;
  /** Read in one pass as plain UTF-8, until the content says otherwise. */
  assumeUtf8 = true;
  /** Rows Postgres refused on earlier attempts, by ordinal: quarantined on the next read. */
  readonly refused = new Map<number, string>();
  outcome: FileOutcome = emptyOutcome();
  /** The failure the object is recorded with, if it failed. */
  failure: unknown;
  /** In a shared run: another worker took the object between two of this batch's transactions. */
  taken = false;

  constructor(object: SourceObject, index: number, span: Span) {
    this.object = object;
    this.index = index;
    this.span = span;
  }

  /** Runs `work` with this file's span active (its log lines carry its span id). */
  within<T>(work: () => T): T {
    return otelContext.with(trace.setSpan(otelContext.active(), this.span), work);
  }
}

type Together = FileResult[] | 'one by one';

/** The batch in one transaction, with its own etl.batch span. */
async function loadTogether(objects: readonly SourceObject[], context: LoadContext, claimed = false): Promise<Together> {
  return tracer.startActiveSpan('etl.batch', { attributes: { 'etl.batch.objects': objects.length } }, async (batchSpan) => {
    const files = objects.map((object, at) => {
      const span = tracer.startSpan('etl.file', { attributes: { 'etl.object.key': object.key, 'etl.object.size': object.size, 'etl.object.version': object.version } });
      return new FileLoad(object, at + 1, span);
    });
    let results: Together | undefined;
    let stopped = false;
    try {
      await downloadAll(files, context);
      const batch: BatchState = { direct: true, open: claimed };
      for (;;) {
        const attempt = await attemptBatch(files, context, batchSpan, batch);
        if (attempt === 'again') continue;
        if (attempt === 'one by one') {
          batchSpan.setStatus({ code: SpanStatusCode.ERROR, message: 'the batch was rolled back; its objects load one by one' });
          results = 'one by one';
          return results;
        }
        results = files.filter((file) => !file.taken).map((file) => finishFile(file, context, attempt === 'fatal'));
        return results;
      }
    } catch (error) {
      stopped = error instanceof RunAbortedError;
      if (!stopped) failSpan(batchSpan, error);
      throw error;
    } finally {
      for (const file of files) {
        await file.local?.release().catch((error: unknown) => context.logger.warn({ object_key: file.object.key, err: errorMessage(error) }, 'could not remove the local copy'));
        if (stopped) {
          file.span.setStatus({ code: SpanStatusCode.ERROR, message: 'run stopped; the file was rolled back' });
          file.within(() => context.logger.warn({ object_key: file.object.key }, 'run stopped: the file in flight was rolled back'));
        } else if (results === 'one by one') {
          file.span.setAttribute('etl.file.status', 'retried alone');
        } else if (file.taken) {
          file.span.setAttribute('etl.file.status', 'taken by another worker');
        }
        file.span.end();
      }
      batchSpan.end();
    }
  });
}

/** Every object's local copy, before the transaction opens; an object that cannot be fetched fails on its own. */
async function downloadAll(files: readonly FileLoad[], context: LoadContext): Promise<void> {
  for (const file of files) {
    await file.within(async () => {
      try {
        file.local = await inSpan('etl.download', {}, () => context.source.localCopy(file.object, context.signal));
      } catch (error) {
        if (context.signal.aborted) throw new RunAbortedError('the run was stopped');
        file.failure = error;
        file.outcome = failedOutcome(emptyOutcome(), error);
      }
    });
  }
}

/** What attempts of a batch carry over. */
interface BatchState {
  /** Rows of new keys go into the target tables directly (until another load takes one first). */
  direct: boolean;
  /** The next attempt's transaction is open already, its objects claimed (a shared run's first attempt). */
  open: boolean;
}

/** Thrown inside an attempt: the attempt is rolled back and decided again. */
class AttemptEnds extends Error {
  readonly next: 'again' | 'one by one';
  constructor(next: 'again' | 'one by one') {
    super(next);
    this.next = next;
  }
}

/**
 * One transaction over the batch: 'done' when it committed (every file has its outcome), 'again'
 * to read it again (an encoding to decide first, a refused row to quarantine), 'one by one', or
 * 'fatal' when the database connection is gone (nothing recorded).
 */
async function attemptBatch(all: readonly FileLoad[], context: LoadContext, batchSpan: Span, batch: BatchState): Promise<'done' | 'again' | 'one by one' | 'fatal'> {
  const { client, parser } = context;
  let files = all.filter((file) => !file.taken);
  let copies = new StageCopies(client);
  let alone = files.length === 1;
  let copySpan: Span | undefined;
  let copyRecords = 0;
  let copyBytes = 0;
  // etl.copy is the batch's, whichever object's reading hands out the first chunk.
  const batchContext = otelContext.active();
  const write = async (chunk: ChunkEvent) => {
    copySpan ??= tracer.startSpan('etl.copy', {}, batchContext);
    await copies.write(chunk.stage, chunk.bytes, chunk.ordinals, chunk.attempts);
    copyRecords += chunk.ordinals.length;
    copyBytes += chunk.bytes.length;
    if (context.signal.aborted) throw new RunAbortedError('the run was stopped');
  };
  try {
    if (batch.open) {
      batch.open = false;
    } else {
      await begin(client);
      // A shared run: the objects are claimed again, in this transaction; another worker may have
      // taken some since the last one rolled back, and loads them itself.
      const taken = context.shared ? await context.shared.claim(client, files.map((file) => file.object.key)) : new Set<string>();
      for (const file of files) if (taken.has(file.object.key)) file.taken = true;
      files = files.filter((file) => !file.taken);
      alone = files.length === 1;
      if (files.length === 0) {
        await commit(client);
        return 'done';
      }
    }
    const reading = files.filter((file) => file.local !== undefined);
    for (const file of reading) {
      file.outcome = emptyOutcome();
      file.failure = undefined;
    }
    await createStage(client);
    parser.startBatch(COPY_CHUNK_BYTES);
    for (const file of reading) await readFile(file, context, write, alone);
    const keys = await claimedKeys(context, batch.direct);
    let existing = keys && (await existingOf(context, keys));
    let direct = existing !== undefined;
    if (direct) await savepoint(client);
    let lost = await copyFlushed(parser.flush(existing), write, () => copies.end(), direct);
    for (let tries = 1; lost !== undefined; tries++) {
      // Another load inserted a key this batch took for new (in a shared run, another process:
      // their claims on new keys are their own), and its transaction has ended: that is what the
      // COPY waited for. Back to before the flush, the tables asked again which keys they have,
      // and the records the worker still holds go again, those keys merged; nothing is read again.
      // A batch that keeps losing keys has every row merged.
      direct = tries < MAX_DIRECT_COPIES;
      context.logger.info(
        { objects: boundedList(files.map((file) => file.object.key), 10), err: errorMessage(lost) },
        direct ? 'another load inserted a key of this batch first; copying the batch again with the keys the tables have now merged' : 'another load inserted a key of this batch first; copying the batch again with every row merged',
      );
      if (!copies.error) await copies.abort(errorMessage(lost));
      await rollbackToSavepoint(client);
      copies = new StageCopies(client);
      copyRecords = 0;
      copyBytes = 0;
      existing = direct ? await existingOf(context, keys!) : undefined;
      if (!direct) batch.direct = false;
      lost = await copyFlushed(parser.flushAgain(existing), write, () => copies.end(), direct);
    }
    const loaded = reading.filter((file) => file.failure === undefined);
    copySpan?.setAttributes({ 'etl.copy.rows': sum(loaded, (file) => file.outcome.rowsLoaded), 'etl.copy.records': copyRecords, 'etl.copy.bytes': copyBytes, 'etl.copy.direct': direct });
    copySpan?.end();
    copySpan = undefined;
    if (loaded.length > 0) {
      await inSpan('etl.merge', {}, async (span) => {
        const counts = await mergeStaged(client, files.map((file) => file.object));
        // Rows inserted or updated per table: merged, and copied in directly as new keys.
        for (const [table, rows] of Object.entries(counts)) span.setAttribute(`etl.merge.rows.${table}`, rows + (copies.rows[table] ?? 0));
      });
    }
    await inSpan('etl.record', { 'etl.files.loaded': loaded.length, 'etl.files.failed': files.length - loaded.length }, async () => {
      await replaceWithStaged(client, { keys: files.map((file) => file.object.key), versions: files.map((file) => file.object.version) }, loaded.map((file) => file.index));
      for (const file of files) {
        if (file.failure !== undefined && file.local !== undefined && file.outcome.errorClass === 'CSV_FORMAT_ERROR') await keepFailedAttempt(client, file.object, file.index);
        await recordFile(client, file.object, file.outcome, context);
        await context.shared?.done(client, file.object.key, file.outcome);
      }
      await commit(client);
    });
    batchSpan.setAttributes({ 'etl.rows.read': sum(files, (file) => file.outcome.rowsRead), 'etl.rows.loaded': sum(files, (file) => file.outcome.rowsLoaded) });
    return 'done';
  } catch (error) {
    if (copySpan) {
      failSpan(copySpan, error);
      copySpan.end();
    }
    // A COPY still open must be given up before the rollback can run.
    if (!copies.error) await copies.abort(errorMessage(error));
    await rollback(client);
    if (context.signal.aborted || error instanceof RunAbortedError) throw new RunAbortedError('the run was stopped');
    if (error instanceof AttemptEnds) return error.next;
    if (batch.direct && lostToAnotherLoad(error)) {
      // Another load inserted one of the keys this batch took for new: load it again, merging every row.
      context.logger.info({ objects: boundedList(files.map((file) => file.object.key), 10), err: errorMessage(error) }, 'another load inserted a key of this batch first; loading the batch again with every row merged');
      batch.direct = false;
      return 'again';
    }
    if (classify(error).stopsRun) {
      // Nothing of the batch was recorded: the next run loads every object of it.
      for (const file of files) setFailure(file, error);
      return 'fatal';
    }
    const refused = copies.refusedRow(error);
    if (refused) {
      if (!alone) return 'one by one';
      const file = files[0]!;
      const message = `${(error as { code?: string }).code}: ${errorMessage(error)}`;
      if (!file.refused.has(refused.ordinal) && file.refused.size < MAX_REFUSED_ROWS) {
        file.within(() => context.logger.warn({ object_key: file.object.key, data_row: refused.ordinal, err: message }, 'the database refused a row; reading the object again with that row quarantined'));
        file.refused.set(refused.ordinal, message);
        return 'again';
      }
      const tooMany = Object.assign(new Error(`Postgres refused more than ${MAX_REFUSED_ROWS} rows of the object (the last: ${message}); check the database encoding (UTF8 is needed)`), { code: '22000' });
      return await recordAlone(file, context, tooMany);
    }
    if (!alone) return 'one by one';
    return await recordAlone(files[0]!, context, error);
  } finally {
    // Committed or rolled back: the keys this batch copied in are no longer another load's to avoid.
    parser.release();
  }
}

/**
 * Copies what the worker hands out at the batch's end; with `direct`, a COPY that failed because
 * another load inserted a key first (lostToAnotherLoad) is returned, not thrown, once the worker
 * has handed out the rest (it keeps the records for flushAgain()).
 */
async function copyFlushed(chunks: AsyncIterable<ChunkEvent>, write: (chunk: ChunkEvent) => Promise<void>, end: () => Promise<void>, direct: boolean): Promise<unknown> {
  let lost: unknown;
  const unlessLost = async (step: () => Promise<void>) => {
    try {
      await step();
    } catch (error) {
      if (!direct || !lostToAnotherLoad(error)) throw error;
      lost = error;
    }
  };
  for await (const chunk of chunks) if (lost === undefined) await unlessLost(() => write(chunk));
  if (lost === undefined) await unlessLost(end);
  return lost;
}

/**
 * The first keys of the batch's records per table that takes rows directly, claimed for this load
 * (read/stage-encoder.ts); undefined when every row is to be merged (`direct` false), or when the
 * batch was handed out early, so that a key may be staged twice.
 */
async function claimedKeys(context: LoadContext, direct: boolean): Promise<Record<string, string> | undefined> {
  // The worker claims the keys for this load first (another load of the run then merges them).
  // Merging everything (direct false), the keys are still claimed, so that later batches know them.
  const { keys, handedOut } = await context.parser.keys(context.emptyAtStart);
  return handedOut || !direct ? undefined : keys;
}

/** Of the claimed first keys, those the target tables have (merged); the others are new and copied in. */
async function existingOf(context: LoadContext, keys: Record<string, string>): Promise<Record<string, string>> {
  const existing: Record<string, string> = {};
  for (const [table, firstKeys] of Object.entries(keys)) existing[table] = await existingFirstKeys(context.client, table, firstKeys);
  return existing;
}

/** Reads one object into the batch; its outcome, or its failure when it failed on its own. */
async function readFile(file: FileLoad, context: LoadContext, write: (chunk: ChunkEvent) => Promise<void>, alone: boolean): Promise<void> {
  const { limits, parser } = context;
  const { object } = file;
  context.onStart?.(object);
  await file.within(async () => {
    const parse = tracer.startSpan('etl.parse');
    try {
      for (;;) {
        const request: ObjectRead = {
          path: file.local!.path,
          key: object.key,
          modifiedMs: object.lastModified.getTime(),
          attempt: file.index,
          maxRejects: limits.maxRejectsPerObject,
          rejectThreshold: limits.rejectThreshold,
          rejectThresholdMinRows: limits.rejectThresholdMinRows,
          options: {
            maxRecordBytes: limits.maxRecordBytes,
            maxInflatedBytes: Math.max(MIN_INFLATE_BOUND, Math.round(limits.maxGzipRatio * object.size)),
            sourceOmitsFinalNewline: limits.sourceOmitsFinalNewline,
            exclude: [...file.refused],
            assumeUtf8: file.assumeUtf8,
          },
        };
        let ended: { counts: ReadCounts; format: ExportFormat | undefined; extras: string[]; error?: Error; undone?: boolean } | undefined;
        for await (const event of parser.read(request)) {
          if (event.type === 'chunk') await write(event);
          else if (event.type === 'progress') context.onRows?.(object, event.rows);
          else ended = event.type === 'read' ? event : { ...event };
        }
        if (!ended) throw new Error('the parse worker ended a read without saying how');
        file.outcome = outcomeOf(ended.counts, ended.format, ended.extras);
        context.onRows?.(object, file.outcome.rowsRead);
        if (ended.extras.length > 0 && ended.error === undefined) context.logger.info({ object_key: object.key, extra_columns: ended.extras }, 'ignoring columns that are not in the export layout');
        if (ended.error === undefined) {
          parse.setAttributes(parseAttributes(file.outcome));
          return;
        }
        if ((ended.error as { code?: string }).code === 'NEEDS_PROFILE') {
          // Not plain UTF-8: read again, the encoding decided over the whole object first.
          file.assumeUtf8 = false;
          parse.addEvent('the object is not plain UTF-8; it is read again, its encoding decided first');
          if (ended.undone) continue;
          throw new AttemptEnds('again');
        }
        // The object fails on its own; taken out of a batch, or alone: recorded failed.
        if (!ended.undone && !alone) throw new AttemptEnds('one by one');
        setFailure(file, ended.error);
        parse.setAttributes(parseAttributes(file.outcome));
        failSpan(parse, ended.error);
        return;
      }
    } catch (error) {
      if (!(error instanceof AttemptEnds)) failSpan(parse, error);
      throw error;
    } finally {
      parse.end();
    }
  });
}

function parseAttributes(outcome: FileOutcome): Attributes {
  return {
    'etl.rows.read': outcome.rowsRead,
    'etl.rows.quarantined': outcome.rowsQuarantined,
    'etl.rows.repaired': outcome.rowsRepaired,
    'etl.values.recorded': outcome.valuesRecorded,
    ...(outcome.encoding ? { 'etl.encoding': outcome.encoding } : {}),
    ...(outcome.delimiter ? { 'etl.delimiter': outcome.delimiter, 'etl.line_break': outcome.lineBreak! } : {}),
    ...(outcome.extraColumns.length > 0 ? { 'etl.columns.extra': outcome.extraColumns } : {}),
  };
}

function outcomeOf(counts: ReadCounts, format: ExportFormat | undefined, extras: string[]): FileOutcome {
  return {
    status: 'loaded',
    rowsRead: counts.rows + counts.rejects,
    rowsLoaded: counts.rows,
    rowsQuarantined: counts.rejects,
    valuesRecorded: counts.issues,
    rowsRepaired: counts.repaired,
    extraColumns: extras,
    ...(format ? { encoding: format.encoding, delimiter: format.delimiter, lineBreak: format.lineBreak } : {}),
  };
}

function setFailure(file: FileLoad, error: unknown): void {
  file.failure = error;
  file.outcome = failedOutcome(file.outcome, error);
}

/**
 * An object alone whose transaction failed: recorded failed in a transaction of its own. When
 * the database connection is gone nothing can be recorded: the run stops.
 */
async function recordAlone(file: FileLoad, context: LoadContext, error: unknown): Promise<'done' | 'fatal'> {
  setFailure(file, error);
  if (classify(error).stopsRun) return 'fatal';
  const { client } = context;
  try {
    await inSpan('etl.record', { 'etl.files.loaded': 0, 'etl.files.failed': 1 }, async () => {
      await begin(client);
      if (context.shared && (await context.shared.claim(client, [file.object.key])).size > 0) {
        // Another worker took it while this one's transaction was rolled back: it records it.
        file.taken = true;
        await rollback(client);
        return;
      }
      await recordFile(client, file.object, file.outcome, context);
      await context.shared?.done(client, file.object.key, file.outcome);
      await commit(client);
    });
    return 'done';
  } catch (recordError) {
    await rollback(client);
    // The ledger cannot be written: the run cannot account for what it does, so it stops.
    file.outcome = { ...file.outcome, errorClass: 'DATABASE_CONNECTION_ERROR', errorMessage: `${file.outcome.errorMessage}; recording that failed too: ${errorMessage(recordError)}` };
    return 'fatal';
  }
}

/** The file's result, on its span and in its log line. */
function finishFile(file: FileLoad, context: LoadContext, fatal: boolean): FileResult {
  const { outcome, object, span } = file;
  const result: FileResult = { ...outcome, key: object.key, durationMs: Date.now() - file.started, ...(fatal && file.failure !== undefined ? { fatal: true } : {}) };
  span.setAttributes({ 'etl.rows.read': result.rowsRead, 'etl.rows.loaded': result.rowsLoaded, 'etl.rows.quarantined': result.rowsQuarantined, 'etl.file.status': result.status });
  file.within(() => {
    if (result.status === 'failed') {
      const errorClass = result.errorClass ?? 'OTHER_ERROR';
      span.setAttribute('etl.error.class', errorClass);
      span.recordException({ name: errorClass, message: result.errorMessage ?? '' });
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${errorClass}: ${result.errorMessage}` });
      context.logger.error(
        { object_key: object.key, error_class: result.errorClass, rows_read: result.rowsRead, rows_quarantined: result.rowsQuarantined, err: result.errorMessage },
        `file failed: ${result.errorMessage}`,
      );
    } else {
      context.logger.info(
        {
          object_key: object.key,
          rows_read: result.rowsRead,
          rows_loaded: result.rowsLoaded,
          rows_quarantined: result.rowsQuarantined,
          rows_repaired: result.rowsRepaired,
          values_recorded: result.valuesRecorded,
          encoding: result.encoding,
          delimiter: result.delimiter,
          line_break: result.lineBreak,
          duration_ms: result.durationMs,
        },
        'file loaded',
      );
    }
  });
  return result;
}

/** The outcome of a failed attempt: nothing loaded, the class and retry rule of the failure. */
function failedOutcome(outcome: FileOutcome, error: unknown): FileOutcome {
  const failure = classify(error);
  return { ...outcome, status: 'failed', errorClass: failure.errorClass, errorMessage: errorMessage(error), retry: failure.retry, rowsLoaded: 0 };
}

function emptyOutcome(): FileOutcome {
  return { status: 'loaded', rowsRead: 0, rowsLoaded: 0, rowsQuarantined: 0, valuesRecorded: 0, rowsRepaired: 0, extraColumns: [] };
}

function sum<T>(items: readonly T[], pick: (item: T) => number): number {
  return items.reduce((total, item) => total + pick(item), 0);
}
