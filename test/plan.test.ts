// The order a run hands objects to its concurrent loads (src/pipeline/plan.ts, loadOrder).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadOrder } from '../src/pipeline/plan.ts';

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
