// Span helpers for the pipeline (only @opentelemetry/api: this works, as no-ops, without the SDK),
// and the trace fields every log line carries.
import { context, isSpanContextValid, ROOT_CONTEXT, SpanStatusCode, trace, type Attributes, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { scrub } from '../secrets.ts';

/** The tracer of the pipeline's spans (etl.run, etl.file and the stages of a file). */
export const tracer = trace.getTracer('toshiba-etl');

/** Runs `work` in a new span, child of the active one and active itself; ends it; an error that escapes marks it. */
export async function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Status ERROR with the message, and the exception recorded as a span event (secrets scrubbed). */
export function failSpan(span: Span, error: unknown): void {
  const message = scrub(error instanceof Error ? error.message : String(error));
  const name = error instanceof Error ? error.name : 'Error';
  const stack = error instanceof Error && error.stack ? scrub(error.stack) : undefined;
  span.recordException(stack === undefined ? { name, message } : { name, message, stack });
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

let runTrace: SpanContext | undefined;

/**
 * Remembers the run's span so that log lines written outside it (the closing summary line, a
 * signal warning) still carry the run's trace id.
 */
export function rememberRunTrace(span: Span): void {
  const spanContext = span.spanContext();
  if (isSpanContextValid(spanContext)) runTrace = spanContext;
}

/** trace_id and span_id of the active span; outside any span, the trace_id of the last run. */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const active = trace.getActiveSpan()?.spanContext();
  if (active && isSpanContextValid(active)) return { trace_id: active.traceId, span_id: active.spanId };
  if (runTrace) return { trace_id: runTrace.traceId };
  return {};
}

/** The span as a W3C traceparent, stored with a shared run: its other workers' spans join its trace. */
export function traceparentOf(span: Span): string | null {
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!isSpanContextValid(span.spanContext())) return null;
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

/** The context to start a span in: as a child of the span a traceparent names, or the active one. */
export function contextOfTraceparent(traceparent: string | null | undefined): Context {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent ?? '');
  if (!match) return context.active();
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16), isRemote: true });
}
