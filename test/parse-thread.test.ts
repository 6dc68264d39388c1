// Reading on the worker thread (src/read/parse-thread.ts) gives exactly what reading on the main
// thread gives: the same COPY bytes, rejects and value issues, for every kind of generated object
// (gzip, Windows-1252, BOM, defects), whatever the chunk size; its errors keep their class.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { readExport } from '../src/read/export-reader.ts';
import { MissingRequiredColumnsError } from '../src/read/layout.ts';
import { ParseThread, type ParseEvent } from '../src/read/parse-thread.ts';
import { CopyBatch } from '../src/load/staging.ts';
import { generateExports } from '../src/sample/generator.ts';
import { SourceError } from '../src/sources/source.ts';
import { chunked } from './helpers/read.ts';

const BATCH_BYTES = 16 * 1024;

interface Read {
  copy: Buffer;
  rows: number;
  repaired: number;
  rejects: Array<{ line: number; raw: string; reason: string; detail: string }>;
  issues: Array<{ line: number; column: string; raw: string }>;
  encoding?: string;
}

function opener(body: Buffer, chunkSize: number): () => Promise<Readable> {
  return async () => Readable.from(chunked(body, chunkSize), { objectMode: false });
}

async function onMainThread(body: Buffer): Promise<Read> {
  const batch = new CopyBatch();
  const read: Read = { copy: Buffer.alloc(0), rows: 0, repaired: 0, rejects: [], issues: [] };
  for await (const event of readExport(opener(body, Infinity))) {
    if (event.type === 'header') read.encoding = event.encoding;
    else if (event.type === 'reject') read.rejects.push({ line: event.line, raw: event.raw, reason: event.reason, detail: event.detail });
    else {
      read.rows++;
      if (event.repairedColumn !== undefined) read.repaired++;
      for (const issue of event.issues) read.issues.push({ line: event.line, column: issue.column, raw: issue.raw });
      batch.add(event.line, event.values);
    }
  }
  read.copy = batch.take();
  return read;
}

async function onWorker(parser: ParseThread, body: Buffer, chunkSize: number): Promise<Read & { batches: number }> {
  const copies: Buffer[] = [];
  const read = { copy: Buffer.alloc(0), rows: 0, repaired: 0, rejects: [], issues: [], batches: 0 } as Read & { batches: number };
  for await (const event of parser.read(opener(body, chunkSize), BATCH_BYTES)) {
    if (event.type === 'header') read.encoding = event.encoding;
    else {
      read.batches++;
      read.rows += event.rows;
      read.repaired += event.repaired;
      read.rejects.push(...event.rejects);
      read.issues.push(...event.issues);
      copies.push(event.bytes);
    }
  }
  read.copy = Buffer.concat(copies);
  return read;
}

/** A parse thread for one test, closed at its end whatever happens. */
async function withParser(test: (parser: ParseThread) => Promise<void>): Promise<void> {
  const parser = new ParseThread();
  try {
    await test(parser);
  } finally {
    await parser.close();
  }
}

