// One source object end to end, in one transaction: read -> COPY into staging -> merge ->
// rejects, value issues and ledger row -> commit. A crash anywhere leaves all of it or nothing.
// Child spans of the file's span: etl.download (getting the object), etl.parse and etl.copy (one
// stream: they overlap in time), etl.merge, etl.record.
import type pg from 'pg';
import { once } from 'node:events';
import { from as copyFrom } from 'pg-copy-streams';
import type { Logger } from '../telemetry/logger.ts';
import { inSpan } from '../telemetry/spans.ts';
import { ReadSpans } from '../telemetry/read-spans.ts';
import type { ParseThread } from '../read/parse-thread.ts';
import type { ReadExportOptions } from '../read/export-reader.ts';
import { COPY_STAGE_SQL, CREATE_STAGE_SQL } from '../load/staging.ts';
import { mergeStaged } from '../load/merge.ts';
import { recordFile, replaceRejects, type FileOutcome, type RejectRecord, type RetryPolicy, type ValueIssueRecord } from '../load/ledger.ts';
import type { Source, SourceObject } from '../sources/source.ts';
import { classifyError, errorMessage, isConnectionError, RejectThresholdError, RunAbortedError } from './errors.ts';

export interface FileContext {
  client: pg.Client;
  source: Source;
  /** Reads the object on a worker thread; one per concurrent load. */
  parser: ParseThread;
  logger: Logger;
  runId: string;
  traceId?: string;
  rejectThreshold: number;
  rejectThresholdMinRows: number;
  /** Settings of the reading (the worker applies them). */
  read: ReadExportOptions;
  retry: RetryPolicy;
  signal?: AbortSignal;
  /** Called with the number of rows read so far, for progress. */
  onRows?: (rows: number) => void;
}

export interface FileResult extends FileOutcome {
  key: string;
  durationMs: number;
  tables?: Record<string, number>;
  /** The database connection is gone: the run cannot go on. */
  fatal?: boolean;
}

const COPY_BATCH_BYTES = 256 * 1024;

export async function loadFile(object: SourceObject, context: FileContext): Promise<FileResult> {
  const { client } = context;
  const started = Date.now();
  const rejects: RejectRecord[] = [];
  const issues: ValueIssueRecord[] = [];
  const outcome: FileOutcome = {
    status: 'loaded',
    rowsRead: 0,
    rowsLoaded: 0,
    rowsQuarantined: 0,
    valuesRecorded: 0,
    rowsRepaired: 0,
    extraColumns: [],
  };
  try {
    await client.query('BEGIN');
    await client.query(CREATE_STAGE_SQL);
    await copyRows(object, context, outcome, rejects, issues);
    if (
      outcome.rowsQuarantined >= Math.max(1, context.rejectThresholdMinRows) &&
      outcome.rowsQuarantined / outcome.rowsRead > context.rejectThreshold
    ) {
      throw new RejectThresholdError(
        `${outcome.rowsQuarantined} of ${outcome.rowsRead} rows (${percent(outcome.rowsQuarantined / outcome.rowsRead)}) could not be loaded, more than reject_threshold ${percent(context.rejectThreshold)}; see \`etl rejects --object '${object.key}'\``,
      );
    }
    const tables = await inSpan('etl.merge', {}, async (span) => {
      const counts = await mergeStaged(client, object.key, object.lastModified);
      for (const [table, rows] of Object.entries(counts)) span.setAttribute(`etl.merge.rows.${table}`, rows);
      return counts;
    });
    await inSpan('etl.record', { 'etl.file.status': 'loaded', 'etl.rejects.recorded': rejects.length, 'etl.values.recorded': issues.length }, async () => {
      await replaceRejects(client, object, rejects, issues);
      await recordFile(client, object, outcome, context);
      await client.query('COMMIT');
    });
    return { ...outcome, key: object.key, durationMs: Date.now() - started, tables };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    if (error instanceof RunAbortedError) throw error;
    const errorClass = classifyError(error);
    const failed: FileOutcome = {
      ...outcome,
      status: 'failed',
      errorClass,
      errorMessage: errorMessage(error),
      rowsLoaded: 0,
    };
    if (errorClass === 'DATABASE_CONNECTION_ERROR' || isConnectionError(error)) {
      return { ...failed, key: object.key, durationMs: Date.now() - started, fatal: true };
    }
    // The failure is recorded on its own; the rejects found stay visible (etl rejects).
    try {
      await inSpan('etl.record', { 'etl.file.status': 'failed', 'etl.error.class': errorClass }, async () => {
        await client.query('BEGIN');
        await replaceRejects(client, object, errorClass === 'CSV_FORMAT_ERROR' ? rejects : [], []);
        await recordFile(client, object, failed, context);
        await client.query('COMMIT');
      });
    } catch (recordError) {
      await client.query('ROLLBACK').catch(() => {});
      if (isConnectionError(recordError)) return { ...failed, key: object.key, durationMs: Date.now() - started, fatal: true };
      throw recordError;
    }
    return { ...failed, key: object.key, durationMs: Date.now() - started };
  }
}

