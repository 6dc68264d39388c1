// Render the chart, then run what it renders: the CronJob container's args, its environment
// (Secret and ConfigMap references and the downward API resolved as the kubelet would, $(VAR)
// expanded) and its mounted config file, against the test Postgres and S3 server. The run must
// complete, load the export, write its summary to the state dir and send its trace to Jaeger.
//
// The one thing changed: paths inside the pod. Each volume is a local folder, the ConfigMap's
// files are written into the config folder, and a path env var under a mount is mapped to the
// folder. The state dir needs no mapping: the chart is rendered with persistence.mountPath set to
// a local folder, so the config file is used byte for byte.
//
// Needs TEST_HELM_BIN, TEST_DATABASE_URL, TEST_S3_ENDPOINT, TEST_S3_ACCESS_KEY,
// TEST_S3_SECRET_KEY, TEST_OTLP_ENDPOINT and TEST_JAEGER_URL: run `npm test`, or
// `npm run services:up && source .services.env`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { EXPORT_COLUMNS } from '../src/model/export.ts';
import { renderChart, type K8sObject } from '../scripts/render-k8s.ts';

const root = path.resolve(import.meta.dirname, '..');
const FIX = 'run `npm test` (it starts the services), or `npm run services:up && source .services.env` first';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set. To fix: ${FIX}.`);
  return value;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}
interface Container { name: string; args?: string[]; command?: string[]; env?: EnvVar[]; envFrom?: unknown[]; volumeMounts?: { name: string; mountPath: string }[] }
interface Volume { name: string; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string }; emptyDir?: object }
interface CronJob extends K8sObject {
  spec: { jobTemplate: { spec: { template: { spec: { containers: Container[]; volumes: Volume[] } } } } };
}

/** `$(VAR)` as the kubelet expands it: only variables defined earlier; `$$` is a literal `$`. */
function expand(value: string, defined: Map<string, string>): string {
  return value.replace(/\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return defined.get(name) ?? match;
  });
}

/** What the kubelet would give the etl container, with pod paths mapped to local folders. */
function containerRun(objects: K8sObject[], pod: { name: string; namespace: string; node: string; jobName: string }, volumeDir: (volume: Volume) => string) {
  const cronJob = objects.find((o) => o.kind === 'CronJob') as CronJob;
  const podSpec = cronJob.spec.jobTemplate.spec.template.spec;
  const container = podSpec.containers.find((c) => c.name === 'etl')!;
  assert.equal(container.command, undefined, 'the image entrypoint (node) is used');
  assert.equal(container.envFrom, undefined, 'this test resolves env, not envFrom');
  const byKind = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name) as (K8sObject & { data?: Record<string, string> }) | undefined;

  // Volumes and mounts: pod path -> local folder.
  const mounts: [string, string][] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = podSpec.volumes.find((v) => v.name === mount.name);
    assert.ok(volume, `volume ${mount.name}`);
    const dir = volumeDir(volume);
    if (volume.configMap) {
      const configMap = byKind('ConfigMap', volume.configMap.name);
      assert.ok(configMap?.data, `ConfigMap ${volume.configMap.name} is rendered`);
      for (const [file, content] of Object.entries(configMap.data)) writeFileSync(path.join(dir, file), content);
    }
    mounts.push([mount.mountPath, dir]);
  }
  const local = (podPath: string) => {
    for (const [mountPath, dir] of mounts) {
      if (podPath === mountPath || podPath.startsWith(`${mountPath}/`)) return dir + podPath.slice(mountPath.length);
    }
    return podPath;
  };

  const env = new Map<string, string>();
  for (const variable of container.env ?? []) {
    let value: string | undefined;
    const from = variable.valueFrom;
    if (variable.value !== undefined) value = expand(variable.value, env);
    else if (from?.secretKeyRef) {
      const secret = byKind('Secret', from.secretKeyRef.name);
      const encoded = secret?.data?.[from.secretKeyRef.key];
      if (encoded === undefined) assert.ok(from.secretKeyRef.optional, `Secret ${from.secretKeyRef.name} has no key ${from.secretKeyRef.key}`);
      else value = Buffer.from(encoded, 'base64').toString('utf8');
    } else if (from?.configMapKeyRef) {
      value = byKind('ConfigMap', from.configMapKeyRef.name)?.data?.[from.configMapKeyRef.key];
    } else if (from?.fieldRef) {
      const fieldPath = from.fieldRef.fieldPath;
      const fields: Record<string, string> = {
        'metadata.name': pod.name, 'metadata.namespace': pod.namespace, 'spec.nodeName': pod.node, "metadata.labels['job-name']": pod.jobName,
      };
      value = fields[fieldPath];
      assert.ok(value !== undefined, `unhandled fieldRef ${fieldPath}`);
    } else {
      assert.fail(`env ${variable.name} has a source this test does not resolve`);
    }
    if (value !== undefined) env.set(variable.name, value.startsWith('/') ? local(value) : value);
  }
  assert.ok(container.args && container.args.length > 0, 'the container has args');
  return { args: container.args, env: Object.fromEntries(env), mounts };
}

/** A small export: three service requests, one with a task, a part and a note. */
function exportCsv(): string {
  const rows: Record<string, string>[] = [
    { sr_number: '5001', sr_status: 'Open', created_at: '2024-01-05 10:00:00', account_number: '000123', customer_name: 'Acme', summary: 'POS freezes' },
    { sr_number: '5002', sr_status: 'Closed', created_at: '2024-01-06 11:30:00', account_number: '000124', customer_name: 'Globex', task_number: '9001', part_number: 'P-1', quantity: '1', note_text: 'replaced' },
    { sr_number: '5003', sr_status: 'Open', created_at: '2024-01-07 09:15:00', account_number: '000123', customer_name: 'Acme' },
  ];
  const header = EXPORT_COLUMNS.map((c) => c.header).join(',');
  return [header, ...rows.map((row) => EXPORT_COLUMNS.map((c) => row[c.field] ?? '').join(','))].join('\r\n') + '\r\n';
}

describe('render the chart and run what it renders', () => {
  const id = randomBytes(4).toString('hex');
  const bucket = `etl-render-${id}`;
  const key = 'exports/2024/export-2024-01.csv';
  const database = `etl_render_${id}`;
  const serviceName = `toshiba-etl-render-${id}`;
  let work = '';
  let app = '';
  let databaseUrl = '';
  let s3: S3Client | undefined;
  let admin: pg.Client | undefined;

  before(async () => {
    for (const name of ['TEST_HELM_BIN', 'TEST_DATABASE_URL', 'TEST_S3_ENDPOINT', 'TEST_S3_ACCESS_KEY', 'TEST_S3_SECRET_KEY', 'TEST_OTLP_ENDPOINT', 'TEST_JAEGER_URL']) requiredEnv(name);
    work = mkdtempSync(path.join(tmpdir(), 'etl-render-'));

    // dist/ from the project's own build script, in a copy (the tree's dist/ is left alone).
    app = path.join(work, 'app');
    mkdirSync(app);
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(path.join(root, file), path.join(app, file));
    cpSync(path.join(root, 'src'), path.join(app, 'src'), { recursive: true });
    symlinkSync(path.join(root, 'node_modules'), path.join(app, 'node_modules'), 'dir');
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: app, encoding: 'utf8', timeout: 600_000 });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);

    // A database of its own.
    admin = new pg.Client({ connectionString: requiredEnv('TEST_DATABASE_URL') });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(requiredEnv('TEST_DATABASE_URL'));
    url.pathname = `/${database}`;
    databaseUrl = url.toString();

    // A bucket with one export.
    s3 = new S3Client({
      region: 'us-east-1', endpoint: requiredEnv('TEST_S3_ENDPOINT'), forcePathStyle: true,
      credentials: { accessKeyId: requiredEnv('TEST_S3_ACCESS_KEY'), secretAccessKey: requiredEnv('TEST_S3_SECRET_KEY') },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: exportCsv(), ContentType: 'text/csv' }));
  });

  after(async () => {
    if (s3) {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
      await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
      s3.destroy();
    }
    if (admin) {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('completes a run with the rendered args, environment and config file, twice, loading the export once', async () => {
    const state = path.join(work, 'state');
    mkdirSync(state);
    const objects = renderChart({
      helm: requiredEnv('TEST_HELM_BIN'),
      release: 'etl',
      namespace: 'data',
      values: {
        config: {
          source: `s3://${bucket}/exports/`,
          aws_region: 'us-east-1',
          s3_endpoint: requiredEnv('TEST_S3_ENDPOINT'),
          s3_force_path_style: true,
          log_format: 'json',
          progress_interval_seconds: 1,
        },
        secret: { databaseUrl, awsAccessKeyId: requiredEnv('TEST_S3_ACCESS_KEY'), awsSecretAccessKey: requiredEnv('TEST_S3_SECRET_KEY') },
        persistence: { enabled: true, mountPath: state },
        otel: { endpoint: requiredEnv('TEST_OTLP_ENDPOINT'), serviceName },
      },
    });
    const volumeDir = (volume: Volume) => {
      if (volume.persistentVolumeClaim) return state;
      const dir = path.join(work, 'volumes', volume.name);
      mkdirSync(dir, { recursive: true });
      return dir;
    };
    const jobName = `etl-toshiba-etl-29000000`;
    const pod = { name: `${jobName}-x7k2p`, namespace: 'data', node: 'node-1', jobName };
    const { args, env, mounts } = containerRun(objects, pod, volumeDir);
    assert.deepEqual(args, ['dist/main.js', 'run']);
    assert.ok(mounts.some(([mountPath, dir]) => mountPath === state && dir === state), 'the state dir is the rendered mount path');
    assert.ok(existsSync(env.ETL_CONFIG!), `ETL_CONFIG ${env.ETL_CONFIG} is the mounted config file`);
    assert.equal(env.OTEL_RESOURCE_ATTRIBUTES?.includes(`k8s.job.name=${jobName}`), true, 'resource attributes expanded');

    const runOnce = () => spawnSync(process.execPath, args, {
      cwd: app, // WORKDIR /app of the image: args are relative to it
      encoding: 'utf8',
      timeout: 180_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    });
    const first = runOnce();
    assert.equal(first.status, 0, `the run exited ${first.status}:\n${first.stdout}\n${first.stderr}`);

    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const count = async (table: string) => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
      assert.equal(await count('service_requests'), 3);
      assert.equal(await count('customers'), 2);
      assert.equal(await count('tasks'), 1);
      const second = runOnce();
      assert.equal(second.status, 0, `the second run exited ${second.status}:\n${second.stdout}\n${second.stderr}`);
      assert.equal(await count('service_requests'), 3, 'a second run loads nothing twice');
    } finally {
      await db.end();
    }

    assert.ok(readdirSync(state).some((file) => /^pipeline_summary_\d{8}\.json$/.test(file)), `a run summary in the state dir: ${readdirSync(state).join(', ')}`);

    // The trace reached the collector the chart pointed at, under the chart's service name.
    const jaeger = requiredEnv('TEST_JAEGER_URL').replace(/\/$/, '');
    let found: { data?: { processes?: Record<string, { serviceName: string; tags?: { key: string; value: unknown }[] }> }[] } | undefined;
    for (let attempt = 0; attempt < 40 && !found?.data?.length; attempt++) {
      const response = await fetch(`${jaeger}/api/traces?service=${encodeURIComponent(serviceName)}&limit=5`);
      if (response.ok) found = await response.json() as typeof found;
      if (!found?.data?.length) await sleep(500);
    }
    assert.ok(found?.data?.length, `no trace for service ${serviceName} in Jaeger`);
    const tags = Object.values(found.data![0]!.processes ?? {}).flatMap((process) => process.tags ?? []);
    assert.ok(tags.some((tag) => tag.key === 'k8s.job.name' && tag.value === jobName), 'the downward-API resource attributes reach the trace');
  });
});
