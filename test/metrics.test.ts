// The run's metrics over OTLP, read back from a real Prometheus (its OTLP receiver, started by
// `npm run services:up`) with PromQL, as an alert rule would: the files and rows of each run, the
// objects failed in the ledger, the time of the last successful run; and the chart's alert
// expressions evaluated against them (firing, then resolved). Nothing is sent without an
// endpoint, and an endpoint that does not answer costs a bounded wait and one warning.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateExports, writeExports } from '../src/sample/generator.ts';
import { metricsDestination } from '../src/telemetry/metrics.ts';
import { DEFAULT_FLUSH_TIMEOUT_MS } from '../src/telemetry/tracing.ts';
import { runCli, type CliResult } from './helpers/cli.ts';
import { freshDatabase, helmBin, prometheusUrl } from './helpers/services.ts';
import { renderChart } from '../scripts/render-k8s.ts';
import { metricsWorkspace } from './helpers/run-metrics.ts';

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function promql(query: string): Promise<Sample[]> {
  const response = await fetch(`${prometheusUrl()}/api/v1/query?${new URLSearchParams({ query })}`);
  const body = await response.text();
  assert.ok(response.ok, `${query}: HTTP ${response.status} ${body}`);
  return (JSON.parse(body) as { data: { result: Sample[] } }).data.result;
}

/** Polls until the query has the samples `ready` wants (the push is stored within moments). */
async function until(query: string, ready: (samples: Sample[]) => boolean): Promise<Sample[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const samples = await promql(query);
    if (ready(samples)) return samples;
    assert.ok(Date.now() < deadline, `Prometheus at ${prometheusUrl()} never answered ${query} as expected: ${JSON.stringify(samples)}`);
    await sleep(300);
  }
}

/** The expressions of the chart's PrometheusRule (helm template, alerts on) for this service name. */
function chartAlerts(service: string): Record<string, string> {
  const rule = renderChart({ helm: helmBin(), release: 'etl', namespace: 'data', values: { alerts: { enabled: true }, otel: { serviceName: service } } }).find(
    (object) => object.kind === 'PrometheusRule',
  ) as unknown as { spec: { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> } };
  return Object.fromEntries(rule.spec.groups.flatMap((group) => group.rules).map((entry) => [entry.alert, entry.expr]));
}

const byLabel = (samples: Sample[], label: string) => Object.fromEntries(samples.map((sample) => [sample.metric[label], Number(sample.value[1])]));
const summaryOf = (result: CliResult) => result.logs.find((line) => line.summary !== undefined)!.summary as { files: Record<string, number>; rows: Record<string, number>; status: string };