async function copyRows(
  object: SourceObject,
  context: FileContext,
  outcome: FileOutcome,
  rejects: RejectRecord[],
  issues: ValueIssueRecord[],
): Promise<void> {
  const spans = new ReadSpans();
  const copy = context.client.query(copyFrom(COPY_STAGE_SQL));
  const finished = once(copy, 'finish');
  finished.catch(() => {}); // awaited below; an early error surfaces there or through the write
  let copyBytes = 0;
  let inCopy = false; // which stage an error comes from, for the spans
  const parseAttributes = () => ({
    'etl.rows.read': outcome.rowsRead,
    'etl.rows.quarantined': outcome.rowsQuarantined,
    'etl.rows.repaired': outcome.rowsRepaired,
    'etl.values.recorded': outcome.valuesRecorded,
    ...(outcome.encoding ? { 'etl.encoding': outcome.encoding } : {}),
    ...(outcome.extraColumns.length > 0 ? { 'etl.columns.extra': outcome.extraColumns } : {}),
  });
  try {
    // The worker thread parses and encodes the rows; this thread counts them and feeds COPY.
    for await (const event of context.parser.read(spans.wrapOpen(() => context.source.open(object)), COPY_BATCH_BYTES, context.read)) {
      if (event.type === 'header') {
        spans.startCopy();
        outcome.encoding = event.encoding;
        outcome.extraColumns = event.extras;
        if (event.extras.length > 0) {
          context.logger.info({ object_key: object.key, extra_columns: event.extras }, 'ignoring columns that are not in the export layout');
        }
        continue;
      }
      outcome.rowsRead += event.rows + event.rejects.length;
      outcome.rowsLoaded += event.rows;
      outcome.rowsQuarantined += event.rejects.length;
      outcome.rowsRepaired += event.repaired;
      outcome.valuesRecorded += event.issues.length;
      issues.push(...event.issues);
      rejects.push(...event.rejects);
      if (event.bytes.length > 0) {
        inCopy = true;
        copyBytes += event.bytes.length;
        if (!copy.write(event.bytes)) await Promise.race([once(copy, 'drain'), finished]);
        inCopy = false;
      }
      if (context.signal?.aborted) throw new RunAbortedError('the run was stopped');
      context.onRows?.(outcome.rowsRead);
    }
    spans.endParse(parseAttributes());
    inCopy = true;
    copy.end();
    await finished;
    spans.endCopy({ 'etl.copy.rows': outcome.rowsLoaded, 'etl.copy.bytes': copyBytes });
    context.onRows?.(outcome.rowsRead);
  } catch (error) {
    if (error instanceof RunAbortedError) spans.stop('the run was stopped', parseAttributes());
    else spans.fail(inCopy ? 'copy' : 'parse', error, parseAttributes());
    copy.destroy(error as Error);
    await finished.catch(() => {});
    throw error;
  }
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.01 ? 2 : 1)}%`;
}
