// Quarantined rows (etl_rejects) and recorded value issues (etl_value_issues), taken from the
// object's staging records in the same transaction as its rows and ledger row.
//
// Both are kept per object version. A load replaces everything the object had; a failed attempt
// at a new version replaces only its own earlier attempts, so the quarantine and value issues of
// the version whose rows are in the tables (etl_files.loaded_version) are never lost.
import type { ClientBase } from 'pg';
import type { SourceObject } from '../sources/source.ts';
import { EXTRAS_STAGE, QUARANTINED_ROW, VALUE_ISSUES } from './staging.ts';

const INSERT_STAGED_REJECTS = `INSERT INTO etl_rejects (object_key, version, line_number, raw, raw_bytes, reason, detail)
  SELECT $1, $2, line_number, raw_text, raw, reason, detail FROM ${EXTRAS_STAGE} WHERE ${QUARANTINED_ROW}`;

const INSERT_STAGED_ISSUES = `INSERT INTO etl_value_issues (object_key, version, line_number, column_name, raw_value)
  SELECT $1, $2, line_number, issue.column_name, issue.raw_value
  FROM ${EXTRAS_STAGE}, unnest(issue_columns, issue_values) AS issue (column_name, raw_value)
  WHERE ${VALUE_ISSUES}`;

/** The object loaded: its quarantine and value issues become this version's, nothing else's. */
export async function replaceWithStaged(client: ClientBase, object: SourceObject): Promise<void> {
  await client.query('DELETE FROM etl_rejects WHERE object_key = $1', [object.key]);
  await client.query('DELETE FROM etl_value_issues WHERE object_key = $1', [object.key]);
  await client.query(INSERT_STAGED_REJECTS, [object.key, object.version]);
  await client.query(INSERT_STAGED_ISSUES, [object.key, object.version]);
}

/**
 * A failed attempt whose quarantined rows explain the failure (too many of them, an unreadable
 * object): they are kept for `etl rejects`, replacing earlier failed attempts' only. The loaded
 * version's own rows are left as they are, and nothing is added when the attempt was at that version.
 */
export async function keepFailedAttempt(client: ClientBase, object: SourceObject): Promise<void> {
  const loaded = await client.query<{ loaded_version: string | null }>('SELECT loaded_version FROM etl_files WHERE object_key = $1', [object.key]);
  const loadedVersion = loaded.rows[0]?.loaded_version ?? null;
  if (loadedVersion === object.version) return;
  await client.query('DELETE FROM etl_rejects WHERE object_key = $1 AND version IS DISTINCT FROM $2', [object.key, loadedVersion]);
  await client.query(INSERT_STAGED_REJECTS, [object.key, object.version]);
}
