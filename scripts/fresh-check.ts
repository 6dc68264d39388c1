// `npm run services:fresh-check`: rehearses CI on a new machine, here. A warm machine hides
// install steps (the Debian packages are there, the Go builds cached), so this first makes the
// machine look new for the services, then runs `bash .ci/run` in a fresh clone of this checkout's
// HEAD and times it:
//   1. stops this checkout's services and deletes its .services/ (data, builds, image, venv);
//   2. purges the Debian packages the services install (scripts/lib/kubernetes.ts HOST_PACKAGES,
//      scripts/lib/image.ts BUILD_PACKAGES) and the dependencies that this purge left unneeded;
//   3. empties Go's build and module caches, the per-user cache of built binaries, the Go tools
//      in GOPATH/bin that the services would reuse, and pip's cache;
//   4. clones HEAD into a new folder and runs `bash .ci/run` there (log: .fresh-check.log).
// It changes this machine (as root). Uncommitted changes are not in the clone: commit first.
// Exit 0 when the cold run passes within COLD_LIMIT_MIN minutes.
import { spawn } from 'node:child_process';
import { chmodSync, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { BUILD_PACKAGES } from './lib/image.ts';
import { cacheDir } from './lib/go-tools.ts';
import { HOST_PACKAGES } from './lib/kubernetes.ts';
import { run } from './lib/process.ts';

const root = path.resolve(import.meta.dirname, '..');
const logFile = path.join(root, '.fresh-check.log');
/** The bound for a cold `.ci/run` on two cores. */
const COLD_LIMIT_MIN = 40;
const say = (line: string) => console.log(`fresh-check: ${line}`);
const minutes = (ms: number) => `${(ms / 60_000).toFixed(1)} min`;

async function must(command: string, args: string[], what: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}): ${(result.stderr || result.stdout).trim().split('\n').slice(-5).join(' / ')}`);
  return result.stdout;
}

/** Installed packages among `names` (dpkg status "install ok installed"). */
async function installed(names: string[]): Promise<string[]> {
  const result = await run('dpkg-query', ['-W', '-f', '${Package} ${Status}\n', ...names]);
  return result.stdout.split('\n').filter((line) => line.endsWith(' install ok installed')).map((line) => line.split(' ')[0]!);
}

/** What `apt-get autoremove` would remove now (simulated). */
async function autoremovable(): Promise<Set<string>> {
  const result = await run('apt-get', ['-s', 'autoremove']);
  return new Set([...result.stdout.matchAll(/^Remv (\S+)/gm)].map((m) => m[1]!));
}

async function purgePackages(): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const present = await installed([...HOST_PACKAGES, ...BUILD_PACKAGES].map((pkg) => pkg.name));
  if (present.length === 0) { say('no Debian package of the services is installed'); return; }
  const before = await autoremovable();
  say(`apt-get purge ${present.join(' ')}`);
  await must('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'purge', '-y', ...present], 'apt-get purge', { env });
  // Only what this purge left unneeded, not what was autoremovable before it.
  const leftover = [...await autoremovable()].filter((name) => !before.has(name));
  if (leftover.length > 0) {
    say(`apt-get purge of their ${leftover.length} dependencies no longer needed`);
    await must('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'purge', '-y', ...leftover], 'apt-get purge of the dependencies', { env });
  }
}

async function emptyGoCaches(): Promise<void> {
  const go = await run('go', ['env', 'GOCACHE', 'GOMODCACHE', 'GOPATH']).catch(() => undefined);
  if (go?.code === 0) {
    const [gocache, gomodcache, gopath] = go.stdout.trim().split('\n');
    // The module cache's files are read-only: `go clean -modcache` is the way to remove them.
    await must('go', ['clean', '-cache', '-modcache'], 'go clean -cache -modcache');
    say(`emptied ${gocache} and ${gomodcache}`);
    for (const tool of ['minio', 'prometheus', 'jaeger']) rmSync(path.join(gopath!.split(':')[0]!, 'bin', tool), { force: true });
  } else {
    say('go is not on the PATH; no Go cache to empty');
  }
  rmSync(cacheDir, { recursive: true, force: true });
  rmSync(path.join(process.env['XDG_CACHE_HOME'] ?? path.join(homedir(), '.cache'), 'pip'), { recursive: true, force: true });
  say(`removed ${cacheDir} and pip's cache`);
}

/** Runs `bash .ci/run` in `clone`, its output to the terminal and to logFile; when the first test file started. */
function ciRun(clone: string, started: number): Promise<{ code: number; firstTestMs?: number }> {
  const log = createWriteStream(logFile);
  return new Promise((resolve) => {
    let firstTestMs: number | undefined;
    const child = spawn('bash', ['.ci/run'], { cwd: clone, stdio: ['ignore', 'pipe', 'pipe'] });
    const forward = (to: NodeJS.WriteStream) => (chunk: Buffer) => {
      if (firstTestMs === undefined && chunk.includes('test: node --test')) firstTestMs = Date.now() - started;
      to.write(chunk);
      log.write(chunk);
    };
    child.stdout.on('data', forward(process.stdout));
    child.stderr.on('data', forward(process.stderr));
    child.on('close', (code, signal) => log.end(() => resolve({ code: code ?? (signal === null ? 1 : 128), firstTestMs })));
  });
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('it removes Debian packages and runs the services as CI does: run it as root.');
  const head = (await must('git', ['rev-parse', 'HEAD'], 'git rev-parse HEAD', { cwd: root })).trim();
  if ((await must('git', ['status', '--porcelain'], 'git status', { cwd: root })).trim() !== '') say(`uncommitted changes are not rehearsed: the clone holds ${head.slice(0, 12)} only`);
  say('stopping this checkout\'s services and deleting .services/');
  await must(process.execPath, [path.join(root, 'scripts', 'services.ts'), 'down'], 'services:down', { cwd: root });
  rmSync(path.join(root, '.services'), { recursive: true, force: true });
  await purgePackages();
  await emptyGoCaches();
  const clone = mkdtempSync(path.join(tmpdir(), 'etl-fresh-check-'));
  // As a CI checkout is: readable by the other users the tests run as (postgres, a non-root user).
  chmodSync(clone, 0o755);
  await must('git', ['clone', '--quiet', '--no-hardlinks', root, clone], 'git clone');
  await must('git', ['checkout', '--quiet', head], `git checkout ${head}`, { cwd: clone });
  say(`bash .ci/run in ${clone} (${head.slice(0, 12)}; log: ${logFile})`);
  const started = Date.now();
  const { code, firstTestMs } = await ciRun(clone, started);
  const took = Date.now() - started;
  const first = firstTestMs === undefined ? 'no test started' : `first test after ${minutes(firstTestMs)}`;
  if (code !== 0) {
    say(`FAILED: a cold .ci/run exited ${code} after ${minutes(took)} (${first}); the clone stays in ${clone}, its output in ${logFile}`);
    return 1;
  }
  // The clone's services were stopped by its npm test; its builds are not needed again.
  rmSync(clone, { recursive: true, force: true });
  if (took > COLD_LIMIT_MIN * 60_000) {
    say(`FAILED: a cold .ci/run passed but took ${minutes(took)}, over the ${COLD_LIMIT_MIN} minutes allowed (${first}; log: ${logFile})`);
    return 1;
  }
  say(`a cold .ci/run passed in ${minutes(took)} (${first}; log: ${logFile})`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`fresh-check: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
