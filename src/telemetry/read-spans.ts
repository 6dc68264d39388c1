// The spans of reading one object, children of its etl.file span:
//   etl.download  the first source.open(): S3 spools the object to state_dir/tmp (resuming a
//                 partial copy), a folder source opens the file
//   etl.parse     from the end of the download to the last record: decompression, encoding
//                 detection (a first pass over the whole object), CSV parsing, header mapping, row
//                 repair and quarantine
//   etl.copy      from the header to the server's acknowledgement of COPY into the staging tables
// Parsing and COPY are one stream (rows are copied while later rows are parsed), so etl.parse and
// etl.copy overlap in time; the one that fails carries the error, the other records that it stopped.
import type { Readable } from 'node:stream';
import { context, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { failSpan, inSpan, tracer } from './spans.ts';

export type ReadStage = 'parse' | 'copy';

export class ReadSpans {
  private readonly parent: Context;
  private opens = 0;
  private parse: Span | undefined;
  private copy: Span | undefined;

  constructor(parent: Context = context.active()) {
    this.parent = parent;
  }

  /**
   * Wraps the source's open. The reader opens an object twice (encoding detection, then parsing):
   * the first open is the download; the second, a re-read of what was downloaded, is an event of
   * etl.parse.
   */
  wrapOpen(open: () => Promise<Readable>): () => Promise<Readable> {
    return async () => {
      this.opens++;
      if (this.opens > 1) {
        this.parse?.addEvent('encoding detected: reading the object again to parse it');
        return open();
      }
      const stream = await context.with(this.parent, () => inSpan('etl.download', {}, () => open()));
      this.parse = tracer.startSpan('etl.parse', {}, this.parent);
      return stream;
    };
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
