// A Kubernetes v1.34.4 cluster on loopback for the tests, everything under .services/kubernetes:
// etcd (Debian's etcd-server), kube-apiserver, kube-controller-manager, kube-scheduler and one
// real node: a kubelet with a private containerd, runc and the bridge CNI plugin (Debian
// packages). Pods really run: a Job's pod reaches Succeeded.
//
// What it took on this machine (Debian 12, kernel 6.18, cgroup v1, root without
// CAP_SYS_RESOURCE, no systemd, no registry reachable), found by running it:
// - With the defaults, every pod sandbox failed: `runc create failed: unable to start container
//   process: can't get final child's PID from pipe: EOF`. runc could not give the pause process
//   the oom_score_adj of -998 the kubelet asks for: lowering it needs CAP_SYS_RESOURCE, which root
//   lacks here (`echo -998 > /proc/self/oom_score_adj` is refused too). containerd's
//   restrict_oom_score_adj (never below containerd's own score) and the kubelet's oomScoreAdj: 0
//   avoid it.
// - The kubelet refuses a loopback node IP (`failed to validate nodeIP: nodeIP can't be loopback
//   address`) and listens on loopback only, so the node has no address the apiserver can dial:
//   `kubectl logs` and `exec` answer "no preferred addresses found". Pods, Jobs and their status
//   work; a test reads a Job's outcome from its status.
// - No image can be pulled: the sandbox (pause) image and the image test pods run are one small
//   static program (scripts/kube/pause), packed here as an OCI image and imported with ctr.
//   Image garbage collection is off, as nothing deleted could come back.
// Left outside .services while it runs: the bridge etltest0, cgroups under /toshiba-etl-test and
// three hard-coded paths (containerd's shim sockets in /run/containerd/s, the CNI plugins' cache
// in /var/lib/cni, the kubelet's device-plugin socket in /var/lib/kubelet/device-plugins);
// stopKubernetes removes them.
import { generateKeyPairSync, randomBytes, createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { which, type DebianPackage, type PackageGroup } from './apt.ts';
import { isAlive, run, runningPid, startDetached, stopPid, waitUntil } from './process.ts';

export const NODE_NAME = 'etl-test-node';
/** The image every pod of the local node runs (scripts/kube/pause): no arguments pause, arguments are printed. */
export const NODE_IMAGE = 'localhost/toshiba-etl/pause:1';
const CGROUP_ROOT = '/toshiba-etl-test';
const BRIDGE = 'etltest0';
const CNI_NETWORK = 'toshiba-etl-test';
/** Pod addresses on the bridge; pods need no way out (no masquerading: this machine has no iptables). */
const POD_SUBNET = '10.213.0.0/24';
/** The bridge's own address (the CNI gateway, the subnet's first): the host as the pods see it. */
export const POD_GATEWAY = '10.213.0.1';
/** The default, spelled out: kube-apiserver takes its first address as the kubernetes Service's. */
const SERVICE_SUBNET = '10.0.0.0/24';
const UNIX_SOCKET_MAX = 107;

const CNI_BIN_DIR = '/usr/lib/cni';
/**
 * Debian packages the cluster needs, at the versions it was tested with (Debian 12 "bookworm").
 * apt-get installs exactly these when it can; on another release it installs that release's
 * version and says so.
 */
export const HOST_PACKAGES: Array<DebianPackage & { present: () => boolean }> = [
  { name: 'etcd-server', version: '3.4.23-4+b4', provides: 'etcd', present: () => which('etcd') !== undefined },
  { name: 'containerd', version: '1.6.20~ds1-1+deb12u3', provides: 'containerd and ctr', present: () => which('containerd') !== undefined && which('ctr') !== undefined },
  { name: 'runc', version: '1.1.5+ds1-1+deb12u1', provides: 'runc', present: () => which('runc') !== undefined },
  { name: 'containernetworking-plugins', version: '1.1.1+ds1-3+b5', provides: `the CNI plugins in ${CNI_BIN_DIR}`, present: () => ['bridge', 'host-local', 'loopback'].every((plugin) => existsSync(path.join(CNI_BIN_DIR, plugin))) },
  // Not the cluster's: the terminal tests (test/terminal.test.ts) run `etl run` in a tmux pane.
  { name: 'tmux', version: '3.3a-3', provides: 'tmux', present: () => which('tmux') !== undefined },
];

export interface KubernetesPorts {
  etcd: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kubelet: number;
  kubeletHealthz: number;
}

export interface KubernetesBinaries {
  'kube-apiserver': string;
  'kube-controller-manager': string;
  'kube-scheduler': string;
  'kubelet': string;
  /** The static program packed into NODE_IMAGE. */
  pause: string;
}

/** The processes of the cluster, in start order (stopped in reverse). */
const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'containerd', 'kubelet'] as const;
type Component = (typeof COMPONENTS)[number];

