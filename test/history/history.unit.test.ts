import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { linkCodec, stampLinkMessage } from '../../src/cluster/link-message.js';
import { readStamp, stampPush } from '../../src/history/history-frame.js';
import { HistoryRules, parseHistoryRule } from '../../src/history/history-policy.js';
import { MemoryStreams } from '../../src/history/memory-streams.js';
import { Merger, type PushTarget } from '../../src/merger/merger.js';
import type { PushBatch } from '../../src/merger/push-batch.js';

const POLICY = { size: 5, ttlMs: 10_000 };

describe('history rules (--history)', () => {
  it('parses PATTERN=SIZE/TTL, first match wins, and refuses malformed entries', () => {
    assert.deepEqual(parseHistoryRule('chat:*=100/300s'), { pattern: 'chat:*', policy: { size: 100, ttlMs: 300_000 } });
    assert.deepEqual(parseHistoryRule('a=1/2m').policy, { size: 1, ttlMs: 120_000 });
    const rules = new HistoryRules([parseHistoryRule('chat:vip=1000/1h'), parseHistoryRule('chat:*=10/5s')]);
    assert.deepEqual(rules.policyOf('chat:vip'), { size: 1000, ttlMs: 3_600_000 });
    assert.deepEqual(rules.policyOf('chat:1'), { size: 10, ttlMs: 5000 });
    assert.equal(rules.policyOf('news'), null);
    for (const bad of ['chat:*', 'chat:*=0/5s', 'chat:*=10/5', 'chat:*=10/500ms', 'chat:*=10/2d', '=1/1s']) {
      assert.throws(() => parseHistoryRule(bad), RangeError, bad);
    }
  });
});

describe('the stamp of a push to a room with history', () => {
  it('round-trips over bytes, and the link codec turns it into the push position', () => {
    const stamped = stampPush(Buffer.from('{"v":1}'), 42, 'ep0ch');
    assert.deepEqual(readStamp(stamped), { first: 42, epoch: 'ep0ch', body: Buffer.from('{"v":1}') });
    assert.equal(readStamp(Buffer.from('{"v":1}')), null);
    assert.equal(readStamp(Buffer.from('#x:e\n{}')), null);
    const message = stampLinkMessage({ type: 'push', push: { kind: 'room', room: 'r', items: ['1', '"a"'] }, expiresAt: null }, 7, 'E1');
    const decoded = linkCodec.decode(linkCodec.encode(message));
    assert.equal(decoded.type, 'push');
    assert.deepEqual(decoded.type === 'push' && decoded.push.kind === 'room' ? [decoded.push.items, decoded.push.position] : null, [
      ['1', '"a"'],
      { first: 7, epoch: 'E1' },
    ]);
  });
});

describe('MemoryStreams', () => {
  it('gives contiguous offsets from 1, trims to the size, and reads since, limited and reversed', () => {
    const streams = new MemoryStreams(() => 1000);
    assert.equal(streams.append('r', POLICY, ['a', 'b']).first, 1);
    const { first, epoch } = streams.append('r', POLICY, ['c', 'd', 'e', 'f']);
    assert.equal(first, 3);
    const page = streams.read('r', POLICY, { limit: 10, reverse: false });
    assert.equal(page.epoch, epoch);
    assert.equal(page.top, 6);
    assert.equal(page.first, 2, 'the oldest went with the size');
    assert.deepEqual(
      page.entries.map((e) => e.item),
      ['b', 'c', 'd', 'e', 'f'],
    );
    assert.deepEqual(
      streams.read('r', POLICY, { since: 4, limit: 10, reverse: false }).entries.map((e) => e.offset),
      [5, 6],
    );
    assert.deepEqual(
      streams.read('r', POLICY, { since: 2, limit: 2, reverse: false }).entries.map((e) => e.offset),
      [3, 4],
    );
    assert.deepEqual(
      streams.read('r', POLICY, { since: 5, limit: 2, reverse: true }).entries.map((e) => e.offset),
      [4, 3],
    );
  });

  it('expires items past the TTL but keeps the top and the epoch', () => {
    let now = 0;
    const streams = new MemoryStreams(() => now);
    const { epoch } = streams.append('r', POLICY, ['a']);
    now = 20_000;
    const page = streams.read('r', POLICY, { limit: 10, reverse: false });
    assert.deepEqual(page.entries, []);
    assert.equal(page.top, 1);
    assert.equal(page.first, 2, 'nothing held: first is top + 1, so a client at offset 1 has missed nothing');
    assert.equal(page.epoch, epoch);
  });

  it('has a new epoch for every stream made, so a store that lost its streams is told apart', () => {
    const streams = new MemoryStreams();
    const before = streams.append('r', POLICY, ['a']).epoch;
    streams.clear();
    const after = streams.append('r', POLICY, ['a']);
    assert.notEqual(after.epoch, before);
    assert.equal(after.first, 1);
  });
});

describe('the merger with stream positions', () => {
  const target: PushTarget = { kind: 'room', room: 'r' };
  const flushes = (maxBatchItems = 100) => {
    const batches: PushBatch[] = [];
    return { batches, merger: new Merger(maxBatchItems, 0, (batch) => batches.push(batch)) };
  };

  it('merges contiguous pushes into one frame numbered by its last offset', () => {
    const { batches, merger } = flushes();
    merger.add('r', target, ['1', '2'], { first: 1, epoch: 'E' });
    merger.add('r', target, ['3'], { first: 3, epoch: 'E' });
    merger.flushAll();
    assert.equal(batches.length, 1);
    assert.deepEqual(batches[0].stamp, { offset: 3, epoch: 'E' });
  });

  it('closes the batch at a gap or a new epoch, so that every frame holds contiguous offsets of one epoch', () => {
    const { batches, merger } = flushes();
    merger.add('r', target, ['1'], { first: 1, epoch: 'E' });
    merger.add('r', target, ['5'], { first: 5, epoch: 'E' });
    merger.add('r', target, ['1'], { first: 1, epoch: 'F' });
    merger.flushAll();
    assert.deepEqual(
      batches.map((b) => [b.items, b.stamp]),
      [
        [['1'], { offset: 1, epoch: 'E' }],
        [['5'], { offset: 5, epoch: 'E' }],
        [['1'], { offset: 1, epoch: 'F' }],
      ],
    );
  });

  it('numbers each frame of a push split at maxBatchItems by its own last item', () => {
    const { batches, merger } = flushes(2);
    merger.add('r', target, ['a', 'b', 'c'], { first: 10, epoch: 'E' });
    merger.flushAll();
    assert.deepEqual(
      batches.map((b) => b.stamp?.offset),
      [11, 12],
    );
  });
});
