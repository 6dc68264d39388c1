// Access to the real services the tests run against (started by `npm test` or
// `npm run services:up`, described by the TEST_* variables). A missing variable is an error
// that says how to fix it: tests never skip silently.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type ServiceVar =
  | 'TEST_DATABASE_URL'
  | 'TEST_S3_ENDPOINT'
  | 'TEST_S3_ACCESS_KEY'
  | 'TEST_S3_SECRET_KEY'
  | 'TEST_OTLP_ENDPOINT'
  | 'TEST_JAEGER_URL'
  | 'TEST_HELM_BIN'
  | 'TEST_KUBECTL_BIN'
  | 'TEST_KUBERNETES_VALIDATE_BIN'
  | 'TEST_PROMETHEUS_URL'
  | 'TEST_KUBECONFIG'
  | 'TEST_IMAGE_ARCHIVE';

/** The value of a TEST_* variable; throws with the fix when it is not set. */
export function requireService(name: ServiceVar): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run \`npm test\` (starts every service) or \`npm run services:up && source .services.env\``);
  }
  return value;
}

/** Superuser URL of a server where tests may CREATE DATABASE. Prefer freshDatabase(). */
export const databaseUrl = (): string => requireService('TEST_DATABASE_URL');

/** S3 (MinIO) connection settings, in the shape @aws-sdk/client-s3 takes. */
export function s3Settings(): { endpoint: string; region: string; forcePathStyle: true; credentials: { accessKeyId: string; secretAccessKey: string } } {
  return {
    endpoint: requireService('TEST_S3_ENDPOINT'),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: requireService('TEST_S3_ACCESS_KEY'), secretAccessKey: requireService('TEST_S3_SECRET_KEY') },
  };
}

/** OTLP HTTP base URL (the SDK appends /v1/traces). */
export const otlpEndpoint = (): string => requireService('TEST_OTLP_ENDPOINT');
/** Jaeger query base URL (GET /api/services, /api/traces?service=...). */
export const jaegerUrl = (): string => requireService('TEST_JAEGER_URL');
/** Prometheus base URL: OTLP/HTTP metrics go to /api/v1/otlp/v1/metrics, queries to /api/v1/query. */
export const prometheusUrl = (): string => requireService('TEST_PROMETHEUS_URL');
export const helmBin = (): string => requireService('TEST_HELM_BIN');
export const kubectlBin = (): string => requireService('TEST_KUBECTL_BIN');
/** Admin kubeconfig of the local cluster (kube-apiserver v1.34.4 and one real node). */
export const kubeconfigFile = (): string => requireService('TEST_KUBECONFIG');
/** The only image the local node has (no registry is reachable): without arguments it pauses, with arguments it prints them and exits 0. */
export { NODE_IMAGE as localNodeImage } from '../../scripts/lib/kubernetes.ts';

export interface FreshDatabase {
  /** URL of the new database (same server and credentials as TEST_DATABASE_URL). */
  url: string;
  name: string;
  /** Drops the database, closing any connection still open to it. Safe to call twice. */
  drop(): Promise<void>;
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Creates a uniquely named, empty database on TEST_DATABASE_URL's server.
 * Use `t.after(() => db.drop())` (or `after`) so it goes away with the test.
 */
export async function freshDatabase(options: { prefix?: string; template?: string; icuLocale?: string; encoding?: string } = {}): Promise<FreshDatabase> {
  const prefix = (options.prefix ?? 'test').toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30);
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  await withAdmin(async (client) => {
    // A linguistic collation (ICU, e.g. en-US) as production databases often have: from template0.
    // Another encoding than UTF8 (LATIN1, say), as some older databases have: from template0, C locale.
    const template = options.icuLocale !== undefined || options.encoding !== undefined ? ' TEMPLATE template0' : options.template === undefined ? '' : ` TEMPLATE ${client.escapeIdentifier(options.template)}`;
    const locale =
      options.encoding !== undefined
        ? ` ENCODING ${client.escapeLiteral(options.encoding)} LOCALE 'C'`
        : options.icuLocale === undefined
          ? ''
          : ` LOCALE_PROVIDER icu ICU_LOCALE ${client.escapeLiteral(options.icuLocale)} LOCALE 'C.UTF-8'`;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${template}${locale}`);
  });
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`));
      dropped = true;
    },
  };
}
