// Reading on the worker thread (src/read/parse-thread.ts) gives exactly what reading on the main
// thread gives: the same binary staging records (rows by key and table, quarantined rows, value
// issues), for the same staging tables, objects and data rows, and the same counts, for every kind
// of generated object (gzip, Windows-1252, BOM, defects), whatever the chunks the main thread
// reads in; a batch of objects keeps the latest record of each key across its objects; an object
// that fails is taken out of the batch again (its rejects stay); errors keep their name and code.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { readExportInto, type ExportSink, type ReadExportOptions } from '../src/read/export-reader.ts';
import { ParseThread, type ObjectRead, type ReadCounts } from '../src/read/parse-thread.ts';
import { BatchStage, type StagedChunk } from '../src/read/stage-encoder.ts';
import { TARGET_TABLES } from '../src/load/target-tables.ts';
import { generateExports } from '../src/sample/generator.ts';
import { chunked, csvLine, HEADERS, sampleRow } from './helpers/read.ts';
import { decodeRecords } from './helpers/binary-copy.ts';

const CHUNK_BYTES = 16 * 1024;

/** What a batch staged: per staging record its table, object and data row, the records' bytes, and each object's counts. */
interface Staged {
  records: string[];
  bytes: Buffer;
  counts: ReadCounts[];
  encodings: Array<string | undefined>;
}

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'etl-parse-thread-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

let files = 0;
/** The bytes as a local file, as a source hands an object to the parse worker. */
async function asFile(body: Buffer): Promise<string> {
  const file = path.join(dir, `object-${++files}`);
  await writeFile(file, body);
  return file;
}

/** A read as the pipeline asks for it: in one pass as plain UTF-8 unless `options` say otherwise. */
function request(file: string, attempt = 1, options: ObjectRead['options'] = {}, limits: Partial<ObjectRead> = {}): ObjectRead {
  return { path: file, key: `object-${attempt}`, modifiedMs: Date.UTC(2026, 0, attempt), attempt, maxRejects: 1_000_000, rejectThreshold: 1, rejectThresholdMinRows: 1, options: { assumeUtf8: true, ...options }, ...limits };
}

function collect(chunks: Iterable<StagedChunk | { stage: string; bytes: Buffer | ArrayBuffer; ordinals: Int32Array; attempts: Int32Array }>, into: Staged): void {
  const parts = [into.bytes];
  for (const chunk of chunks) {
    parts.push(Buffer.from(chunk.bytes as ArrayBuffer));
    chunk.ordinals.forEach((ordinal, index) => into.records.push(`${chunk.stage} ${chunk.attempts[index]} ${ordinal}`));
  }
  into.bytes = Buffer.concat(parts);
}

/** The objects read on the main thread, one after another, into one BatchStage. */
async function onMainThread(bodies: Buffer[], chunkSize = Infinity, options: ReadExportOptions = {}, firstAttempt = 1): Promise<Staged> {
  const stage = new BatchStage(CHUNK_BYTES);
  const staged: Staged = { records: [], bytes: Buffer.alloc(0), counts: [], encodings: [] };
  for (const [index, body] of bodies.entries()) {
    stage.startObject(firstAttempt + index);
    const counts: ReadCounts = { rows: 0, rejects: 0, repaired: 0, issues: 0 };
    let encoding: string | undefined;
    const sink: ExportSink = {
      header: (_layout, detected) => (encoding = detected.encoding),
      row: (ordinal, line, values) => {
        counts.rows++;
        if (values.repairedColumn !== undefined) counts.repaired++;
        counts.issues += values.issues.length;
        stage.addRow(ordinal, line, values);
      },
      reject: (ordinal, reject) => {
        counts.rejects++;
        stage.addReject(ordinal, reject);
      },
    };
    for await (const _ of readExportInto(() => Readable.from(chunked(body, chunkSize), { objectMode: false }), options, sink));
    staged.counts.push(counts);
    staged.encodings.push(encoding);
  }
  collect(stage.take(), staged);
  return staged;
}

