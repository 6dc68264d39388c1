// The plan of a run (src/pipeline/plan.ts): which failed objects are tried again; and which
// objects load together and in what order (src/pipeline/batches.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planRun, type LoadReason } from '../src/pipeline/plan.ts';
import { batchesOf } from '../src/pipeline/batches.ts';
import type { LedgerEntry } from '../src/load/ledger.ts';
import type { SourceObject } from '../src/sources/source.ts';

const objects = (n: number, size = 1_000_000): SourceObject[] =>
  Array.from({ length: n }, (_, i) => ({ key: `export_${String(i).padStart(3, '0')}.csv`, version: 'v1', size, lastModified: new Date(Date.UTC(2026, 0, 1) + i * 3_600_000) }));
const allNew = (list: readonly SourceObject[]) => new Map<string, LoadReason>(list.map((object) => [object.key, 'new']));
const indexes = (batches: SourceObject[][]) => batches.map((batch) => batch.map((object) => Number(object.key.slice(7, 10))));

describe('batchesOf', () => {
  it('new objects go in batches of neighbours, up to the bytes and the objects a batch holds', () => {
    const list = objects(10);
    assert.deepEqual(indexes(batchesOf(list, allNew(list), 1, { maxBytes: 3_000_000, maxObjects: 64 })), [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    assert.deepEqual(indexes(batchesOf(list, allNew(list), 1, { maxBytes: 100_000_000, maxObjects: 4 })), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    // gzip objects count inflated: a 1 MB .csv.gz is about 4 MB of content.
    const gzipped = list.map((object) => ({ ...object, key: `${object.key}.gz` }));
    assert.deepEqual(batchesOf(gzipped, allNew(gzipped), 1, { maxBytes: 8_000_000, maxObjects: 64 }).map((batch) => batch.length), [2, 2, 2, 2, 2]);
  });

  it('an object that is not new (changed, back, retried, reloaded) loads alone, between the batches', () => {
    const list = objects(6);
    const reasons = allNew(list);
    reasons.set(list[2]!.key, 'changed');
    reasons.set(list[3]!.key, 'reload or retry requested');
    assert.deepEqual(indexes(batchesOf(list, reasons, 1, { maxBytes: 100_000_000, maxObjects: 64 })), [[0, 1], [2], [3], [4, 5]]);
  });

  it('two loads: one stretch each, their batches interleaved, so the batches loading together are far apart in time', () => {
    const list = objects(12);
    assert.deepEqual(indexes(batchesOf(list, allNew(list), 2, { maxBytes: 3_000_000, maxObjects: 64 })), [[0, 1, 2], [6, 7, 8], [3, 4, 5], [9, 10, 11]]);
  });

  it('every object exactly once, in batches oldest first, for uneven lengths and more loads than objects', () => {
    for (const [count, workers] of [[0, 2], [1, 4], [3, 8], [59, 2], [61, 3], [100, 7]] as const) {
      const list = objects(count);
      const batches = batchesOf(list, allNew(list), workers, { maxBytes: 4_500_000, maxObjects: 64 });
      assert.deepEqual(batches.flat().map((object) => object.key).sort(), list.map((object) => object.key), `${count} objects, ${workers} loads`);
      for (const batch of batches) assert.ok(batch.every((object, index) => index === 0 || object.lastModified > batch[index - 1]!.lastModified));
    }
  });
});

describe('planRun: when a failed object is tried again', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const object = (key: string, version = 'v1') => ({ key, version, size: 10, lastModified: new Date('2026-05-01T00:00:00Z') });
  const failed = (key: string, nextAttemptAt: Date | null, extra: Partial<LedgerEntry> = {}): [string, LedgerEntry] => [
    key,
    { objectKey: key, version: 'v1', lastModified: new Date('2026-05-01T00:00:00Z'), status: 'failed', errorClass: 'CSV_FORMAT_ERROR', attempts: 1, nextAttemptAt, retryRequested: false, ...extra },
  ];

  it('its bytes caused it (no next attempt): it waits for a new version; a retry delay: until it passes; etl retry: now', () => {
    const ledger = new Map<string, LedgerEntry>([
      failed('same-bytes.csv', null),
      failed('changed.csv', null),
      failed('delay-running.csv', new Date('2026-06-01T13:00:00Z')),
      failed('delay-over.csv', new Date('2026-06-01T11:00:00Z')),
      failed('forced.csv', null, { retryRequested: true }),
    ]);
    const plan = planRun([object('same-bytes.csv'), object('changed.csv', 'v2'), object('delay-running.csv'), object('delay-over.csv'), object('forced.csv')], ledger, now);
    assert.deepEqual(plan.load.map((entry) => entry.key).sort(), ['changed.csv', 'delay-over.csv', 'forced.csv']);
    assert.deepEqual(
      plan.waiting.map((entry) => [entry.object.key, entry.until?.toISOString() ?? 'when it changes']),
      [['same-bytes.csv', 'when it changes'], ['delay-running.csv', '2026-06-01T13:00:00.000Z']],
    );
  });
});
