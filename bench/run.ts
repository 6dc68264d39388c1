// npm run bench [-- --files N --rows N --seed N --rounds N --concurrency N --workers N --memory-limit MiB]
//
// Generates seed-shaped exports (default about 450 k rows in 60 objects, with the spec's
// variations and realistic defect rates) and, in the same run, on a private Postgres, measures in
// each round (the median of three by default):
//   etl run        end to end in its own process, each round into a fresh database: time, source
//                  rows/s, peak RSS, the runner's CPU (all threads), Postgres's CPU during the run
//                  and with the vacuum work the run leaves (bench/lib.ts, vacuumFollowUp: the server
//                  runs without autovacuum, and VACUUM (ANALYZE) follows each load); exact
//                  counts and latest statuses are checked against the generator's oracle
//   raw COPY       the same normalised rows into the same five tables (with their keys) in a fresh
//                  database: the limit of what Postgres can take; its time and Postgres's CPU,
//                  with the vacuum work it leaves
// Postgres's CPU is every process of a private server (backends, autovacuum, WAL writer,
// checkpointer), read from /proc; the server has the default settings, autovacuum aside.
//   tokenizers     alone over the same bytes (bench/parse-floor.ts): the reader the runner uses
//                  (src/read/csv-reader.ts) and csv-parse (its parser before), each in one
//                  process and split over as many processes as the runner has parse workers
//                  (load_concurrency): CPU seconds grow when two threads share these two cores,
//                  so the runner's CPU is compared with the floors measured the same way
//   DuckDB         the script bench/duckdb/load.py when its venv is there (bench/duckdb/setup.sh)
// --workers N: etl run is N processes that share one run (ETL_RUN_ID, as the chart's workers), started
// together, each with its own state dir: its time is the last one's end, its CPU the sum of theirs,
// its peak RSS the largest of one process.
// And once, after the first round: a nightly increment (one new object on top of the loaded set,
// timed end to end: listing, plan, load). Figures are ratios between these, since the machine is
// shared and its speed swings by a third within the hour.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { to as copyTo, from as copyFrom } from 'pg-copy-streams';
import { generateExports, writeExports, type Expected } from '../src/sample/generator.ts';
import { migrate } from '../src/load/migrate.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { log, MemoryCgroup, REAPED_MS, vacuumFollowUp, postgresServer, timeEtlRun, withClient, type EtlRun, type Server } from './lib.ts';
import { duckdbAvailable, runDuckdb, DUCKDB_SETUP } from './duckdb.ts';
import type { ThreadCpu } from './threads.ts';

const TABLES = ['customers', 'service_requests', 'tasks', 'parts_used', 'sr_notes'] as const;

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '60' },
    rows: { type: 'string', default: '7500' },
    seed: { type: 'string', default: '2026' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '2' },
    workers: { type: 'string', default: '1' },
    'memory-limit': { type: 'string' },
  },
});
const files = Number(values.files);
const rowsPerFile = Number(values.rows);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const workers = Number(values.workers);
const etlEnv: Record<string, string> = { ETL_LOAD_CONCURRENCY: String(concurrency) };
let sharedRuns = 0;
// The runner held to a memory limit, as in its pod (the chart's resources.limits.memory is 1024).
const cgroup = values['memory-limit'] ? new MemoryCgroup(Number(values['memory-limit'])) : undefined;

const sec = (ms: number) => (ms / 1000).toFixed(2);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function tableCounts(url: string): Promise<Record<string, number>> {
  return withClient(url, async (client) => {
    const counts: Record<string, number> = {};
    for (const table of TABLES) counts[table] = Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    return counts;
  });
}

