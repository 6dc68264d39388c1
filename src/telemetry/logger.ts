// pino logger: JSON lines on stdout, pretty when a person watches a terminal.
// Every line carries trace_id/span_id of the active span (outside a span, the trace_id of the run)
// so a log line leads to its trace. With `logFiles`, also etl_pipeline.log and etl_errors.log.
import pino, { type Logger, type DestinationStream } from 'pino';
import { logFileStreams, type LogFilesOptions } from './log-files.ts';
import { traceFields } from './spans.ts';
import { scrub } from '../secrets.ts';

export type { Logger };

export interface LoggerOptions {
  level: string;
  format: 'auto' | 'json' | 'pretty';
  /** Extra destinations (log files); stdout is always written. */
  extraStreams?: pino.StreamEntry[];
  /** Also write etl_pipeline.log (rotated at 50 MB) and etl_errors.log in this folder (state_dir). */
  logFiles?: LogFilesOptions;
  /**
   * A person's terminal with a live view of the run (commands/run-view.ts): it gets the warnings and
   * errors, one short line each, instead of JSON lines on stdout.
   */
  terminal?: { log(text: string): void };
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const stdout: DestinationStream = options.terminal
    ? terminalDestination(options.terminal)
    : pretty
    ? (pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } }) as DestinationStream)
    : pino.destination({ dest: 1, sync: true });
  const level = options.level as pino.Level;
  const files = options.logFiles && options.level !== 'silent' ? logFileStreams(options.logFiles, level) : [];
  // On a person's terminal only warnings and errors (the view shows the rest); log files get all.
  const shown = options.terminal && levelValue(level) < levelValue('warn') ? 'warn' : level;
  const streams: pino.StreamEntry[] = [{ level: shown, stream: stdout }, ...files, ...(options.extraStreams ?? [])];
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: traceFields,
      // The net under every line: no registered secret leaves in a log (src/secrets.ts).
      hooks: { streamWrite: scrub },
    },
    pino.multistream(streams, { dedupe: false }),
  );
}

/** A logger that writes nothing, for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

function levelValue(level: string): number {
  return pino.levels.values[level] ?? Number.POSITIVE_INFINITY;
}

/** Warnings and errors as one short line each for a person: "warn: message (object key)". */
function terminalDestination(terminal: { log(text: string): void }): DestinationStream {
  return {
    write(line: string) {
      try {
        const entry = JSON.parse(line) as { level?: string; msg?: string; object_key?: string; err?: unknown; error_class?: string };
        // The view prints each failed object itself (one line with its class), so not twice.
        if (entry.error_class !== undefined && entry.msg?.startsWith('file failed')) return;
        const about = entry.object_key ? ` (${entry.object_key})` : '';
        const detail = typeof entry.err === 'string' && entry.msg && !entry.msg.includes(entry.err) ? `: ${entry.err}` : '';
        terminal.log(`${entry.level ?? 'log'}: ${entry.msg ?? ''}${detail}${about}`);
      } catch {
        terminal.log(line.trimEnd());
      }
    },
  };
}
