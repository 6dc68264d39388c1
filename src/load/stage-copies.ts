// A batch's staging COPYs on its transaction's connection: one staging table at a time, in the
// order the parse worker sends them, each a binary COPY stream (header, the worker's records,
// trailer), and where each record came from, so that a record Postgres refuses ("COPY
// etl_stage_tasks, line 17") names the read attempt and data row to quarantine on the next read.
import type pg from 'pg';
import { CopyIn } from './copy-in.ts';
import { BINARY_COPY_HEADER, BINARY_COPY_TRAILER, COPY_SQL, refusedRecord } from './staging.ts';

/** A staging record Postgres refused: the read attempt and data row it came from. */
export interface RefusedRow {
  attempt: number;
  ordinal: number;
}

export class StageCopies {
  private readonly client: pg.ClientBase;
  private copy: CopyIn | undefined;
  private stage: string | undefined;
  /** Where the current COPY's records came from, chunk by chunk. */
  private ordinals: Int32Array[] = [];
  private attempts: Int32Array[] = [];
  /** Rows each COPY target took so far (a staging table, or a target table taking rows directly). */
  readonly rows: Record<string, number> = {};

  constructor(client: pg.ClientBase) {
    this.client = client;
  }

  /** The error the current COPY reported, if any (a failed COPY stays current). */
  get error(): Error | undefined {
    return this.copy?.error;
  }

  /** Writes a chunk of `stage`'s records, ending the previous staging table's COPY first. */
  async write(stage: string, bytes: Buffer, ordinals: Int32Array, attempts: Int32Array): Promise<void> {
    if (bytes.length === 0) return;
    if (stage !== this.stage) {
      await this.end();
      const sql = COPY_SQL[stage];
      if (!sql) throw new Error(`no staging table ${stage}`);
      this.copy = new CopyIn(this.client, sql);
      this.stage = stage;
      await this.copy.write(BINARY_COPY_HEADER);
    }
    this.ordinals.push(ordinals);
    this.attempts.push(attempts);
    await this.copy!.write(bytes);
  }

  /** Ends the current COPY, if any, and waits until the server has its rows. */
  async end(): Promise<void> {
    const copy = this.copy;
    if (!copy) return;
    await copy.write(BINARY_COPY_TRAILER);
    this.rows[this.stage!] = (this.rows[this.stage!] ?? 0) + (await copy.end());
    this.copy = undefined;
    this.stage = undefined;
    this.ordinals = [];
    this.attempts = [];
  }

  /** Gives the current COPY up (see CopyIn.abort). Never throws. */
  async abort(reason: string): Promise<void> {
    await this.copy?.abort(reason);
  }

  /** The row behind a COPY error of the current COPY, if the error names one of its records. */
  refusedRow(error: unknown): RefusedRow | undefined {
    const refused = refusedRecord(error);
    if (!refused || refused.stage !== this.stage || refused.record < 1) return undefined;
    let left = refused.record - 1;
    for (let chunk = 0; chunk < this.ordinals.length; chunk++) {
      const ordinals = this.ordinals[chunk]!;
      if (left < ordinals.length) return { attempt: this.attempts[chunk]![left]!, ordinal: ordinals[left]! };
      left -= ordinals.length;
    }
    return undefined;
  }
}
