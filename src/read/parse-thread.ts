// Reading an object on a worker thread. csv-parse and the reading rules are most of the pipeline's
// own CPU time; on the main thread they ran one object at a time, so with two objects in flight
// the second waited for the first's parsing even with a core free. Each load worker of a run has
// its own ParseThread (parse-worker.ts), which reads one object at a time.
//
// The main thread keeps the source: the worker asks for the object's bytes one chunk at a time
// (`open`, `pull`) and answers with the header, then batches of rows already encoded as COPY text
// together with that batch's counts, rejects and value issues. One batch is in flight at a time:
// the next is sent when the caller has taken the previous one (`ack`), so memory stays flat.
import { Worker } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import type { Encoding } from './decode.ts';
import type { ReadExportOptions } from './export-reader.ts';
import { MissingRequiredColumnsError } from './layout.ts';
import type { RejectReason } from './rows.ts';

export type ToWorker =
  | { type: 'start'; batchBytes: number; options: ReadExportOptions }
  | { type: 'chunk'; stream: number; data: ArrayBuffer }
  | { type: 'eof'; stream: number }
  | { type: 'input-error'; stream: number; message: string }
  | { type: 'ack' };

/** What a batch accounts for besides its COPY text: rows read into it, rejects and value issues found. */
export interface BatchCounts {
  rows: number;
  repaired: number;
  issues: Array<{ line: number; column: string; raw: string }>;
  rejects: Array<{ line: number; raw: string; reason: RejectReason; detail: string }>;
}

export interface BatchMessage extends BatchCounts {
  type: 'batch';
  /** COPY text of `rows` rows. */
  bytes: ArrayBuffer;
}

export type FromWorker =
  | { type: 'open'; stream: number }
  | { type: 'pull'; stream: number }
  | { type: 'header'; encoding: Encoding; extras: string[] }
  | BatchMessage
  | { type: 'done' }
  | {
      type: 'failed';
      name: string;
      message: string;
      code?: string;
      inputError: boolean;
      /** Rows, rejects and issues read since the last batch (not copied). */
      unsent: BatchCounts;
    };

export type ParseEvent =
  | { type: 'header'; encoding: Encoding; extras: string[] }
  | ({ type: 'batch'; bytes: Buffer } & BatchCounts);

// The worker runs the same kind of file as this one: .ts from the sources (Node strips the types),
// .js from dist/.
const WORKER_URL = new URL(`./parse-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

export class ParseThread {
  private worker: Worker | undefined;

  /**
   * Reads one object. `open` is called for each pass over the object (two: encoding detection,
   * then parsing). A source error from `open` or its stream is thrown as it is; an error of the
   * reading itself (MissingRequiredColumnsError, a gzip error) is thrown with its class or code.
   * Stopping early (an exception in the caller's loop) ends the worker; the next read starts a new one.
   */
  async *read(open: () => Promise<Readable>, batchBytes: number, options: ReadExportOptions = {}): AsyncGenerator<ParseEvent> {
    const worker = (this.worker ??= this.spawn());
    const events: Array<ParseEvent | { type: 'done' } | { type: 'failed'; error: unknown }> = [];
    let wake: (() => void) | undefined;
    const push = (event: (typeof events)[number]) => {
      events.push(event);
      wake?.();
    };
    // The streams the worker opened; a new open ends the one before (encoding detection may stop early).
    let current: { stream: number; iterator: AsyncIterator<Buffer> } | undefined;
    let sourceError: unknown;
    const endCurrent = () => {
      void current?.iterator.return?.().catch(() => {});
      current = undefined;
    };
    const serve = async (message: FromWorker) => {
      if (message.type === 'open') {
        endCurrent();
        try {
          const stream = await open();
          current = { stream: message.stream, iterator: stream[Symbol.asyncIterator]() as AsyncIterator<Buffer> };
        } catch (error) {
          sourceError = error;
          worker.postMessage({ type: 'input-error', stream: message.stream, message: String(error) } satisfies ToWorker);
        }
        return;
      }
      if (message.type === 'pull') {
        if (!current || current.stream !== message.stream) return; // the open failed; the worker was told
        try {
          const step = await current.iterator.next();
          if (step.done) worker.postMessage({ type: 'eof', stream: message.stream } satisfies ToWorker);
          else {
            const chunk = step.value;
            // Copied, not moved: the stream's owner may still hold the chunk's memory (a source that
            // serves the object from memory would see it emptied for the second pass).
            const data = chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.length) as ArrayBuffer;
            worker.postMessage({ type: 'chunk', stream: message.stream, data } satisfies ToWorker, [data]);
          }
        } catch (error) {
          sourceError = error;
          worker.postMessage({ type: 'input-error', stream: message.stream, message: String(error) } satisfies ToWorker);
        }
      }
    };
    // The worker died, or was left waiting mid-object: it is replaced after this read.
    let broken = false;
    // Opens and pulls are answered in order, one after another (a pull must not overtake its open).
    let serving = Promise.resolve();
    const onMessage = (message: FromWorker) => {
      switch (message.type) {
        case 'open':
        case 'pull':
          serving = serving
            .then(() => serve(message))
            .catch((error: unknown) => {
              broken = true; // the worker may still wait for an answer
              push({ type: 'failed', error });
            });
          break;
        case 'batch':
          push({ ...message, bytes: Buffer.from(message.bytes) });
          break;
        case 'header':
        case 'done':
          push(message);
          break;
        case 'failed':
          // The rows read before the failure are counted, and its rejects kept, as for any batch.
          if (message.unsent.rows > 0 || message.unsent.rejects.length > 0) push({ type: 'batch', bytes: Buffer.alloc(0), ...message.unsent });
          push({ type: 'failed', error: message.inputError && sourceError !== undefined ? sourceError : revive(message) });
          break;
      }
    };
    const onError = (error: Error) => {
      broken = true;
      push({ type: 'failed', error });
    };
    const onExit = (code: number) => {
      broken = true;
      push({ type: 'failed', error: new Error(`the parse worker thread exited (code ${code})`) });
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    let finished = false;
    try {
      worker.postMessage({ type: 'start', batchBytes, options } satisfies ToWorker);
      for (;;) {
        const event = events.shift();
        if (!event) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        if (event.type === 'done') break;
        if (event.type === 'failed') {
          // A failure the worker reported leaves it between objects, ready for the next one.
          finished = !broken;
          throw event.error;
        }
        yield event;
        if (event.type === 'batch') worker.postMessage({ type: 'ack' } satisfies ToWorker);
      }
      finished = true;
    } finally {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      endCurrent();
      // A read that the caller stopped leaves the worker mid-object, and a dead one is no use: replace it.
      if (!finished) await this.close();
    }
  }

  /** A worker that dies between objects is forgotten, so the next read starts a new one instead of waiting on it. */
  private spawn(): Worker {
    const worker = new Worker(WORKER_URL);
    worker.once('exit', () => {
      if (this.worker === worker) this.worker = undefined;
    });
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}

/** The worker's error with the class or code the pipeline classifies it by (errors.ts). */
function revive(failure: { name: string; message: string; code?: string }): Error {
  if (failure.name === 'MissingRequiredColumnsError') return new MissingRequiredColumnsError(failure.message);
  const error = new Error(failure.message);
  error.name = failure.name;
  if (failure.code !== undefined) Object.assign(error, { code: failure.code });
  return error;
}
