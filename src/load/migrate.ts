// Plain-SQL migrations in src/load/migrations, applied in name order, each once, in a transaction.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ClientBase } from 'pg';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
// Concurrent migrations (two pods starting at once) wait for each other on this lock.
const MIGRATION_LOCK = 7_340_201_001;

export interface Migration {
  name: string;
  sql: string;
}

export function listMigrations(): Migration[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, sql: readFileSync(MIGRATIONS_DIR + name, 'utf8') }));
}

/**
 * Applies the migrations not applied yet, in `schema` (created when missing; the connection's
 * search_path points there: load/database.ts); returns their names.
 */
export async function migrate(client: ClientBase, schema = 'public'): Promise<string[]> {
  const applied: string[] = [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    // A validated identifier (config/schema.ts: sql-identifier), never data.
    if (schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS etl_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM etl_migrations')).rows.map((row) => row.name));
    for (const migration of listMigrations()) {
      if (done.has(migration.name)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO etl_migrations (name) VALUES ($1)', [migration.name]);
      applied.push(migration.name);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
  return applied;
}

/** The database's schema is older (or newer) than this etl: a read-only command cannot go on. */
export class SchemaMismatchError extends Error {
  override name = 'SchemaMismatchError';
}

/**
 * For commands that only read (status, rejects, plan, check) and must never run DDL: throws
 * SchemaMismatchError when migrations are missing (run `etl migrate`) or the database holds
 * migrations this etl does not know (an older image against a newer schema).
 */
export async function requireCurrentSchema(client: ClientBase): Promise<void> {
  const { pending, unknown } = await schemaState(client);
  if (pending.length > 0) {
    throw new SchemaMismatchError(
      pending.length === listMigrations().length
        ? 'the database has no etl tables yet: run `etl migrate` (or `etl run`) with a role that may create tables'
        : `the database schema is behind this etl: ${pending.length} migration(s) not applied (${pending.join(', ')}); run \`etl migrate\` with a role that may change the schema`,
    );
  }
  if (unknown.length > 0) {
    throw new SchemaMismatchError(`the database schema is newer than this etl (migrations it does not know: ${unknown.join(', ')}); use the etl version that applied them`);
  }
}

/** Migrations not applied yet, and applied ones this etl does not know; reads only. */
export async function schemaState(client: ClientBase): Promise<{ pending: string[]; unknown: string[] }> {
  const exists = (await client.query<{ t: string | null }>(`SELECT to_regclass('etl_migrations')::text AS t`)).rows[0]!.t !== null;
  const applied = exists ? (await client.query<{ name: string }>('SELECT name FROM etl_migrations')).rows.map((row) => row.name) : [];
  const known = listMigrations().map((migration) => migration.name);
  return { pending: known.filter((name) => !applied.includes(name)), unknown: applied.filter((name) => !known.includes(name)) };
}
