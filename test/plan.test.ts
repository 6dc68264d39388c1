// The plan of a run (src/pipeline/plan.ts): which failed objects are tried again, and the order a
// run hands objects to its concurrent loads (loadOrder).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadOrder, planRun } from '../src/pipeline/plan.ts';
import type { LedgerEntry } from '../src/load/ledger.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('loadOrder', () => {
  it('one worker: oldest first, unchanged', () => {
    assert.deepEqual(loadOrder(range(5), 1), range(5));
  });

  it('two workers: the objects taken together are half the list apart', () => {
    const order = loadOrder(range(60), 2);
    assert.deepEqual(order.slice(0, 6), [0, 30, 1, 31, 2, 32]);
    for (let i = 0; i + 1 < order.length; i += 2) assert.equal(order[i + 1]! - order[i]!, 30);
  });

  it('every object exactly once, for uneven lengths and more workers than objects', () => {
    assert.deepEqual(loadOrder(range(7), 3), [0, 3, 6, 1, 4, 2, 5]);
    for (const [count, workers] of [[0, 2], [1, 4], [3, 8], [59, 2], [61, 3], [100, 7]] as const) {
      const order = loadOrder(range(count), workers);
      assert.deepEqual([...order].sort((a, b) => a - b), range(count), `${count} objects, ${workers} workers`);
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
