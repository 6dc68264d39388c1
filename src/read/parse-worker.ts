// The worker-thread side of ParseThread (parse-thread.ts): reads one object at a time with
// readExport and sends its rows back already encoded as COPY text, in batches, with the counts,
// rejects and value issues of each batch. The object's bytes come from the main thread, which
// owns the source: the worker asks for each chunk (`pull`), so it never holds more than one.
import { parentPort } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { readExport, type ReadExportOptions } from './export-reader.ts';
import { CopyBatch } from '../load/staging.ts';
import type { BatchCounts, FromWorker, ToWorker } from './parse-thread.ts';

const port = parentPort;
if (!port) throw new Error('parse-worker.ts runs as a worker thread (see parse-thread.ts)');

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

// Answers to pulls are kept only for the current open: a pass over the object that was left
// before its end (encoding detection may stop early) may still have one on the way.
type Input = Extract<ToWorker, { type: 'chunk' | 'eof' | 'input-error' }>;
const inputs: Input[] = [];
let waiting: { stream: number; resolve: (input: Input) => void } | undefined;
let acks = 0;
let ackWaiter: (() => void) | undefined;
let opens = 0;

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'start':
      inputs.length = 0;
      waiting = undefined;
      void readObject(message.batchBytes, message.options);
      break;
    case 'ack':
      acks++;
      ackWaiter?.();
      break;
    default:
      if (waiting?.stream === message.stream) {
        const { resolve } = waiting;
        waiting = undefined;
        resolve(message);
      } else if (message.stream === opens) inputs.push(message);
  }
});

/** The answer to the last pull of `stream`. */
function nextInput(stream: number): Promise<Input> {
  const queued = inputs.findIndex((input) => input.stream === stream);
  if (queued !== -1) return Promise.resolve(inputs.splice(queued, 1)[0]!);
  return new Promise((resolve) => (waiting = { stream, resolve }));
}

/** One open of the object: a stream that pulls chunks from the main thread as it is read. */
function open(): Promise<Readable> {
  const stream = ++opens;
  send({ type: 'open', stream });
  async function* chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      send({ type: 'pull', stream });
      const input = await nextInput(stream);
      if (input.type === 'eof') return;
      if (input.type === 'input-error') throw Object.assign(new Error(input.message), { inputError: true });
      yield Buffer.from(input.data);
    }
  }
  return Promise.resolve(Readable.from(chunks(), { objectMode: false }));
}

async function readObject(batchBytes: number, options: ReadExportOptions): Promise<void> {
  acks = 0;
  let sent = 0;
  const batch = new CopyBatch(batchBytes * 2);
  let pending: BatchCounts = empty();
  // At most one batch in flight: the main thread acknowledges each once COPY has taken it.
  const flush = async () => {
    if (sent - acks >= 1) await new Promise<void>((resolve) => (ackWaiter = resolve));
    ackWaiter = undefined;
    const bytes = batch.take();
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    send({ type: 'batch', bytes: copy, ...pending }, [copy]);
    sent++;
    pending = empty();
  };
  try {
    for await (const event of readExport(open, options)) {
      switch (event.type) {
        case 'header':
          send({ type: 'header', encoding: event.encoding, extras: [...event.layout.extras] });
          break;
        case 'row':
          pending.rows++;
          if (event.repairedColumn !== undefined) pending.repaired++;
          for (const issue of event.issues) pending.issues.push({ line: event.line, column: issue.column, raw: issue.raw });
          batch.add(event.line, event.values);
          if (batch.bytes >= batchBytes) await flush();
          break;
        case 'reject':
          pending.rejects.push({ line: event.line, raw: event.raw, reason: event.reason, detail: event.detail });
          break;
      }
    }
    if (batch.bytes > 0 || pending.rejects.length > 0) await flush();
    send({ type: 'done' });
  } catch (error) {
    const err = error as { name?: string; message?: string; code?: unknown; inputError?: boolean };
    // What was read since the last batch still counts (rows read, rejects found): it comes along.
    send({ type: 'failed', name: err.name ?? 'Error', message: err.message ?? String(error), code: typeof err.code === 'string' ? err.code : undefined, inputError: err.inputError === true, unsent: pending });
  }
}

function empty(): BatchCounts {
  return { rows: 0, repaired: 0, issues: [], rejects: [] };
}
