// The source the ledger belongs to (etl_source, migration 003). Keys in etl_files and the lineage
// columns are relative to it. A run on the same source keys objects as they are listed; a run on
// a source inside it (a narrower prefix, a sub-folder) keys them with the part in between, and
// touches nothing outside that part; any other source is refused (a schema of its own is the way
// to load another source into the same database: config database_schema).
import type { ClientBase } from 'pg';

/** The configured source is not the ledger's source nor inside it. */
export class SourceMismatchError extends Error {
  override name = 'SourceMismatchError';
}

export async function readSourceRoot(client: ClientBase): Promise<string | undefined> {
  return (await client.query<{ root: string }>('SELECT root FROM etl_source')).rows[0]?.root;
}

/** The first run on a ledger (or the first after migration 003) records the source it loads. */
export async function recordSourceRoot(client: ClientBase, root: string): Promise<void> {
  await client.query('INSERT INTO etl_source (root) VALUES ($1) ON CONFLICT (singleton) DO NOTHING', [root]);
}

/**
 * The prefix that turns the configured source's keys into ledger keys: '' for the ledger's own
 * source (or when none is recorded yet), 'sub/' for a source inside it.
 */
export function ledgerPrefix(ledgerRoot: string | undefined, root: string, schema: string): string {
  if (ledgerRoot === undefined || ledgerRoot === root) return '';
  if (root.startsWith(ledgerRoot)) return root.slice(ledgerRoot.length);
  throw new SourceMismatchError(
    `the ledger in schema "${schema}" belongs to ${ledgerRoot}, and source ${root} is not inside it: loading it would mark that source's objects gone. ` +
      'Use that source (or a prefix or folder inside it), or give this source a schema of its own (database_schema, ETL_DATABASE_SCHEMA).',
  );
}
