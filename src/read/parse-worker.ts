// The worker-thread side of ParseThread (parse-thread.ts): reads one object at a time from its
// local file with readExportBatches, holds its staging records (load/staging.ts, ObjectStage: one
// row per key and table) and sends them back as COPY text in batches, with the counts of what was
// read. When reading fails, the records read so far are sent first (their quarantined rows stay
// visible), then the failure.
import { parentPort } from 'node:worker_threads';
import { createReadStream } from 'node:fs';
import { readExportBatches } from './export-reader.ts';
import { NeedsProfileError } from './decode.ts';
import { EXTRAS_STAGE, ObjectStage, type StagedChunk } from '../load/staging.ts';
import { BATCHES_IN_FLIGHT, type BatchCounts, type FromWorker, type ReadRequest, type ToWorker } from './parse-thread.ts';

const port = parentPort;
if (!port) throw new Error('parse-worker.ts runs as a worker thread (see parse-thread.ts)');

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
const READ_CHUNK_BYTES = 256 * 1024;

/** More quarantined rows than the object may have (max_rejects_per_object). */
class RejectLimitError extends Error {
  override name = 'RejectLimitError';
  readonly code = 'REJECT_LIMIT';
}

let acknowledged = 0;
let onAck: (() => void) | undefined;

port.on('message', (message: ToWorker) => {
  if (message.type === 'ack') {
    acknowledged++;
    onAck?.();
  } else void readObject(message);
});

/**
 * What the worker holds of an object before it hands it out early (a key may then be staged twice:
 * the merge settles it). Exports are a few MiB; this keeps the worker's heap bounded on larger ones.
 */
const HOLD_BYTES = 16 * 1024 * 1024;

// Its buffers are kept from one object to the next.
let held: ObjectStage | undefined;

async function readObject(request: ReadRequest): Promise<void> {
  acknowledged = 0;
  let sent = 0;
  if (held?.chunkBytes !== request.batchBytes) held = new ObjectStage(request.batchBytes);
  const stage = held;
  stage.clear();
  let counts: BatchCounts = empty();
  let rejects = 0;
  let ordinal = 0;
  // Sent with the first batch: until then the worker can still read the object again unseen.
  let header: FromWorker | undefined;
  const sendHeader = () => {
    if (header) send(header);
    header = undefined;
  };
  const sendBatch = async (chunk: StagedChunk) => {
    sendHeader();
    while (sent - acknowledged >= BATCHES_IN_FLIGHT) await new Promise<void>((resolve) => (onAck = resolve));
    onAck = undefined;
    send({ type: 'batch', ...chunk, ...counts }, [chunk.bytes, chunk.ordinals.buffer as ArrayBuffer]);
    sent++;
    counts = empty();
  };
  /** Sends what the stage holds, with the counts of what was read since the last batch. */
  const flush = async () => {
    let none = true;
    for (const chunk of stage.take()) {
      await sendBatch(chunk);
      none = false;
    }
    if (none && counts.rows + counts.rejects > 0) await sendBatch({ stage: EXTRAS_STAGE, bytes: new ArrayBuffer(0), ordinals: new Int32Array(0) });
    sendHeader();
  };
  const { path, options } = request;
  const open = () => createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
  const exclude = options.exclude ? new Map(options.exclude) : undefined;
  // One pass as plain UTF-8 first. Content that is not (Windows-1252, a damaged export, a NUL)
  // is read again after a profile of the whole object: here when nothing was sent yet, or by the
  // caller (NEEDS_PROFILE) when batches were.
  let assumeUtf8 = options.assumeUtf8 ?? true;
  try {
    for (;;) {
      try {
        for await (const events of readExportBatches(open, { ...options, exclude, assumeUtf8 })) {
          for (const event of events) {
            switch (event.type) {
              case 'header':
                header = { type: 'header', encoding: event.encoding, extras: [...event.layout.extras] };
                break;
              case 'row':
                counts.rows++;
                if (event.repairedColumn !== undefined) counts.repaired++;
                counts.issues += event.issues.length;
                stage.addRow(++ordinal, event.line, event.values, event.issues);
                break;
              case 'reject':
                counts.rejects++;
                stage.addReject(++ordinal, { line: event.line, rawBytes: event.rawBytes, rawText: event.raw, reason: event.reason, detail: event.detail });
                if (++rejects > request.maxRejects) {
                  await flush();
                  throw new RejectLimitError(`more than ${request.maxRejects} rows were quarantined (max_rejects_per_object); the object is not an export this loader can read`);
                }
                break;
            }
            if (stage.heldBytes >= (request.holdBytes ?? HOLD_BYTES)) await flush();
          }
        }
        break;
      } catch (error) {
        if (!(error instanceof NeedsProfileError) || sent > 0) throw error;
        stage.clear();
        counts = empty();
        rejects = 0;
        ordinal = 0;
        header = undefined;
        assumeUtf8 = false;
      }
    }
    await flush();
    send({ type: 'done' });
  } catch (error) {
    const err = error as { name?: string; message?: string; code?: unknown };
    // What was read since the last batch still counts (rows read, rejects found): it goes first.
    // Not so when the object is to be read again (NEEDS_PROFILE).
    if (!(error instanceof NeedsProfileError)) await flush().catch(() => {});
    send({ type: 'failed', name: err.name ?? 'Error', message: err.message ?? String(error), code: typeof err.code === 'string' ? err.code : undefined });
  }
}

function empty(): BatchCounts {
  return { rows: 0, rejects: 0, repaired: 0, issues: 0 };
}
