// Merging the staged rows of a batch of objects into the five tables. Within the batch the later
// row wins: DISTINCT ON ... object_index DESC, line_number DESC, objects being indexed oldest
// first (the parse worker already stages one record per key and table, the latest, unless the
// batch was too large to hold whole); against the tables the row from the most recently modified
// object wins, ties to the greater key compared
// byte by byte (COLLATE "C", as the spec says, whatever the database's collation: under en-US,
// 'B.csv' would sort after 'a.csv'), decided by the lineage columns, so any load order, or a
// second load, gives the same tables. Rows are inserted in key order so that concurrent merges
// lock rows in the same order.
import type { ClientBase } from 'pg';
import { stagedColumns, stageOf } from './staging.ts';
import { TARGET_TABLES, type TargetTable } from './target-tables.ts';

// Sorting by bytes (COLLATE "C") picks the same rows as the database's collation would (equal
// means byte-equal for both) and is several times cheaper than a linguistic collation such as
// en_US.UTF-8, which production databases often have.
const NOT_TEXT = new Set(['note_date']);
const sortKey = (table: TargetTable) => table.key.map((column) => (NOT_TEXT.has(column) ? column : `${column} COLLATE "C"`)).join(', ');

/**
 * The upsert of one table; $1 = the batch's object keys and $2 their modification times, by
 * object_index (1-based). Built from constants only.
 * A row the same object key wrote before is always replaced, whatever the modification times: an
 * object rewritten with an older time (cp -p, rsync -a, a restore) replaces its own rows instead of
 * being recorded loaded with nothing applied. Rows of other objects follow latest-wins. (Objects
 * batched with others have no rows in the tables yet, pipeline/batches.ts: the rule matters only
 * to an object loaded on its own.)
 */
export function mergeSql(table: TargetTable): string {
  const all = stagedColumns(table);
  return `INSERT INTO ${table.name} AS t (${all.join(', ')}, source_object, source_modified, source_line)
SELECT DISTINCT ON (${sortKey(table)}) ${all.join(', ')}, ($1::text[])[object_index], ($2::timestamptz[])[object_index], line_number
FROM ${stageOf(table)}
ORDER BY ${sortKey(table)}, object_index DESC, line_number DESC
ON CONFLICT ${table.conflict} DO UPDATE SET
  ${[...table.columns, 'source_object', 'source_modified', 'source_line'].map((column) => `${column} = excluded.${column}`).join(',\n  ')},
  loaded_at = now()
WHERE t.source_object = excluded.source_object
   OR (excluded.source_modified, excluded.source_object COLLATE "C") >= (t.source_modified, t.source_object COLLATE "C")`;
}

// Customers last: every export repeats most customers, so two objects merging at once always
// share customer rows, and the second waits for the first to commit. Merged last, those row locks
// are held only for the short rest of the transaction (ledger row, COMMIT), not through the other
// four merges. (The load order keeps concurrent objects from sharing the other tables' rows.)
const MERGE_ORDER = [...TARGET_TABLES.filter((table) => table.name !== 'customers'), ...TARGET_TABLES.filter((table) => table.name === 'customers')];
const MERGES = MERGE_ORDER.map((table) => ({ table: table.name, sql: mergeSql(table) }));

/**
 * Runs the five upserts of a batch whose objects (by object_index - 1, oldest first) are
 * `objects`; returns rows inserted or updated per table.
 */
export async function mergeStaged(client: ClientBase, objects: ReadonlyArray<{ key: string; lastModified: Date }>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const keys = objects.map((object) => object.key);
  const modified = objects.map((object) => object.lastModified);
  for (const merge of MERGES) {
    const result = await client.query(merge.sql, [keys, modified]);
    counts[merge.table] = result.rowCount ?? 0;
  }
  return counts;
}