describe('ParseThread', () => {
  it('reads every generated object exactly as the main thread does, in batches, with any chunk size', async () => {
    const { objects } = generateExports({
      seed: 77,
      files: 12,
      rowsPerFile: 300,
      defects: { unquotedFreeText: 0.02, strayQuotes: 0.02, shortRows: 0.01, truncatedObjects: 0.2, duplicateRows: 0.02, badValues: 0.02 },
    });
    await withParser(async (parser) => {
      let rejects = 0;
      for (const object of objects.filter((candidate) => candidate.data)) {
        const expected: Read | Error = await onMainThread(object.body).catch((error: unknown) => error as Error);
        for (const chunkSize of [Infinity, 4093, 509]) {
          if (expected instanceof Error) {
            await assert.rejects(onWorker(parser, object.body, chunkSize), { name: expected.name, message: expected.message }, object.key);
            continue;
          }
          const got = await onWorker(parser, object.body, chunkSize);
          const where = `${object.key} (${object.features.join(', ')}), chunks of ${chunkSize}`;
          assert.equal(got.rows, expected.rows, where);
          assert.ok(got.copy.equals(expected.copy), `${where}: the COPY bytes are the same`);
          assert.deepEqual(got.rejects, expected.rejects, where);
          assert.deepEqual(got.issues, expected.issues, where);
          assert.equal(got.repaired, expected.repaired, where);
          assert.equal(got.encoding, expected.encoding, where);
          if (expected.copy.length > 2 * BATCH_BYTES) assert.ok(got.batches > 1, `${where}: sent in batches`);
          rejects += got.rejects.length;
        }
      }
      assert.ok(rejects > 0, 'the objects had rows to quarantine');
    });
  });

  it('a header without SR Number: MissingRequiredColumnsError, and the thread reads the next object', async () => {
    await withParser(async (parser) => {
      await assert.rejects(onWorker(parser, Buffer.from('Ticket,SR Status\n1,Open\n'), Infinity), (error: unknown) => {
        assert.ok(error instanceof MissingRequiredColumnsError);
        assert.match(error.message, /SR Number/);
        return true;
      });
      const good = await onWorker(parser, Buffer.from('SR Number,SR Status\n101,Open\n102,Closed\n'), Infinity);
      assert.equal(good.rows, 2);
    });
  });

  it("the source's own error comes through as it is; a read stopped early leaves the thread ready for the next object", async () => {
    await withParser(async (parser) => {
      const cut = new SourceError('The download of s3://b/k.csv was cut after 10 of 99 bytes (ECONNRESET); the next run resumes it from there.');
      const failing = async () =>
        Readable.from(
          (async function* () {
            yield Buffer.from('SR Number,SR Status\n101,Op');
            throw cut;
          })(),
          { objectMode: false },
        );
      await assert.rejects(
        (async () => {
          for await (const event of parser.read(failing, BATCH_BYTES)) void event;
        })(),
        (error: unknown) => error === cut,
      );

      const body = Buffer.from('SR Number,SR Status\n' + Array.from({ length: 5000 }, (_, i) => `${1000 + i},Open`).join('\n') + '\n');
      let seen: ParseEvent | undefined;
      for await (const event of parser.read(opener(body, 1024), 1024)) {
        seen = event;
        if (event.type === 'batch') break; // the caller stops (a COPY error, say)
      }
      assert.equal(seen?.type, 'batch');
      const again = await onWorker(parser, body, 1024);
      assert.equal(again.rows, 5000);
    });
  });

  it('a worker that died between objects is replaced by the next read', async () => {
    await withParser(async (parser) => {
      const body = Buffer.from('SR Number,SR Status\n101,Open\n');
      assert.equal((await onWorker(parser, body, Infinity)).rows, 1);
      // The worker is private: reach it to kill it as a crash would.
      const worker = (parser as unknown as { worker: { terminate(): Promise<number> } }).worker;
      await worker.terminate();
      assert.equal((await onWorker(parser, body, Infinity)).rows, 1);
    });
  });

  it('a source that fails during the second pass: its error, and the rows and rejects read before it are all reported', async () => {
    const lines = ['SR Number,SR Status,Summary', '101,Open', ...Array.from({ length: 40_000 }, (_, i) => `${1000 + i},Open,"note ${i * 7919}"`)];
    const body = Buffer.from(lines.join('\n') + '\n');
    const cut = new SourceError('The local copy of s3://b/k.csv vanished during the load.');
    // The first pass (encoding detection) sees every byte; the second stops after 60% with the source's error.
    const failingSecondPass = () => {
      let opens = 0;
      return async () => {
        opens++;
        if (opens === 1) return Readable.from(chunked(body, 65_536), { objectMode: false });
        return Readable.from(
          (async function* () {
            yield* chunked(body.subarray(0, Math.floor(body.length * 0.6)), 65_536);
            throw cut;
          })(),
          { objectMode: false },
        );
      };
    };
    let mainRows = 0;
    let mainRejects = 0;
    await assert.rejects(
      (async () => {
        for await (const event of readExport(failingSecondPass())) {
          if (event.type === 'row') mainRows++;
          if (event.type === 'reject') mainRejects++;
        }
      })(),
      (error: unknown) => error === cut,
    );
    assert.ok(mainRows > 1000 && mainRejects === 1, `rows before the error: ${mainRows}, rejects ${mainRejects}`);

    await withParser(async (parser) => {
      let rows = 0;
      let rejects = 0;
      await assert.rejects(
        (async () => {
          for await (const event of parser.read(failingSecondPass(), BATCH_BYTES)) {
            if (event.type === 'batch') {
              rows += event.rows;
              rejects += event.rejects.length;
            }
          }
        })(),
        (error: unknown) => error === cut,
      );
      assert.equal(rows, mainRows, 'every row read before the error is counted');
      assert.equal(rejects, mainRejects, 'the reject found before the error is kept');
    });
  });
});
