// Reading a test database the way a person checks a load: one query at a time, and the row
// counts of the five target tables.
import pg from 'pg';

export const TABLES = ['customers', 'service_requests', 'tasks', 'parts_used', 'sr_notes'] as const;

export async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export async function tableCounts(url: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TABLES) counts[table] = Number((await query<{ n: string }>(url, `SELECT count(*) AS n FROM ${table}`))[0]!.n);
  return counts;
}

/**
 * Runs `use` with the URL of a new login role that may only read the database of `url` (SELECT on
 * its tables, every transaction read-only), as an analyst's or a dashboard's role is; the role is
 * dropped afterwards.
 */
export async function withReadOnlyRole<T>(url: string, name: string, use: (readerUrl: string) => Promise<T>): Promise<T> {
  const role = `${name}_${process.pid}`;
  await query(url, `CREATE ROLE ${role} LOGIN PASSWORD 'reader' NOINHERIT`);
  try {
    await query(url, `GRANT USAGE ON SCHEMA public TO ${role}`);
    await query(url, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    await query(url, `ALTER ROLE ${role} SET default_transaction_read_only = on`);
    const reader = new URL(url);
    reader.username = role;
    reader.password = 'reader';
    return await use(reader.toString());
  } finally {
    await query(url, `DROP OWNED BY ${role}`);
    await query(url, `DROP ROLE ${role}`);
  }
}
