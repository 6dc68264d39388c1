// OpenTelemetry for a batch job.
//
// A tracer provider is always installed (unless OTEL_SDK_DISABLED=true), so every run has a trace
// id for its log lines and its summary file, even when nothing is exported: spans are then
// recorded and dropped as they end (no network, no queue, no slowdown). Spans are exported over
// OTLP/HTTP only when the standard variables ask for it:
//   OTEL_EXPORTER_OTLP_ENDPOINT         base URL, e.g. http://jaeger:4318 (the SDK appends /v1/traces)
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  full URL, used as is (must end in /v1/traces)
//   OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL  http/json (default here), http/protobuf or grpc
//   OTEL_TRACES_EXPORTER                otlp, console, zipkin or none
//   OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_BSP_*, OTEL_TRACES_SAMPLER, ...
// The resource: service.name (toshiba-etl unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
// says otherwise), service.version from package.json, and the Kubernetes pod, namespace, node and
// Job names from OTEL_RESOURCE_ATTRIBUTES (the Helm chart sets them from the downward API) or from
// K8S_POD_NAME / POD_NAME, K8S_NAMESPACE_NAME / POD_NAMESPACE, K8S_NODE_NAME / NODE_NAME,
// K8S_JOB_NAME / JOB_NAME.
//
// The batch span processor's timer does not keep the process alive: main awaits
// shutdownTelemetry() before it exits, bounded in time so that an unreachable collector neither
// holds the exit nor changes the exit code.
//
// Loading @opentelemetry/sdk-node costs more than a second (it brings every exporter, gRPC
// included), so it is loaded only when spans are exported; without an exporter a bare tracer
// provider and context manager are installed instead.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { context, diag, DiagLogLevel, trace, type Attributes, type DiagLogger } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { defaultResource, detectResources, resourceAttributesEnvDetector, resourceFromAttributes, serviceNameEnvDetector, type Resource } from '@opentelemetry/resources';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import type * as SdkNode from '@opentelemetry/sdk-node';
import type * as OtlpHttp from '@opentelemetry/exporter-trace-otlp-http';
import { withoutCredentials } from '../secrets.ts';

const require = createRequire(import.meta.url);

export const DEFAULT_SERVICE_NAME = 'toshiba-etl';
/** Longest wait for the last spans to be sent before the process exits. */
export const DEFAULT_FLUSH_TIMEOUT_MS = 5000;

type Env = Record<string, string | undefined>;

/** How spans leave the process. */
export type ExportMode =
  /** Spans are recorded (trace ids exist) but go nowhere. */
  | 'none'
  /** OTLP over HTTP with JSON bodies (@opentelemetry/exporter-trace-otlp-http). */
  | 'otlp-http'
  /** Another exporter or protocol named by OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_PROTOCOL: the SDK builds it. */
  | 'sdk-env';

export interface TelemetryState {
  /** A tracer provider is installed: spans have real trace ids. */
  enabled: boolean;
  exportMode: ExportMode;
  /** Where spans go, for messages (never carries headers). */
  endpoint?: string;
}

export type FlushOutcome = 'not-started' | 'flushed' | 'failed' | 'timed-out';

let sdk: { shutdown(): Promise<void> } | undefined;
let state: TelemetryState = { enabled: false, exportMode: 'none' };

/**
 * Starts tracing once; later calls return the state of the first. Never throws. Reads
 * process.env (the SDK itself reads the OTEL_* variables from there too).
 */
export function startTelemetry(): TelemetryState {
  const env = process.env;
  if (sdk || state.enabled) return state;
  if (isTrue(env.OTEL_SDK_DISABLED)) return state;
  try {
    const exportMode = chooseExportMode(env);
    if (env.OTEL_LOG_LEVEL === undefined) diag.setLogger(stderrDiagLogger(), DiagLogLevel.ERROR);
    const resource = defaultResource().merge(resourceFromAttributes(baseResourceAttributes(env)));
    if (exportMode === 'none') {
      // Spans are recorded for their ids (logs, summary) and dropped when they end.
      const contextManager = new AsyncLocalStorageContextManager().enable();
      context.setGlobalContextManager(contextManager);
      const provider = new TracerProvider({ resource: telemetryResource(env), spanProcessors: [] });
      trace.setGlobalTracerProvider(provider);
      sdk = provider;
    } else {
      const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof SdkNode;
      const config: Partial<SdkNode.NodeSDKConfiguration> = {
        resource,
        instrumentations: [],
        // This job has no metrics and logs through pino: no OTLP metric or log exporters.
        metricReaders: [],
        logRecordProcessors: [],
      };
      // 'sdk-env': no exporter is given, so the SDK reads OTEL_TRACES_EXPORTER and the protocol itself.
      if (exportMode === 'otlp-http') {
        const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof OtlpHttp;
        config.traceExporter = new OTLPTraceExporter();
      }
      const started = new NodeSDK(config);
      started.start();
      sdk = started;
    }
    state = { enabled: true, exportMode, endpoint: exportMode === 'none' ? undefined : describeEndpoint(env) };
  } catch (error) {
    warn(`tracing is off: the OpenTelemetry SDK did not start (${error instanceof Error ? error.message : String(error)})`);
  }
  return state;
}

export function telemetryState(): TelemetryState {
  return state;
}

