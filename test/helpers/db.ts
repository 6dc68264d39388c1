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
