// Quarantined rows (etl_rejects) and recorded value issues (etl_value_issues), taken from a
// batch's staging records in the same transaction as its rows and ledger rows.
//
// Both are kept per object version. A load replaces everything the object had; a failed attempt
// at a new version replaces only its own earlier attempts, so the quarantine and value issues of
// the version whose rows are in the tables (etl_files.loaded_version) are never lost. Staging
// records name their object by object_index (1-based, into the batch's arrays of keys and versions).
import type { ClientBase } from 'pg';
import type { SourceObject } from '../sources/source.ts';
import { EXTRAS_STAGE, QUARANTINED_ROW, VALUE_ISSUES } from './staging.ts';

/** $1 keys and $2 versions by object_index; $3 the object_index values to take. */
const INSERT_STAGED_REJECTS = `INSERT INTO etl_rejects (object_key, version, line_number, raw, raw_bytes, reason, detail)
  SELECT ($1::text[])[object_index], ($2::text[])[object_index], line_number, raw_text, raw, reason, detail
  FROM ${EXTRAS_STAGE} WHERE ${QUARANTINED_ROW} AND object_index = ANY ($3::int[])`;

const INSERT_STAGED_ISSUES = `INSERT INTO etl_value_issues (object_key, version, line_number, column_name, raw_value)
  SELECT ($1::text[])[object_index], ($2::text[])[object_index], line_number, issue_column, issue_value
  FROM ${EXTRAS_STAGE} WHERE ${VALUE_ISSUES} AND object_index = ANY ($3::int[])`;

/** A batch's objects by object_index (1-based). */
export interface StagedObjects {
  keys: ReadonlyArray<string | null>;
  versions: ReadonlyArray<string | null>;
}

/** The objects loaded: their quarantine and value issues become these versions', nothing else's. */
export async function replaceWithStaged(client: ClientBase, staged: StagedObjects, loaded: readonly number[]): Promise<void> {
  if (loaded.length === 0) return;
  const keys = loaded.map((index) => staged.keys[index - 1]);
  await client.query('DELETE FROM etl_rejects WHERE object_key = ANY ($1::text[])', [keys]);
  await client.query('DELETE FROM etl_value_issues WHERE object_key = ANY ($1::text[])', [keys]);
  await client.query(INSERT_STAGED_REJECTS, [staged.keys, staged.versions, loaded]);
  await client.query(INSERT_STAGED_ISSUES, [staged.keys, staged.versions, loaded]);
}

/**
 * A failed attempt whose quarantined rows explain the failure (too many of them, an unreadable
 * object): they are kept for `etl rejects`, replacing earlier failed attempts' only. The loaded
 * version's own rows are left as they are, and nothing is added when the attempt was at that version.
 */
export async function keepFailedAttempt(client: ClientBase, object: SourceObject, index: number): Promise<void> {
  const loaded = await client.query<{ loaded_version: string | null }>('SELECT loaded_version FROM etl_files WHERE object_key = $1', [object.key]);
  const loadedVersion = loaded.rows[0]?.loaded_version ?? null;
  if (loadedVersion === object.version) return;
  await client.query('DELETE FROM etl_rejects WHERE object_key = $1 AND version IS DISTINCT FROM $2', [object.key, loadedVersion]);
  const keys: Array<string | null> = Array.from({ length: index }, () => null);
  const versions = [...keys];
  keys[index - 1] = object.key;
  versions[index - 1] = object.version;
  await client.query(INSERT_STAGED_REJECTS, [keys, versions, [index]]);
}