/**
 * Ends every span processor, which sends the spans still queued. Resolves within `timeoutMs`
 * whatever the collector does; a failure is reported once on stderr and never thrown.
 */
export async function shutdownTelemetry(timeoutMs = DEFAULT_FLUSH_TIMEOUT_MS): Promise<FlushOutcome> {
  if (!sdk) return 'not-started';
  const current = sdk;
  sdk = undefined;
  let timer: NodeJS.Timeout | undefined;
  let gaveUp = false;
  const outcome = await Promise.race([
    current.shutdown().then(
      (): FlushOutcome => 'flushed',
      (error: unknown): FlushOutcome => {
        if (!gaveUp) warn(`could not send the run's spans to ${state.endpoint ?? 'the trace exporter'}: ${error instanceof Error ? error.message : String(error)}`);
        return 'failed';
      },
    ),
    new Promise<FlushOutcome>((resolve) => {
      timer = setTimeout(() => resolve('timed-out'), timeoutMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  gaveUp = true;
  if (outcome === 'timed-out') warn(`gave up sending the run's spans to ${state.endpoint ?? 'the trace exporter'} after ${timeoutMs} ms`);
  return outcome;
}

/** Which exporter the standard variables ask for (exported for tests). */
export function chooseExportMode(env: Env): ExportMode {
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '' && name !== 'null');
  if (exporters.length === 1 && exporters[0] === 'none') return 'none';
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || '').trim();
  const otlpOverJson = protocol === '' || protocol === 'http/json';
  if (exporters.length > 0) return exporters.length === 1 && exporters[0] === 'otlp' && otlpOverJson ? 'otlp-http' : 'sdk-env';
  // No exporter named: export only when an endpoint is configured.
  if (!env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT && !env.OTEL_EXPORTER_OTLP_ENDPOINT) return 'none';
  return otlpOverJson ? 'otlp-http' : 'sdk-env';
}

/**
 * The resource of the run's spans and metrics: the same the SDK builds from OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES, over baseResourceAttributes.
 */
export function telemetryResource(env: Env = process.env): Resource {
  return defaultResource()
    .merge(resourceFromAttributes(baseResourceAttributes(env)))
    .merge(detectResources({ detectors: [resourceAttributesEnvDetector, serviceNameEnvDetector] }));
}

/**
 * The lowest-priority resource attributes: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (read by
 * the SDK's environment detector) override every one of them.
 */
export function baseResourceAttributes(env: Env): Attributes {
  const attributes: Attributes = { 'service.name': DEFAULT_SERVICE_NAME };
  const version = packageVersion();
  if (version) attributes['service.version'] = version;
  const fromEnv: Array<[string, string[]]> = [
    ['k8s.pod.name', ['K8S_POD_NAME', 'POD_NAME']],
    ['k8s.namespace.name', ['K8S_NAMESPACE_NAME', 'POD_NAMESPACE']],
    ['k8s.node.name', ['K8S_NODE_NAME', 'NODE_NAME']],
    ['k8s.job.name', ['K8S_JOB_NAME', 'JOB_NAME']],
  ];
  for (const [attribute, names] of fromEnv) {
    const value = names.map((name) => env[name]).find((candidate) => candidate !== undefined && candidate !== '');
    if (value !== undefined) attributes[attribute] = value;
  }
  return attributes;
}

let cachedVersion: string | null | undefined;

/** The version in package.json (two levels above this file in src/ and in dist/). */
export function packageVersion(): string | undefined {
  if (cachedVersion === undefined) {
    try {
      const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cachedVersion = typeof manifest.version === 'string' ? manifest.version : null;
    } catch {
      cachedVersion = null;
    }
  }
  return cachedVersion ?? undefined;
}

function describeEndpoint(env: Env): string {
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : '');
  if (!url) return `the ${env.OTEL_TRACES_EXPORTER ?? 'otlp'} exporter's default endpoint`;
  return shownEndpoint(url);
}

/** An OTLP endpoint as logs show it: without user:password (as given when it does not parse). */
export function shownEndpoint(url: string): string {
  return withoutCredentials(url) ?? url;
}

function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}

// The SDK reports export failures through its diagnostic logger. Without OTEL_LOG_LEVEL it would
// print nothing; this one prints errors as JSON lines on stderr, each message once, at most five.
const warned = new Set<string>();

function warn(message: string): void {
  telemetryWarning('tracing', message);
}

/** One warning line on stderr (JSON), each message once, at most five per prefix. */
export function telemetryWarning(prefix: 'tracing' | 'metrics', message: string): void {
  const line = `${prefix}: ${message}`;
  if (warned.has(line) || [...warned].filter((seen) => seen.startsWith(`${prefix}:`)).length >= 5) return;
  warned.add(line);
  process.stderr.write(JSON.stringify({ level: 'warn', time: new Date().toISOString(), msg: line }) + '\n');
}

function stderrDiagLogger(): DiagLogger {
  const log = (message: string, ...args: unknown[]) => warn([message, ...args.map(describeArg)].join(' '));
  const ignore = () => {};
  return { error: log, warn: ignore, info: ignore, debug: ignore, verbose: ignore };
}

function describeArg(arg: unknown): string {
  if (arg instanceof Error) return arg.message;
  if (typeof arg === 'string') return arg;
  try {
    return JSON.stringify(arg);
  } catch {
    return String(arg);
  }
}
