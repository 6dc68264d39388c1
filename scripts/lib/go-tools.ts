// Builds (or reuses) the pinned Go programs the tests run against: MinIO, Jaeger v2 and
// Prometheus.
// A build is checked with `go version -m`, so a binary of another version is never used.
// Finished builds are also kept in a per-user cache, so a fresh clone on the same machine
// copies them instead of linking again.
import { copyFileSync, chmodSync, renameSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { run } from './process.ts';

export const MINIO_MODULE = 'github.com/minio/minio';
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';
export const JAEGER_MODULE = 'github.com/jaegertracing/jaeger';
export const JAEGER_VERSION = 'v1.76.0';
export const PROMETHEUS_MODULE = 'github.com/prometheus/prometheus';
/** Module versions v0.3xx.y are the releases 3.xx.y (v0.316.0 is Prometheus 3.16.0). */
export const PROMETHEUS_VERSION = 'v0.316.0';
/** A first build on a 2-core machine takes about 5 to 10 minutes; this is the limit. */
const BUILD_TIMEOUT_MS = 45 * 60_000;
const JAEGER_VERSION_FLAG = `${JAEGER_MODULE}/internal/version.latestVersion=${JAEGER_VERSION}`;

/** Built binaries kept across checkouts of this machine (builds take minutes). */
export const cacheDir = path.join(process.env['XDG_CACHE_HOME'] ?? path.join(homedir(), '.cache'), 'toshiba-etl', 'bin');

function goEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // GOWORK=off: a go.work somewhere above must not change what is built.
  return { ...process.env, GOWORK: 'off', ...extra };
}

async function requireGo(forWhat: string): Promise<void> {
  const result = await run('go', ['version'], { env: goEnv() }).catch(() => undefined);
  if (result?.code !== 0) {
    throw new Error(`Go is needed to build ${forWhat} but \`go version\` failed: install Go 1.24 or newer and put it on the PATH.`);
  }
}

async function buildInfo(binary: string): Promise<string> {
  if (!existsSync(binary)) return '';
  const result = await run('go', ['version', '-m', binary], { env: goEnv() }).catch(() => undefined);
  return result?.code === 0 ? result.stdout : '';
}

async function isMinio(binary: string): Promise<boolean> {
  return (await buildInfo(binary)).includes(`\tmod\t${MINIO_MODULE}\t${MINIO_VERSION}\t`);
}

/** Built from cmd/jaeger, and stamped with JAEGER_VERSION (-trimpath keeps -ldflags out of the build info). */
async function isJaeger(binary: string): Promise<boolean> {
  if (!(await buildInfo(binary)).includes(`\tpath\t${JAEGER_MODULE}/cmd/jaeger\n`)) return false;
  const result = await run(binary, ['version']).catch(() => undefined);
  return result?.code === 0 && result.stdout.includes(`"gitVersion":"${JAEGER_VERSION}"`);
}

async function isPrometheus(binary: string): Promise<boolean> {
  const info = await buildInfo(binary);
  return info.includes(`\tpath\t${PROMETHEUS_MODULE}/cmd/prometheus\n`) && info.includes(`\tmod\t${PROMETHEUS_MODULE}\t${PROMETHEUS_VERSION}\t`);
}

function whichOnPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir !== '' && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** Copies a binary into place atomically (through a .partial file), executable. */
export function install(from: string, to: string): void {
  if (path.resolve(from) === path.resolve(to)) return;
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(from, `${to}.partial`);
  chmodSync(`${to}.partial`, 0o755);
  renameSync(`${to}.partial`, to);
}

/** Keeps a built binary in the per-user cache, so another checkout need not build it again. */
export function remember(binary: string, cacheName: string): void {
  try {
    install(binary, path.join(cacheDir, cacheName));
  } catch {
    // The cache only saves time; a read-only home must not fail the build.
  }
}

async function goPath(): Promise<string | undefined> {
  const result = await run('go', ['env', 'GOPATH'], { env: goEnv() }).catch(() => undefined);
  return result?.code === 0 ? result.stdout.trim().split(':')[0] : undefined;
}

/** Returns the path of a MinIO binary of the pinned version in binDir, building it when needed. */
export async function ensureMinio(binDir: string, logDir: string, say: (line: string) => void): Promise<string> {
  await requireGo('MinIO');
  const target = path.join(binDir, 'minio');
  const gopath = await goPath();
  const cacheName = `minio@${MINIO_VERSION}`;
  const candidates = [target, whichOnPath('minio'), gopath && path.join(gopath, 'bin', 'minio'), path.join(cacheDir, cacheName)];
  for (const candidate of candidates) {
    if (candidate && await isMinio(candidate)) {
      install(candidate, target);
      remember(target, cacheName);
      return target;
    }
  }
  const logFile = path.join(logDir, 'minio-build.log');
  rmSync(logFile, { force: true });
  say(`building MinIO ${MINIO_VERSION} with go install (several minutes the first time on this machine; log: ${logFile})`);
  const result = await run('go', ['install', `${MINIO_MODULE}@${MINIO_VERSION}`], { env: goEnv({ GOBIN: binDir }), logFile, timeoutMs: BUILD_TIMEOUT_MS });
  if (result.code !== 0 || !await isMinio(target)) {
    throw new Error(`MinIO ${MINIO_VERSION} could not be built (go install exited ${result.code}${result.code === null ? `, stopped after ${BUILD_TIMEOUT_MS / 60_000} minutes` : ''}); see ${logFile}`);
  }
  remember(target, cacheName);
  return target;
}