describe('run metrics in Prometheus', () => {
  it('every run sends its files, rows, duration, exit code, failed objects and last success; PromQL reads them back', async (t) => {
    const { env, dir, expected, service, failedKey } = await metricsWorkspace(t, 'metrics', 515);

    // Run 1: one object fails.
    const first = await runCli(['run'], env);
    assert.equal(first.code, 3, first.stdout.slice(-2000));
    assert.equal(first.stderr, '', 'no warning: the metrics were taken');
    const summary = summaryOf(first);
    const files = byLabel(await until(`etl_run_files{job="${service}"}`, (samples) => samples.length === 6), 'etl_file_outcome');
    assert.deepEqual(files, { loaded: summary.files.loaded, failed: 1, waiting: 0, unchanged: 0, skipped: summary.files.skipped, gone: 0 });
    assert.equal(files.loaded, expected.files.filter((file) => file.status === 'loaded').length);
    const rows = byLabel(await promql(`etl_run_rows{job="${service}"}`), 'etl_row_outcome');
    assert.deepEqual(rows, { read: expected.rowsRead, loaded: expected.rowsLoaded, quarantined: expected.rowsQuarantined, repaired: summary.rows.repaired });
    assert.deepEqual((await promql(`etl_objects_failed{job="${service}"}`)).map((sample) => Number(sample.value[1])), [1]);
    assert.deepEqual((await promql(`etl_run_exit_code{job="${service}"}`)).map((sample) => Number(sample.value[1])), [3]);
    const duration = await promql(`etl_run_duration_seconds{job="${service}"}`);
    assert.ok(duration.length === 1 && Number(duration[0]!.value[1]) > 0);
    assert.deepEqual(await promql(`etl_last_success_time_seconds{job="${service}"}`), [], 'no run has succeeded yet');
    // The chart's alerts, evaluated as Prometheus would: the failed object and the missing success fire.
    const alerts = chartAlerts(service);
    assert.equal((await promql(alerts.ToshibaEtlObjectsFailed!)).length, 1, 'ToshibaEtlObjectsFailed fires');
    assert.equal((await promql(alerts.ToshibaEtlNoSuccessfulRun!)).length, 1, 'ToshibaEtlNoSuccessfulRun fires');
    for (const name of ['ToshibaEtlJobFailed', 'ToshibaEtlRunTooLong']) assert.deepEqual(await promql(alerts[name]!), [], `${name} is valid PromQL (no kube-state-metrics here)`);

    // Run 2: the failed object is removed from the source (gone): nothing failed any more.
    await unlink(path.join(dir, failedKey));
    const before = Date.now() / 1000;
    const second = await runCli(['run'], env);
    assert.equal(second.code, 0, second.stdout.slice(-2000));
    await until(`etl_run_exit_code{job="${service}"}`, (samples) => samples.length === 1 && samples[0]!.value[1] === '0');
    assert.deepEqual((await promql(`etl_objects_failed{job="${service}"}`)).map((sample) => Number(sample.value[1])), [0]);
    assert.equal(byLabel(await promql(`etl_run_files{job="${service}"}`), 'etl_file_outcome').gone, 1);
    const lastSuccess = await promql(`etl_last_success_time_seconds{job="${service}"}`);
    assert.equal(lastSuccess.length, 1);
    assert.ok(Math.abs(Number(lastSuccess[0]!.value[1]) - before) < 120, `last success ${lastSuccess[0]!.value[1]} is this run (${before})`);
    assert.deepEqual(await promql(alerts.ToshibaEtlObjectsFailed!), [], 'resolved: nothing failed any more');
    assert.deepEqual(await promql(alerts.ToshibaEtlNoSuccessfulRun!), [], 'resolved: a run succeeded');
  });

  it('a run shared by three workers (ETL_RUN_ID) sends the run\'s metrics once, from the last worker out, with the run\'s totals', async (t) => {
    const db = await freshDatabase({ prefix: 'metrics_shared' });
    const dir = await mkdtemp(path.join(tmpdir(), 'etl-metrics-shared-'));
    const stateDirs = await Promise.all([0, 1, 2].map(() => mkdtemp(path.join(tmpdir(), 'etl-metrics-worker-'))));
    t.after(async () => {
      await db.drop();
      for (const folder of [dir, ...stateDirs]) await rm(folder, { recursive: true, force: true });
    });
    const { objects, expected } = generateExports({ seed: 517, files: 12, rowsPerFile: 60 }); // one object without SR Number
    await writeExports(dir, objects);
    const service = `etl-metrics-shared-${process.pid}-${Date.now().toString(36)}`;
    const results = await Promise.all(
      stateDirs.map((stateDir) =>
        runCli(['run'], {
          ETL_SOURCE: dir,
          DATABASE_URL: db.url,
          ETL_STATE_DIR: stateDir,
          ETL_RUN_ID: 'metrics-job',
          OTEL_SERVICE_NAME: service,
          OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${prometheusUrl()}/api/v1/otlp/v1/metrics`,
        }),
      ),
    );
    // The last one out exits 3 (an object failed) and sends; the others exit 0 and send nothing.
    assert.deepEqual(results.map((result) => result.code).sort(), [0, 0, 3], results.map((result) => result.stdout.slice(-1500)).join('\n'));
    const files = byLabel(await until(`etl_run_files{job="${service}"}`, (samples) => samples.length === 6), 'etl_file_outcome');
    assert.equal(files.loaded, expected.files.filter((file) => file.status === 'loaded').length, 'every object of the run, whichever worker loaded it');
    assert.equal(files.failed, 1);
    const rows = byLabel(await promql(`etl_run_rows{job="${service}"}`), 'etl_row_outcome');
    assert.equal(rows.read, expected.rowsRead);
    assert.equal(rows.loaded, expected.rowsLoaded);
    assert.deepEqual((await promql(`etl_run_exit_code{job="${service}"}`)).map((sample) => Number(sample.value[1])), [3]);
    // One push in all: one sample per series over the whole time the workers ran.
    assert.deepEqual((await promql(`count_over_time(etl_run_exit_code{job="${service}"}[10m])`)).map((sample) => Number(sample.value[1])), [1], 'the run was counted once');
  });

  it('without an endpoint nothing is sent; OTEL_METRICS_EXPORTER=none turns them off behind a traces endpoint', () => {
    assert.equal(metricsDestination({}), undefined);
    assert.equal(metricsDestination({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }), 'http://collector:4318/v1/metrics');
    assert.equal(metricsDestination({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_METRICS_EXPORTER: 'none' }), undefined);
    assert.equal(metricsDestination({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://u:pw@prom:9090/api/v1/otlp/v1/metrics' }), 'http://prom:9090/api/v1/otlp/v1/metrics');
    assert.equal(metricsDestination({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }), undefined);
  });

  it('an endpoint that never answers: the run exits with its own code, within the flush bound, and says so once', async (t) => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      server.close();
    });
    const db = await freshDatabase({ prefix: 'metrics_blackhole' });
    const dir = await mkdtemp(path.join(tmpdir(), 'etl-metrics-hole-'));
    t.after(async () => {
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    });
    await writeExports(dir, generateExports({ seed: 516, files: 2, rowsPerFile: 10, variations: false }).objects);
    const started = Date.now();
    const result = await runCli(['run'], {
      ETL_SOURCE: dir,
      DATABASE_URL: db.url,
      ETL_STATE_DIR: path.join(dir, 'state'),
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/metrics`,
    });
    assert.equal(result.code, 0, result.stdout.slice(-2000));
    assert.ok(Date.now() - started < 30_000, 'the run did not hang on the metrics');
    const warnings = result.stderr.trim().split('\n').filter(Boolean);
    assert.equal(warnings.length, 1, result.stderr);
    assert.match(String((JSON.parse(warnings[0]!) as { msg: string }).msg), /^metrics: (gave up sending|could not send) the run's metrics to http:\/\/127\.0\.0\.1:\d+\/v1\/metrics/);
    assert.ok(DEFAULT_FLUSH_TIMEOUT_MS <= 10_000);
  });
});