interface Layout {
  dir: string;
  pki: string;
  apiserverCerts: string;
  caFile: string;
  tokens: string;
  adminKubeconfig: string;
  nodeKubeconfig: string;
  containerd: string;
  containerdSocket: string;
  kubelet: string;
  cni: string;
}

function layout(servicesDir: string): Layout {
  const dir = path.join(servicesDir, 'kubernetes');
  const apiserverCerts = path.join(dir, 'apiserver-certs');
  const containerd = path.join(dir, 'containerd');
  return {
    dir,
    pki: path.join(dir, 'pki'),
    apiserverCerts,
    // kube-apiserver writes a self-signed serving certificate (127.0.0.1 among its names) and
    // its CA into this one file when --cert-dir has none.
    caFile: path.join(apiserverCerts, 'apiserver.crt'),
    tokens: path.join(dir, 'pki', 'tokens.csv'),
    adminKubeconfig: path.join(dir, 'kubeconfig'),
    nodeKubeconfig: path.join(dir, 'kubelet.kubeconfig'),
    containerd,
    containerdSocket: path.join(containerd, 'containerd.sock'),
    kubelet: path.join(dir, 'kubelet'),
    cni: path.join(dir, 'cni'),
  };
}

const pidFile = (paths: Layout, component: Component) => path.join(paths.dir, `${component}.pid`);

/** The kubeconfig the tests use (TEST_KUBECONFIG). */
export const kubeconfigPath = (servicesDir: string): string => layout(servicesDir).adminKubeconfig;

function kubeconfig(server: string, caFile: string, user: string, token: string): string {
  return `# Written by scripts/services.ts: the local test cluster; \`npm run services:down\` deletes it.
apiVersion: v1
kind: Config
clusters:
- name: etl-test
  cluster:
    server: ${server}
    certificate-authority: ${caFile}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: etl-test
  context:
    cluster: etl-test
    user: ${user}
current-context: etl-test
`;
}

interface Access { server: string; ca: Buffer; token: string }

/** Server, CA and token of a kubeconfig written by kubeconfig(); undefined when unreadable. */
function accessOf(file: string): Access | undefined {
  try {
    const config = parseYaml(readFileSync(file, 'utf8')) as {
      clusters?: Array<{ cluster?: { server?: string; 'certificate-authority'?: string } }>;
      users?: Array<{ user?: { token?: string } }>;
    };
    const cluster = config.clusters?.[0]?.cluster;
    const token = config.users?.[0]?.user?.token;
    if (cluster?.server === undefined || cluster['certificate-authority'] === undefined || token === undefined) return undefined;
    return { server: cluster.server, ca: readFileSync(cluster['certificate-authority']), token };
  } catch {
    return undefined;
  }
}