/**
 * Returns the path of a Prometheus binary of the pinned version in binDir, building it when
 * needed (about 6 minutes and 3 GB of memory on 2 cores). Its go.mod has no replace directives,
 * so `go install module/cmd/prometheus@version` works. A module build has no web UI assets; the
 * HTTP API and the OTLP receiver are all the tests use.
 */
export async function ensurePrometheus(binDir: string, logDir: string, say: (line: string) => void): Promise<string> {
  await requireGo('Prometheus');
  const target = path.join(binDir, 'prometheus');
  const gopath = await goPath();
  const cacheName = `prometheus@${PROMETHEUS_VERSION}`;
  for (const candidate of [target, gopath && path.join(gopath, 'bin', 'prometheus'), path.join(cacheDir, cacheName)]) {
    if (candidate && await isPrometheus(candidate)) {
      install(candidate, target);
      remember(target, cacheName);
      return target;
    }
  }
  const logFile = path.join(logDir, 'prometheus-build.log');
  rmSync(logFile, { force: true });
  say(`building Prometheus ${PROMETHEUS_VERSION} with go install (several minutes the first time on this machine; log: ${logFile})`);
  const result = await run('go', ['install', `${PROMETHEUS_MODULE}/cmd/prometheus@${PROMETHEUS_VERSION}`], { env: goEnv({ GOBIN: binDir }), logFile, timeoutMs: BUILD_TIMEOUT_MS });
  if (result.code !== 0 || !await isPrometheus(target)) {
    throw new Error(`Prometheus ${PROMETHEUS_VERSION} could not be built (go install exited ${result.code}${result.code === null ? `, stopped after ${BUILD_TIMEOUT_MS / 60_000} minutes` : ''}); see ${logFile}`);
  }
  remember(target, cacheName);
  return target;
}

/**
 * Returns the path of a Jaeger v2 binary built from module version JAEGER_VERSION.
 * `go install ...@version` refuses this module (its go.mod has replace directives), so the
 * module is downloaded from the module proxy and `./cmd/jaeger` is built inside it as the main
 * module, which honours those replace directives and its go.sum.
 */
export async function ensureJaeger(binDir: string, logDir: string, say: (line: string) => void): Promise<string> {
  await requireGo('Jaeger');
  const target = path.join(binDir, 'jaeger');
  const cacheName = `jaeger@${JAEGER_VERSION}`;
  for (const candidate of [target, path.join(cacheDir, cacheName)]) {
    if (await isJaeger(candidate)) {
      install(candidate, target);
      remember(target, cacheName);
      return target;
    }
  }
  const logFile = path.join(logDir, 'jaeger-build.log');
  rmSync(logFile, { force: true });
  say(`building Jaeger ${JAEGER_VERSION} (cmd/jaeger) with go build (several minutes the first time on this machine; log: ${logFile})`);
  const download = await run('go', ['mod', 'download', '-json', `${JAEGER_MODULE}@${JAEGER_VERSION}`], { env: goEnv(), cwd: binDir, timeoutMs: BUILD_TIMEOUT_MS });
  let moduleDir: string | undefined;
  try {
    moduleDir = (JSON.parse(download.stdout) as { Dir?: string }).Dir;
  } catch {
    moduleDir = undefined;
  }
  if (download.code !== 0 || moduleDir === undefined) {
    throw new Error(`Jaeger ${JAEGER_VERSION} could not be downloaded with go mod download: ${download.stderr.trim() || download.stdout.trim()}`);
  }
  const partial = `${target}.partial`;
  const result = await run('go', ['build', '-trimpath', '-ldflags', `-X ${JAEGER_VERSION_FLAG}`, '-o', partial, './cmd/jaeger'], {
    env: goEnv({ GOFLAGS: '-mod=readonly -buildvcs=false' }),
    cwd: moduleDir,
    logFile,
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  if (result.code !== 0 || !await isJaeger(partial)) {
    throw new Error(`Jaeger ${JAEGER_VERSION} could not be built (go build exited ${result.code}${result.code === null ? `, stopped after ${BUILD_TIMEOUT_MS / 60_000} minutes` : ''}); see ${logFile}`);
  }
  renameSync(partial, target);
  remember(target, cacheName);
  return target;
}
