// Small process helpers for the test services: run a command, start a detached server with a
// pid file, stop it, wait until it answers, pick a port.
import { spawn, type SpawnOptions } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunResult { code: number | null; stdout: string; stderr: string }

/** Runs a command to completion and collects its output (never throws for a non-zero exit). */
export function run(command: string, args: string[], options: SpawnOptions & { logFile?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const { logFile, timeoutMs, ...spawnOptions } = options;
    const logFd = logFile === undefined ? undefined : openSync(logFile, 'a');
    const child = spawn(command, args, {
      ...spawnOptions,
      stdio: logFd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      stderr += `\n${command} was stopped after ${Math.round(timeoutMs / 1000)} s`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => { clearTimeout(timer); if (logFd !== undefined) closeSync(logFd); reject(error); });
    child.on('close', (code) => { clearTimeout(timer); if (logFd !== undefined) closeSync(logFd); resolve({ code, stdout, stderr }); });
  });
}

/** Starts a long-running server detached from this process, output appended to logFile, pid written to pidFile. */
export function startDetached(command: string, args: string[], options: { logFile: string; pidFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): number {
  const logFd = openSync(options.logFile, 'a');
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  closeSync(logFd);
  if (child.pid === undefined) throw new Error(`could not start ${command} (see ${options.logFile})`);
  child.unref();
  writeFileSync(options.pidFile, `${child.pid}\n`);
  return child.pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers signal 0; it is not running.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return true;
  }
}

/** The pid in pidFile if that process is alive and its command line contains `expect`; otherwise undefined. */
export function runningPid(pidFile: string, expect: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim().split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  try {
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!commandLine.includes(expect)) return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  try { process.kill(pid, 'SIGKILL'); } catch { return; }
  while (isAlive(pid)) await sleep(50);
}

export async function stopPidFile(pidFile: string, expect: string): Promise<boolean> {
  const pid = runningPid(pidFile, expect);
  if (pid !== undefined) await stopPid(pid);
  rmSync(pidFile, { force: true });
  return pid !== undefined;
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `check` until it returns true. Fails with a message naming the service and its log when
 * the time runs out or when `stillRunning` reports that the process died.
 */
export async function waitUntil(
  what: { service: string; logFile: string; timeoutMs: number; stillRunning?: () => boolean },
  check: () => Promise<boolean>,
): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return;
    if (what.stillRunning !== undefined && !what.stillRunning()) {
      throw new Error(`${what.service} exited before it was ready; see ${what.logFile}:\n${tail(what.logFile)}`);
    }
    if (Date.now() - started > what.timeoutMs) {
      throw new Error(`${what.service} was not ready after ${Math.round(what.timeoutMs / 1000)} s; see ${what.logFile}:\n${tail(what.logFile)}`);
    }
    await sleep(250);
  }
}

/** True when GET url answers with a 2xx status within 2 s. */
export async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The first of `preferred` that is free on 127.0.0.1 and not in `taken`, else a free port. */
export async function pickPort(preferred: Array<number | undefined>, taken: Set<number>): Promise<number> {
  for (const port of preferred) {
    if (port !== undefined && !taken.has(port) && await canListen(port)) { taken.add(port); return port; }
  }
  for (;;) {
    const port = await freePort();
    if (!taken.has(port)) { taken.add(port); return port; }
  }
}