/** GET over HTTPS; `ca: 'any'` accepts any certificate (the components' own self-signed ones, on loopback). */
function httpsGet(url: string, options: { ca: Buffer | 'any'; token?: string }): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request(url, {
      ...(options.ca === 'any' ? { rejectUnauthorized: false } : { ca: options.ca }),
      headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
      timeout: 2000,
    }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

async function apiGet(access: Access, apiPath: string): Promise<{ status: number; body: string } | undefined> {
  return await httpsGet(`${access.server}${apiPath}`, { ca: access.ca, token: access.token });
}

async function nodeReady(access: Access): Promise<boolean> {
  const answer = await apiGet(access, `/api/v1/nodes/${NODE_NAME}`);
  if (answer?.status !== 200) return false;
  const node = JSON.parse(answer.body) as { status?: { conditions?: Array<{ type: string; status: string }> } };
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** True when the API server behind this kubeconfig is ready and the node is Ready. */
export async function kubernetesAnswers(kubeconfigFile: string): Promise<boolean> {
  const access = accessOf(kubeconfigFile);
  if (access === undefined) return false;
  const ready = await apiGet(access, '/readyz');
  return ready?.status === 200 && await nodeReady(access).catch(() => false);
}

/**
 * True when the cluster started from servicesDir runs as this code would start it on these ports
 * (same command lines and files: a cluster started by an older checkout is restarted) and answers.
 */
export async function kubernetesRunning(servicesDir: string, ports: KubernetesPorts, binaries: KubernetesBinaries): Promise<boolean> {
  const paths = layout(servicesDir);
  const wanted = plan(paths, ports, binaries);
  let saved = '';
  try { saved = readFileSync(planFile(paths), 'utf8'); } catch { return false; }
  if (saved !== JSON.stringify(wanted)) return false;
  if (COMPONENTS.some((component) => runningPid(pidFile(paths, component), wanted.commands[component].command) === undefined)) return false;
  return await kubernetesAnswers(paths.adminKubeconfig);
}

/** The Debian packages the cluster needs that this machine lacks (scripts/services.ts installs them before anything starts). */
export function hostPackagesMissing(): PackageGroup {
  return { who: 'Kubernetes', missing: HOST_PACKAGES.filter((pkg) => !pkg.present()) };
}

/** Checks for root and for the Debian packages; returns the versions of etcd, containerd and runc. */
export async function checkHostPackages(): Promise<string> {
  if (process.getuid?.() !== 0) {
    throw new Error('Kubernetes: the local node (kubelet, containerd, its network bridge and cgroups) needs root: run `npm run services:up` as root.');
  }
  const missing = hostPackagesMissing().missing;
  if (missing.length > 0) throw new Error(`Kubernetes: ${missing.map((pkg) => pkg.provides).join(', ')} missing: apt-get install ${missing.map((pkg) => pkg.name).join(' ')}`);
  const versions = await Promise.all([
    run('etcd', ['--version']).then((r) => /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? '?'),
    run('containerd', ['--version']).then((r) => r.stdout.trim().split(' ')[2] ?? '?'),
    run('runc', ['--version']).then((r) => /runc version (\S+)/.exec(r.stdout)?.[1] ?? '?'),
  ]).catch(() => ['?', '?', '?']);
  return `etcd ${versions[0]}, containerd ${versions[1]}, runc ${versions[2]}`;
}

function mountPointsUnder(dir: string): string[] {
  const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
  let mountinfo = '';
  try { mountinfo = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return []; }
  return mountinfo.split('\n')
    .map((line) => unescape(line.split(' ')[4] ?? ''))
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** The cgroup directories of CGROUP_ROOT in every hierarchy (v1: one per controller; v2: one). */
function cgroupRoots(): string[] {
  const base = '/sys/fs/cgroup';
  if (existsSync(path.join(base, 'cgroup.controllers'))) return [path.join(base, CGROUP_ROOT)];
  let hierarchies: string[] = [];
  try { hierarchies = readdirSync(base).filter((name) => existsSync(path.join(base, name, 'cgroup.procs'))); } catch { return []; }
  return hierarchies.map((name) => path.join(base, name, CGROUP_ROOT));
}

/** Every cgroup directory below root, deepest first. */
function cgroupTree(root: string): string[] {
  if (!existsSync(root)) return [];
  const below = readdirSync(root, { withFileTypes: true }).filter((entry) => entry.isDirectory()).flatMap((entry) => cgroupTree(path.join(root, entry.name)));
  return [...below, root];
}

function pidsIn(cgroups: string[]): number[] {
  const pids = new Set<number>();
  for (const cgroup of cgroups) {
    try {
      for (const line of readFileSync(path.join(cgroup, 'cgroup.procs'), 'utf8').split('\n')) if (line !== '') pids.add(Number.parseInt(line, 10));
    } catch { /* gone meanwhile */ }
  }
  return [...pids];
}

/** containerd shims started by this cluster's containerd (they outlive it); found by its socket on their command line. */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args[0]?.endsWith('containerd-shim-runc-v2') && args.includes(socket)) pids.push(Number.parseInt(entry, 10));
    } catch { /* exited */ }
  }
  return pids;
}

