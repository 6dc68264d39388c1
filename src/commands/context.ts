// What every command gets: settings, a logger, and the stop signal.
import type { Settings } from '../config/load.ts';
import type { Logger } from '../telemetry/logger.ts';

export interface CommandContext {
  settings: Settings;
  logger: Logger;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
  /** Command-specific arguments after the command name. */
  args: string[];
  /** Plain output for people (tables, JSON); logs go through `logger`. */
  print: (text: string) => void;
}

/** Exit codes: 0 done (quarantined rows are not failure), 1 a file failed or a fatal error, 2 bad configuration. */
export const EXIT = { ok: 0, failed: 1, config: 2 } as const;