/** Service requests and tasks whose status is not the oracle's latest one. */
async function wrongStatuses(url: string, expected: Expected): Promise<number> {
  return withClient(url, async (client) => {
    let wrong = 0;
    const srs = await client.query<{ k: string; s: string | null }>('SELECT sr_number AS k, sr_status AS s FROM service_requests');
    for (const row of srs.rows) if (expected.srStatus[row.k] !== row.s) wrong++;
    const tasks = await client.query<{ k: string; s: string | null }>('SELECT task_number AS k, task_status AS s FROM tasks');
    for (const row of tasks.rows) if (expected.taskStatus[row.k] !== row.s) wrong++;
    return wrong;
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

async function rawCopy(url: string, dumps: Record<string, Buffer>): Promise<void> {
  await withClient(url, async (client) => {
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
  });
}

/** Postgres's CPU for some work: while it runs, and until autovacuum's follow-up is done. */
async function measured<T>(server: Server, url: string, work: () => Promise<T>): Promise<{ result: T; ms: number; dbCpu: number; dbCpuWithVacuum: number }> {
  const cpu = server.cpuSeconds!;
  const before = cpu();
  const started = performance.now();
  const result = await work();
  const ms = performance.now() - started;
  await sleep(REAPED_MS);
  const dbCpu = cpu() - before;
  await vacuumFollowUp(url);
  await sleep(REAPED_MS);
  return { result, ms, dbCpu, dbCpuWithVacuum: cpu() - before };
}

async function migrated(server: Server, name: string): Promise<string> {
  const url = await server.createDatabase(name);
  await withClient(url, (client) => migrate(client));
  return url;
}

const execFileAsync = promisify(execFile);
const PARSE_FLOOR = fileURLToPath(new URL('./parse-floor.ts', import.meta.url));

/**
 * CPU seconds of a tokenizer alone over the objects, split over `shares` processes running at
 * once: in all, and on the threads that parse (not V8's helpers).
 */
async function parseFloorCpu(dir: string, shares: number, tokenizer: 'csv-parse' | 'reader' = 'csv-parse'): Promise<{ cpu: number; parsing: number }> {
  const runs = Array.from({ length: shares }, (_, share) => execFileAsync(process.execPath, [PARSE_FLOOR, dir, String(share), String(shares), tokenizer], { encoding: 'utf8' }));
  const results = (await Promise.all(runs)).map(({ stdout }) => JSON.parse(stdout) as { cpuMs: number; threadCpuMs: ThreadCpu });
  return { cpu: results.reduce((sum, r) => sum + r.cpuMs, 0) / 1000, parsing: results.reduce((sum, r) => sum + r.threadCpuMs.main, 0) / 1000 };
}

interface Round {
  etlMs: number;
  etlCpu: number;
  etlDb: number;
  etlDbVacuum: number;
  rssMib: number;
  copyMs: number;
  copyDb: number;
  copyDbVacuum: number;
  floorCpu: number;
  floorCpuParallel: number;
  /** csv-parse alone over `concurrency` processes: the CPU of the threads that parse. */
  floorParsingParallel: number;
  /** The runner's own CSV reader alone, in one process and over `concurrency` processes. */
  readerCpu: number;
  readerCpuParallel: number;
  /** The runner's CPU by kind of thread, in seconds. */
  etlThreads: ThreadCpu;
  cgroupPeakMib?: number;
  duckMs?: number;
  duckDbVacuum?: number;
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'etl-bench-'));
  // As root the embedded Postgres runs as the OS user postgres, which must reach its data dir.
  if (process.getuid?.() === 0) chmodSync(work, 0o755);
  const server = await postgresServer(path.join(work, 'pg'), { privateOnly: true });
  try {
    const t0 = performance.now();
    const defects = { unquotedFreeText: 0.002, strayQuotes: 0.002, shortRows: 0.001, truncatedObjects: 0.02, duplicateRows: 0.01, badValues: 0.001 };
    const { objects, expected } = generateExports({ seed: Number(values.seed), files, rowsPerFile, defects });
    const exportsDir = path.join(work, 'exports');
    await writeExports(exportsDir, objects);
    const bytes = objects.reduce((sum, object) => sum + object.body.length, 0);
    const dataObjects = objects.filter((o) => o.data).length;
    log(`generated ${dataObjects} data objects, ${expected.rowsRead} data rows, ${(bytes / 1e6).toFixed(0)} MB in ${sec(performance.now() - t0)} s`);
    const duck = duckdbAvailable();
    if (!duck) log(`DuckDB comparison skipped: ${DUCKDB_SETUP}`);

    let dumps: Record<string, Buffer> | undefined;
    const results: Round[] = [];
    for (let round = 1; round <= rounds; round++) {
      // 1. etl run, end to end, in its own process.
      const etlDb = await server.createDatabase(`etl_${round}`);
      const stateDir = path.join(work, `state-${round}`);
      cgroup?.resetPeak();
      const etl = await measured(server, etlDb, () => timeEtlWorkers(etlDb, exportsDir, stateDir));
      const run = etl.result;
      const cgroupPeakMib = cgroup?.peakMib();
      if (cgroup && run.code === 137) throw new Error(`etl run was killed: it went past the memory limit of ${cgroup.limitMib} MiB`);
      if (run.code !== 0 && run.code !== 3) throw new Error(`etl run exited ${run.code}:\n${run.stderr.slice(-2000)}`);
      const counts = await tableCounts(etlDb);
      for (const table of TABLES) {
        if (counts[table] !== expected.tables[table]) throw new Error(`etl run loaded ${counts[table]} rows into ${table}, the oracle says ${expected.tables[table]}`);
      }
      const wrong = await wrongStatuses(etlDb, expected);
      if (wrong > 0) throw new Error(`etl run left ${wrong} service requests or tasks with another status than the latest`);
      if (round === 1) {
        dumps = await dumpTables(etlDb);
        await nightlyIncrement(etlDb, exportsDir, stateDir, objects.reduce((latest, o) => Math.max(latest, o.lastModified.getTime()), 0));
      }
      await server.dropDatabase(etlDb);

      // 2. Raw COPY of the same normalised rows into the same tables, with their keys.
      const copyDb = await migrated(server, `copy_${round}`);
      const copy = await measured(server, copyDb, () => rawCopy(copyDb, dumps!));
      await server.dropDatabase(copyDb);

      // 3. The tokenizers alone over the same bytes, in one process and split as the runner splits them.
      const floorAlone = await parseFloorCpu(exportsDir, 1);
      const floorCpu = floorAlone.cpu;
      const floorParallel = concurrency > 1 ? await parseFloorCpu(exportsDir, concurrency) : floorAlone;
      const readerAlone = await parseFloorCpu(exportsDir, 1, 'reader');
      const readerParallel = concurrency > 1 ? await parseFloorCpu(exportsDir, concurrency, 'reader') : readerAlone;

      // 4. The DuckDB script, when set up.
      let duckRound: { ms: number; dbCpuWithVacuum: number } | undefined;
      if (duck) {
        const duckDb = await migrated(server, `duck_${round}`);
        duckRound = await measured(server, duckDb, () => runDuckdb(duck, exportsDir, duckDb));
        const duckCounts = await tableCounts(duckDb);
        const duckWrong = await wrongStatuses(duckDb, expected);
        if (round === 1) {
          const off = TABLES.map((t) => `${t} ${duckCounts[t]! - expected.tables[t] >= 0 ? '+' : ''}${duckCounts[t]! - expected.tables[t]}`).join(', ');
          log(`DuckDB's tables against the oracle: ${off}; ${duckWrong} statuses not the latest`);
        }
        await server.dropDatabase(duckDb);
      }

      const result: Round = {
        etlMs: run.ms,
        etlCpu: run.cpuMs / 1000,
        etlDb: etl.dbCpu,
        etlDbVacuum: etl.dbCpuWithVacuum,
        rssMib: run.maxRssKb / 1024,
        copyMs: copy.ms,
        copyDb: copy.dbCpu,
        copyDbVacuum: copy.dbCpuWithVacuum,
        floorCpu,
        floorCpuParallel: floorParallel.cpu,
        floorParsingParallel: floorParallel.parsing,
        readerCpu: readerAlone.cpu,
        readerCpuParallel: readerParallel.cpu,
        etlThreads: threadSeconds(run.threadCpuMs),
        ...(cgroupPeakMib !== undefined ? { cgroupPeakMib } : {}),
        ...(duckRound ? { duckMs: duckRound.ms, duckDbVacuum: duckRound.dbCpuWithVacuum } : {}),
      };
      results.push(result);
      log(
        `round ${round}: etl run ${sec(result.etlMs)} s (runner CPU ${result.etlCpu.toFixed(1)} s: ${threadsLine(result.etlThreads)}; Postgres ${result.etlDb.toFixed(1)} s, ${result.etlDbVacuum.toFixed(1)} s with vacuum, peak RSS ${Math.round(result.rssMib)} MiB)` +
          ` | raw COPY ${sec(result.copyMs)} s (Postgres ${result.copyDb.toFixed(1)} s, ${result.copyDbVacuum.toFixed(1)} s with vacuum)` +
          ` | csv-parse alone ${result.floorCpu.toFixed(1)} s CPU (${result.floorCpuParallel.toFixed(1)} s over ${concurrency} processes)` +
          ` | the runner's reader alone ${result.readerCpu.toFixed(1)} s CPU (${result.readerCpuParallel.toFixed(1)} s over ${concurrency} processes)` +
          (result.duckMs !== undefined ? ` | DuckDB ${sec(result.duckMs)} s (Postgres ${result.duckDbVacuum!.toFixed(1)} s with vacuum)` : ''),
      );
    }
    report(results, expected.rowsRead, dataObjects, bytes);
  } finally {
    await server.stop();
    cgroup?.remove();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * One new export on top of the loaded set, as a nightly run sees it: listing every object, planning,
 * loading the new one. Its time must not grow with the number of objects already loaded.
 */
async function nightlyIncrement(url: string, exportsDir: string, stateDir: string, latest: number): Promise<void> {
  const next = generateExports({ seed: Number(values.seed) + 1, files: 1, rowsPerFile, variations: false }).objects.find((o) => o.data)!;
  const dir = path.join(exportsDir, 'nightly');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'export_next.csv');
  writeFileSync(file, next.body);
  const modified = new Date(latest + 3_600_000);
  utimesSync(file, modified, modified);
  try {
    const run = await timeEtlWorkers(url, exportsDir, stateDir);
    if (run.code !== 0 && run.code !== 3) throw new Error(`the nightly increment's etl run exited ${run.code}:\n${run.stderr.slice(-2000)}`);
    const loaded = await withClient(url, (client) => client.query<{ rows_loaded: string }>("SELECT rows_loaded FROM etl_files WHERE object_key = 'nightly/export_next.csv' AND status = 'loaded'"));
    if (loaded.rows.length !== 1) throw new Error('the nightly increment did not load its new object');
    log(`nightly increment: 1 new object (${loaded.rows[0]!.rows_loaded} rows) on top of ${files} loaded, end to end ${sec(run.ms)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** etl run as `workers` processes of one shared run (one process: a run of its own, as without --workers). */
async function timeEtlWorkers(url: string, exportsDir: string, stateDir: string): Promise<EtlRun> {
  if (workers <= 1) return timeEtlRun(url, exportsDir, stateDir, etlEnv, cgroup);
  const runId = `bench-${++sharedRuns}`;
  const all = await Promise.all(Array.from({ length: workers }, (_, index) => timeEtlRun(url, exportsDir, `${stateDir}-worker-${index}`, { ...etlEnv, ETL_RUN_ID: runId }, cgroup)));
  const sum = (pick: (run: EtlRun) => number) => all.reduce((total, run) => total + pick(run), 0);
  const threads = all.every((run) => run.threadCpuMs)
    ? { main: sum((run) => run.threadCpuMs!.main), workers: sum((run) => run.threadCpuMs!.workers), v8: sum((run) => run.threadCpuMs!.v8), other: sum((run) => run.threadCpuMs!.other) }
    : undefined;
  return {
    ms: Math.max(...all.map((run) => run.ms)),
    // The last worker out exits with the run's code (0, or 3 for the export that fails); the others 0.
    code: all.find((run) => run.code !== 0)?.code ?? 0,
    maxRssKb: Math.max(...all.map((run) => run.maxRssKb)),
    cpuMs: sum((run) => run.cpuMs),
    threadCpuMs: threads,
    stderr: all.map((run) => run.stderr).join('\n'),
  };
}

function threadSeconds(ms: ThreadCpu | undefined): ThreadCpu {
  if (!ms) throw new Error('etl run did not report its CPU by thread (bench/usage.ts)');
  return { main: ms.main / 1000, workers: ms.workers / 1000, v8: ms.v8 / 1000, other: ms.other / 1000 };
}

function threadsLine(threads: ThreadCpu): string {
  return `parse threads ${threads.workers.toFixed(1)} s, V8's helper threads (garbage collection, compiling) ${threads.v8.toFixed(1)} s, main thread ${threads.main.toFixed(1)} s, other ${threads.other.toFixed(1)} s`;
}

function report(results: Round[], sourceRows: number, dataObjects: number, bytes: number): void {
  const m = (pick: (r: Round) => number) => median(results.map(pick));
  const etlMs = m((r) => r.etlMs);
  const copyMs = m((r) => r.copyMs);
  const dbRatio = m((r) => r.etlDbVacuum / r.copyDbVacuum);
  const dbRatioStatements = m((r) => r.etlDb / r.copyDb);
  // Per source row, the runner against the database (vacuum included, as for the database's target).
  const runnerPerDb = m((r) => r.etlCpu / r.etlDbVacuum);
  const us = (seconds: number) => ((seconds / sourceRows) * 1e6).toFixed(1);
  log('');
  log(`medians of ${results.length} round${results.length === 1 ? '' : 's'}; ${sourceRows} source rows in ${dataObjects} data objects (${(bytes / 1e6).toFixed(0)} MB)`);
  log(`etl run               ${sec(etlMs)} s   ${Math.round(sourceRows / (etlMs / 1000))} source rows/s   peak RSS ${Math.round(m((r) => r.rssMib))} MiB   load_concurrency ${concurrency}${workers > 1 ? `, ${workers} workers sharing the run (CPU summed, RSS of the largest)` : ''}`);
  if (cgroup) log(`memory limit          ${cgroup.limitMib} MiB (a cgroup, as the pod's limit): completed; the cgroup's peak ${Math.round(m((r) => r.cgroupPeakMib!))} MiB, page cache included`);
  log(`raw COPY              ${sec(copyMs)} s   etl run takes ${m((r) => r.etlMs / r.copyMs).toFixed(2)}x its time`);
  log(`Postgres CPU          etl run ${m((r) => r.etlDbVacuum).toFixed(1)} s, raw COPY ${m((r) => r.copyDbVacuum).toFixed(1)} s (vacuum included): ${dbRatio.toFixed(2)}x  (statements alone ${dbRatioStatements.toFixed(2)}x)   target <= 2x: ${dbRatio <= 2 ? 'met' : 'NOT met'}`);
  log(
    `runner CPU            ${m((r) => r.etlCpu).toFixed(1)} s (${us(m((r) => r.etlCpu))} us per source row); Postgres ${m((r) => r.etlDbVacuum).toFixed(1)} s with vacuum (${us(m((r) => r.etlDbVacuum))} us): the runner ${runnerPerDb.toFixed(2)}x the database's   target <= 0.5x: ${runnerPerDb <= 0.5 ? 'met' : 'NOT met'}`,
  );
  log(
    `tokenizer floors      the runner's reader alone ${m((r) => r.readerCpuParallel).toFixed(1)} s over ${concurrency} processes (${m((r) => r.readerCpu).toFixed(1)} s in one): the runner ${m((r) => r.etlCpu / r.readerCpuParallel).toFixed(2)}x;` +
      ` csv-parse alone ${m((r) => r.floorCpuParallel).toFixed(1)} s (${m((r) => r.floorCpu).toFixed(1)} s in one): the runner ${m((r) => r.etlCpu / r.floorCpuParallel).toFixed(2)}x`,
  );
  log(
    `runner CPU by thread  ${threadsLine({ main: m((r) => r.etlThreads.main), workers: m((r) => r.etlThreads.workers), v8: m((r) => r.etlThreads.v8), other: m((r) => r.etlThreads.other) })};` +
      ` the parse threads ${m((r) => r.etlThreads.workers / r.floorParsingParallel).toFixed(2)}x csv-parse's own parsing threads (${m((r) => r.floorParsingParallel).toFixed(1)} s)`,
  );
  if (results.every((r) => r.duckMs !== undefined)) {
    const duckRatio = m((r) => r.etlMs / r.duckMs!);
    log(`DuckDB script         ${sec(m((r) => r.duckMs!))} s   etl run takes ${duckRatio.toFixed(2)}x its time   target <= 0.8x: ${duckRatio <= 0.8 ? 'met' : 'NOT met'}`);
  }
}

await main();
