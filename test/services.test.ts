// Smoke test: every service the tests rely on answers, through real calls.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { test } from 'node:test';
import pg from 'pg';
import { freshDatabase, helmBin, jaegerUrl, kubectlBin, otlpEndpoint, prometheusUrl, requireService } from './helpers/services.ts';

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
