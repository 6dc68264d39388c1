// What every command gets: settings, a logger, and the stop signal.
import type { Settings } from '../config/load.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { RunView } from './run-view.ts';

export interface CommandContext {
  settings: Settings;
  logger: Logger;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
  /** Command-specific arguments after the command name. */
  args: string[];
  /** Plain output for people (tables, JSON); logs go through `logger`. */
  print: (text: string) => void;
  /** `etl run` at a person's terminal: the live view (commands/run-view.ts); the logger then shows only warnings and errors. */
  view?: RunView;
}

/**
 * Exit codes, the contract with Kubernetes (the chart's podFailurePolicy fails the Job on 2 and 3
 * at once; 1 is worth another pod):
 *   0  done: every object loaded or unchanged (quarantined rows are not a failure), or another run
 *      holds the lock
 *   1  the run could not go on: the database or the source unreachable, the connection lost,
 *      stopped by a signal
 *   2  bad configuration
 *   3  objects failed: in this run, or failed earlier and still failed in the ledger (waiting for a
 *      retry or a new version), so a retried pod fails too and the Job ends Failed
 */
export const EXIT = { ok: 0, failed: 1, config: 2, objectsFailed: 3 } as const;
