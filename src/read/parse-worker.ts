// The worker-thread side of ParseThread (parse-thread.ts): reads one object at a time from its
// local file with readExportBatches and sends staging records encoded for COPY (load/staging.ts) back in
// batches, with the counts of each batch. When reading fails, the records read so far are sent
// first (their quarantined rows stay visible), then the failure.
import { parentPort } from 'node:worker_threads';
import { createReadStream } from 'node:fs';
import { readExportBatches } from './export-reader.ts';
import { NeedsProfileError } from './decode.ts';
import { StageBatch } from '../load/staging.ts';
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

async function readObject(request: ReadRequest): Promise<void> {
  acknowledged = 0;
  let sent = 0;
  const batch = new StageBatch(request.batchBytes * 2);
  let counts: BatchCounts = empty();
  let rejects = 0;
  // Sent with the first batch: until then the worker can still read the object again unseen.
  let header: FromWorker | undefined;
  const flush = async () => {
    if (header) send(header);
    header = undefined;
    while (sent - acknowledged >= BATCHES_IN_FLIGHT) await new Promise<void>((resolve) => (onAck = resolve));
    onAck = undefined;
    const copy = batch.takeCopy();
    send({ type: 'batch', bytes: copy, ...counts }, [copy]);
    sent++;
    counts = empty();
  };
  const flushRest = async () => {
    if (batch.bytes > 0) await flush();
    else if (header) send(header);
    header = undefined;
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
                batch.addRow(event.line, event.values, event.issues);
                break;
              case 'reject':
                counts.rejects++;
                batch.addReject({ line: event.line, rawBytes: event.rawBytes, rawText: event.raw, reason: event.reason, detail: event.detail });
                if (++rejects > request.maxRejects) {
                  await flush();
                  throw new RejectLimitError(`more than ${request.maxRejects} rows were quarantined (max_rejects_per_object); the object is not an export this loader can read`);
                }
                break;
            }
            if (batch.bytes >= request.batchBytes) await flush();
          }
        }
        break;
      } catch (error) {
        if (!(error instanceof NeedsProfileError) || sent > 0) throw error;
        batch.take();
        counts = empty();
        rejects = 0;
        header = undefined;
        assumeUtf8 = false;
      }
    }
    await flushRest();
    send({ type: 'done' });
  } catch (error) {
    const err = error as { name?: string; message?: string; code?: unknown };
    // What was read since the last batch still counts (rows read, rejects found): it goes first.
    // Not so when the object is to be read again (NEEDS_PROFILE).
    if (!(error instanceof NeedsProfileError)) await flushRest().catch(() => {});
    send({ type: 'failed', name: err.name ?? 'Error', message: err.message ?? String(error), code: typeof err.code === 'string' ? err.code : undefined });
  }
}

function empty(): BatchCounts {
  return { rows: 0, rejects: 0, repaired: 0, issues: 0 };
}
