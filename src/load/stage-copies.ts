// An object's staging COPYs on its transaction's connection: one staging table at a time, in the
// order the parse worker sends them, and which data row each record came from, so that a record
// Postgres refuses ("COPY etl_stage_tasks, line 17") names the row to quarantine on the next read.
import type pg from 'pg';
import { CopyIn } from './copy-in.ts';
import { COPY_SQL } from './staging.ts';

export class StageCopies {
  private readonly client: pg.ClientBase;
  private copy: CopyIn | undefined;
  private stage: string | undefined;
  /** The ordinals of the current COPY's records, batch by batch. */
  private ordinals: Int32Array[] = [];

  constructor(client: pg.ClientBase) {
    this.client = client;
  }

  /** The error the current COPY reported, if any (a failed COPY stays current). */
  get error(): Error | undefined {
    return this.copy?.error;
  }

  /** Writes a batch of `stage`'s records, ending the previous staging table's COPY first. */
  async write(stage: string, bytes: Buffer, ordinals: Int32Array): Promise<void> {
    if (bytes.length === 0) return;
    if (stage !== this.stage) {
      await this.end();
      const sql = COPY_SQL[stage];
      if (!sql) throw new Error(`no staging table ${stage}`);
      this.copy = new CopyIn(this.client, sql);
      this.stage = stage;
    }
    this.ordinals.push(ordinals);
    await this.copy!.write(bytes);
  }

  /** Ends the current COPY, if any, and waits until the server has its rows. */
  async end(): Promise<void> {
    const copy = this.copy;
    if (!copy) return;
    await copy.end();
    this.copy = undefined;
    this.stage = undefined;
    this.ordinals = [];
  }

  /** Gives the current COPY up (see CopyIn.abort). Never throws. */
  async abort(reason: string): Promise<void> {
    await this.copy?.abort(reason);
  }

  /** The ordinal of the data row whose record is line `record` of `stage`'s current COPY. */
  ordinalOf(stage: string, record: number): number | undefined {
    if (stage !== this.stage || record < 1) return undefined;
    let left = record - 1;
    for (const batch of this.ordinals) {
      if (left < batch.length) return batch[left];
      left -= batch.length;
    }
    return undefined;
  }
}
