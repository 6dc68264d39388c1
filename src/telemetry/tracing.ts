// OpenTelemetry for a batch job. The SDK exports spans over OTLP/HTTP when the standard OTEL_*
// variables name an endpoint; without one, nothing is exported and nothing slows down.
// The batch processor's timer does not keep the process alive, so main awaits shutdownTelemetry()
// (bounded: an unreachable collector must not hold the exit or change the exit code).
import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';

let sdk: NodeSDK | undefined;

export function startTelemetry(env: NodeJS.ProcessEnv = process.env): void {
  if (sdk || env.OTEL_SDK_DISABLED === 'true') return;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return;
  sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || 'toshiba-etl',
    traceExporter: new OTLPTraceExporter(),
    instrumentations: [],
  });
  sdk.start();
}

export async function shutdownTelemetry(timeoutMs = 5000): Promise<void> {
  if (!sdk) return;
  const current = sdk;
  sdk = undefined;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    current.shutdown().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}
