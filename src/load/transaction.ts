// The statements that open and end a transaction, and the one that cancels another session's
// statement: the pipeline names what it does (begin, commit, roll back, cancel), SQL stays here.
import type { ClientBase } from 'pg';

export async function begin(client: ClientBase): Promise<void> {
  await client.query('BEGIN');
}

export async function commit(client: ClientBase): Promise<void> {
  await client.query('COMMIT');
}

/** A point inside the open transaction to roll back to (rollbackToSavepoint), keeping what came before. */
export async function savepoint(client: ClientBase): Promise<void> {
  await client.query('SAVEPOINT etl_direct_copy');
}

export async function rollbackToSavepoint(client: ClientBase): Promise<void> {
  await client.query('ROLLBACK TO SAVEPOINT etl_direct_copy');
}

/** Rolls back whatever is open; never throws (the connection may be the thing that failed). */
export async function rollback(client: ClientBase): Promise<void> {
  await client.query('ROLLBACK').catch(() => {});
}

/** Asks Postgres to cancel the statement that backend `pid` runs (a merge in flight, on a stop). */
export async function cancelBackend(client: ClientBase, pid: number): Promise<void> {
  await client.query('SELECT pg_cancel_backend($1)', [pid]);
}
