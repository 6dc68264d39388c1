// The spans of reading one object, children of its etl.file span (etl.download, the local copy,
// is its own span before these):
//   etl.parse     from the read request to the last record: decompression, the UTF-8 check (and,
//                 for content that is not plain UTF-8, a first pass over the whole object to decide
//                 its encoding), CSV parsing, header mapping, row repair and quarantine, on the
//                 parse worker
//   etl.copy      from the first batch of staging records to the server's acknowledgement of COPY
//                 into the staging tables
// The worker holds an object's rows until its end (one row per key and table), or hands them out
// early when it is large, so etl.parse and etl.copy may overlap in time; the one that fails
// carries the error, the other records that it stopped.
import { context, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { failSpan, tracer } from './spans.ts';

export type ReadStage = 'parse' | 'copy';

export class ReadSpans {
  private readonly parent: Context;
  private parse: Span | undefined;
  private copy: Span | undefined;

  constructor(parent: Context = context.active()) {
    this.parent = parent;
  }

  /** The parse worker is asked to read the object. */
  startParse(): void {
    this.parse ??= tracer.startSpan('etl.parse', {}, this.parent);
  }

  /** The header is read: COPY starts receiving rows. */
  startCopy(): void {
    this.copy ??= tracer.startSpan('etl.copy', {}, this.parent);
  }

  endParse(attributes: Attributes): void {
    this.parse?.setAttributes(attributes);
    this.parse?.end();
    this.parse = undefined;
  }

  endCopy(attributes: Attributes): void {
    this.copy?.setAttributes(attributes);
    this.copy?.end();
    this.copy = undefined;
  }

  /**
   * `stage` failed with `error`: it gets the error, the other open span an event saying why it
   * stopped. `parseAttributes` (rows read so far, ...) go on etl.parse.
   */
  fail(stage: ReadStage, error: unknown, parseAttributes: Attributes = {}): void {
    this.parse?.setAttributes(parseAttributes);
    const failed = stage === 'parse' ? this.parse : this.copy;
    const other = stage === 'parse' ? this.copy : this.parse;
    if (failed) {
      failSpan(failed, error);
      failed.end();
    }
    if (other) {
      other.addEvent(`stopped: ${stage === 'parse' ? 'parsing' : 'COPY'} failed`);
      other.end();
    }
    this.parse = undefined;
    this.copy = undefined;
  }

  /** The run was stopped (signal, lost lock): open spans end with an event, not an error of their own. */
  stop(reason: string, parseAttributes: Attributes = {}): void {
    this.parse?.setAttributes(parseAttributes);
    for (const span of [this.parse, this.copy]) {
      if (!span) continue;
      span.addEvent(`stopped: ${reason}`);
      span.end();
    }
    this.parse = undefined;
    this.copy = undefined;
  }
}
