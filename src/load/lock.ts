// One active run: a session-level advisory lock held on one dedicated connection for the whole run.
// Never through a Pool: the unlock could run on another connection, and an idle pooled connection
// may be closed, silently dropping the lock. PgBouncer in transaction mode breaks session locks.
import pg from 'pg';

/** Key of the run lock (any fixed bigint; documented in the README for operators). */
export const RUN_LOCK_KEY = 7_340_201_000;

export class RunLock {
  private readonly client: pg.Client;
  private held = false;
  private lostError: Error | undefined;
  private readonly lostListeners: Array<(error: Error) => void> = [];

  private constructor(client: pg.Client) {
    this.client = client;
    // An 'error' event without a listener would kill the process; a dead lock connection means
    // the lock is gone, so the run must stop.
    client.on('error', (error) => this.lose(error));
    client.on('end', () => {
      if (this.held) this.lose(new Error('the lock connection closed'));
    });
  }

  /** Connects and tries the lock once; returns undefined when another run holds it. */
  static async tryAcquire(connectionString: string, key = RUN_LOCK_KEY): Promise<RunLock | undefined> {
    const client = new pg.Client({ connectionString, application_name: 'etl-run-lock' });
    await client.connect();
    const lock = new RunLock(client);
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]);
    if (!rows[0]?.locked) {
      await client.end();
      return undefined;
    }
    lock.held = true;
    return lock;
  }

  /** Called once if the lock connection dies while the lock is held. */
  onLost(listener: (error: Error) => void): void {
    this.lostListeners.push(listener);
    if (this.lostError) listener(this.lostError);
  }

  get lost(): Error | undefined {
    return this.lostError;
  }

  async release(key = RUN_LOCK_KEY): Promise<boolean> {
    if (!this.held) return false;
    this.held = false;
    try {
      if (this.lostError) return false;
      const { rows } = await this.client.query<{ unlocked: boolean }>('SELECT pg_advisory_unlock($1) AS unlocked', [key]);
      return rows[0]?.unlocked === true;
    } finally {
      await this.client.end().catch(() => {});
    }
  }

  private lose(error: Error): void {
    if (this.lostError || !this.held) return;
    this.lostError = error;
    for (const listener of this.lostListeners) listener(error);
  }
}
