// A parser's floor: tokenizing alone over the bytes `etl run` reads (gzip undone), nothing else.
//   csv-parse  the loader's parser before src/read/csv-reader.ts, with the options it read exports
//              with (test/helpers/csv-parse-oracle.ts), fed 64 KiB pieces, its cheapest record path
//              (`on_record` returning null)
//   reader     src/read/csv-reader.ts alone (records counted, fields left as byte ranges), fed
//              256 KiB chunks as the parse worker reads them
// Runs in a process of its own; prints the records and the CPU it took, all of it and split by
// thread (bench/threads.ts: its main thread parses, V8's helpers collect garbage).
// node bench/parse-floor.ts DIR [K N] [csv-parse|reader]   (with K N: only every Nth file from the
// Kth, 0-based, to split the bytes between N processes as `etl run` splits objects between its
// parse workers)
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Parser } from 'csv-parse';
import { CsvReader } from '../src/read/csv-reader.ts';
import { CSV_PARSE_OPTIONS } from '../test/helpers/csv-parse-oracle.ts';
import { ThreadCpuSampler } from './threads.ts';

const dir = process.argv[2]!;
const [share, shares] = [Number(process.argv[3] ?? 0), Number(process.argv[4] ?? 1)];
const tokenizer = process.argv[5] ?? 'csv-parse';
if (tokenizer !== 'csv-parse' && tokenizer !== 'reader') throw new Error(`parse-floor: no tokenizer ${tokenizer}`);
const files = (readdirSync(dir, { recursive: true }) as string[])
  .filter((file) => /\.csv(\.gz)?$/i.test(file))
  .sort()
  .filter((_, index) => index % shares === share);
const CSV_PARSE_PIECE_BYTES = 64 * 1024;
const READER_CHUNK_BYTES = 256 * 1024;
// csv-parse builds an error for every row of another field count, whose stack trace would
// otherwise dominate (the loader ran it this way too).
Error.stackTraceLimit = 0;
const threads = new ThreadCpuSampler({ fromNow: true });
const started = process.cpuUsage();
let records = 0;
for (const file of files) {
  const raw = readFileSync(path.join(dir, file));
  const bytes = /\.gz$/i.test(file) ? gunzipSync(raw) : raw;
  if (tokenizer === 'reader') {
    const reader = new CsvReader({ record: () => void records++, fault: () => {} }, { maxRecordBytes: 16 * 1024 * 1024 });
    for (let at = 0; at < bytes.length; at += READER_CHUNK_BYTES) reader.push(bytes.subarray(at, at + READER_CHUNK_BYTES));
    reader.end();
    continue;
  }
  const parser = new Parser({
    ...CSV_PARSE_OPTIONS,
    on_record: () => {
      records++;
      return null;
    },
  });
  parser.on('error', () => {}); // a hostile row ends the file early; the floor is about speed
  for (let at = 0; at < bytes.length && !parser.errored; at += CSV_PARSE_PIECE_BYTES) parser.write(bytes.subarray(at, at + CSV_PARSE_PIECE_BYTES));
  if (!parser.errored) parser.end();
}
const used = process.cpuUsage(started);
const cpuMs = Math.round((used.user + used.system) / 1000);
process.stdout.write(`${JSON.stringify({ files: files.length, records, cpuMs, threadCpuMs: threads.total(cpuMs) })}\n`);
