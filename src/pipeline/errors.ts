// What a failure means, decided in one place: the file-level error class of the spec ("What a run
// must account for"), whether the run can go on, and when the object is tried again.
//   - The database connection is gone (restart, termination, network cut, a stall): the run stops;
//     the next run completes the object.
//   - The object's own bytes fail it (no SR Number, an unreadable gzip, a line past the record
//     bound, too many quarantined rows): trying again changes nothing, so it waits for a new version.
//   - Anything else (the source, a timeout, a lock wait, a full disk) is retried after a delay.
import { SourceError } from '../sources/source.ts';
import type { ErrorClass, RetryRule } from '../load/ledger.ts';
import { scrub } from '../secrets.ts';
import { storableText } from '../safe-text.ts';

/** Too many rows quarantined: the file fails as a whole. */
export class RejectThresholdError extends Error {
  override name = 'RejectThresholdError';
}

/** The run was asked to stop (SIGTERM/SIGINT, a lost lock); the file in flight is rolled back. */
export class RunAbortedError extends Error {
  override name = 'RunAbortedError';
}

export interface Failure {
  errorClass: ErrorClass;
  retry: RetryRule;
  /** The run cannot go on (the database connection is gone). */
  stopsRun: boolean;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'EHOSTDOWN',
  '57P01', // admin_shutdown: the server is going down, or pg_terminate_backend
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or in recovery
  '57P05', // idle_session_timeout
  '25P03', // idle_in_transaction_session_timeout: the session is ended
]);

export function isConnectionError(error: unknown): boolean {
  const err = error as { code?: string; message?: string } | undefined;
  if (!err) return false;
  if (err.code && (CONNECTION_CODES.has(err.code) || err.code.startsWith('08'))) return true;
  return /Connection terminated|Client has encountered a connection error|not queryable|Query read timeout|connection is closed/i.test(err.message ?? '');
}

/** Errors of reading an object that its bytes cause: the same bytes fail the same way. */
const UNREADABLE = new Set(['RecordTooLargeError', 'InflateLimitError', 'RejectLimitError', 'RejectThresholdError']);
/** Errors of the local file the parse worker reads (the folder's own file, the spool copy). */
const FILE_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EIO', 'EISDIR', 'ENOTDIR', 'EMFILE', 'ENFILE']);

export function classify(error: unknown): Failure {
  const err = (error ?? {}) as { name?: string; code?: string; $metadata?: unknown };
  const code = err.code ?? '';
  if (err.name === 'MissingRequiredColumnsError') return object('MISSING_REQUIRED_COLUMNS', 'on_change');
  if (UNREADABLE.has(err.name ?? '') || code.startsWith('Z_') || code.startsWith('CSV_')) return object('CSV_FORMAT_ERROR', 'on_change');
  if (error instanceof SourceError || err.$metadata !== undefined || FILE_CODES.has(code)) return object('SOURCE_ERROR', 'backoff');
  if (isConnectionError(error)) return { errorClass: 'DATABASE_CONNECTION_ERROR', retry: 'backoff', stopsRun: true };
  // A value too long for its column would be a schema length error; every text column is
  // unbounded, so this only names what the old product reported.
  if (code === '22001') return object('SCHEMA_LENGTH_ERROR', 'on_change');
  // Data the database refuses outside COPY (where a row can be named): the same rows fail again.
  if (/^(22|23|54)/.test(code)) return object('OTHER_ERROR', 'on_change');
  return object('OTHER_ERROR', 'backoff');
}

function object(errorClass: ErrorClass, retry: RetryRule): Failure {
  return { errorClass, retry, stopsRun: false };
}

/**
 * A row Postgres refused during a staging COPY: its ordinal among the object's data rows (traced
 * back from "COPY <staging table>, line N" by `ordinalOf`) and the server's message; undefined for
 * other errors.
 */
export function refusedRow(error: unknown, ordinalOf: (stage: string, record: number) => number | undefined): { ordinal: number; message: string } | undefined {
  const err = error as { code?: string; where?: string; message?: string } | undefined;
  if (!err?.code || !/^(22|23|54)/.test(err.code)) return undefined;
  const match = /COPY (etl_stage\w*), line (\d+)/.exec(err.where ?? '');
  if (!match) return undefined;
  const ordinal = ordinalOf(match[1]!, Number(match[2]));
  if (ordinal === undefined) return undefined;
  return { ordinal, message: `${err.code}: ${errorMessage(error)}` };
}

/** Characters of an error's message kept for logs, the ledger and spans (a server's message may quote a value). */
const MESSAGE_CHARS = 1000;

/** The first line of an error's message, fit for logs, the ledger and spans (no secret, no NUL, bounded). */
export function errorMessage(error: unknown): string {
  const line = storableText(scrub((error instanceof Error ? error.message : String(error)).split('\n')[0]!));
  return line.length > MESSAGE_CHARS ? `${line.slice(0, MESSAGE_CHARS)}… (${line.length} characters)` : line;
}
