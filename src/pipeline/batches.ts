// Which objects load together, in one transaction (pipeline/file.ts), and in what order.
//
// Objects that have never been loaded (`new`) go in batches: their rows meet in the parse
// worker, which keeps one record per key for the whole batch, so Postgres merges each key once
// per batch instead of once per object (every export repeats most customers and many service
// requests), and one transaction carries several objects. Any other object loads alone: its own
// rows may be in the tables already, and an object replaces its own rows whatever the
// modification times (load/merge.ts), which a batch's winner per key could not honour.
//
// The oldest-first plan is cut into one stretch per concurrent load, each stretch into batches
// of neighbouring objects (neighbours share the most keys), and the batches of the stretches are
// interleaved: the batches loading at the same time are far apart in time, so their merges
// rarely wait for each other's row locks. The result does not depend on the order (lineage decides).
import type { SourceObject } from '../sources/source.ts';
import type { LoadReason } from './plan.ts';

export interface BatchLimits {
  /** Estimated content of a batch (object sizes, gzip counted inflated), at most. */
  maxBytes: number;
  /** Objects in a batch, at most. */
  maxObjects: number;
}

/**
 * A batch holds about this much content: the parse worker holds its records in memory until the
 * batch is read (read/parse-worker.ts bounds it whatever the objects), and larger batches saved
 * little more (README, Performance).
 */
export const BATCH_LIMITS: BatchLimits = { maxBytes: 32 * 1024 * 1024, maxObjects: 64 };

/** gzip exports inflate about fourfold; the estimate only sizes batches. */
const GZIP_ESTIMATE = 4;

function contentBytes(object: SourceObject): number {
  return /\.gz$/i.test(object.key) ? object.size * GZIP_ESTIMATE : object.size;
}

/**
 * The planned objects (oldest first) as batches in the order `workers` concurrent loads take
 * them; each batch oldest first.
 */
export function batchesOf(objects: readonly SourceObject[], reasons: ReadonlyMap<string, LoadReason>, workers: number, limits: BatchLimits = BATCH_LIMITS): SourceObject[][] {
  const stretches = Math.max(1, Math.min(workers, objects.length));
  const size = Math.ceil(objects.length / stretches);
  const perStretch: SourceObject[][][] = [];
  for (let stretch = 0; stretch < stretches; stretch++) perStretch.push(cut(objects.slice(stretch * size, (stretch + 1) * size), reasons, limits));
  const order: SourceObject[][] = [];
  for (let index = 0; perStretch.some((batches) => index < batches.length); index++) {
    for (const batches of perStretch) if (index < batches.length) order.push(batches[index]!);
  }
  return order;
}

/** Consecutive new objects up to the limits; any other object alone. */
function cut(objects: readonly SourceObject[], reasons: ReadonlyMap<string, LoadReason>, limits: BatchLimits): SourceObject[][] {
  const batches: SourceObject[][] = [];
  let current: SourceObject[] = [];
  let bytes = 0;
  const close = () => {
    if (current.length > 0) batches.push(current);
    current = [];
    bytes = 0;
  };
  for (const object of objects) {
    if (reasons.get(object.key) !== 'new') {
      close();
      batches.push([object]);
      continue;
    }
    const size = contentBytes(object);
    if (current.length > 0 && (bytes + size > limits.maxBytes || current.length >= limits.maxObjects)) close();
    current.push(object);
    bytes += size;
  }
  close();
  return batches;
}