type WorkerRead = { staged: Staged; failures: Array<{ name: string; message: string; code?: string; undone: boolean } | undefined>; early: number };

/** The objects read by the worker as one batch, then flushed. */
async function onWorker(parser: ParseThread, requests: ObjectRead[], holdBytes?: number): Promise<WorkerRead> {
  const staged: Staged = { records: [], bytes: Buffer.alloc(0), counts: [], encodings: [] };
  const failures: WorkerRead['failures'] = [];
  let early = 0;
  parser.startBatch(CHUNK_BYTES, holdBytes);
  for (const read of requests) {
    let failure: WorkerRead['failures'][number];
    for await (const event of parser.read(read)) {
      if (event.type === 'chunk') {
        early++;
        collect([event], staged);
      } else if (event.type === 'read' || event.type === 'failed') {
        staged.counts.push(event.counts);
        staged.encodings.push(event.format?.encoding);
        if (event.type === 'failed') failure = { name: event.error.name, message: event.error.message, code: (event.error as { code?: string }).code, undone: event.undone };
      }
    }
    failures.push(failure);
  }
  for await (const chunk of parser.flush()) collect([chunk], staged);
  return { staged, failures, early };
}

/**
 * What the merge makes of staging records: per table and key the record of the latest object and
 * line (DISTINCT ON ... object_index DESC, line_number DESC), and etl_stage's records in order.
 */
