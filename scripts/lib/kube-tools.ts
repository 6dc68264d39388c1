// Builds (or reuses) the Kubernetes programs the local control plane runs: kube-apiserver,
// kube-controller-manager, kube-scheduler and kubelet of KUBERNETES_VERSION, built from the
// wrapper module in scripts/kube (its go.mod pins k8s.io/kubernetes and its staging modules, its
// go.sum every dependency). A build is checked with `go version -m` and `--version`, so a binary
// of another version is never used; finished builds are kept in the per-user cache like MinIO's.
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { cacheDir, install, remember } from './go-tools.ts';
import { run } from './process.ts';

export const KUBERNETES_VERSION = 'v1.34.4';
const KUBERNETES_MODULE = 'k8s.io/kubernetes';
export const KUBE_COMMANDS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet'] as const;
export type KubeCommand = (typeof KUBE_COMMANDS)[number];
/** Without these the binaries call themselves v0.0.0-master (and helm refuses charts with a kubeVersion). */
const VERSION_LDFLAGS = [
  `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
  '-X k8s.io/component-base/version.gitMajor=1',
  '-X k8s.io/component-base/version.gitMinor=34',
].join(' ');
/** A first build of all four on a 2-core machine takes about 10 to 15 minutes; this is the limit. */
const BUILD_TIMEOUT_MS = 60 * 60_000;

const wrapperDir = path.resolve(import.meta.dirname, '..', 'kube');

function goEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // GOWORK=off: a go.work somewhere above must not change what is built.
  return { ...process.env, GOWORK: 'off', ...extra };
}

async function isKube(binary: string, command: KubeCommand): Promise<boolean> {
  if (!existsSync(binary)) return false;
  const info = await run('go', ['version', '-m', binary], { env: goEnv() }).catch(() => undefined);
  if (info?.code !== 0 || !info.stdout.includes(`\tpath\t${KUBERNETES_MODULE}/cmd/${command}\n`)
    || !info.stdout.includes(`\tmod\t${KUBERNETES_MODULE}\t${KUBERNETES_VERSION}\t`)) return false;
  const reported = await run(binary, ['--version']).catch(() => undefined);
  return reported?.code === 0 && reported.stdout.trim() === `Kubernetes ${KUBERNETES_VERSION}`;
}


/**
 * Returns the paths of the wanted commands in binDir, building those that are missing with one
 * `go build` (shared packages compile once). -mod=readonly: the build uses scripts/kube/go.sum
 * as committed and fails rather than resolve anything anew.
 */
export async function ensureKube<C extends KubeCommand>(commands: readonly C[], binDir: string, logDir: string, say: (line: string) => void): Promise<Record<C, string>> {
  const paths = {} as Record<C, string>;
  const missing: C[] = [];
  for (const command of commands) {
    const target = path.join(binDir, command);
    const cacheName = `${command}@${KUBERNETES_VERSION}`;
    paths[command] = target;
    const found = await isKube(target, command) ? target : await isKube(path.join(cacheDir, cacheName), command) ? path.join(cacheDir, cacheName) : undefined;
    if (found === undefined) {
      missing.push(command);
      continue;
    }
    install(found, target);
    remember(target, cacheName);
  }
  if (missing.length === 0) return paths;
  const version = await run('go', ['version'], { env: goEnv() }).catch(() => undefined);
  if (version?.code !== 0) throw new Error(`Go is needed to build ${missing.join(', ')} but \`go version\` failed: install Go 1.24 or newer and put it on the PATH.`);
  const logFile = path.join(logDir, 'kubernetes-build.log');
  rmSync(logFile, { force: true });
  say(`building ${missing.join(', ')} ${KUBERNETES_VERSION} with go build in ${wrapperDir} (several minutes the first time on this machine; log: ${logFile})`);
  const outDir = path.join(binDir, '.kubernetes-build');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await run('go', ['build', '-trimpath', '-ldflags', VERSION_LDFLAGS, '-o', `${outDir}/`, ...missing.map((command) => `${KUBERNETES_MODULE}/cmd/${command}`)], {
    // CGO_ENABLED=0: static binaries, as Kubernetes releases its control plane.
    env: goEnv({ GOFLAGS: '-mod=readonly -buildvcs=false', CGO_ENABLED: '0' }),
    cwd: wrapperDir,
    logFile,
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  for (const command of missing) {
    const built = path.join(outDir, command);
    if (result.code !== 0 || !await isKube(built, command)) {
      throw new Error(`${command} ${KUBERNETES_VERSION} could not be built (go build exited ${result.code}${result.code === null ? `, stopped after ${BUILD_TIMEOUT_MS / 60_000} minutes` : ''}); see ${logFile}`);
    }
    renameSync(built, paths[command]);
    remember(paths[command], `${command}@${KUBERNETES_VERSION}`);
  }
  rmSync(outDir, { recursive: true, force: true });
  return paths;
}

/**
 * Returns the path of the local node's image program (scripts/kube/pause) in binDir, built when
 * missing or older than its source; it is small (seconds).
 */
export async function ensureNodePause(binDir: string, logDir: string): Promise<string> {
  const target = path.join(binDir, 'etl-node-pause');
  const source = path.join(wrapperDir, 'pause', 'main.go');
  const current = existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs
    && (await run('go', ['version', '-m', target], { env: goEnv() }).catch(() => undefined))?.stdout.includes('\tpath\ttoshiba-etl/scripts/kube/pause\n');
  if (current) return target;
  const logFile = path.join(logDir, 'node-pause-build.log');
  rmSync(logFile, { force: true });
  const result = await run('go', ['build', '-trimpath', '-o', `${target}.partial`, './pause'], {
    // Static: the image holds nothing but this file.
    env: goEnv({ GOFLAGS: '-mod=readonly -buildvcs=false', CGO_ENABLED: '0' }),
    cwd: wrapperDir,
    logFile,
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  if (result.code !== 0) throw new Error(`the node image program (scripts/kube/pause) could not be built (go build exited ${result.code}); see ${logFile}`);
  renameSync(`${target}.partial`, target);
  return target;
}
