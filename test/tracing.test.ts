// Tracing set-up without a collector: which exporter the OTEL_* variables choose, the resource,
// trace ids without any endpoint (and no noise, no wait), OTEL_SDK_DISABLED, a bounded flush.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { baseResourceAttributes, chooseExportMode, DEFAULT_SERVICE_NAME, packageVersion } from '../src/telemetry/tracing.ts';

const run = promisify(execFile);
const START = new URL('../src/telemetry/start.ts', import.meta.url).href;
const TRACING = new URL('../src/telemetry/tracing.ts', import.meta.url).href;
const SPANS = new URL('../src/telemetry/spans.ts', import.meta.url).href;
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

test('the exporter: none without an endpoint, OTLP/HTTP JSON with one, the SDK for other exporters and protocols', () => {
  assert.equal(chooseExportMode({}), 'none');
  assert.equal(chooseExportMode({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' }), 'otlp-http');
  assert.equal(chooseExportMode({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://jaeger:4318/v1/traces' }), 'otlp-http');
  assert.equal(chooseExportMode({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), 'otlp-http');
  assert.equal(chooseExportMode({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }), 'sdk-env');
  assert.equal(chooseExportMode({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }), 'sdk-env');
  assert.equal(chooseExportMode({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_TRACES_EXPORTER: 'none' }), 'none');
  assert.equal(chooseExportMode({ OTEL_TRACES_EXPORTER: 'console' }), 'sdk-env');
  assert.equal(chooseExportMode({ OTEL_TRACES_EXPORTER: 'otlp' }), 'otlp-http');
  assert.equal(chooseExportMode({ OTEL_TRACES_EXPORTER: 'otlp,console', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' }), 'sdk-env');
});

test('base resource: service name and version; Kubernetes names from K8S_* or POD_NAME-style variables', () => {
  assert.equal(packageVersion(), VERSION);
  assert.deepEqual(baseResourceAttributes({}), { 'service.name': DEFAULT_SERVICE_NAME, 'service.version': VERSION });
  assert.deepEqual(baseResourceAttributes({ POD_NAME: 'etl-29-abcde', POD_NAMESPACE: 'data', JOB_NAME: 'etl-29', NODE_NAME: 'node-1' }), {
    'service.name': DEFAULT_SERVICE_NAME,
    'service.version': VERSION,
    'k8s.pod.name': 'etl-29-abcde',
    'k8s.namespace.name': 'data',
    'k8s.job.name': 'etl-29',
    'k8s.node.name': 'node-1',
  });
  const both = baseResourceAttributes({ K8S_POD_NAME: 'from-chart', POD_NAME: 'other', JOB_NAME: '' });
  assert.equal(both['k8s.pod.name'], 'from-chart');
  assert.equal('k8s.job.name' in both, false, 'an empty variable is no value');
});

/** Runs a module script in a fresh node with only the given environment; returns stdout, stderr and the time taken. */
async function node(script: string, env: Record<string, string>): Promise<{ stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH!, ...env }, timeout: 30_000 });
  return { stdout, stderr, ms: Date.now() - started };
}

const SPAN_SCRIPT = `
  import ${JSON.stringify(START)};
  import { shutdownTelemetry, telemetryState } from ${JSON.stringify(TRACING)};
  import { tracer, traceFields } from ${JSON.stringify(SPANS)};
  const out = { state: telemetryState() };
  await tracer.startActiveSpan('etl.run', async (span) => {
    out.fields = traceFields();
    out.recording = span.isRecording();
    await span.resource?.waitForAsyncAttributes?.();
    out.resource = span.resource?.attributes;
    span.end();
  });
  const started = Date.now();
  out.flush = await shutdownTelemetry(Number(process.env.FLUSH_MS ?? 5000));
  out.flushMs = Date.now() - started;
  console.log(JSON.stringify(out));
  process.exit(0); // as main does: an export still in flight does not hold the exit
`;

test('without an endpoint: real trace ids for logs and the summary, nothing exported, nothing printed', async () => {
  const { stdout, stderr } = await node(SPAN_SCRIPT, {});
  const out = JSON.parse(stdout) as { state: { enabled: boolean; exportMode: string }; fields: { trace_id?: string; span_id?: string }; recording: boolean; flush: string; flushMs: number };
  assert.deepEqual(out.state, { enabled: true, exportMode: 'none' });
  assert.equal(out.recording, true);
  assert.match(out.fields.trace_id ?? '', /^[0-9a-f]{32}$/);
  assert.notEqual(out.fields.trace_id, '0'.repeat(32));
  assert.match(out.fields.span_id ?? '', /^[0-9a-f]{16}$/);
  assert.equal(out.flush, 'flushed');
  assert.ok(out.flushMs < 500, `shutdown took ${out.flushMs} ms`);
  assert.equal(stderr, '');
});

for (const exporting of [false, true]) {
  test(`the resource${exporting ? ' (exporting)' : ''}: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults and POD_NAME-style variables`, async () => {
    // Port 9 (discard) on loopback is closed: the export fails at once; only the resource matters here.
    const endpoint: Record<string, string> = exporting ? { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', FLUSH_MS: '200' } : {};
    const { stdout } = await node(SPAN_SCRIPT, {
      ...endpoint,
      OTEL_SERVICE_NAME: 'etl-prod',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=from-downward-api,deployment.environment=prod',
      POD_NAME: 'from-pod-name',
      POD_NAMESPACE: 'data',
      JOB_NAME: 'etl-29',
    });
    const resource = (JSON.parse(stdout) as { resource: Record<string, unknown> }).resource;
    assert.equal(resource['service.name'], 'etl-prod');
    assert.equal(resource['service.version'], VERSION);
    assert.equal(resource['k8s.pod.name'], 'from-downward-api');
    assert.equal(resource['k8s.namespace.name'], 'data');
    assert.equal(resource['k8s.job.name'], 'etl-29');
    assert.equal(resource['deployment.environment'], 'prod');

    const defaults = (JSON.parse((await node(SPAN_SCRIPT, endpoint)).stdout) as { resource: Record<string, unknown> }).resource;
    assert.equal(defaults['service.name'], DEFAULT_SERVICE_NAME);
  });
}

test('OTEL_SDK_DISABLED=true: no provider, no trace ids', async () => {
  const { stdout, stderr } = await node(SPAN_SCRIPT, { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
  const out = JSON.parse(stdout) as { state: { enabled: boolean }; fields: Record<string, string>; recording: boolean; flush: string };
  assert.equal(out.state.enabled, false);
  assert.equal(out.recording, false);
  assert.deepEqual(out.fields, {});
  assert.equal(out.flush, 'not-started');
  assert.equal(stderr, '');
});

test('a collector that accepts connections and never answers: the flush gives up at its bound and says so once', async (t) => {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket); // hold it open, read nothing back
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const { port } = server.address() as { port: number };
  const { stdout, stderr } = await node(SPAN_SCRIPT, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, FLUSH_MS: '1500' });
  const out = JSON.parse(stdout) as { state: { exportMode: string; endpoint: string }; flush: string; flushMs: number };
  assert.equal(out.state.exportMode, 'otlp-http');
  assert.equal(out.state.endpoint, `http://127.0.0.1:${port}/v1/traces`);
  assert.equal(out.flush, 'timed-out');
  assert.ok(out.flushMs >= 1400 && out.flushMs < 3000, `flush took ${out.flushMs} ms`);
  assert.equal(sockets.size > 0, true, 'the exporter did try to send');
  const warnings = stderr.trim().split('\n');
  assert.equal(warnings.length, 1, stderr);
  assert.match(JSON.parse(warnings[0]!).msg as string, /^tracing: gave up sending the run's spans to http:\/\/127\.0\.0\.1:\d+\/v1\/traces after 1500 ms$/);
});
