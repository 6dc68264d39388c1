// Reading on the worker thread (src/read/parse-thread.ts) gives exactly what reading on the main
// thread gives: the same staging COPY bytes (rows by key and table, quarantined rows, value
// issues), for the same staging tables and data rows, and counts, for
// every kind of generated object (gzip, Windows-1252, BOM, defects), whatever the chunks the main
// thread reads in; its errors keep their name and code, and what was read before one is reported.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { readExport, type ReadExportOptions } from '../src/read/export-reader.ts';
import { ParseThread, type ParseEvent, type ReadRequest } from '../src/read/parse-thread.ts';
import { ObjectStage } from '../src/load/staging.ts';
import { TARGET_TABLES } from '../src/load/target-tables.ts';
import { generateExports } from '../src/sample/generator.ts';
import { chunked, csvLine, HEADERS, sampleRow } from './helpers/read.ts';

const BATCH_BYTES = 16 * 1024;

interface Read {
  copy: Buffer;
  /** Per staging record: its staging table and the ordinal of its data row. */
  records: string[];
  rows: number;
  rejects: number;
  repaired: number;
  issues: number;
  encoding?: string;
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

function request(file: string, options: ReadRequest['options'] = {}, maxRejects = 1_000_000, holdBytes?: number): ReadRequest {
  return { path: file, batchBytes: BATCH_BYTES, maxRejects, options, ...(holdBytes === undefined ? {} : { holdBytes }) };
}

async function onMainThread(body: Buffer, chunkSize: number, options: ReadExportOptions = {}): Promise<Read> {
  const stage = new ObjectStage(BATCH_BYTES);
  const read: Read = { copy: Buffer.alloc(0), records: [], rows: 0, rejects: 0, repaired: 0, issues: 0 };
  let ordinal = 0;
  for await (const event of readExport(() => Readable.from(chunked(body, chunkSize), { objectMode: false }), options)) {
    if (event.type === 'header') read.encoding = event.encoding;
    else if (event.type === 'reject') {
      read.rejects++;
      stage.addReject(++ordinal, { line: event.line, rawBytes: event.rawBytes, rawText: event.raw, reason: event.reason, detail: event.detail });
    } else {
      read.rows++;
      if (event.repairedColumn !== undefined) read.repaired++;
      read.issues += event.issues.length;
      stage.addRow(++ordinal, event.line, event.values, event.issues);
    }
  }
  const chunks = [...stage.take()];
  read.copy = Buffer.concat(chunks.map((chunk) => Buffer.from(chunk.bytes)));
  read.records = chunks.flatMap((chunk) => [...chunk.ordinals].map((row) => `${chunk.stage} ${row}`));
  return read;
}

async function onWorker(parser: ParseThread, file: string, options: ReadRequest['options'] = {}, holdBytes?: number): Promise<Read & { batches: number }> {
  const copies: Buffer[] = [];
  const read = { copy: Buffer.alloc(0), records: [], rows: 0, rejects: 0, repaired: 0, issues: 0, batches: 0 } as Read & { batches: number };
  for await (const event of parser.read(request(file, options, undefined, holdBytes))) {
    if (event.type === 'header') read.encoding = event.encoding;
    else {
      read.batches++;
      read.rows += event.rows;
      read.rejects += event.rejects;
      read.repaired += event.repaired;
      read.issues += event.issues;
      copies.push(event.bytes);
      for (const row of event.ordinals) read.records.push(`${event.stage} ${row}`);
    }
  }
  read.copy = Buffer.concat(copies);
  return read;
}

/**
 * What the merge makes of staging records: per table and key the record of the latest line (as
 * DISTINCT ON ... line_number DESC picks it), and etl_stage's records in order.
 */
function latestPerKey(read: Read): { tables: Record<string, string>; extras: string[] } {
  const lines = read.copy.toString('utf8').split('\n');
  const tables: Record<string, string> = {};
  const extras: string[] = [];
  read.records.forEach((record, index) => {
    const stage = record.split(' ')[0]!;
    const line = lines[index]!;
    if (stage === 'etl_stage') {
      extras.push(line);
      return;
    }
    const fields = line.split('\t');
    const keyColumns = TARGET_TABLES.find((table) => `etl_stage_${table.name}` === stage)!.key.length;
    const key = `${stage} ${fields.slice(1, 1 + keyColumns).join('\t')}`;
    const held = tables[key];
    if (held === undefined || Number(held.split('\t')[0]) < Number(fields[0])) tables[key] = line;
  });
  return { tables, extras };
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
  it('reads every generated object exactly as the main thread does, in batches, whatever the chunks', async () => {
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
        const got = await onWorker(parser, file).catch((error: unknown) => error as Error);
        for (const chunkSize of [Infinity, 4093, 509]) {
          const where = `${object.key} (${object.features.join(', ')}), main thread in chunks of ${chunkSize}`;
          const expected: Read | Error = await onMainThread(object.body, chunkSize).catch((error: unknown) => error as Error);
          if (expected instanceof Error) {
            assert.ok(got instanceof Error, `${where}: the worker read what the main thread could not`);
            assert.deepEqual({ name: got.name, message: got.message }, { name: expected.name, message: expected.message }, where);
            continue;
          }
          assert.ok(!(got instanceof Error), `${where}: ${got instanceof Error ? got.message : ''}`);
          assert.equal(got.rows, expected.rows, where);
          assert.ok(got.copy.equals(expected.copy), `${where}: the COPY bytes are the same`);
          assert.deepEqual(got.records, expected.records, `${where}: the same staging tables and data rows`);
          assert.equal(got.rejects, expected.rejects, where);
          assert.equal(got.issues, expected.issues, where);
          assert.equal(got.repaired, expected.repaired, where);
          assert.equal(got.encoding, expected.encoding, where);
          if (expected.copy.length > 2 * BATCH_BYTES) assert.ok(got.batches > 1, `${where}: sent in batches`);
          rejects += got.rejects;
        }
      }
      assert.ok(rejects > 0, 'the objects had rows to quarantine');
    });
  });

  it('a header without SR Number: MissingRequiredColumnsError, and the thread reads the next object', async () => {
    await withParser(async (parser) => {
      await assert.rejects(onWorker(parser, await asFile(Buffer.from('Ticket,SR Status\n1,Open\n'))), (error: unknown) => {
        assert.equal((error as Error).name, 'MissingRequiredColumnsError');
        assert.match((error as Error).message, /SR Number/);
        return true;
      });
      const good = await onWorker(parser, await asFile(Buffer.from('SR Number,SR Status\n101,Open\n102,Closed\n')));
      assert.equal(good.rows, 2);
    });
  });

  it("the file's own error comes through with its code; a read stopped early leaves the thread ready for the next object", async () => {
    await withParser(async (parser) => {
      await assert.rejects(onWorker(parser, path.join(dir, 'no such object')), (error: unknown) => {
        assert.equal((error as { code?: string }).code, 'ENOENT');
        return true;
      });

      const body = Buffer.from('SR Number,SR Status\n' + Array.from({ length: 5000 }, (_, i) => `${1000 + i},Open`).join('\n') + '\n');
      const file = await asFile(body);
      let seen: ParseEvent | undefined;
      for await (const event of parser.read({ ...request(file), batchBytes: 1024 })) {
        seen = event;
        if (event.type === 'batch') break; // the caller stops (a COPY error, say)
      }
      assert.equal(seen?.type, 'batch');
      const again = await onWorker(parser, file);
      assert.equal(again.rows, 5000);
    });
  });

  it('a worker that died between objects is replaced by the next read', async () => {
    await withParser(async (parser) => {
      const file = await asFile(Buffer.from('SR Number,SR Status\n101,Open\n'));
      assert.equal((await onWorker(parser, file)).rows, 1);
      // The worker is private: reach it to kill it as a crash would.
      const worker = (parser as unknown as { worker: { terminate(): Promise<number> } }).worker;
      await worker.terminate();
      assert.equal((await onWorker(parser, file)).rows, 1);
    });
  });

  it('a reading that fails midway: its error, after every row and reject read before it', async () => {
    // 40,000 rows, one short, then a line longer than the record bound (no line break in it).
    const lines = ['SR Number,SR Status,Summary', '101,Open', ...Array.from({ length: 40_000 }, (_, i) => `${1000 + i},Open,"note ${i * 7919}"`)];
    const body = Buffer.from(lines.join('\n') + '\n' + '9,Open,' + 'x'.repeat(300_000));
    const options = { maxRecordBytes: 100_000 };
    let mainRows = 0;
    let mainRejects = 0;
    await assert.rejects(
      (async () => {
        for await (const event of readExport(() => Readable.from(chunked(body, 65_536), { objectMode: false }), options)) {
          if (event.type === 'row') mainRows++;
          if (event.type === 'reject') mainRejects++;
        }
      })(),
      { name: 'RecordTooLargeError' },
    );
    assert.ok(mainRows === 40_000 && mainRejects === 1, `rows before the error: ${mainRows}, rejects ${mainRejects}`);

    await withParser(async (parser) => {
      let rows = 0;
      let rejects = 0;
      await assert.rejects(
        (async () => {
          for await (const event of parser.read(request(await asFile(body), options))) {
            if (event.type === 'batch') {
              rows += event.rows;
              rejects += event.rejects;
            }
          }
        })(),
        { name: 'RecordTooLargeError', code: 'RECORD_TOO_LARGE' },
      );
      assert.equal(rows, mainRows, 'every row read before the error is counted');
      assert.equal(rejects, mainRejects, 'the reject found before the error is kept');
    });
  });

  it('more quarantined rows than max_rejects_per_object: those found are sent, then RejectLimitError', async () => {
    const body = Buffer.from('SR Number,SR Status,Summary\n' + Array.from({ length: 500 }, (_, i) => `${1000 + i},short`).join('\n') + '\n');
    await withParser(async (parser) => {
      let rejects = 0;
      await assert.rejects(
        (async () => {
          for await (const event of parser.read(request(await asFile(body), {}, 100))) if (event.type === 'batch') rejects += event.rejects;
        })(),
        { name: 'RejectLimitError', code: 'REJECT_LIMIT' },
      );
      assert.equal(rejects, 101, 'the rejects up to the one over the limit are sent');
    });
  });

  it('an object larger than the worker holds is handed out in parts: the same latest row per key and table, the same quarantined rows', async () => {
    const { objects } = generateExports({ seed: 78, files: 4, rowsPerFile: 2000, defects: { shortRows: 0.01, duplicateRows: 0.05, badValues: 0.02 } });
    await withParser(async (parser) => {
      for (const object of objects.filter((candidate) => candidate.data)) {
        const got = await onWorker(parser, await asFile(object.body), {}, 32 * 1024);
        const expected = await onMainThread(object.body, Infinity);
        const runs = got.records.map((record) => record.split(' ')[0]).filter((stage, index, stages) => stage !== stages[index - 1]);
        assert.ok(runs.filter((stage) => stage === 'etl_stage_customers').length > 1, `${object.key}: handed out in parts`);
        assert.deepEqual(latestPerKey(got), latestPerKey(expected), object.key);
        assert.equal(got.rows, expected.rows);
      }
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
      it(`${name} within the first batch: the worker reads it again itself, as the main thread reads it`, async () => {
        const body = objectWith(3, tail);
        await withParser(async (parser) => {
          const got = await onWorker(parser, await asFile(body));
          const expected = await onMainThread(body, Infinity);
          assert.equal(got.encoding, encoding);
          assert.equal(got.rejects, rejects);
          assert.deepEqual({ ...got, batches: undefined }, { ...expected, batches: undefined });
        });
      });
      it(`${name} after batches were sent: NEEDS_PROFILE, and read again without assumeUtf8 it is read as the main thread reads it`, async () => {
        const body = objectWith(2000, tail); // past the first 256 KiB chunk the worker reads
        await withParser(async (parser) => {
          const file = await asFile(body);
          // Holding at most 64 KiB of rows, the worker hands out the first ones early.
          await assert.rejects(onWorker(parser, file, {}, 64 * 1024), (error: Error & { code?: string }) => error.code === 'NEEDS_PROFILE');
          const got = await onWorker(parser, file, { assumeUtf8: false });
          const expected = await onMainThread(body, Infinity);
          assert.equal(got.encoding, encoding);
          assert.equal(got.rows, 2000 + 1 - rejects);
          assert.deepEqual({ ...got, batches: undefined }, { ...expected, batches: undefined });
        });
      });
    }
  });
});
