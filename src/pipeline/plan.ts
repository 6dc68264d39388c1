// Which objects a run loads (spec + README "Incremental loading"): data objects only; an object
// loaded at the same version is skipped; a failed one is retried once its delay has passed, one
// whose failure its own bytes caused (next_attempt_at NULL) only when it changes; `etl retry`
// overrides both.
import { isDataObjectKey } from '../model/export.ts';
import type { LedgerEntry } from '../load/ledger.ts';
import type { SourceObject } from '../sources/source.ts';

/** Why an object is loaded (etl plan). */
export type LoadReason = 'new' | 'changed' | 'back in the source' | 'retry due' | 'reload or retry requested';

export interface Plan {
  load: SourceObject[];
  /** Why each object of `load` is loaded, by key. */
  reasons: Map<string, LoadReason>;
  unchanged: SourceObject[];
  waiting: Array<{ object: SourceObject; until: Date | null; errorClass: string | null }>;
  skipped: Array<{ key: string; reason: string }>;
}

export function planRun(objects: readonly SourceObject[], ledger: ReadonlyMap<string, LedgerEntry>, now = new Date()): Plan {
  const plan: Plan = { load: [], reasons: new Map(), unchanged: [], waiting: [], skipped: [] };
  for (const object of objects) {
    if (!isDataObjectKey(object.key)) {
      plan.skipped.push({ key: object.key, reason: object.key.endsWith('/') ? 'folder marker' : 'not a .csv or .csv.gz object' });
      continue;
    }
    const entry = ledger.get(object.key);
    const reason = loadReason(object, entry, now);
    if (reason !== undefined) {
      plan.load.push(object);
      plan.reasons.set(object.key, reason);
    } else if (entry?.status === 'loaded') {
      plan.unchanged.push(object);
    } else {
      // No next attempt: the failure came from the object's own bytes (no SR Number, unreadable,
      // too many bad rows), so it waits for a new version; otherwise for its retry delay.
      plan.waiting.push({ object, until: entry?.nextAttemptAt ?? null, errorClass: entry?.errorClass ?? null });
    }
  }
  // Oldest first: the order does not change the result (lineage decides); pipeline/batches.ts then cuts it into batches for the loads.
  plan.load.sort((a, b) => a.lastModified.getTime() - b.lastModified.getTime() || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return plan;
}

/** Why the object is loaded by this run, or undefined when it is not (unchanged, or a failure waiting). */
function loadReason(object: SourceObject, entry: LedgerEntry | undefined, now: Date): LoadReason | undefined {
  if (!entry) return 'new';
  if (entry.retryRequested) return 'reload or retry requested';
  if (entry.status === 'gone') return 'back in the source';
  if (entry.version !== object.version) return 'changed';
  if (entry.status === 'failed' && entry.nextAttemptAt !== null && entry.nextAttemptAt <= now) return 'retry due';
  return undefined;
}

/**
 * Ledger entries the run marks gone: not marked yet, not listed, and within what the run looks at
 * (under `prefix`, the part of the ledger's source this run's source covers, and `inScope`).
 */
export function goneKeys(ledger: ReadonlyMap<string, LedgerEntry>, listed: ReadonlySet<string>, prefix: string, inScope: (entry: LedgerEntry) => boolean): string[] {
  return [...ledger.values()]
    .filter((entry) => entry.status !== 'gone' && !listed.has(entry.objectKey) && entry.objectKey.startsWith(prefix) && inScope(entry))
    .map((entry) => entry.objectKey)
    .sort();
}
