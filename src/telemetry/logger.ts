// pino logger: JSON lines on stdout, pretty when a person watches a terminal.
// Every line carries trace_id/span_id of the active span so a log line leads to its trace.
import { trace } from '@opentelemetry/api';
import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  format: 'auto' | 'json' | 'pretty';
  /** Extra destinations (log files); stdout is always written. */
  extraStreams?: pino.StreamEntry[];
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const stdout: DestinationStream = pretty
    ? (pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } }) as DestinationStream)
    : pino.destination({ dest: 1, sync: true });
  const streams: pino.StreamEntry[] = [{ level: options.level as pino.Level, stream: stdout }, ...(options.extraStreams ?? [])];
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const span = trace.getActiveSpan();
        if (!span) return {};
        const context = span.spanContext();
        return { trace_id: context.traceId, span_id: context.spanId };
      },
    },
    pino.multistream(streams, { dedupe: false }),
  );
}

/** A logger that writes nothing, for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