function latestPerKey(staged: Staged): { tables: Record<string, string>; extras: string[] } {
  const records = decodeRecords(staged.bytes);
  const tables: Record<string, { order: [number, number]; fields: string }> = {};
  const extras: string[] = [];
  staged.records.forEach((record, index) => {
    const [stage, attempt, ordinal] = record.split(' ');
    const fields = records[index]!;
    const text = fields.map((field) => (field === null ? '\\N' : field.toString('hex'))).join(' ');
    if (stage === 'etl_stage') {
      extras.push(`${attempt} ${text}`);
      return;
    }
    const keyColumns = TARGET_TABLES.find((table) => `etl_stage_${table.name}` === stage)!.key.length;
    const key = `${stage} ${fields.slice(2, 2 + keyColumns).map((field) => field?.toString('hex') ?? '\\N').join(' ')}`;
    const order: [number, number] = [Number(attempt), Number(ordinal)];
    const held = tables[key];
    if (held === undefined || held.order[0] < order[0] || (held.order[0] === order[0] && held.order[1] < order[1])) tables[key] = { order, fields: text };
  });
  return { tables: Object.fromEntries(Object.entries(tables).map(([key, value]) => [key, value.fields])), extras };
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

const plain = (count: number, first = 1000) => Buffer.from('SR Number,SR Status\n' + Array.from({ length: count }, (_, i) => `${first + i},Open`).join('\n') + '\n');

describe('ParseThread', () => {
  it('reads every generated object exactly as the main thread does, whatever the chunks', async () => {
    const { objects } = generateExports({
      seed: 77,
      files: 12,
      rowsPerFile: 300,
      defects: { unquotedFreeText: 0.02, strayQuotes: 0.02, shortRows: 0.01, truncatedObjects: 0.2, duplicateRows: 0.02, badValues: 0.02 },
    });
    await withParser(async (parser) => {
      let rejects = 0;
      for (const object of objects.filter((candidate) => candidate.data)) {
        const file = await asFile(object.body);
        // The worker reads in one pass as plain UTF-8, and again after a profile when it is not.
        let got = await onWorker(parser, [request(file)]);
        if (got.failures[0]?.code === 'NEEDS_PROFILE') {
          assert.equal(got.failures[0].undone, true, `${object.key}: taken out again before it is read again`);
          got = await onWorker(parser, [request(file, 1, { assumeUtf8: false })]);
        }
        for (const chunkSize of [Infinity, 4093, 509]) {
          const where = `${object.key} (${object.features.join(', ')}), main thread in chunks of ${chunkSize}`;
          const expected = await onMainThread([object.body], chunkSize).catch((error: unknown) => error as Error);
          if (expected instanceof Error) {
            assert.deepEqual(got.failures[0] && { name: got.failures[0].name, message: got.failures[0].message }, { name: expected.name, message: expected.message }, where);
            continue;
          }
          assert.equal(got.failures[0], undefined, where);
          assert.deepEqual(got.staged.counts, expected.counts, where);
          assert.deepEqual(got.staged.encodings, expected.encodings, where);
          assert.ok(got.staged.bytes.equals(expected.bytes), `${where}: the staging records are the same bytes`);
          assert.deepEqual(got.staged.records, expected.records, `${where}: the same staging tables, objects and data rows`);
          rejects += got.staged.counts[0]!.rejects;
        }
      }
      assert.ok(rejects > 0, 'the objects had rows to quarantine');
    });
  });

  it('a batch of objects keeps the latest record of each key across them, as loading them one after another would', async () => {
    const { objects } = generateExports({ seed: 79, files: 6, rowsPerFile: 400, variations: false, defects: { duplicateRows: 0.05, shortRows: 0.01 } });
    const bodies = objects.filter((candidate) => candidate.data).map((object) => object.body);
    await withParser(async (parser) => {
      const got = await onWorker(parser, await Promise.all(bodies.map(async (body, index) => request(await asFile(body), index + 1))));
      const expected = await onMainThread(bodies);
      assert.ok(got.staged.bytes.equals(expected.bytes), 'the same records as the main thread');
      // Against each object staged on its own: the same latest record per key, fewer records.
      const apart: Staged = { records: [], bytes: Buffer.alloc(0), counts: [], encodings: [] };
      for (const [index, body] of bodies.entries()) {
        const alone = await onMainThread([body], Infinity, {}, index + 1);
        apart.bytes = Buffer.concat([apart.bytes, alone.bytes]);
        apart.records.push(...alone.records);
      }
      assert.deepEqual(latestPerKey(got.staged), latestPerKey(apart));
      assert.ok(got.staged.records.length < apart.records.length, `keys repeated across the objects are staged once (${got.staged.records.length} records, ${apart.records.length} apart)`);
    });
  });

  it('an object that fails in a batch is taken out again: its rows, not its rejects; the others are staged as without it', async () => {
    const good = generateExports({ seed: 80, files: 3, rowsPerFile: 200, variations: false }).objects.filter((object) => object.data).map((object) => object.body);
    // Short rows (quarantined), rows, then a line past the record bound: RecordTooLargeError.
    const failing = Buffer.concat([Buffer.from(`${HEADERS.join(',')}\n1,short\n${csvLine(HEADERS, sampleRow())}\n2,short\n`), Buffer.from('9,' + 'x'.repeat(300_000))]);
    await withParser(async (parser) => {
      const requests = await Promise.all([good[0]!, failing, good[1]!].map(async (body, index) => request(await asFile(body), index + 1, { maxRecordBytes: 100_000 })));
      const got = await onWorker(parser, requests);
      assert.deepEqual(got.failures.map((failure) => failure && { name: failure.name, undone: failure.undone }), [undefined, { name: 'RecordTooLargeError', undone: true }, undefined]);
      assert.deepEqual(got.staged.counts[1], { rows: 1, rejects: 2, repaired: 0, issues: 0 }, 'what was read before the failure is counted');
      const without = await onMainThread([good[0]!, Buffer.alloc(0), good[1]!]);
      const rows = (staged: Staged) => ({ ...latestPerKey(staged), extras: [] });
      assert.deepEqual(rows(got.staged), rows(without), 'the rows are those of the other objects');
      const rejectsOf = (staged: Staged, attempt: number) => staged.records.filter((record) => record.startsWith(`etl_stage ${attempt} `)).length;
      assert.equal(rejectsOf(got.staged, 2), 2, "the failed object's quarantined rows stay: they explain the failure");
    });
  });

  it('a header without SR Number: MissingRequiredColumnsError, and the thread reads the next object', async () => {
    await withParser(async (parser) => {
      const failed = await onWorker(parser, [request(await asFile(Buffer.from('Ticket,SR Status\n1,Open\n')))]);
      assert.equal(failed.failures[0]?.name, 'MissingRequiredColumnsError');
      assert.match(failed.failures[0]!.message, /SR Number/);
      const next = await onWorker(parser, [request(await asFile(plain(2)))]);
      assert.equal(next.staged.counts[0]!.rows, 2);
    });
  });

  it("the file's own error comes through with its code; a read stopped early leaves the thread ready for the next object", async () => {
    await withParser(async (parser) => {
      const missing = await onWorker(parser, [request(path.join(dir, 'no such object'))]);
      assert.equal(missing.failures[0]?.code, 'ENOENT');

      const file = await asFile(plain(5000));
      parser.startBatch(1024, 4096);
      for await (const event of parser.read(request(file))) {
        if (event.type === 'chunk') break; // the caller stops (a COPY error, say)
      }
      const again = await onWorker(parser, [request(file)]);
      assert.equal(again.staged.counts[0]!.rows, 5000);
    });
  });

  it('a worker that died is replaced by the next batch', async () => {
    await withParser(async (parser) => {
      const file = await asFile(plain(1));
      assert.equal((await onWorker(parser, [request(file)])).staged.counts[0]!.rows, 1);
      // The worker is private: reach it to kill it as a crash would.
      const worker = (parser as unknown as { worker: { terminate(): Promise<number> } }).worker;
      await worker.terminate();
      assert.equal((await onWorker(parser, [request(file)])).staged.counts[0]!.rows, 1);
    });
  });

  it('more quarantined rows than max_rejects_per_object: RejectLimitError, the rejects up to it kept', async () => {
    const body = Buffer.from('SR Number,SR Status,Summary\n' + Array.from({ length: 500 }, (_, i) => `${1000 + i},short`).join('\n') + '\n');
    await withParser(async (parser) => {
      const got = await onWorker(parser, [request(await asFile(body), 1, {}, { maxRejects: 100 })]);
      assert.deepEqual(got.failures[0] && { name: got.failures[0].name, code: got.failures[0].code }, { name: 'RejectLimitError', code: 'REJECT_LIMIT' });
      assert.equal(got.staged.records.filter((record) => record.startsWith('etl_stage ')).length, 101, 'the rejects up to the one over the limit are kept');
    });
  });

  it('more than reject_threshold of the rows quarantined: RejectThresholdError naming the object', async () => {
    const body = Buffer.from('SR Number,SR Status,Summary\n' + Array.from({ length: 10 }, (_, i) => (i < 4 ? `${1000 + i},short` : `${1000 + i},Open,fine`)).join('\n') + '\n');
    await withParser(async (parser) => {
      const got = await onWorker(parser, [request(await asFile(body), 1, {}, { rejectThreshold: 0.3, rejectThresholdMinRows: 3, key: 'exports/a.csv' })]);
      assert.equal(got.failures[0]?.name, 'RejectThresholdError');
      assert.match(got.failures[0]!.message, /^4 of 10 rows \(40\.0%\) could not be loaded, more than reject_threshold 30\.0%; see `etl rejects --object 'exports\/a\.csv'`$/);
      const under = await onWorker(parser, [request(await asFile(body), 1, {}, { rejectThreshold: 0.5, rejectThresholdMinRows: 3 })]);
      assert.equal(under.failures[0], undefined);
    });
  });

  it('a batch larger than the worker holds is handed out in parts: the same latest record per key, and an object failing after that cannot be taken out', async () => {
    const { objects } = generateExports({ seed: 78, files: 4, rowsPerFile: 2000, defects: { shortRows: 0.01, duplicateRows: 0.05, badValues: 0.02 } });
    const bodies = objects.filter((candidate) => candidate.data).map((object) => object.body);
    await withParser(async (parser) => {
      const requests = await Promise.all(bodies.map(async (body, index) => request(await asFile(body), index + 1, { assumeUtf8: false })));
      const got = await onWorker(parser, requests, 32 * 1024);
      const expected = await onMainThread(bodies, Infinity, { assumeUtf8: false });
      assert.ok(got.early > 1, 'handed out in parts while reading');
      assert.deepEqual(latestPerKey(got.staged), latestPerKey(expected));
      const failing = Buffer.concat([bodies[0]!, Buffer.from('9,' + 'x'.repeat(300_000))]);
      const late = await onWorker(parser, [request(await asFile(failing), 1, { maxRecordBytes: 100_000 })], 32 * 1024);
      assert.deepEqual(late.failures[0] && { name: late.failures[0].name, undone: late.failures[0].undone }, { name: 'RecordTooLargeError', undone: false });
    });
  });

  describe('content that is not plain UTF-8 (read in one pass until it shows)', () => {
    /** A header, `ascii` plain rows, then one row whose customer name holds `tail` (bytes). */
    const objectWith = (ascii: number, tail: Buffer) => {
      const rows = Array.from({ length: ascii }, (_, i) => csvLine(HEADERS, sampleRow({ 'SR Number': String(5_000_000 + i) })));
      const last = Buffer.from(csvLine(HEADERS, sampleRow({ 'SR Number': '5999999', 'Customer Name': 'TAIL' })));
      const at = last.indexOf('TAIL');
      return Buffer.concat([Buffer.from([HEADERS.join(','), ...rows].join('\n') + '\n'), last.subarray(0, at), tail, last.subarray(at + 4), Buffer.from('\n')]);
    };
    const cases = [
      { name: 'Windows-1252', tail: Buffer.from([0x51, 0x75, 0xe9, 0x62, 0x65, 0x63]), encoding: 'windows-1252', rejects: 0 },
      { name: 'a damaged UTF-8 export', tail: Buffer.concat([Buffer.from('Café '), Buffer.from([0xff]), Buffer.from(' Montréal')]), encoding: 'utf-8', rejects: 1 },
      { name: 'a NUL byte', tail: Buffer.from('a\u0000b'), encoding: 'utf-8', rejects: 1 },
    ];
    for (const { name, tail, encoding, rejects } of cases) {
      it(`${name}: NEEDS_PROFILE with the object taken out again (nothing handed out), then read again profiled as the main thread reads it`, async () => {
        const body = objectWith(2000, tail); // past the first 256 KiB chunk the worker reads
        await withParser(async (parser) => {
          const file = await asFile(body);
          const first = await onWorker(parser, [request(file)]);
          assert.deepEqual(first.failures[0] && { code: first.failures[0].code, undone: first.failures[0].undone }, { code: 'NEEDS_PROFILE', undone: true });
          assert.equal(first.staged.records.length, 0, 'nothing of the first pass stays');
          const got = await onWorker(parser, [request(file, 1, { assumeUtf8: false })]);
          const expected = await onMainThread([body], Infinity, { assumeUtf8: false });
          assert.equal(got.staged.encodings[0], encoding);
          assert.equal(got.staged.counts[0]!.rejects, rejects);
          assert.ok(got.staged.bytes.equals(expected.bytes));
          // Holding at most 64 KiB, the worker hands out the first rows early: it cannot take the object out.
          const early = await onWorker(parser, [request(file)], 64 * 1024);
          assert.deepEqual(early.failures[0] && { code: early.failures[0].code, undone: early.failures[0].undone }, { code: 'NEEDS_PROFILE', undone: false });
        });
      });
    }
  });
});
