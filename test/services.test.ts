// Smoke test: every service the tests rely on answers, through real calls.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { test } from 'node:test';
import pg from 'pg';
import { freshDatabase, helmBin, jaegerUrl, kubeconfigFile, kubectlBin, localNodeImage, otlpEndpoint, prometheusUrl, requireService } from './helpers/services.ts';

const run = promisify(execFile);

test('Postgres: a fresh database answers select 1 and is dropped afterwards', async () => {
  const db = await freshDatabase({ prefix: 'smoke' });
  try {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ one: number; db: string }>('select 1 as one, current_database() as db');
      assert.deepEqual(rows, [{ one: 1, db: db.name }]);
    } finally {
      await client.end();
    }
  } finally {
    await db.drop();
  }
  const admin = new pg.Client({ connectionString: requireService('TEST_DATABASE_URL') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [db.name]);
    assert.equal(rowCount, 0, `${db.name} should be gone`);
  } finally {
    await admin.end();
  }
});

test('MinIO: the health endpoint is live', async () => {
  const response = await fetch(`${requireService('TEST_S3_ENDPOINT')}/minio/health/live`);
  assert.equal(response.status, 200);
  assert.ok(requireService('TEST_S3_ACCESS_KEY'));
  assert.ok(requireService('TEST_S3_SECRET_KEY'));
});

test('Jaeger: /api/services answers and lists a service after an OTLP span arrives', async () => {
  const services = await fetch(`${jaegerUrl()}/api/services`);
  assert.equal(services.status, 200);
  const service = `smoke-${randomBytes(4).toString('hex')}`;
  const now = BigInt(Date.now()) * 1_000_000n;
  const sent = await fetch(`${otlpEndpoint()}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [{
          scope: { name: 'services.test' },
          spans: [{
            traceId: randomBytes(16).toString('hex'),
            spanId: randomBytes(8).toString('hex'),
            name: 'smoke',
            kind: 1,
            startTimeUnixNano: String(now - 1_000_000n),
            endTimeUnixNano: String(now),
          }],
        }],
      }],
    }),
  });
  assert.equal(sent.status, 200, await sent.text());
  const deadline = Date.now() + 15_000;
  let listed: string[] = [];
  while (Date.now() < deadline) {
    listed = ((await (await fetch(`${jaegerUrl()}/api/services`)).json()) as { data: string[] | null }).data ?? [];
    if (listed.includes(service)) return;
    await sleep(200);
  }
  assert.fail(`Jaeger never listed ${service}; it lists ${JSON.stringify(listed)}`);
});

test('Prometheus: a gauge pushed over OTLP/HTTP is answered by a PromQL query', async () => {
  const ready = await fetch(`${prometheusUrl()}/-/ready`);
  assert.equal(ready.status, 200, await ready.text());
  const suffix = randomBytes(4).toString('hex');
  const service = `smoke-${suffix}`;
  const metric = `etl_smoke_gauge_${suffix}`;
  // ExportMetricsServiceRequest in the OTLP/JSON encoding: one resource, one gauge data point.
  const sent = await fetch(`${prometheusUrl()}/api/v1/otlp/v1/metrics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      resourceMetrics: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeMetrics: [{
          scope: { name: 'services.test' },
          metrics: [{
            name: metric,
            description: 'smoke test gauge',
            gauge: {
              dataPoints: [{
                timeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
                asDouble: 42.5,
                attributes: [{ key: 'table', value: { stringValue: 'tickets' } }],
              }],
            },
          }],
        }],
      }],
    }),
  });
  assert.equal(sent.status, 200, await sent.text());
  type Vector = { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  const deadline = Date.now() + 30_000;
  let answer: Vector | undefined;
  while (Date.now() < deadline) {
    const response = await fetch(`${prometheusUrl()}/api/v1/query?${new URLSearchParams({ query: metric })}`);
    assert.equal(response.status, 200);
    answer = (await response.json()) as Vector;
    if (answer.data.result.length > 0) break;
    await sleep(250);
  }
  assert.deepEqual(answer?.data.result.map((series) => ({ labels: series.metric, value: series.value[1] })), [{
    // OTLP to Prometheus: service.name becomes job, data point attributes become labels.
    labels: { __name__: metric, job: service, service_name: service, table: 'tickets' },
    value: '42.5',
  }], `Prometheus never answered ${metric} within 30 s`);
});

test('helm is v4 and kubectl runs', async () => {
  const helm = await run(helmBin(), ['version', '--short']);
  assert.match(helm.stdout, /^v4\./);
  const kubectl = await run(kubectlBin(), ['version', '--client', '-o', 'json']);
  assert.match((JSON.parse(kubectl.stdout) as { clientVersion: { gitVersion: string } }).clientVersion.gitVersion, /^v1\.\d+\./);
});

