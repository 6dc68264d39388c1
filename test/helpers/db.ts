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

/**
 * Starts `count` workers of one shared run (via `start`) while the database's ledger writes are
 * held, so that none of them can finish a batch before all have joined the run; then lets them go.
 * Without it a worker whose process starts late on a busy machine may find the run already over.
 */
export async function allJoined<T>(url: string, count: number, start: () => Promise<T>): Promise<T> {
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  try {
    // Reads go on (planning), writes of etl_files (each batch's ledger rows) wait.
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE etl_files IN EXCLUSIVE MODE');
    const running = start();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const joined = (await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM etl_run_workers'))[0]!.n;
      if (joined >= count) break;
      if (Date.now() > deadline) throw new Error(`only ${joined} of ${count} workers joined the run within 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await holder.query('ROLLBACK');
    return await running;
  } finally {
    await holder.end();
  }
}
