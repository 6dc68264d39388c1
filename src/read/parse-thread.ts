// Reading an object on a worker thread. csv-parse and the reading rules are most of the pipeline's
// own CPU time; on the main thread they ran one object at a time, so with two objects in flight
// the second waited for the first's parsing even with a core free. Each load of a run has its own
// ParseThread (parse-worker.ts), which reads one object at a time.
//
// The object is a local file (the folder's own, or the S3 spool): the worker reads it by path and
// sends its results one way, as staging records already encoded for COPY (rows, quarantined rows
// and value issues: load/staging.ts), each batch for one staging table, with the data row of each
// record and the counts of what was read. The worker holds at most holdBytes of records before it
// sends them, and at most BATCHES_IN_FLIGHT batches wait for the caller at a time (the caller
// acknowledges each), so memory stays flat.
import { Worker } from 'node:worker_threads';
import type { Encoding } from './decode.ts';
import type { ReadExportOptions } from './export-reader.ts';

export interface ReadRequest {
  /** The object as a local file. */
  path: string;
  /** Target size of one batch of COPY text. */
  batchBytes: number;
  /**
   * How much of an object the worker holds (its rows, one per key and table) before it hands them
   * out early; by default HOLD_BYTES in parse-worker.ts.
   */
  holdBytes?: number;
  /** More quarantined rows than this fail the object (RejectLimitError in the worker). */
  maxRejects: number;
  /** Reading options; `exclude` as [ordinal, message] pairs (a Map does not cross threads as such). */
  options: Omit<ReadExportOptions, 'exclude'> & { exclude?: Array<[number, string]> };
}

export type ToWorker = ({ type: 'read' } & ReadRequest) | { type: 'ack' };

/** What a batch accounts for besides its COPY text. */
export interface BatchCounts {
  /** Rows loaded (staged as rows). */
  rows: number;
  /** Rows quarantined (staged as rejects). */
  rejects: number;
  /** Rows repaired (defect 1), among `rows`. */
  repaired: number;
  /** Values stored as NULL and recorded, in `rows`. */
  issues: number;
}

export type FromWorker =
  | { type: 'header'; encoding: Encoding; extras: string[] }
  | ({ type: 'batch'; stage: string; bytes: ArrayBuffer; ordinals: Int32Array } & BatchCounts)
  | { type: 'done' }
  | { type: 'failed'; name: string; message: string; code?: string };

/**
 * A batch: COPY text for one staging table (`stage`), the ordinal of each record's data row (what
 * a refusal by Postgres is traced back to), and the counts of what was read since the last batch.
 */
export type ParseEvent =
  | { type: 'header'; encoding: Encoding; extras: string[] }
  | ({ type: 'batch'; stage: string; bytes: Buffer; ordinals: Int32Array } & BatchCounts);

export const BATCHES_IN_FLIGHT = 2;

// The worker runs the same kind of file as this one: .ts from the sources (Node strips the types),
// .js from dist/.
const WORKER_URL = new URL(`./parse-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * The worker's old-generation heap: what one record can take (its bytes held, csv-parse's field,
 * the strings made from it: about six times max_record_bytes) plus room for the rest. V8 collects
 * only when pushed: without a limit, the garbage of an object of quarantined rows grew the
 * worker's heap to 400 MiB before a collection (11 MiB live).
 */
export function workerHeapMb(maxRecordBytes: number): number {
  return 96 + Math.ceil((6 * maxRecordBytes) / (1024 * 1024));
}

/**
 * A small young generation: records and their strings die young, and a large young generation
 * (V8 grows it to tens of MiB) mostly holds garbage between scavenges.
 */
const YOUNG_GENERATION_MB = 8;

export class ParseThread {
  private worker: Worker | undefined;
  private readonly heapMb: number | undefined;

  /** `maxRecordBytes` sizes the worker's heap limit (workerHeapMb); without it, V8's default. */
  constructor(maxRecordBytes?: number) {
    this.heapMb = maxRecordBytes === undefined ? undefined : workerHeapMb(maxRecordBytes);
  }

  /**
   * Reads one object. A reading error (MissingRequiredColumnsError, RecordTooLargeError, a gzip
   * error, the file's own) is thrown with its name and code after the batches read before it.
   * Stopping early (an exception in the caller's loop) ends the worker; the next read starts a new one.
   */
  async *read(request: ReadRequest): AsyncGenerator<ParseEvent> {
    const worker = (this.worker ??= this.spawn());
    const events: Array<ParseEvent | { type: 'done' } | { type: 'failed'; error: Error }> = [];
    let wake: (() => void) | undefined;
    const push = (event: (typeof events)[number]) => {
      events.push(event);
      wake?.();
    };
    const onMessage = (message: FromWorker) => {
      if (message.type === 'batch') push({ ...message, bytes: Buffer.from(message.bytes) });
      else if (message.type === 'failed') push({ type: 'failed', error: revive(message) });
      else push(message);
    };
    const onError = (error: Error) => push({ type: 'failed', error });
    const onExit = (code: number) => push({ type: 'failed', error: new Error(`the parse worker thread exited (code ${code})`) });
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    // The worker is left between objects, ready for the next, only when it said it was done.
    let between = false;
    try {
      worker.postMessage({ type: 'read', ...request } satisfies ToWorker);
      for (;;) {
        const event = events.shift();
        if (!event) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        if (event.type === 'done') {
          between = true;
          return;
        }
        if (event.type === 'failed') {
          between = !/parse worker thread exited/.test(event.error.message);
          throw event.error;
        }
        yield event;
        if (event.type === 'batch') worker.postMessage({ type: 'ack' } satisfies ToWorker);
      }
    } finally {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (!between) await this.close();
    }
  }

  /** A worker that dies between objects is forgotten, so the next read starts a new one instead of waiting on it. */
  private spawn(): Worker {
    const worker = new Worker(WORKER_URL, this.heapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
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

/** The worker's error with the name and code the pipeline classifies it by (pipeline/errors.ts). */
function revive(failure: { name: string; message: string; code?: string }): Error {
  const error = new Error(failure.message);
  error.name = failure.name;
  if (failure.code !== undefined) Object.assign(error, { code: failure.code });
  return error;
}
