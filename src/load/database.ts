// Connecting to Postgres with errors a person can act on.
import pg from 'pg';
import { redactUrl, type Settings } from '../config/load.ts';

/** The database cannot be reached or refuses us; the message names it (without the password). */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

// node-postgres returns int8 (bigint, count(*)) as strings; every count here fits a JS number.
pg.types.setTypeParser(20, (value) => Number(value));
// timestamp without time zone stays text ('2023-04-05 13:22:10'): a JS Date would shift it by the
// machine's time zone.
pg.types.setTypeParser(1114, (value) => value);

/** Timeouts for one connection; without them (read-only commands), Postgres's own apply. */
export interface ConnectionTimeouts {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
}

const KEEPALIVE_DELAY_MS = 30_000;

/**
 * The client-side bound on one statement: the server's statement_timeout cannot fire when the
 * connection itself stalls (a proxy that stops forwarding, packets dropped silently), so past this
 * the client gives the connection up.
 */
export function readTimeoutMs(timeouts: ConnectionTimeouts): number {
  return Math.round(timeouts.statementTimeoutMs * 1.1 + 5_000);
}

/**
 * The pg.Client settings for a connection of this runner. `schema` (config database_schema) is
 * where its tables are: every statement names tables without a schema, so the search_path decides.
 */
export function clientConfig(url: string, applicationName: string, timeouts?: ConnectionTimeouts, schema = 'public'): pg.ClientConfig {
  return {
    connectionString: url,
    application_name: applicationName,
    // A validated identifier (config/schema.ts: sql-identifier), so it needs no quoting.
    ...(schema !== 'public' && { options: `-c search_path=${schema}` }),
    connectionTimeoutMillis: 15_000,
    // A dead peer (a server that vanished, a cut network) is noticed instead of waited on.
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    ...(timeouts && {
      statement_timeout: timeouts.statementTimeoutMs,
      lock_timeout: timeouts.lockTimeoutMs,
      idle_in_transaction_session_timeout: timeouts.idleInTransactionTimeoutMs,
      query_timeout: readTimeoutMs(timeouts),
    }),
  };
}

export async function connectDatabase(url: string, applicationName: string, timeouts?: ConnectionTimeouts, schema?: string): Promise<pg.Client> {
  if (!url) throw new DatabaseUnavailableError('No database is configured: set pg_conn_string (DATABASE_URL) to a postgresql:// URL.');
  const client = new pg.Client(clientConfig(url, applicationName, timeouts, schema));
  // Without a listener an error event (server restart, network cut) would kill the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new DatabaseUnavailableError(`Cannot connect to the database at ${redactUrl(url)}: ${describe(error)}. Check pg_conn_string (DATABASE_URL) and that the server is running.`);
  }
  return client;
}

function describe(error: unknown): string {
  const err = error as { code?: string; message?: string };
  if (err.code === 'ECONNREFUSED') return 'the connection was refused';
  if (err.code === 'ENOTFOUND') return 'the host name does not resolve';
  if (err.code === '28P01') return 'the password was rejected';
  if (err.code === '3D000') return 'the database does not exist';
  return (err.message ?? String(error)).split('\n')[0]!.replace(/\.$/, '');
}

/**
 * A command's connection: opened with the configured timeouts and schema, and closed however
 * `use` ends (an error, a source that cannot be opened), without waiting on a dead connection.
 */
export async function withDatabase<T>(
  settings: Pick<Settings, 'databaseUrl' | 'database' | 'databaseSchema'>,
  applicationName: string,
  use: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connectDatabase(settings.databaseUrl, applicationName, settings.database, settings.databaseSchema);
  try {
    return await use(client);
  } finally {
    await closeClient(client);
  }
}

/**
 * Closes a connection without waiting on a dead one: a connection that stopped answering (a stalled
 * network) would hold end() forever, so after a few seconds its socket is dropped.
 */
export async function closeClient(client: pg.Client | undefined): Promise<void> {
  if (!client) return;
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_WAIT_MS)));
  const ended = await Promise.race([client.end().then(() => 'ended' as const, () => 'ended' as const), gaveUp]);
  clearTimeout(timer);
  if (ended === 'timeout') (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

const CLOSE_WAIT_MS = 5_000;
