// The `.services.env` file: `export NAME='value'` lines that `source` and scripts/test.ts read.
import { readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';

/** Every variable the tests read; scripts/services.ts writes all of them. */
export const TEST_VARS = [
  'TEST_DATABASE_URL',
  'TEST_S3_ENDPOINT',
  'TEST_S3_ACCESS_KEY',
  'TEST_S3_SECRET_KEY',
  'TEST_OTLP_ENDPOINT',
  'TEST_JAEGER_URL',
  'TEST_HELM_BIN',
  'TEST_KUBECTL_BIN',
  'TEST_KUBERNETES_VALIDATE_BIN',
  'TEST_PROMETHEUS_URL',
  'TEST_KUBECONFIG',
  'TEST_IMAGE_ARCHIVE',
] as const;

export type TestVar = (typeof TEST_VARS)[number];
export type TestEnv = Record<TestVar, string>;

function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function writeEnvFile(file: string, env: TestEnv, header: string): void {
  const lines = [`# ${header}`, ...TEST_VARS.map((name) => `export ${name}=${quote(env[name])}`), ''];
  writeFileSync(`${file}.partial`, lines.join('\n'));
  renameSync(`${file}.partial`, file);
}

/** Reads the variables back; undefined when the file is missing or lacks one of them. */
export function readEnvFile(file: string): TestEnv | undefined {
  if (!existsSync(file)) return undefined;
  const found: Partial<Record<string, string>> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^export ([A-Z0-9_]+)='((?:[^']|'\\'')*)'$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) found[match[1]] = match[2].replaceAll(`'\\''`, "'");
  }
  const env: Partial<TestEnv> = {};
  for (const name of TEST_VARS) {
    const value = found[name];
    if (value === undefined) return undefined;
    env[name] = value;
  }
  return env as TestEnv;
}

/** The variables from the environment, or undefined when any is missing or empty. */
export function envFromProcess(source: NodeJS.ProcessEnv = process.env): TestEnv | undefined {
  const env: Partial<TestEnv> = {};
  for (const name of TEST_VARS) {
    const value = source[name];
    if (value === undefined || value === '') return undefined;
    env[name] = value;
  }
  return env as TestEnv;
}
