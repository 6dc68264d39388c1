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
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const stdout: DestinationStream = pretty
    ? (pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } }) as DestinationStream)
    : pino.destination({ dest: 1, sync: true });
  const level = options.level as pino.Level;
  const files = options.logFiles && options.level !== 'silent' ? logFileStreams(options.logFiles, level) : [];
  const streams: pino.StreamEntry[] = [{ level, stream: stdout }, ...files, ...(options.extraStreams ?? [])];
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
