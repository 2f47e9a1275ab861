import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram } from '../../../bench/load/histogram.js';
import { benchItem, countItems, readItems } from '../../../bench/load/protocols.js';
import { encodePush } from '../../../src/protocol/encode.js';

describe('bench items', () => {
  it('have one length whatever their values, so frames are counted without parsing', () => {
    const items = [benchItem(0), benchItem(7), benchItem(123456)].map((item) => JSON.stringify(item));
    assert.equal(new Set(items.map((text) => text.length)).size, 1);
    assert.equal(countItems(Buffer.from(encodePush(items, 'room-1'))), 3);
    assert.equal(countItems(Buffer.from(encodePush(items.slice(0, 1), undefined))), 1);
    assert.equal(countItems(Buffer.from(`42${JSON.stringify(['push', benchItem(1, 'pad')])}`)), 1);
    assert.equal(countItems(Buffer.from('{"type":"PONG","data":{}}')), 0);
  });

  it('carry their send time and sequence number', () => {
    const item = benchItem(42);
    const seen: Array<[number, number]> = [];
    readItems(Buffer.from(encodePush([JSON.stringify(item)], undefined)), (sentAt, seq) => seen.push([sentAt, seq]));
    assert.equal(seen.length, 1);
    assert.ok(Math.abs(seen[0][0] - item.t / 1000) < 0.001);
    assert.equal(seen[0][1], 100000042);
  });
});

describe('Histogram', () => {
  it('reports percentiles within its 3 % precision and merges by adding counts', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let ms = 1; ms <= 1000; ms++) (ms % 2 ? a : b).record(ms);
    a.merge(JSON.parse(JSON.stringify(b)));
    const summary = a.summary();
    assert.equal(summary.count, 1000);
    assert.ok(Math.abs(summary.p50 - 500) / 500 < 0.04, `p50 ${summary.p50}`);
    assert.ok(Math.abs(summary.p99 - 990) / 990 < 0.04, `p99 ${summary.p99}`);
    assert.equal(summary.max, 1000);
    assert.deepEqual(summary.cdf.at(-1)?.[1], 1);
  });
});
