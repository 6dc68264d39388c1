// One COPY ... FROM STDIN on a connection, with its errors in one place.
//
// pg-copy-streams 7.0.0 reports a server error (or a dead socket) with a raw emit('error') and then
// drops its connection: writing, ending or destroying the stream after that throws or emits a
// second 'error' (PITFALLS.md). So the stream keeps one error listener for its whole life, and
// after an error nothing is written, ended or destroyed: the caller rolls back instead.
import type pg from 'pg';
import { from as copyFrom, type CopyStreamQuery } from 'pg-copy-streams';

const ABORT_WAIT_MS = 10_000;

export class CopyIn {
  private readonly stream: CopyStreamQuery;
  private failure: Error | undefined;
  private finished = false;
  /** Wakes whoever waits for drain or finish when the stream fails. */
  private wake: (() => void) | undefined;

  constructor(client: pg.ClientBase, sql: string) {
    this.stream = client.query(copyFrom(sql));
    this.stream.on('error', (error: Error) => {
      this.failure ??= error;
      this.wake?.();
    });
  }

  /** The error the stream reported, if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Writes a chunk; waits while the socket is full. Throws the stream's error once it has one. */
  async write(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    if (chunk.length === 0) return;
    if (this.stream.write(chunk)) return;
    await this.until('drain');
    this.throwIfFailed();
  }

  /** Ends the COPY and waits until the server has every row; returns how many it took. */
  async end(): Promise<number> {
    this.throwIfFailed();
    const done = this.until('finish');
    this.stream.end();
    await done;
    this.throwIfFailed();
    this.finished = true;
    return this.stream.rowCount;
  }

  /**
   * Gives the COPY up (the run stops, the object failed while reading): the server is told to
   * abandon it, and the transaction is then rolled back by the caller. Never throws.
   */
  async abort(reason: string): Promise<void> {
    if (this.failure || this.finished || this.stream.destroyed) return;
    const closed = this.until('close');
    try {
      this.stream.destroy(new Error(reason));
    } catch {
      return; // the connection is gone: the rollback (or the dead session) ends the COPY
    }
    // The server answers a CopyFail at once; a connection that no longer answers is the caller's
    // to close, not a reason to hang here.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, ABORT_WAIT_MS)))]);
    clearTimeout(timer);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Resolves on the event or on a failure of the stream, whichever comes first. */
  private until(event: 'drain' | 'finish' | 'close'): Promise<void> {
    if (this.failure) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off(event, done);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.stream.once(event, done);
    });
  }
}
