// One active run: a session-level advisory lock held on one dedicated connection for the whole run.
// Never through a Pool: the unlock could run on another connection, and an idle pooled connection
// may be closed, silently dropping the lock. PgBouncer in transaction mode breaks session locks.
// While the run goes on, the connection is asked a question every so often: a connection that
// died or stopped answering (a cut network, a stalled proxy) means the lock may be gone, and the
// run stops before another run could overlap it.
//
// A shared run (config run_id: several worker processes, one run) holds the same key in share
// mode, once per worker: a run of its own (exclusive) cannot start while any worker is alive, and
// a worker can tell whether it is the last one. Workers join and leave one at a time, under a
// second advisory key (JOIN_LOCK_CLASS), so that deciding "plan, join, or step aside" and "the
// last one out closes the run" never race.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { clientConfig, closeClient, type ConnectionTimeouts } from './database.ts';

/** Key of the run lock of the public schema (any fixed bigint; documented in the README for operators). */
export const RUN_LOCK_KEY = 7_340_201_000;

/** The run lock of an install whose tables are in `schema`: installs in other schemas run at the same time. */
export function runLockKey(schema = 'public'): number {
  return schema === 'public' ? RUN_LOCK_KEY : RUN_LOCK_KEY + 1 + createHash('sha256').update(schema).digest().readUInt32BE(0);
}

/** The first half of the two-int advisory key that workers of shared runs join and leave under (a key space apart from the run lock's). */
const JOIN_LOCK_CLASS = 7_340_202;

function joinKey(key: number): [number, number] {
  return [JOIN_LOCK_CLASS, key % 2_147_483_647];
}

export class RunLock {
  private readonly client: pg.Client;
  private readonly key: number;
  private held = false;
  private lostError: Error | undefined;
  private readonly lostListeners: Array<(error: Error) => void> = [];
  private watchdog: NodeJS.Timeout | undefined;

  /** Held in share mode, by one worker of a shared run. */
  private readonly shared: boolean;

  private constructor(client: pg.Client, key: number, shared = false) {
    this.client = client;
    this.key = key;
    this.shared = shared;
    // An 'error' event without a listener would kill the process; a dead lock connection means
    // the lock is gone, so the run must stop.
    client.on('error', (error) => this.lose(error));
    client.on('end', () => {
      if (this.held) this.lose(new Error('the lock connection closed'));
    });
  }

  /** Connects and tries the lock once; returns undefined when another run holds it. */
  static async tryAcquire(connectionString: string, key = RUN_LOCK_KEY, timeouts?: ConnectionTimeouts): Promise<RunLock | undefined> {
    const client = new pg.Client(clientConfig(connectionString, 'etl-run-lock', timeouts));
    client.on('error', () => {}); // until the lock is set up below (a failed connect is thrown)
    await client.connect();
    const lock = new RunLock(client, key);
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]);
    if (!rows[0]?.locked) {
      await client.end();
      return undefined;
    }
    lock.held = true;
    return lock;
  }

  /**
   * A worker of a shared run: connects, waits for its turn to join, and takes the run lock in share
   * mode; `alone` when no other process held it (so no worker of any run is alive). Returns
   * undefined when a run of its own (not shared) holds it. The turn is held until endJoin(): the
   * caller decides, and plans when it must, before the next worker joins.
   */
  static async enterShared(connectionString: string, key: number, timeouts?: ConnectionTimeouts): Promise<{ lock: RunLock; alone: boolean } | undefined> {
    const client = new pg.Client(clientConfig(connectionString, 'etl-run-lock', timeouts));
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1, $2)', joinKey(key));
      const tryLock = async (sql: string) => (await client.query<{ locked: boolean }>(sql, [key])).rows[0]?.locked === true;
      const alone = await tryLock('SELECT pg_try_advisory_lock($1) AS locked');
      const joined = await tryLock('SELECT pg_try_advisory_lock_shared($1) AS locked');
      if (alone) await client.query('SELECT pg_advisory_unlock($1)', [key]);
      if (!joined) {
        await client.end();
        return undefined;
      }
      const lock = new RunLock(client, key, true);
      lock.held = true;
      return { lock, alone };
    } catch (error) {
      await closeClient(client);
      throw error;
    }
  }

  /** The next worker may join (enterShared). */
  async endJoin(): Promise<void> {
    await this.client.query('SELECT pg_advisory_unlock($1, $2)', joinKey(this.key));
  }

  /**
   * A worker of a shared run leaves: waits for its turn, and lets go of its share of the run lock;
   * true when it was the last worker alive (the caller then closes the run). The turn is held
   * until release().
   */
  async leaveShared(): Promise<boolean> {
    clearTimeout(this.watchdog);
    if (!this.held || this.lostError) return false;
    await this.client.query('SELECT pg_advisory_lock($1, $2)', joinKey(this.key));
    // Asked while still holding the share: a session's own locks never conflict with each other,
    // so this is true exactly when no other process holds a share.
    const { rows } = await this.client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [this.key]);
    await this.client.query('SELECT pg_advisory_unlock_shared($1)', [this.key]);
    this.held = false;
    return rows[0]?.locked === true;
  }

  /**
   * Checks every `intervalMs` that the lock connection answers within `intervalMs` and still holds
   * the lock; when it does not, the lock counts as lost.
   */
  watch(intervalMs: number): void {
    const key = this.key;
    const check = async () => {
      if (!this.held || this.lostError) return;
      try {
        // pg honours query_timeout per query; its types only know it per client.
        const query = {
          text: `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                   AND ((classid::bigint << 32) | objid::bigint) = $1) AS held`,
          values: [key],
          query_timeout: intervalMs,
        } as pg.QueryConfig;
        const { rows } = await this.client.query<{ held: boolean }>(query);
        if (!rows[0]?.held) this.lose(new Error('the run lock is no longer held by its connection'));
      } catch (error) {
        this.lose(new Error(`the lock connection did not answer a check within ${Math.round(intervalMs / 1000)} s (${(error as Error).message})`));
      }
      if (this.held && !this.lostError) this.watchdog = setTimeout(() => void check(), intervalMs).unref();
    };
    this.watchdog = setTimeout(() => void check(), intervalMs).unref();
  }

  /** Called once if the lock connection dies while the lock is held. */
  onLost(listener: (error: Error) => void): void {
    this.lostListeners.push(listener);
    if (this.lostError) listener(this.lostError);
  }

  get lost(): Error | undefined {
    return this.lostError;
  }

  async release(): Promise<boolean> {
    const key = this.key;
    clearTimeout(this.watchdog);
    if (this.shared) {
      // Its share, its turn to join or leave, the run lock itself when it was the last worker.
      this.held = false;
      try {
        if (!this.lostError) await this.client.query('SELECT pg_advisory_unlock_all()');
        return !this.lostError;
      } finally {
        await closeClient(this.client);
      }
    }
    if (!this.held) return false;
    this.held = false;
    try {
      if (this.lostError) return false;
      const { rows } = await this.client.query<{ unlocked: boolean }>('SELECT pg_advisory_unlock($1) AS unlocked', [key]);
      return rows[0]?.unlocked === true;
    } finally {
      await closeClient(this.client); // end() could wait forever on a connection that stalled
    }
  }

  private lose(error: Error): void {
    if (this.lostError || !this.held) return;
    this.lostError = error;
    for (const listener of this.lostListeners) listener(error);
  }
}
