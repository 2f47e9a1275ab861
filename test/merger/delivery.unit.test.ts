import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connection, type ConnectionHandler } from '../../src/connection/connection.js';
import { Hub } from '../../src/hub/hub.js';
import { Dispatcher } from '../../src/merger/dispatcher.js';
import { Merger, type PushTarget } from '../../src/merger/merger.js';
import type { ClientProtocol } from '../../src/protocol/client-protocol.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { prepareFrame } from '../../src/protocol/prepared-frame.js';
import { FakeTransport, framePayload } from '../helpers/fake-transport.js';

/** A protocol that counts its PUSH encodings. */
function counting(protocol: ClientProtocol): ClientProtocol & { pushes: number } {
  const counted = {
    ...protocol,
    pushes: 0,
    push(items: readonly string[], room: string | undefined) {
      counted.pushes += 1;
      return protocol.push(items, room);
    },
  };
  return counted;
}

/** A second wire format, as a Pusher or SSE protocol would be: `room|item;item` text frames. */
const toyProtocol: ClientProtocol = {
  ...goPushProtocol,
  name: 'toy',
  push: (items, room) => prepareFrame(`${room ?? '*'}|${items.join(';')}`, items.length),
};

/**
 * The delivery path of a gateway without its edge: a hub, a merger flushing into a dispatcher that
 * writes to connections over fake transports, the counters it reports, and the hub's removal on close.
 */
function engine(maxBatchItems = 100) {
  const hub = new Hub(10, 'node');
  const counts = { sent: 0, failed: 0, itemsDropped: 0 };
  const dispatcher = new Dispatcher({
    sent: () => void counts.sent++,
    failed: (frame) => {
      counts.failed += 1;
      counts.itemsDropped += frame.items;
    },
  });
  const recipients = (target: PushTarget) => (target.kind === 'room' ? (hub.members(target.room) ?? []) : target.kind === 'all' ? hub.all() : []);
  const merger = new Merger(maxBatchItems, 0, (batch, target) => dispatcher.enqueue(batch, recipients(target)));
  const handler: ConnectionHandler = { onMessage() {}, onClose: (conn) => hub.remove(conn) };
  const connect = (protocol: ClientProtocol = goPushProtocol, maxQueueBytes = 1 << 20) => {
    const transport = new FakeTransport();
    const conn = new Connection(transport, hub.nextId(), protocol, { maxQueueBytes, maxInboundMessages: 8, maxClientRate: 0 }, handler);
    hub.add(conn);
    return { conn, transport };
  };
  /** Flushes and writes everything now. */
  const deliver = () => {
    merger.flushAll();
    dispatcher.drain();
  };
  return { hub, merger, dispatcher, counts, connect, deliver };
}

describe('merger and dispatcher through a transport', () => {
  it('sends a burst to a room as one frame, the same bytes object to every member', () => {
    const { hub, merger, counts, connect, deliver } = engine();
    const members = [connect(), connect(), connect()];
    const outsider = connect();
    for (const { conn } of members) hub.join(conn, 'news');
    for (const item of ['1', '2', '3']) merger.add('r:news', { kind: 'room', room: 'news' }, [item]);
    deliver();
    const written = members.map(({ transport }) => transport.writes);
    for (const writes of written) assert.equal(writes.length, 1, 'one write, one frame');
    assert.equal(written[1]![0]![0], written[0]![0]![0], 'the very same Buffer for every member');
    assert.equal(written[2]![0]![0], written[0]![0]![0]);
    assert.deepEqual(JSON.parse(framePayload(written[0]![0]![0]!)), { type: 'PUSH', data: { room: 'news', items: [1, 2, 3] } });
    assert.equal(outsider.transport.writes.length, 0);
    assert.deepEqual(counts, { sent: 3, failed: 0, itemsDropped: 0 });
  });

  it("keeps each connection's frames in push order, all in one write", () => {
    const { hub, merger, connect, deliver } = engine(1);
    const a = connect();
    hub.join(a.conn, 'x');
    // One item per batch: each is flushed at once, so the dispatcher queues three frames for `a`.
    merger.add('r:x', { kind: 'room', room: 'x' }, ['1', '2']);
    merger.add('*', { kind: 'all' }, ['3']);
    deliver();
    assert.equal(a.transport.writes.length, 1);
    assert.deepEqual(
      a.transport.payloads().map((p) => JSON.parse(p).data.items[0]),
      [1, 2, 3],
    );
  });

  it('drops a slow consumer with 1013 and counts its frame as failed, delivering to the others', () => {
    const { hub, merger, counts, connect, deliver } = engine();
    const fast = connect();
    const slow = connect(goPushProtocol, 100);
    slow.transport.queued = 100;
    for (const { conn } of [fast, slow]) hub.join(conn, 'r');
    merger.add('r:r', { kind: 'room', room: 'r' }, ['1', '2']);
    deliver();
    assert.equal(fast.transport.writes.length, 1);
    assert.equal(slow.transport.writes.length, 0);
    assert.deepEqual(slow.transport.closedWith, { code: 1013, reason: 'slow consumer' });
    assert.deepEqual(counts, { sent: 1, failed: 1, itemsDropped: 2 });
    assert.equal(hub.members('r')?.size, 1, 'the hub let go of the closed connection');
    assert.equal(hub.roomsOf(slow.conn), undefined);
  });

  it('encodes a batch once per protocol among its recipients, and each gets its own frame', () => {
    const { hub, merger, dispatcher, connect, deliver } = engine();
    const goPush = counting(goPushProtocol);
    const toy = counting(toyProtocol);
    const members = [connect(goPush), connect(toy), connect(goPush), connect(toy)];
    for (const { conn } of members) hub.join(conn, 'mixed');
    merger.add('r:mixed', { kind: 'room', room: 'mixed' }, ['"a"', '"b"']);
    deliver();
    assert.deepEqual([goPush.pushes, toy.pushes], [1, 1], 'one encoding per protocol, not per recipient');
    const frames = members.map(({ transport }) => transport.writes[0]![0]!);
    assert.equal(frames[0], frames[2], 'go-push members share one frame');
    assert.equal(frames[1], frames[3], 'toy members share another');
    assert.notEqual(frames[0], frames[1]);
    assert.deepEqual(JSON.parse(framePayload(frames[0]!)), { type: 'PUSH', data: { room: 'mixed', items: ['a', 'b'] } });
    assert.equal(framePayload(frames[1]!), 'mixed|"a";"b"');
    assert.equal(dispatcher.pendingFrames, 0);
    assert.equal(dispatcher.pendingItems, 0);
  });

  it('encodes nothing for a batch nobody receives', () => {
    const { dispatcher } = engine();
    const encodings: number[] = [];
    const merger = new Merger(100, 0, (batch) => {
      dispatcher.enqueue(batch, []);
      encodings.push(batch.encodings);
    });
    merger.add('r:empty', { kind: 'room', room: 'empty' }, ['1']);
    merger.flushAll();
    assert.deepEqual(encodings, [0]);
    assert.equal(dispatcher.pendingFrames, 0);
  });
});
