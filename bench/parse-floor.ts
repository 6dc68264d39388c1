// The parser's floor: csv-parse alone over the bytes `etl run` reads (gzip undone), with the
// options and the piece size of read/records.ts and its cheapest record path (`on_record`
// returning null). Runs in a process of its own; prints the records and the CPU it took, all of it
// and split by thread (bench/threads.ts: its main thread parses, V8's helpers collect garbage).
// node bench/parse-floor.ts DIR [K N]   (with K N: only every Nth file from the Kth, 0-based, to
// split the bytes between N processes as `etl run` splits objects between its parse workers)
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Parser } from 'csv-parse';
import { PARSER_OPTIONS, PARSE_PIECE_BYTES } from '../src/read/records.ts';
import { ThreadCpuSampler } from './threads.ts';

const dir = process.argv[2]!;
const [share, shares] = [Number(process.argv[3] ?? 0), Number(process.argv[4] ?? 1)];
const files = (readdirSync(dir, { recursive: true }) as string[])
  .filter((file) => /\.csv(\.gz)?$/i.test(file))
  .sort()
  .filter((_, index) => index % shares === share);
// As in read/records.ts: csv-parse builds an error for every row of another field count, whose
// stack trace would otherwise dominate.
Error.stackTraceLimit = 0;
const threads = new ThreadCpuSampler({ fromNow: true });
const started = process.cpuUsage();
let records = 0;
for (const file of files) {
  const raw = readFileSync(path.join(dir, file));
  const bytes = /\.gz$/i.test(file) ? gunzipSync(raw) : raw;
  const parser = new Parser({
    ...PARSER_OPTIONS,
    on_record: () => {
      records++;
      return null;
    },
  });
  parser.on('error', () => {}); // a hostile row ends the file early; the floor is about speed
  for (let at = 0; at < bytes.length && !parser.errored; at += PARSE_PIECE_BYTES) parser.write(bytes.subarray(at, at + PARSE_PIECE_BYTES));
  if (!parser.errored) parser.end();
}
const used = process.cpuUsage(started);
const cpuMs = Math.round((used.user + used.system) / 1000);
process.stdout.write(`${JSON.stringify({ files: files.length, records, cpuMs, threadCpuMs: threads.total(cpuMs) })}\n`);
