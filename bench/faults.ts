// npm run bench:faults
//
// Peak RSS of `etl run` on hostile objects, against a normal export in the same run: memory must
// stay flat whatever the input (issue: "memory bounded whatever the input"). Each object is loaded
// alone, into a fresh database, by its own `etl run` process:
//   a normal export       20,000 generated rows (the baseline)
//   a 1 GB line           a header, then 1 GiB without a line break (fails: max_record_bytes)
//   1 M rejects           1,000,000 short rows (all quarantined, streamed to Postgres; the object
//                         fails over reject_threshold with its rejects kept; the reject limit is
//                         raised to 2 M for this)
//   a gzip bomb           1 GiB of zeros gzipped to about 1 MB (fails: max_gzip_ratio)
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { generateExports, writeExports } from '../src/sample/generator.ts';
import { EXPORT_COLUMNS } from '../src/model/export.ts';
import { log, postgresServer, timeEtlRun, withClient } from './lib.ts';

const HEADER = EXPORT_COLUMNS.map((column) => column.header).join(',');
const MiB = 1024 * 1024;

/** Writes `total` bytes of `fill` after `head`, a MiB at a time (never the whole in memory), gzipped when asked. */
async function writeLarge(file: string, head: string, total: number, fill: number, gzip = false): Promise<void> {
  const out = createWriteStream(file);
  const sink = gzip ? createGzip({ level: 9 }) : out;
  if (gzip) sink.pipe(out);
  const block = Buffer.alloc(MiB, fill);
  if (!sink.write(head)) await once(sink, 'drain');
  for (let written = 0; written < total; written += MiB) if (!sink.write(block)) await once(sink, 'drain');
  sink.end();
  await once(out, 'finish');
}

interface Scenario {
  name: string;
  write(dir: string): Promise<void>;
  env?: Record<string, string>;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'a normal export (baseline)',
    write: async (dir) => writeExports(dir, generateExports({ seed: 91, files: 1, rowsPerFile: 20_000, variations: false }).objects),
  },
  { name: 'a 1 GB line', write: (dir) => writeLarge(path.join(dir, 'one-line.csv'), `${HEADER}\n1,`, 1024 * MiB, 0x78) },
  {
    name: '1 M rejects',
    write: async (dir) => {
      const rows: string[] = [HEADER];
      for (let i = 0; i < 1_000_000; i++) rows.push(`${1_000_000 + i},short`);
      writeFileSync(path.join(dir, 'rejects.csv'), `${rows.join('\n')}\n`);
    },
    env: { ETL_MAX_REJECTS_PER_OBJECT: '2000000' },
  },
  { name: 'a gzip bomb', write: (dir) => writeLarge(path.join(dir, 'bomb.csv.gz'), '', 1024 * MiB, 0, true) },
];

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'etl-bench-faults-'));
  if (process.getuid?.() === 0) chmodSync(work, 0o755); // the embedded Postgres runs as the OS user postgres
  const server = await postgresServer(path.join(work, 'pg'));
  const results: Array<{ name: string; seconds: number; rssMiB: number; outcome: string }> = [];
  try {
    for (const [index, scenario] of SCENARIOS.entries()) {
      const dir = path.join(work, `source-${index}`);
      mkdirSync(dir, { recursive: true });
      await scenario.write(dir);
      const url = await server.createDatabase(`bench_faults_${index}`);
      const run = await timeEtlRun(url, dir, path.join(work, `state-${index}`), scenario.env);
      const files = await withClient(url, async (client) =>
        (await client.query<{ status: string; error_class: string | null; rows_quarantined: string }>('SELECT status, error_class, rows_quarantined FROM etl_files')).rows,
      );
      const rejects = await withClient(url, async (client) => Number((await client.query('SELECT count(*) AS n FROM etl_rejects')).rows[0].n));
      const outcome = files.map((file) => `${file.status}${file.error_class ? ` ${file.error_class}` : ''}`).join(', ') + `; ${rejects} rejects kept; exit ${run.code}`;
      results.push({ name: scenario.name, seconds: run.ms / 1000, rssMiB: run.maxRssKb / 1024, outcome });
      log(`${scenario.name}: ${(run.ms / 1000).toFixed(1)} s, peak RSS ${Math.round(run.maxRssKb / 1024)} MiB, ${outcome}`);
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const baseline = results[0]!.rssMiB;
  log('');
  log('| object | etl run | peak RSS | vs. the normal export | outcome |');
  log('|---|---|---|---|---|');
  for (const result of results) {
    log(`| ${result.name} | ${result.seconds.toFixed(1)} s | ${Math.round(result.rssMiB)} MiB | ${(result.rssMiB / baseline).toFixed(2)}x | ${result.outcome} |`);
  }
}

await main();
