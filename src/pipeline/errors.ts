// File-level error classes (spec, "What a run must account for") and how errors map onto them.
import { MissingRequiredColumnsError } from '../read/layout.ts';
import type { ErrorClass } from '../load/ledger.ts';
import { SourceError } from '../sources/source.ts';

/** Too many rows quarantined: the file fails as a whole. */
export class RejectThresholdError extends Error {
  override name = 'RejectThresholdError';
}

/** The run was asked to stop (SIGTERM/SIGINT); the file in flight is rolled back. */
export class RunAbortedError extends Error {
  override name = 'RunAbortedError';
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);

export function isConnectionError(error: unknown): boolean {
  const err = error as { code?: string; message?: string } | undefined;
  if (!err) return false;
  if (err.code && (CONNECTION_CODES.has(err.code) || err.code.startsWith('08'))) return true;
  return /Connection terminated|Client has encountered a connection error|not queryable/i.test(err.message ?? '');
}

export function classifyError(error: unknown): ErrorClass {
  if (error instanceof MissingRequiredColumnsError) return 'MISSING_REQUIRED_COLUMNS';
  if (error instanceof RejectThresholdError) return 'CSV_FORMAT_ERROR';
  if (error instanceof SourceError) return 'SOURCE_ERROR';
  if (isConnectionError(error)) return 'DATABASE_CONNECTION_ERROR';
  const code = (error as { code?: string })?.code ?? '';
  if (code.startsWith('Z_') || code.startsWith('CSV_')) return 'CSV_FORMAT_ERROR';
  // A value too long for its column would be a schema length error; every text column is
  // unbounded, so this only names what the old product reported.
  if (code === '22001') return 'SCHEMA_LENGTH_ERROR';
  if ((error as { $metadata?: unknown })?.$metadata !== undefined) return 'SOURCE_ERROR';
  return 'OTHER_ERROR';
}

export function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
