import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Gateway } from '../../src/gateway/gateway.js';
import { aggregateReports, type ProcessReport } from '../../src/stats/aggregate.js';
import { ADDITIVE_STATS, STAT_KINDS } from '../../src/stats/stats.js';

function report(stats: Record<string, number>, rooms: Record<string, number> = {}, roomsTruncated = false): ProcessReport {
  return { stats, rooms, roomsTruncated };
}

describe('aggregateReports: the summing rule', () => {
  it('sums the additive counters and gauges, and nothing per process', () => {
    const { total } = aggregateReports([
      report({ onlineConnections: 4, itemsDelivered: 10, pendingItems: 1, pid: 1000, worker: 1, uptimeSeconds: 60, relayChannels: 7, roomCount: 2 }),
      report({ onlineConnections: 6, itemsDelivered: 5, pendingItems: 2, pid: 1001, worker: 2, uptimeSeconds: 61, relayChannels: 7, roomCount: 3 }),
    ]);
    assert.equal(total.onlineConnections, 10);
    assert.equal(total.itemsDelivered, 15);
    assert.equal(total.pendingItems, 3);
    for (const perProcess of ['pid', 'worker', 'uptimeSeconds', 'relayChannels', 'roomCount', 'nodeId', 'role', 'broker']) {
      assert.equal(perProcess in total, false, perProcess);
    }
  });

  it('gives every additive stat, 0 where no process reported it, and ignores stats it does not know', () => {
    const { total } = aggregateReports([report({ onlineConnections: 1, someFutureCounter: 99 }), report({})]);
    assert.deepEqual(Object.keys(total), [...ADDITIVE_STATS]);
    assert.equal(total.onlineConnections, 1);
    assert.equal(total.sendMessageTotal, 0);
    assert.equal('someFutureCounter' in total, false);
  });

  it('counts a room with members in several processes once, and sums its members', () => {
    const result = aggregateReports([report({ roomCount: 2 }, { news: 3, a: 1 }), report({ roomCount: 2 }, { news: 2, b: 1 })]);
    assert.equal(result.roomCount, 3);
    assert.equal(result.roomCountExact, true);
    assert.deepEqual({ ...result.rooms }, { news: 5, a: 1, b: 1 });
  });

  it('takes room names that are Object.prototype members as rooms', () => {
    const result = aggregateReports([report({}, JSON.parse('{"__proto__":2,"constructor":1}')), report({}, JSON.parse('{"__proto__":1}'))]);
    assert.equal(result.roomCount, 2);
    // biome-ignore lint/suspicious/noProto: a room named __proto__ is what this test is about.
    assert.equal(result.rooms.__proto__, 3);
    assert.equal(result.rooms.constructor, 1);
    assert.equal(result.rooms.toString, undefined);
  });

  it('says when the room count is only a lower bound (a report listed its largest rooms only)', () => {
    const bounded = aggregateReports([report({ roomCount: 5 }, { a: 9, b: 8 }, true), report({ roomCount: 1 }, { c: 1 })]);
    assert.equal(bounded.roomCountExact, false);
    assert.equal(bounded.roomCount, 5, "at least the largest single process's own count");
    const union = aggregateReports([report({ roomCount: 2 }, { a: 1, b: 1 }, true), report({ roomCount: 3 }, { c: 1, d: 1, e: 1 })]);
    assert.equal(union.roomCount, 5, 'at least the union of the names listed');
    assert.equal(union.roomCountExact, false);
    // Alone, a process's own count is exact whatever its report lists.
    const alone = aggregateReports([report({ roomCount: 1500 }, { a: 1 }, true)]);
    assert.deepEqual([alone.roomCount, alone.roomCountExact], [1500, true]);
  });

  it("sums Pusher's and the webhooks' counters and gauges (connections open, events queued) over processes", () => {
    const pusher = [
      'pusherOpen',
      'pusherSignins',
      'pusherSigninsRefused',
      'pusherApiRequests',
      'pusherApiRefused',
      'pusherUserEvents',
      'pusherTerminations',
      'webhookEvents',
      'webhookEventsDelivered',
      'webhookPosts',
      'webhookRetries',
      'webhookFailures',
      'webhookEventsDropped',
      'webhookQueued',
    ] as const;
    for (const key of pusher) assert.equal(STAT_KINDS[key], 'additive', key);
    const first = Object.fromEntries(pusher.map((key, i) => [key, i + 1]));
    const second = Object.fromEntries(pusher.map((key, i) => [key, 10 * (i + 1)]));
    const { total } = aggregateReports([report(first), report(second), report({ pusherOpen: 0 })]);
    for (const [i, key] of pusher.entries()) assert.equal(total[key], 11 * (i + 1), key);
  });

  it('of nothing, is all zeros', () => {
    const empty = aggregateReports([]);
    assert.equal(empty.total.onlineConnections, 0);
    assert.deepEqual([empty.roomCount, empty.roomCountExact], [0, true]);
  });

  it('knows how every stat a gateway reports combines', () => {
    const gateway = new Gateway({ port: 0, apiPort: 0 });
    const snapshot = gateway.snapshot();
    for (const key of Object.keys(snapshot)) assert.ok(key in STAT_KINDS, `${key} is declared in STAT_KINDS`);
  });
});
