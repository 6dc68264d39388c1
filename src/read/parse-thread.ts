// Reading objects on a worker thread (parse-worker.ts): the reading rules and the staging
// encoder are most of the runner's CPU, and a load's worker reads while its connection copies and
// merges. Each load of a run has its own ParseThread, which reads one object at a time into the
// staging records of a batch of objects (read/stage-encoder.ts, BatchStage).
//
// The object is a local file (the folder's own, or the S3 spool): the worker reads it by path.
// The caller reads the objects of a batch one after another (read()); each ends with what was
// read, or why it failed. The worker holds the batch's records and hands them out as binary COPY
// chunks when asked (flush()), or earlier when it holds more than holdBytes; at most
// BATCHES_IN_FLIGHT chunks wait for the caller at a time (the caller acknowledges each), so memory
// stays flat. Whether to read an object again (its encoding decided first, rows Postgres refused
// excluded) is the caller's decision (pipeline/file.ts).
import { Worker } from 'node:worker_threads';
import type { ExportFormat, ReadExportOptions } from './export-reader.ts';
import { NewKeyClaims } from './stage-encoder.ts';

/** One object to read into the batch. */
export interface ObjectRead {
  /** The object as a local file. */
  path: string;
  /** Its key (messages, and the source_object of rows copied into a target table directly). */
  key: string;
  /** Its modification time in ms (the source_modified of rows copied into a target table directly). */
  modifiedMs: number;
  /** The read attempt: its staging records carry it (etl_stage*.object_index). */
  attempt: number;
  /** More quarantined rows than this fail the object at once (RejectLimitError). */
  maxRejects: number;
  /** More than this share of quarantined rows (with at least rejectThresholdMinRows of them) fails the object (RejectThresholdError). */
  rejectThreshold: number;
  rejectThresholdMinRows: number;
  /** Reading options; `exclude` as [ordinal, message] pairs (a Map does not cross threads as such). */
  options: Omit<ReadExportOptions, 'exclude'> & { exclude?: Array<[number, string]> };
}

/** What an object's read accounts for. */
export interface ReadCounts {
  /** Rows loaded (staged as rows). */
  rows: number;
  /** Rows quarantined (staged as rejects). */
  rejects: number;
  /** Rows repaired (defect 1), among `rows`. */
  repaired: number;
  /** Values stored as NULL and recorded, in `rows`. */
  issues: number;
}

export interface ChunkEvent {
  type: 'chunk';
  stage: string;
  bytes: Buffer;
  ordinals: Int32Array;
  attempts: Int32Array;
}

export type ParseEvent =
  | ChunkEvent
  /** Rows read so far in the object (for progress). */
  | { type: 'progress'; rows: number }
  | { type: 'read'; counts: ReadCounts; format: ExportFormat | undefined; extras: string[] }
  /** The object failed; `undone`: its rows were taken out of the batch again (its rejects stay). */
  | { type: 'failed'; error: Error; counts: ReadCounts; format: ExportFormat | undefined; extras: string[]; undone: boolean };

export type ToWorker =
  | { type: 'batch'; chunkBytes: number; holdBytes?: number }
  | ({ type: 'read' } & ObjectRead)
  | { type: 'keys'; sticky: string[] }
  | { type: 'flush'; existing?: Record<string, string> }
  | { type: 'flush again'; existing?: Record<string, string> }
  | { type: 'release' }
  | { type: 'ack' };

/**
 * The first keys of the batch's records per table that takes rows directly, joined by commas
 * (read/stage-encoder.ts, firstKeys): only those this load claimed; a key another load of the run
 * claimed is merged, not asked about.
 */
export interface BatchKeys {
  keys: Record<string, string>;
  /** Records were handed out early (the batch was larger than the worker holds): none may be copied directly. */
  handedOut: boolean;
}

export type FromWorker =
  | { type: 'chunk'; stage: string; bytes: ArrayBuffer; ordinals: Int32Array; attempts: Int32Array }
  | { type: 'progress'; rows: number }
  | { type: 'read'; counts: ReadCounts; format: ExportFormat | undefined; extras: string[] }
  | { type: 'failed'; name: string; message: string; code?: string; counts: ReadCounts; format: ExportFormat | undefined; extras: string[]; undone: boolean }
  | ({ type: 'keys' } & BatchKeys)
  | { type: 'flushed' }
  | { type: 'crashed'; message: string };

export const BATCHES_IN_FLIGHT = 2;



