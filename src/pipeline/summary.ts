// The summary of one run: what it planned, what each object came to, how it ended. Logged at the
// end, appended to the day's summary file on the state dir and stored in etl_runs.
import type { Span } from '@opentelemetry/api';
import type { FileResult } from './file.ts';

/** locked: another run holds the run lock; done: a worker of a shared run came after it was closed. Neither touches anything. */
export type RunStatus = 'ok' | 'failed' | 'locked' | 'done' | 'aborted';

export interface RunSummary {
  run_id: string;
  trace_id: string | null;
  status: RunStatus;
  started_at: string;
  finished_at: string;
  duration_seconds: number;
  source: string;
  files: {
    listed: number;
    planned: number;
    loaded: number;
    failed: number;
    unchanged: number;
    waiting: number;
    skipped: number;
    gone: number;
    /** Objects whose latest attempt failed, in the ledger after the run (this run's and earlier ones). */
    failed_in_ledger: number;
  };
  rows: { read: number; loaded: number; quarantined: number; repaired: number; values_recorded: number };
  rows_per_second: number;
  /** When the last successful run (this one, when it succeeded) finished; null when none has. */
  last_success_at: string | null;
  failed_files: Array<{ key: string; error_class: string; message: string }>;
  skipped_objects: Array<{ key: string; reason: string }>;
  loaded_files: Array<{ key: string; rows_read: number; rows_loaded: number; rows_quarantined: number; extra_columns: string[] }>;
  error?: string;
  summary_file?: string;
  /** A worker of a shared run (config run_id): its counts are its own; the last one out has the run's. */
  shared?: { id: string; worker: string; planned: boolean; run?: RunSummary };
}

/** The run stepped aside (another run holds the lock, or the shared run was over): nothing was touched. */
export function steppedAside(summary: RunSummary): boolean {
  return summary.status === 'locked' || summary.status === 'done';
}

export function newSummary(runId: string, span: Span, started: Date): RunSummary {
  return {
    run_id: runId,
    trace_id: span.isRecording() ? span.spanContext().traceId : null,
    status: 'ok',
    started_at: started.toISOString(),
    finished_at: started.toISOString(),
    duration_seconds: 0,
    source: '',
    files: { listed: 0, planned: 0, loaded: 0, failed: 0, unchanged: 0, waiting: 0, skipped: 0, gone: 0, failed_in_ledger: 0 },
    rows: { read: 0, loaded: 0, quarantined: 0, repaired: 0, values_recorded: 0 },
    rows_per_second: 0,
    last_success_at: null,
    failed_files: [],
    skipped_objects: [],
    loaded_files: [],
  };
}

/** Adds one object's result to the run's counts. */
export function account(summary: RunSummary, result: FileResult): void {
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

/** Stamps the end time, duration and rate. */
export function finish(summary: RunSummary, started: Date): RunSummary {
  const finished = new Date();
  summary.finished_at = finished.toISOString();
  summary.duration_seconds = Math.round((finished.getTime() - started.getTime()) / 10) / 100;
  summary.rows_per_second = summary.duration_seconds > 0 ? Math.round(summary.rows.read / summary.duration_seconds) : 0;
  return summary;
}
