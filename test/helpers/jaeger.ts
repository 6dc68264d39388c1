// A trace as Jaeger's query API (/api/traces) returns it, and the few readings of it that both
// the tracing tests and docs/jaeger-trace.ts (the drawing behind docs/jaeger-trace.png) need.
export interface JaegerTag {
  key: string;
  type: string;
  value: unknown;
}
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: string; traceID: string; spanID: string }>;
  startTime: number;
  duration: number;
  tags: JaegerTag[];
  logs: Array<{ timestamp: number; fields: JaegerTag[] }>;
  processID: string;
}
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerTag[] }>;
}

/** Tags (of a span, a log entry or a process) as one object. */
export const tags = (list: JaegerTag[]): Record<string, unknown> => Object.fromEntries(list.map((tag) => [tag.key, tag.value]));
export const parentOf = (span: JaegerSpan): string | undefined => span.references.find((reference) => reference.refType === 'CHILD_OF')?.spanID;
export const inError = (span: JaegerSpan): boolean => tags(span.tags)['otel.status_code'] === 'ERROR';