// The worker runs the same kind of file as this one: .ts from the sources (Node strips the types),
// .js from dist/.
const WORKER_URL = new URL(`./parse-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * The worker's old-generation heap: what one record can take (its bytes held, the strings a
 * rare value needs: about six times max_record_bytes) plus room for the batch's keys.
 */
export function workerHeapMb(maxRecordBytes: number): number {
  return 128 + Math.ceil((6 * maxRecordBytes) / (1024 * 1024));
}

/** A small young generation: what a row makes dies young. */
const YOUNG_GENERATION_MB = 8;

type Pending = ParseEvent | ({ type: 'keys' } & BatchKeys) | { type: 'flushed' } | { type: 'crashed'; error: Error };

export class ParseThread {
  private worker: Worker | undefined;
  private readonly heapMb: number | undefined;

  private readonly claims: NewKeyClaims;

  /**
   * `maxRecordBytes` sizes the worker's heap limit (workerHeapMb); without it, V8's default.
   * `claims` are the run's claims on new keys, shared by its parse threads.
   */
  constructor(maxRecordBytes?: number, claims: NewKeyClaims = NewKeyClaims.forRun(0)) {
    this.heapMb = maxRecordBytes === undefined ? undefined : workerHeapMb(maxRecordBytes);
    this.claims = claims;
  }

  /** A new batch: the worker drops whatever it held. */
  startBatch(chunkBytes: number, holdBytes?: number): void {
    this.live().postMessage({ type: 'batch', chunkBytes, holdBytes } satisfies ToWorker);
  }

  /** Reads one object into the batch: chunks handed out early, then one 'read' or 'failed' event. */
  async *read(object: ObjectRead): AsyncGenerator<ParseEvent> {
    for await (const event of this.exchange({ type: 'read', ...object }, (event) => event.type === 'read' || event.type === 'failed')) {
      if (event.type !== 'keys') yield event;
    }
  }

  /**
   * The first keys of the batch's records, per table that takes rows of new keys directly, claimed
   * for this load; for the `sticky` tables (empty when the run started) none: their claims say
   * which keys are new, for the rest of the run.
   */
  async keys(sticky: readonly string[]): Promise<BatchKeys> {
    for await (const event of this.exchange({ type: 'keys', sticky: [...sticky] }, (event) => event.type === 'keys')) {
      if (event.type === 'keys') return { keys: event.keys, handedOut: event.handedOut };
    }
    throw new Error('the parse worker ended without the keys');
  }

  /**
   * Hands out every record the batch holds, as chunks; with `existing` (the first keys the target
   * tables have), the records of other keys as rows of the target tables (read/stage-encoder.ts).
   */
  async *flush(existing?: Record<string, string>): AsyncGenerator<ChunkEvent> {
    for await (const event of this.exchange({ type: 'flush', ...(existing ? { existing } : {}) }, (event) => event.type === 'flushed')) {
      if (event.type === 'chunk') yield event;
    }
  }

  /**
   * What the last flush(existing) handed out, again (another load inserted a key the batch took for
   * new, and its COPY was rolled back to before the flush): split by `existing` as flush() does, or
   * without it every record staged, to be merged.
   */
  async *flushAgain(existing?: Record<string, string>): AsyncGenerator<ChunkEvent> {
    for await (const event of this.exchange({ type: 'flush again', ...(existing ? { existing } : {}) }, (event) => event.type === 'flushed')) {
      if (event.type === 'chunk') yield event;
    }
  }

  /** Sends a request and yields what comes back up to the event that ends it (included, unless it is 'flushed'). */
  private async *exchange(request: ToWorker, ends: (event: Pending) => boolean): AsyncGenerator<ParseEvent | ({ type: 'keys' } & BatchKeys)> {
    const worker = this.live();
    const events: Pending[] = [];
    let wake: (() => void) | undefined;
    const push = (event: Pending) => {
      events.push(event);
      wake?.();
    };
    const onMessage = (message: FromWorker) => {
      if (message.type === 'chunk') push({ ...message, bytes: Buffer.from(message.bytes) });
      else if (message.type === 'failed') push({ type: 'failed', error: revive(message), counts: message.counts, format: message.format, extras: message.extras, undone: message.undone });
      else if (message.type === 'crashed') push({ type: 'crashed', error: new Error(`the parse worker failed: ${message.message}`) });
      else push(message);
    };
    const onError = (error: Error) => push({ type: 'crashed', error });
    const onExit = (code: number) => push({ type: 'crashed', error: new Error(`the parse worker thread exited (code ${code})`) });
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    // The worker is kept for the next request only when this one ended as it should.
    let clean = false;
    try {
      worker.postMessage(request);
      for (;;) {
        const event = events.shift();
        if (!event) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        if (event.type === 'crashed') throw event.error;
        if (event.type === 'flushed') {
          clean = true;
          return;
        }
        if (event.type === 'chunk') {
          yield event;
          worker.postMessage({ type: 'ack' } satisfies ToWorker);
          continue;
        }
        if (ends(event)) clean = true;
        yield event;
        if (clean) return;
      }
    } finally {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (!clean) await this.close();
    }
  }

  /** The batch committed or rolled back: its claims on new keys go (other loads may take them now). */
  release(): void {
    this.worker?.postMessage({ type: 'release' } satisfies ToWorker);
  }

  private live(): Worker {
    return (this.worker ??= this.spawn());
  }

  /** A worker that dies is forgotten, so the next request starts a new one instead of waiting on it. */
  private spawn(): Worker {
    const worker = new Worker(WORKER_URL, {
      workerData: { claims: this.claims.buffers },
      ...(this.heapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } }),
    });
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
