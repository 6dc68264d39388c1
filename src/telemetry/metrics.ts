// The run's metrics, sent once over OTLP/HTTP when the run ends (a batch job has no process to
// scrape): what alerts need to see failures, and dashboards to see a run's work.
//
//   etl.run.files         {file}    objects of the run by outcome: loaded, failed, waiting (a failed
//                                    object not tried yet), unchanged, skipped (not data), gone
//   etl.run.rows          {row}     rows of the run: read, loaded, quarantined, repaired
//   etl.run.duration      s         how long the run took
//   etl.run.exit_code     {code}   the run's exit code: 0 done, 1 could not go on, 3 objects failed
//                                    (one series whatever the outcome: a label per status would
//                                    leave the last status visible for Prometheus' staleness window)
//   etl.objects.failed    {object}  objects failed in the ledger after the run (this run's and earlier)
//   etl.last_success.time s         when the last successful run ended (Unix time), for "no successful
//                                    run for N hours"
// In Prometheus (its OTLP receiver) they are etl_run_files{etl_file_outcome="failed"},
// etl_run_rows, etl_run_duration_seconds, etl_run_exit_code, etl_objects_failed and
// etl_last_success_time_seconds, with the resource's service name as the job label.
//
// Sent when the standard variables ask for metrics: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (used as is,
// e.g. http://prometheus:9090/api/v1/otlp/v1/metrics), or OTEL_EXPORTER_OTLP_ENDPOINT (the SDK
// appends /v1/metrics: an OpenTelemetry Collector), unless OTEL_METRICS_EXPORTER=none (a
// traces-only backend such as Jaeger). Nothing is sent without an endpoint. Like the spans, the
// send is bounded in time and its failure is one warning on stderr, never an error of the run.
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { RunSummary } from '../pipeline/summary.ts';
import { DEFAULT_FLUSH_TIMEOUT_MS, shownEndpoint, telemetryResource, telemetryWarning } from './tracing.ts';

type Env = Record<string, string | undefined>;

export type MetricsOutcome = 'not-configured' | 'sent' | 'failed' | 'timed-out';

/** Whether the environment asks for metrics, and where they go (for messages). */
export function metricsDestination(env: Env): string | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const exporters = (env.OTEL_METRICS_EXPORTER ?? '').split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  if (exporters.includes('none')) return undefined;
  if (exporters.length > 0 && !exporters.includes('otlp')) {
    telemetryWarning('metrics', `OTEL_METRICS_EXPORTER=${env.OTEL_METRICS_EXPORTER} is not supported here (otlp or none): no metrics are sent`);
    return undefined;
  }
  if (env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) return shownEndpoint(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return shownEndpoint(`${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/metrics`);
  return undefined;
}

/** Sends the run's metrics once; resolves within `timeoutMs` whatever the backend does; never throws. */
export async function sendRunMetrics(summary: RunSummary, exitCode: number, timeoutMs = DEFAULT_FLUSH_TIMEOUT_MS, env: Env = process.env): Promise<MetricsOutcome> {
  const destination = metricsDestination(env);
  if (destination === undefined) return 'not-configured';
  let provider: MeterProvider | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    // Loaded only when metrics are sent: the SDK costs startup time every run would pay.
    const { MeterProvider, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    // The reader never exports on its own: the one export is the shutdown below (a flush and then
    // a shutdown would export twice: two samples of every series, two "runs" on a dashboard).
    const reader = new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis: 2 ** 31 - 1, exportTimeoutMillis: timeoutMs });
    provider = new MeterProvider({ resource: telemetryResource(env), readers: [reader] });
    record(provider, summary, exitCode);
    const sent = provider.shutdown().then(
      (): MetricsOutcome => 'sent',
      (error: unknown): MetricsOutcome => {
        telemetryWarning('metrics', `could not send the run's metrics to ${destination}: ${error instanceof Error ? error.message : String(error)}`);
        return 'failed';
      },
    );
    const outcome = await Promise.race([sent, new Promise<MetricsOutcome>((resolve) => (timer = setTimeout(() => resolve('timed-out'), timeoutMs).unref()))]);
    if (outcome === 'timed-out') telemetryWarning('metrics', `gave up sending the run's metrics to ${destination} after ${timeoutMs} ms`);
    return outcome;
  } catch (error) {
    telemetryWarning('metrics', `could not send the run's metrics: ${error instanceof Error ? error.message : String(error)}`);
    return 'failed';
  } finally {
    clearTimeout(timer);
  }
}

function record(provider: MeterProvider, summary: RunSummary, exitCode: number): void {
  const meter = provider.getMeter('toshiba-etl');
  const files = meter.createGauge('etl.run.files', { unit: '{file}', description: "Objects of the run by outcome" });
  const { files: counts, rows } = summary;
  const fileOutcomes = { loaded: counts.loaded, failed: counts.failed, waiting: counts.waiting, unchanged: counts.unchanged, skipped: counts.skipped, gone: counts.gone };
  for (const [outcome, value] of Object.entries(fileOutcomes)) files.record(value, { 'etl.file.outcome': outcome });
  const rowGauge = meter.createGauge('etl.run.rows', { unit: '{row}', description: 'Rows of the run by outcome' });
  for (const [outcome, value] of Object.entries({ read: rows.read, loaded: rows.loaded, quarantined: rows.quarantined, repaired: rows.repaired })) {
    rowGauge.record(value, { 'etl.row.outcome': outcome });
  }
  meter.createGauge('etl.run.duration', { unit: 's', description: 'Duration of the run' }).record(summary.duration_seconds);
  meter.createGauge('etl.run.exit_code', { unit: '{code}', description: "The run's exit code: 0 done, 1 could not go on, 3 objects failed" }).record(exitCode);
  meter.createGauge('etl.objects.failed', { unit: '{object}', description: 'Objects failed in the ledger after the run' }).record(counts.failed_in_ledger);
  if (summary.last_success_at !== null) {
    meter
      .createGauge('etl.last_success.time', { unit: 's', description: 'When the last successful run ended (Unix time)' })
      .record(Math.round(Date.parse(summary.last_success_at) / 1000));
  }
}