test('Kubernetes: a Job created from a CronJob in a restricted namespace is scheduled and runs to completion', async () => {
  const kubectl = async (args: string[], input?: string) => {
    const running = run(kubectlBin(), ['--kubeconfig', kubeconfigFile(), ...args]);
    if (input !== undefined) running.child.stdin?.end(input);
    return (await running).stdout;
  };
  const version = JSON.parse(await kubectl(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
  assert.equal(version.serverVersion.gitVersion, 'v1.34.4');
  const namespace = `smoke-${randomBytes(4).toString('hex')}`;
  await kubectl(['create', 'namespace', namespace]);
  try {
    await kubectl(['label', 'namespace', namespace, 'pod-security.kubernetes.io/enforce=restricted']);
    // Pods are admitted once the serviceaccount controller has given the namespace its default account.
    const accountBy = Date.now() + 30_000;
    while (!(await kubectl(['get', 'serviceaccounts', '-n', namespace, '-o', 'name'])).includes('serviceaccount/default')) {
      assert.ok(Date.now() < accountBy, `${namespace} got no default service account within 30 s`);
      await sleep(200);
    }
    // The PodSecurity admission plugin enforces the label: a pod with no security context is refused.
    await assert.rejects(kubectl(['run', 'unrestricted', '-n', namespace, `--image=${localNodeImage}`, '--restart=Never', '--dry-run=server']),
      (error: Error & { stderr?: string }) => /violates PodSecurity "restricted:latest"/.test(error.stderr ?? ''));
    const restricted = {
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{
        name: 'smoke',
        image: localNodeImage,
        // The node has this image and no registry to pull from.
        imagePullPolicy: 'Never',
        args: ['services.test', 'ran'],
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      }],
      restartPolicy: 'Never',
    };
    await kubectl(['apply', '-n', namespace, '-f', '-'], JSON.stringify({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'smoke' },
      // Suspended: only the Job created below runs.
      spec: { schedule: '0 0 1 1 *', suspend: true, jobTemplate: { spec: { backoffLimit: 0, template: { spec: restricted } } } },
    }));
    await kubectl(['create', 'job', '-n', namespace, '--from=cronjob/smoke', 'smoke-now']);
    type Pods = { items: Array<{ metadata: { name: string }; spec: { nodeName?: string }; status: { phase?: string } }> };
    type Job = { status: { succeeded?: number; failed?: number; conditions?: Array<{ type: string; status: string }> } };
    const deadline = Date.now() + 90_000;
    let pods: Pods = { items: [] };
    let job: Job = { status: {} };
    while (Date.now() < deadline) {
      pods = JSON.parse(await kubectl(['get', 'pods', '-n', namespace, '-l', 'job-name=smoke-now', '-o', 'json'])) as Pods;
      job = JSON.parse(await kubectl(['get', 'job', '-n', namespace, 'smoke-now', '-o', 'json'])) as Job;
      if (job.status.conditions?.some((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'))) break;
      await sleep(500);
    }
    assert.equal(pods.items.length, 1, `one pod for the job: ${JSON.stringify(pods.items.map((pod) => pod.metadata.name))}`);
    assert.equal(pods.items[0]?.spec.nodeName, 'etl-test-node', 'the pod was scheduled onto the node');
    assert.equal(pods.items[0]?.status.phase, 'Succeeded', `the pod ran to completion: ${JSON.stringify(pods.items[0]?.status)}`);
    assert.equal(job.status.succeeded, 1, `the job completed: ${JSON.stringify(job.status)}`);
  } finally {
    await kubectl(['delete', 'namespace', namespace, '--wait=true', '--timeout=60s']);
  }
  const left = await run(kubectlBin(), ['--kubeconfig', kubeconfigFile(), 'get', 'namespace', namespace]).catch((error: Error & { stderr?: string }) => error);
  assert.ok(left instanceof Error && /NotFound/.test(left.stderr ?? ''), `${namespace} should be gone`);
});

test('a missing variable fails with the fix', () => {
  const saved = process.env['TEST_S3_ENDPOINT'];
  delete process.env['TEST_S3_ENDPOINT'];
  try {
    assert.throws(() => requireService('TEST_S3_ENDPOINT'), {
      message: 'TEST_S3_ENDPOINT is not set: run `npm test` (starts every service) or `npm run services:up && source .services.env`',
    });
  } finally {
    if (saved !== undefined) process.env['TEST_S3_ENDPOINT'] = saved;
  }
});
