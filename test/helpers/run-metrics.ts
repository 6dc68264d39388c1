// A folder of exports with one object that fails (no SR Number), a fresh database, and the
// environment of runs that send their metrics to the test Prometheus under a service name of
// their own: what the metrics and dashboard tests run the CLI with.
import type { TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateExports, writeExports, type Expected } from '../../src/sample/generator.ts';
import { freshDatabase, prometheusUrl } from './services.ts';

export interface MetricsWorkspace {
  env: Record<string, string>;
  /** The source folder. */
  dir: string;
  expected: Expected;
  /** OTEL_SERVICE_NAME of the runs: Prometheus's job label. */
  service: string;
  /** The object that fails (no SR Number). */
  failedKey: string;
}

/** Removed when the test ends. */
export async function metricsWorkspace(t: TestContext, prefix: string, seed: number): Promise<MetricsWorkspace> {
  const db = await freshDatabase({ prefix });
  const dir = await mkdtemp(path.join(tmpdir(), `etl-${prefix}-`));
  const stateDir = await mkdtemp(path.join(tmpdir(), `etl-${prefix}-state-`));
  t.after(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  });
  const { objects, expected } = generateExports({ seed, files: 6, rowsPerFile: 40 }); // one object without SR Number
  await writeExports(dir, objects);
  const service = `etl-${prefix}-${process.pid}-${Date.now().toString(36)}`;
  const env = {
    ETL_SOURCE: dir,
    DATABASE_URL: db.url,
    ETL_STATE_DIR: stateDir,
    OTEL_SERVICE_NAME: service,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${prometheusUrl()}/api/v1/otlp/v1/metrics`,
  };
  return { env, dir, expected, service, failedKey: expected.files.find((file) => file.status === 'failed')!.key };
}
