// Connecting to Postgres with errors a person can act on.
import pg from 'pg';
import { redactUrl } from '../config/load.ts';

/** The database cannot be reached or refuses us; the message names it (without the password). */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

// node-postgres returns int8 (bigint, count(*)) as strings; every count here fits a JS number.
pg.types.setTypeParser(20, (value) => Number(value));
// timestamp without time zone stays text ('2023-04-05 13:22:10'): a JS Date would shift it by the
// machine's time zone.
pg.types.setTypeParser(1114, (value) => value);

export async function connectDatabase(url: string, applicationName: string): Promise<pg.Client> {
  if (!url) throw new DatabaseUnavailableError('No database is configured: set pg_conn_string (DATABASE_URL) to a postgresql:// URL.');
  const client = new pg.Client({ connectionString: url, application_name: applicationName, connectionTimeoutMillis: 15_000 });
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