/**
 * Stops every process of the cluster started from servicesDir, its pods included, and removes
 * what it left: mounts, the bridge, its cgroups, the data. True when something was running.
 */
export async function stopKubernetes(servicesDir: string): Promise<boolean> {
  const paths = layout(servicesDir);
  if (!existsSync(paths.dir) && cgroupRoots().every((root) => !existsSync(root))) return false;
  let stopped = false;
  const stop = async (component: Component, expect: string) => {
    const pid = runningPid(pidFile(paths, component), expect);
    if (pid !== undefined) { await stopPid(pid); stopped = true; }
  };
  await stop('kubelet', 'kubelet');
  // Pods: kill what runs in the pods' cgroups, then the shims that watched them.
  const cgroups = cgroupRoots().flatMap(cgroupTree);
  for (const pid of pidsIn(cgroups)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  await stop('containerd', 'containerd');
  for (const pid of shimPids(paths.containerdSocket)) await stopPid(pid, 2000);
  for (const component of ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'] as const) await stop(component, component);
  // The kubelet's root dir (bind-mounted on itself), volumes, container root filesystems and
  // network namespaces are mounts below the data directory.
  for (const point of mountPointsUnder(paths.dir)) {
    const result = await run('umount', [point]).catch(() => undefined);
    if (result?.code !== 0) await run('umount', ['-l', point]).catch(() => undefined);
  }
  if (which('ip') !== undefined && (await run('ip', ['link', 'show', BRIDGE]).catch(() => undefined))?.code === 0) {
    await run('ip', ['link', 'delete', BRIDGE]).catch(() => undefined);
  }
  for (const cgroup of cgroupRoots().flatMap(cgroupTree)) {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      try { rmdirSync(cgroup); break; } catch { await sleep(100); }
    }
  }
  // Hard-coded paths outside the data directory: the kubelet's device-plugin socket, the CNI
  // plugins' result cache, containerd's shim socket directory. Removed only when nothing else is
  // in them.
  const devicePlugins = '/var/lib/kubelet/device-plugins';
  if (existsSync(devicePlugins) && readdirSync(devicePlugins).every((name) => name === 'kubelet.sock') && readdirSync('/var/lib/kubelet').every((name) => name === 'device-plugins')) {
    rmSync('/var/lib/kubelet', { recursive: true, force: true });
  }
  for (const dir of ['/var/lib/cni/results', '/var/lib/cni', '/run/containerd/s', '/run/containerd']) {
    try { rmdirSync(dir); } catch { /* missing, or in use by something else */ }
  }
  rmSync(paths.dir, { recursive: true, force: true });
  return stopped;
}

/** NODE_IMAGE as an OCI image archive: one layer holding /pause, run as 65532 (non-root, as restricted pods must). */
async function packNodeImage(pause: string, workDir: string): Promise<string> {
  const rootfs = path.join(workDir, 'rootfs');
  const oci = path.join(workDir, 'oci');
  const blobs = path.join(oci, 'blobs', 'sha256');
  mkdirSync(rootfs, { recursive: true });
  mkdirSync(blobs, { recursive: true });
  copyFileSync(pause, path.join(rootfs, 'pause'));
  chmodSync(path.join(rootfs, 'pause'), 0o755);
  const layerFile = path.join(workDir, 'layer.tar');
  const packed = await run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', rootfs, '-cf', layerFile, 'pause']);
  if (packed.code !== 0) throw new Error(`Kubernetes: tar could not pack the node image: ${packed.stderr.trim()}`);
  const blob = (content: Buffer) => {
    const digest = createHash('sha256').update(content).digest('hex');
    writeFileSync(path.join(blobs, digest), content);
    return { digest: `sha256:${digest}`, size: content.length };
  };
  const layer = blob(readFileSync(layerFile));
  const config = blob(Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Entrypoint: ['/pause'], User: '65532:65532' },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  writeFileSync(path.join(oci, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(path.join(oci, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': NODE_IMAGE } }],
  }));
  const archive = path.join(workDir, 'node-image.tar');
  const archived = await run('tar', ['-C', oci, '-cf', archive, '.']);
  if (archived.code !== 0) throw new Error(`Kubernetes: tar could not write the node image archive: ${archived.stderr.trim()}`);
  return archive;
}

function containerdConfig(paths: Layout): string {
  const root = path.join(paths.containerd, 'root');
  const state = path.join(paths.containerd, 'state');
  return `# Written by scripts/services.ts: the local node's private containerd.
version = 2
root = "${root}"
state = "${state}"

[grpc]
  address = "${paths.containerdSocket}"

[ttrpc]
  address = "${paths.containerdSocket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${path.join(root, 'opt')}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${NODE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj (the kubelet asks -998 for every
  # sandbox) makes runc fail. Never below containerd's own score instead.
  restrict_oom_score_adj = true
  # Pod network namespaces under the state directory, not /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      # runc's state here rather than in /run/containerd/runc.
      Root = "${path.join(state, 'runc')}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${paths.cni}"
`;
}

function cniConfig(paths: Layout): string {
  return `${JSON.stringify({
    cniVersion: '1.0.0',
    name: CNI_NETWORK,
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: POD_SUBNET }]], dataDir: path.join(paths.dir, 'cni-ipam') },
      },
      { type: 'loopback' },
    ],
  }, null, 2)}\n`;
}

function kubeletConfig(paths: Layout, ports: KubernetesPorts): string {
  return `# Written by scripts/services.ts: the local node's kubelet.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: ${ports.kubelet}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${ports.kubeletHealthz}
# Loopback only, and kube-apiserver has no client certificate for it: no authentication.
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://${paths.containerdSocket}
# No systemd here; pods' cgroups go under one root of their own, which stopKubernetes removes.
cgroupDriver: cgroupfs
cgroupRoot: ${CGROUP_ROOT}
# Kubernetes 1.34 still runs on cgroup v1 (this machine), with a warning.
failCgroupV1: false
# Root here lacks CAP_SYS_RESOURCE: the kubelet cannot lower its own score (default -999).
oomScoreAdj: 0
failSwapOn: false
podLogsDir: ${path.join(paths.dir, 'pod-logs')}
resolvConf: /etc/resolv.conf
# Images cannot be pulled again (no registry): never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`;
}

async function writeCredentials(paths: Layout, apiserverUrl: string): Promise<void> {
  mkdirSync(paths.pki, { recursive: true, mode: 0o700 });
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  writeFileSync(path.join(paths.pki, 'service-account.pub'), publicKey);
  writeFileSync(path.join(paths.pki, 'service-account.key'), privateKey, { mode: 0o600 });
  const adminToken = randomBytes(24).toString('hex');
  const nodeToken = randomBytes(24).toString('hex');
  // token,user,uid,"groups": the admin is in system:masters; the kubelet is a node as the Node
  // authorizer and the NodeRestriction admission plugin expect.
  writeFileSync(paths.tokens, `${adminToken},admin,admin,"system:masters"\n${nodeToken},system:node:${NODE_NAME},${NODE_NAME},"system:nodes"\n`, { mode: 0o600 });
  writeFileSync(paths.adminKubeconfig, kubeconfig(apiserverUrl, paths.caFile, 'admin', adminToken), { mode: 0o600 });
  writeFileSync(paths.nodeKubeconfig, kubeconfig(apiserverUrl, paths.caFile, NODE_NAME, nodeToken), { mode: 0o600 });
}

function makeCgroupRoots(): void {
  for (const root of cgroupRoots()) mkdirSync(root, { recursive: true });
  // cgroup v1 cpuset: a new cgroup has no CPUs or memory nodes until given its parent's.
  const cpuset = '/sys/fs/cgroup/cpuset';
  if (existsSync(path.join(cpuset, 'cpuset.cpus')) && existsSync(path.join(cpuset, CGROUP_ROOT))) {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const mine = path.join(cpuset, CGROUP_ROOT, file);
      if (readFileSync(mine, 'utf8').trim() === '') writeFileSync(mine, readFileSync(path.join(cpuset, file), 'utf8'));
    }
  }
}

interface Plan {
  commands: Record<Component, { command: string; args: string[] }>;
  /** Files written before the processes start, by path. */
  files: Record<string, string>;
}

/** Every command line and configuration file of the cluster: a running cluster with another plan is restarted. */
function plan(paths: Layout, ports: KubernetesPorts, binaries: KubernetesBinaries): Plan {
  const containerdConfigFile = path.join(paths.containerd, 'config.toml');
  const kubeletConfigFile = path.join(paths.kubelet, 'config.yaml');
  return {
    files: {
      [containerdConfigFile]: containerdConfig(paths),
      [path.join(paths.cni, `10-${CNI_NETWORK}.conflist`)]: cniConfig(paths),
      [kubeletConfigFile]: kubeletConfig(paths, ports),
    },
    commands: {
      'etcd': {
        command: 'etcd',
        args: [
          '--name=etl-test',
          `--data-dir=${path.join(paths.dir, 'etcd')}`,
          `--listen-client-urls=http://127.0.0.1:${ports.etcd}`,
          `--advertise-client-urls=http://127.0.0.1:${ports.etcd}`,
          `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
          `--initial-cluster=etl-test=http://127.0.0.1:${ports.etcdPeer}`,
        ],
      },
      'kube-apiserver': {
        command: binaries['kube-apiserver'],
        args: [
          `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.apiserver}`,
          `--cert-dir=${paths.apiserverCerts}`,
          `--token-auth-file=${paths.tokens}`,
          `--service-account-key-file=${path.join(paths.pki, 'service-account.pub')}`,
          `--service-account-signing-key-file=${path.join(paths.pki, 'service-account.key')}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-cluster-ip-range=${SERVICE_SUBNET}`,
          '--authorization-mode=Node,RBAC',
          // PodSecurity is on by default; named so that the profile a namespace asks for is
          // enforced whatever the defaults become. NodeRestriction keeps the kubelet to its node.
          '--enable-admission-plugins=PodSecurity,NodeRestriction',
        ],
      },
      'kube-controller-manager': {
        command: binaries['kube-controller-manager'],
        args: [
          `--kubeconfig=${paths.adminKubeconfig}`,
          // Each controller acts as its own service account, with the roles RBAC gives it.
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${path.join(paths.pki, 'service-account.key')}`,
          `--root-ca-file=${paths.caFile}`,
          '--controllers=*',
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.controllerManager}`,
        ],
      },
      'kube-scheduler': {
        command: binaries['kube-scheduler'],
        args: [`--kubeconfig=${paths.adminKubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${ports.scheduler}`],
      },
      'containerd': { command: 'containerd', args: [`--config=${containerdConfigFile}`] },
      'kubelet': {
        command: binaries.kubelet,
        // --cert-dir defaults to /var/lib/kubelet/pki whatever --root-dir says.
        args: [`--config=${kubeletConfigFile}`, `--kubeconfig=${paths.nodeKubeconfig}`, `--root-dir=${paths.kubelet}`, `--cert-dir=${path.join(paths.kubelet, 'pki')}`, `--hostname-override=${NODE_NAME}`],
      },
    },
  };
}

const planFile = (paths: Layout) => path.join(paths.dir, 'plan.json');

/**
 * Starts a fresh cluster (whatever ran before is stopped and deleted first) and returns the path
 * of the admin kubeconfig once the API server is ready, the controllers and the scheduler
 * answer, and the node is Ready with NODE_IMAGE imported.
 */
export async function startKubernetes(options: {
  servicesDir: string;
  logDir: string;
  binaries: KubernetesBinaries;
  ports: KubernetesPorts;
  timeoutMs: number;
}): Promise<string> {
  const { servicesDir, logDir, binaries, ports, timeoutMs } = options;
  const paths = layout(servicesDir);
  await stopKubernetes(servicesDir);
  if (`${paths.containerdSocket}.ttrpc`.length > UNIX_SOCKET_MAX) {
    throw new Error(`Kubernetes: ${paths.containerdSocket} is too long for a unix socket (${UNIX_SOCKET_MAX} characters at most): use a checkout with a shorter path.`);
  }
  const steps = plan(paths, ports, binaries);
  for (const dir of [paths.dir, paths.apiserverCerts, paths.containerd, paths.kubelet, paths.cni, path.join(paths.dir, 'etcd')]) mkdirSync(dir, { recursive: true });
  await writeCredentials(paths, `https://127.0.0.1:${ports.apiserver}`);
  for (const [file, content] of Object.entries(steps.files)) writeFileSync(file, content);
  writeFileSync(planFile(paths), JSON.stringify(steps));
  const log = (component: Component) => path.join(logDir, `${component}.log`);
  const started = {} as Record<Component, number>;
  const start = (component: Component) => {
    rmSync(log(component), { force: true });
    started[component] = startDetached(steps.commands[component].command, steps.commands[component].args, { logFile: log(component), pidFile: pidFile(paths, component) });
  };
  const waitFor = (component: Component, check: () => Promise<boolean>) =>
    waitUntil({ service: component, logFile: log(component), timeoutMs, stillRunning: () => isAlive(started[component]) }, check);
  const admin = () => accessOf(paths.adminKubeconfig);

  start('etcd');
  await waitFor('etcd', async () => {
    const response = await fetch(`http://127.0.0.1:${ports.etcd}/health`, { signal: AbortSignal.timeout(2000) });
    return response.ok && ((await response.json()) as { health?: string }).health === 'true';
  });
  start('kube-apiserver');
  await waitFor('kube-apiserver', async () => {
    const access = existsSync(paths.caFile) ? admin() : undefined;
    return access !== undefined && (await apiGet(access, '/readyz'))?.status === 200;
  });
  start('kube-controller-manager');
  start('kube-scheduler');
  start('containerd');
  const ctr = (args: string[]) => run('ctr', ['--address', paths.containerdSocket, '--namespace', 'k8s.io', ...args]);
  await waitFor('containerd', async () => (await ctr(['version'])).code === 0);
  const archive = await packNodeImage(binaries.pause, path.join(paths.dir, 'image'));
  const imported = await ctr(['images', 'import', archive]);
  if (imported.code !== 0) throw new Error(`Kubernetes: ctr could not import ${NODE_IMAGE}: ${imported.stderr.trim() || imported.stdout.trim()}`);
  makeCgroupRoots();
  await ensureBridge();
  start('kubelet');
  await waitFor('kubelet', async () => {
    const access = admin();
    return access !== undefined && await nodeReady(access);
  });
  await waitFor('kube-controller-manager', async () => (await httpsGet(`https://127.0.0.1:${ports.controllerManager}/healthz`, { ca: 'any' }))?.body === 'ok');
  await waitFor('kube-scheduler', async () => (await httpsGet(`https://127.0.0.1:${ports.scheduler}/healthz`, { ca: 'any' }))?.body === 'ok');
  return paths.adminKubeconfig;
}

/** Makes an image (an OCI archive) available to the node's containerd, as `ctr images import` does. */
export async function importImage(servicesDir: string, archive: string): Promise<void> {
  const paths = layout(servicesDir);
  const imported = await run('ctr', ['--address', paths.containerdSocket, '--namespace', 'k8s.io', 'images', 'import', archive]);
  if (imported.code !== 0) throw new Error(`Kubernetes: ctr could not import ${archive}: ${imported.stderr.trim() || imported.stdout.trim()}`);
}

/**
 * The pods' bridge with its gateway address (POD_GATEWAY). The bridge plugin would make both when
 * the first pod starts; the tests listen on the address before that (their proxies to the
 * services on loopback), and the plugin takes the bridge as it finds it.
 */
export async function ensureBridge(): Promise<void> {
  const ip = async (args: string[]) => {
    const result = await run('ip', args);
    if (result.code !== 0) throw new Error(`Kubernetes: ip ${args.join(' ')} failed: ${result.stderr.trim()}`);
  };
  if ((await run('ip', ['link', 'show', BRIDGE])).code !== 0) await ip(['link', 'add', BRIDGE, 'type', 'bridge']);
  await ip(['addr', 'replace', `${POD_GATEWAY}/${POD_SUBNET.split('/')[1]}`, 'dev', BRIDGE]);
  await ip(['link', 'set', BRIDGE, 'up']);
}
