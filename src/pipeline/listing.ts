// What a run would do, found without changing anything (shared by `etl run` and `etl plan`): the
// source keyed as the ledger keys it (load/source-root.ts), listed, narrowed to the selection,
// planned against the ledger, and the ledger entries it would mark gone.
import type { ClientBase } from 'pg';
import type { Settings } from '../config/load.ts';
import { readLedger } from '../load/ledger.ts';
import { ledgerPrefix, readSourceRoot, SourceMismatchError } from '../load/source-root.ts';
import { sourceRoot } from '../sources/index.ts';
import { scopedSource } from '../sources/scoped.ts';
import { SourceError, type Source } from '../sources/source.ts';
import { goneKeys, planRun, type Plan } from './plan.ts';
import { selects, type Selection } from './selection.ts';

export interface SourcePlan {
  plan: Plan;
  /** Ledger keys the run marks gone. */
  gone: string[];
  /** Objects the source lists (all of them, the selection aside). */
  listed: number;
  /** The source as the ledger keys it: load objects through this one. */
  source: Source;
  /** The source's identity (sources/index.ts: sourceRoot), and the one the ledger has, if any. */
  root: string;
  ledgerRoot: string | undefined;
}

export async function planSource(client: ClientBase, source: Source, settings: Settings, selection: Selection, signal?: AbortSignal): Promise<SourcePlan> {
  const root = sourceRoot(settings.source);
  const ledgerRoot = await readSourceRoot(client);
  let prefix: string;
  try {
    prefix = ledgerPrefix(ledgerRoot, root, settings.databaseSchema);
  } catch (error) {
    if (!(error instanceof SourceMismatchError)) throw error;
    // Another source than the ledger's: a typo in the prefix or the bucket is the likelier story
    // when it cannot be listed or lists nothing, and those errors say so.
    if ((await source.list(signal)).length === 0) {
      const ledger = await readLedger(client);
      throw emptySourceError(source, [...ledger.values()].filter((entry) => entry.status !== 'gone').length);
    }
    throw error;
  }
  const scoped = scopedSource(source, prefix);
  const all = await scoped.list(signal);
  const ledger = await readLedger(client);
  const inScope = (key: string, lastModified: Date) => key.startsWith(prefix) && selects(selection, key, lastModified);
  const present = [...ledger.values()].filter((entry) => entry.status !== 'gone' && inScope(entry.objectKey, entry.lastModified)).length;
  // Most likely a typo in the prefix or the wrong bucket: marking every object gone would make
  // the next correct run load them all again. Nothing is changed; the run fails so it is seen.
  if (all.length === 0 && present > 0) throw emptySourceError(source, present);
  const plan = planRun(
    all.filter((object) => selects(selection, object.key, object.lastModified)),
    ledger,
  );
  const gone = goneKeys(ledger, new Set(all.map((object) => object.key)), prefix, (entry) => selects(selection, entry.objectKey, entry.lastModified));
  return { plan, gone, listed: all.length, source: scoped, root, ledgerRoot };
}

/** The source keyed as the ledger keys it, without listing it: for a worker that joins a shared run its planner listed. */
export async function ledgerKeyedSource(client: ClientBase, source: Source, settings: Settings): Promise<Source> {
  return scopedSource(source, ledgerPrefix(await readSourceRoot(client), sourceRoot(settings.source), settings.databaseSchema));
}

function emptySourceError(source: Source, present: number): SourceError {
  return new SourceError(
    `${source.description} lists no objects, but the ledger has ${present} objects from earlier runs that are not marked gone; nothing was changed. ` +
      'Check ETL_SOURCE (bucket and prefix). If the source was emptied on purpose, see "An empty source" in docs/s3.md',
  );
}
