// Whether the services named in a TestEnv answer right now.
import { accessSync, constants, existsSync } from 'node:fs';
import { kubernetesAnswers } from './kubernetes.ts';
import { answers } from './postgres.ts';
import { httpOk } from './process.ts';
import type { TestEnv } from './env-file.ts';

/** True when GET url gets any HTTP answer within 2 s. */
export async function httpAnswers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** One entry per service that does not answer, with what was tried; empty when all answer. */
export async function unreachable(env: TestEnv): Promise<string[]> {
  const checks: Array<[string, Promise<boolean>]> = [
    [`Postgres at ${env.TEST_DATABASE_URL.replace(/:[^:@/]*@/, ':***@')}`, answers(env.TEST_DATABASE_URL)],
    [`MinIO at ${env.TEST_S3_ENDPOINT}`, httpOk(`${env.TEST_S3_ENDPOINT}/minio/health/live`)],
    [`Jaeger query at ${env.TEST_JAEGER_URL}`, httpOk(`${env.TEST_JAEGER_URL}/api/services`)],
    [`Jaeger OTLP at ${env.TEST_OTLP_ENDPOINT}`, httpAnswers(`${env.TEST_OTLP_ENDPOINT}/v1/traces`)],
    [`helm at ${env.TEST_HELM_BIN}`, Promise.resolve(executable(env.TEST_HELM_BIN))],
    [`kubectl at ${env.TEST_KUBECTL_BIN}`, Promise.resolve(executable(env.TEST_KUBECTL_BIN))],
    [`kubernetes-validate at ${env.TEST_KUBERNETES_VALIDATE_BIN}`, Promise.resolve(executable(env.TEST_KUBERNETES_VALIDATE_BIN))],
    [`Prometheus at ${env.TEST_PROMETHEUS_URL}`, httpOk(`${env.TEST_PROMETHEUS_URL}/-/ready`)],
    [`Kubernetes (API server and node) of ${env.TEST_KUBECONFIG}`, kubernetesAnswers(env.TEST_KUBECONFIG)],
    [`the image archive ${env.TEST_IMAGE_ARCHIVE}`, Promise.resolve(existsSync(env.TEST_IMAGE_ARCHIVE))],
  ];
  const results = await Promise.all(checks.map(([, check]) => check));
  return checks.filter((_, i) => !results[i]).map(([name]) => name);
}
