import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconnectDelay } from '../../src/broker/redis-broker.js';

describe('reconnectDelay', () => {
  it('backs off exponentially from 50 ms to a 2 s cap, with full jitter', () => {
    for (const [retries, ceiling] of [
      [0, 50],
      [1, 100],
      [2, 200],
      [5, 1600],
      [6, 2000],
      [100, 2000],
      [5000, 2000],
    ] as const) {
      const delays = Array.from({ length: 200 }, () => reconnectDelay(retries));
      assert.ok(
        delays.every((d) => Number.isInteger(d) && d >= 0 && d < ceiling),
        `retry ${retries}: within [0, ${ceiling})`,
      );
      assert.ok(new Set(delays).size > 1, `retry ${retries}: jittered`);
    }
  });
});
