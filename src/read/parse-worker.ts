// The worker-thread side of ParseThread (parse-thread.ts): reads one object at a time from its
// local file (read/export-reader.ts) into the staging records of the batch (read/stage-encoder.ts)
// and hands them out as binary COPY chunks. An object that fails is taken out of the batch again
// where it can be (its rejects stay: they explain the failure).
import { parentPort, workerData } from 'node:worker_threads';
import { createReadStream } from 'node:fs';
import { readExportInto, type ExportFormat, type ExportSink } from './export-reader.ts';
import { BatchStage, NewKeyClaims, type StagedChunk } from './stage-encoder.ts';
import { RejectThresholdError } from '../pipeline/errors.ts';
import { boundedList } from '../safe-text.ts';
import { BATCHES_IN_FLIGHT, type FromWorker, type ObjectRead, type ReadCounts, type ToWorker } from './parse-thread.ts';

const port = parentPort;
if (!port) throw new Error('parse-worker.ts runs as a worker thread (see parse-thread.ts)');
/** The run's claims on new keys, shared with its other parse threads. */
const claims = new NewKeyClaims((workerData as { claims: NewKeyClaims['buffers'] }).claims);

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
const READ_CHUNK_BYTES = 256 * 1024;
/** Rows between progress messages. */
const PROGRESS_ROWS = 20_000;

/**
 * What the worker holds of a batch before it hands it out early (a key may then be staged twice:
 * the merge settles it). A batch is sized to stay below it (pipeline/batches.ts); a large object
 * crosses it, and keeps the worker's memory bounded that way.
 */
const HOLD_BYTES = 48 * 1024 * 1024;

/** More quarantined rows than the object may have (max_rejects_per_object). */
class RejectLimitError extends Error {
  override name = 'RejectLimitError';
  readonly code = 'REJECT_LIMIT';
}

let stage = new BatchStage();
let holdBytes = HOLD_BYTES;
let sent = 0;
let acknowledged = 0;
let onAck: (() => void) | undefined;
// Requests are handled one at a time, in order.
let queue: Promise<void> = Promise.resolve();

port.on('message', (message: ToWorker) => {
  if (message.type === 'ack') {
    acknowledged++;
    onAck?.();
    return;
  }
  queue = queue.then(() => handle(message)).catch((error: unknown) => send({ type: 'crashed', message: error instanceof Error ? error.message : String(error) }));
});

async function handle(message: Exclude<ToWorker, { type: 'ack' }>): Promise<void> {
  switch (message.type) {
    case 'batch':
      stage.release();
      if (stage.chunkBytes !== message.chunkBytes) stage = new BatchStage(message.chunkBytes);
      stage.clear();
      holdBytes = message.holdBytes ?? HOLD_BYTES;
      sent = 0;
      acknowledged = 0;
      return;
    case 'keys':
      send({ type: 'keys', keys: stage.handedOutEarly ? {} : stage.firstKeys(claims, new Set(message.sticky)), handedOut: stage.handedOutEarly });
      return;
    case 'release':
      stage.release();
      return;
    case 'flush':
      await handOut(message.existing);
      send({ type: 'flushed' });
      return;
    case 'flush again':
      for (const chunk of stage.retake(message.existing)) await sendChunk(chunk);
      send({ type: 'flushed' });
      return;
    case 'read':
      await readObject(message);
  }
}

/** Sends everything held, waiting while BATCHES_IN_FLIGHT chunks are not acknowledged. */
async function handOut(existing?: Record<string, string>): Promise<void> {
  for (const chunk of stage.take(existing)) await sendChunk(chunk);
}

async function sendChunk(chunk: StagedChunk): Promise<void> {
  while (sent - acknowledged >= BATCHES_IN_FLIGHT) await new Promise<void>((resolve) => (onAck = resolve));
  onAck = undefined;
  send({ type: 'chunk', ...chunk }, [chunk.bytes, chunk.ordinals.buffer as ArrayBuffer, chunk.attempts.buffer as ArrayBuffer]);
  sent++;
}

async function readObject(request: ObjectRead): Promise<void> {
  const counts: ReadCounts = { rows: 0, rejects: 0, repaired: 0, issues: 0 };
  let format: ExportFormat | undefined;
  let extras: string[] = [];
  let nextProgress = PROGRESS_ROWS;
  stage.startObject(request.attempt, request.key, request.modifiedMs);
  const sink: ExportSink = {
    header(layout, detected) {
      format = detected;
      // Named in the log line, the span and the ledger: bounded, whatever the header holds.
      extras = boundedList(layout.extras);
    },
    row(ordinal, line, values) {
      counts.rows++;
      if (values.repairedColumn !== undefined) counts.repaired++;
      counts.issues += values.issues.length;
      stage.addRow(ordinal, line, values);
    },
    reject(ordinal, reject) {
      counts.rejects++;
      stage.addReject(ordinal, reject);
      if (counts.rejects > request.maxRejects) {
        throw new RejectLimitError(`more than ${request.maxRejects} rows were quarantined (max_rejects_per_object); the object is not an export this loader can read`);
      }
    },
  };
  const { options } = request;
  const open = () => createReadStream(request.path, { highWaterMark: READ_CHUNK_BYTES });
  try {
    for await (const _ of readExportInto(open, { ...options, exclude: options.exclude ? new Map(options.exclude) : undefined }, sink)) {
      if (stage.heldBytes >= holdBytes) await handOut();
      if (counts.rows + counts.rejects >= nextProgress) {
        send({ type: 'progress', rows: counts.rows + counts.rejects });
        nextProgress += PROGRESS_ROWS;
      }
    }
    const read = counts.rows + counts.rejects;
    if (counts.rejects >= Math.max(1, request.rejectThresholdMinRows) && counts.rejects / read > request.rejectThreshold) {
      throw new RejectThresholdError(
        `${counts.rejects} of ${read} rows (${percent(counts.rejects / read)}) could not be loaded, more than reject_threshold ${percent(request.rejectThreshold)}; see \`etl rejects --object '${request.key}'\``,
      );
    }
    send({ type: 'read', counts, format, extras });
  } catch (error) {
    const err = error as { name?: string; message?: string; code?: unknown };
    // An object read again with its encoding decided first starts over; one that failed keeps the
    // quarantined rows that explain it.
    const undone = stage.undo(err.code === 'NEEDS_PROFILE');
    send({ type: 'failed', name: err.name ?? 'Error', message: err.message ?? String(error), code: typeof err.code === 'string' ? err.code : undefined, counts, format, extras, undone });
  }
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.01 ? 2 : 1)}%`;
}
