// npm run bench [-- --files N --rows N --seed N]
//
// Generates seed-shaped exports (default about 450 k rows in 60 objects, with the spec's
// variations and realistic defect rates), times `etl run` on them end to end, and in the same run
// times the baseline that matters: raw COPY of the same normalised rows into the same five tables
// (with their keys) on a fresh database. Figures are reported as ratios against that baseline,
// since the machine is shared and noisy.
//
// Postgres: BENCH_DATABASE_URL or TEST_DATABASE_URL (a server where it may CREATE DATABASE), or a
// private embedded Postgres started for the run.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { to as copyTo, from as copyFrom } from 'pg-copy-streams';
import { generateExports, writeExports } from '../src/sample/generator.ts';
import { migrate } from '../src/load/migrate.ts';
import { log, postgresServer, timeEtlRun, withClient } from './lib.ts';

const TABLES = ['customers', 'service_requests', 'tasks', 'parts_used', 'sr_notes'];

const { values } = parseArgs({
  options: { files: { type: 'string', default: '60' }, rows: { type: 'string', default: '7500' }, seed: { type: 'string', default: '2026' } },
});
const files = Number(values.files);
const rowsPerFile = Number(values.rows);

function sec(ms: number): string {
  return (ms / 1000).toFixed(2);
}

async function tableCounts(url: string): Promise<Record<string, number>> {
  return withClient(url, async (client) => {
    const counts: Record<string, number> = {};
    for (const table of TABLES) counts[table] = Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    return counts;
  });
}

const COLUMNS: Record<string, string> = {
  customers: 'account_number, customer_name, site_city, site_state, site_postal_code, site_country, source_object, source_modified, source_line',
  service_requests:
    'sr_number, sr_type, sr_status, severity, created_at, closed_at, problem_code, resolution_code, summary, account_number, product, serial_number, source_object, source_modified, source_line',
  tasks: 'task_number, sr_number, task_type, task_status, technician, scheduled_start, actual_end, source_object, source_modified, source_line',
  parts_used: 'task_number, part_number, part_description, quantity, source_object, source_modified, source_line',
  sr_notes: 'sr_number, note_date, note_text, note_type, source_object, source_modified, source_line',
};

async function dumpTables(url: string): Promise<Record<string, Buffer>> {
  return withClient(url, async (client) => {
    const dumps: Record<string, Buffer> = {};
    for (const table of TABLES) {
      const chunks: Buffer[] = [];
      const stream = client.query(copyTo(`COPY ${table} (${COLUMNS[table]}) TO STDOUT`));
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      dumps[table] = Buffer.concat(chunks);
    }
    return dumps;
  });
}

async function timeRawCopy(url: string, dumps: Record<string, Buffer>): Promise<number> {
  return withClient(url, async (client) => {
    await migrate(client);
    const started = performance.now();
    await client.query('BEGIN');
    for (const table of TABLES) {
      const stream = client.query(copyFrom(`COPY ${table} (${COLUMNS[table]}) FROM STDIN`));
      await new Promise<void>((resolve, reject) => {
        stream.on('finish', resolve);
        stream.on('error', reject);
        stream.end(dumps[table]);
      });
    }
    await client.query('COMMIT');
    return performance.now() - started;
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'etl-bench-'));
  // As root the embedded Postgres runs as the OS user postgres, which must reach its data dir.
  if (process.getuid?.() === 0) chmodSync(work, 0o755);
  const server = await postgresServer(path.join(work, 'pg'));
  try {
    const t0 = performance.now();
    const { objects, expected } = generateExports({
      seed: Number(values.seed),
      files,
      rowsPerFile,
      defects: { unquotedFreeText: 0.002, strayQuotes: 0.002, shortRows: 0.001, truncatedObjects: 0.02, duplicateRows: 0.01, badValues: 0.001 },
    });
    const exportsDir = path.join(work, 'exports');
    await writeExports(exportsDir, objects);
    const bytes = objects.reduce((sum, object) => sum + object.body.length, 0);
    log(`generated ${objects.length} objects, ${expected.rowsRead} data rows, ${(bytes / 1e6).toFixed(0)} MB in ${sec(performance.now() - t0)} s`);

    // 1. etl run, end to end, in its own process.
    const etlDb = await server.createDatabase('bench_etl');
    const run = await timeEtlRun(etlDb, exportsDir, path.join(work, 'state'));
    if (run.code !== 0 && run.code !== 3) throw new Error(`etl run exited ${run.code}:\n${run.stderr.slice(-2000)}`);
    const counts = await tableCounts(etlDb);
    for (const table of TABLES) {
      const want = expected.tables[table as keyof typeof expected.tables];
      if (counts[table] !== want) throw new Error(`etl run loaded ${counts[table]} rows into ${table}, the oracle says ${want}`);
    }

    // 2. Baseline: raw COPY of the same normalised rows into the same tables, with their keys.
    const dumps = await dumpTables(etlDb);
    const copyDb = await server.createDatabase('bench_copy');
    const copyMs = await timeRawCopy(copyDb, dumps);
    const normalisedRows = Object.values(counts).reduce((a, b) => a + b, 0);

    const etlSeconds = run.ms / 1000;
    const rowsPerSecond = expected.rowsRead / etlSeconds;
    log('');
    log(`source rows           ${expected.rowsRead} in ${objects.filter((o) => o.data).length} data objects (${(bytes / 1e6).toFixed(0)} MB)`);
    log(`etl run               ${sec(run.ms)} s   ${Math.round(rowsPerSecond)} source rows/s   peak RSS ${Math.round(run.maxRssKb / 1024)} MiB`);
    log(`raw COPY (baseline)   ${sec(copyMs)} s   ${Math.round(expected.rowsRead / (copyMs / 1000))} source rows/s equivalent (${normalisedRows} normalised rows)`);
    log(`ratio                 etl run takes ${(run.ms / copyMs).toFixed(2)}x the time of raw COPY`);
    log(`vs. the old product   ${(rowsPerSecond / 2544).toFixed(1)}x its 2,544 rows/s (a figure from another machine, for orientation only)`);
    log(`target                ${rowsPerSecond >= 20_000 ? 'met' : 'NOT met'}: >= 20,000 source rows/s end to end`);
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
