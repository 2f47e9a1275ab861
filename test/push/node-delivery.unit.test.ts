import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connection, type ConnectionHandler } from '../../src/connection/connection.js';
import { Hub } from '../../src/hub/hub.js';
import { PushBatch } from '../../src/merger/push-batch.js';
import { PresenceFrame } from '../../src/presence/presence-frame.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { NodeDelivery } from '../../src/push/node-delivery.js';
import { Stats } from '../../src/stats/stats.js';
import { FakeTransport, framePayload } from '../helpers/fake-transport.js';
import { waitFor } from '../helpers/wait.js';

/** A node's delivery over fake transports, with one member of `chat:1`. */
function node() {
  const hub = new Hub(10, 'node');
  const delivery = new NodeDelivery(hub, new Stats(), { maxBatchItems: 100, maxBatchDelay: 0, maxLatency: 0 });
  const handler: ConnectionHandler = { onMessage() {}, onClose: (conn) => hub.remove(conn) };
  const transport = new FakeTransport();
  const conn = new Connection(transport, hub.nextId(), goPushProtocol, { maxQueueBytes: 1 << 20, maxInboundMessages: 8, maxClientRate: 0 }, handler);
  hub.add(conn);
  hub.join(conn, 'chat:1');
  /** Every frame written to the member so far, decoded. */
  const frames = () => transport.writes.flat().map((bytes) => JSON.parse(framePayload(bytes)));
  return { hub, delivery, conn, frames };
}

describe('NodeDelivery: a room push that leaves one connection out', () => {
  it('reaches every member but that one', async () => {
    const { hub, delivery, conn, frames } = node();
    const transport = new FakeTransport();
    const other = new Connection(
      transport,
      hub.nextId(),
      goPushProtocol,
      { maxQueueBytes: 1 << 20, maxInboundMessages: 8, maxClientRate: 0 },
      {
        onMessage() {},
        onClose: (c) => hub.remove(c),
      },
    );
    hub.add(other);
    hub.join(other, 'chat:1');
    delivery.receive({ kind: 'room', room: 'chat:1', items: ['"mine"'], except: conn.id });
    delivery.receive({ kind: 'room', room: 'chat:1', items: ['"all"'] });
    await waitFor(() => transport.writes.flat().length >= 2 && frames().length >= 1, 2000, 'both delivered');
    const others = transport.writes.flat().map((bytes) => JSON.parse(framePayload(bytes)).data.items);
    assert.deepEqual(others, [['mine'], ['all']]);
    assert.deepEqual(
      frames().map((f) => f.data.items),
      [['all']],
      'the sender does not get its own',
    );
  });
});

describe('NodeDelivery: holds and fences of a recovering connection', () => {
  it('sends the replay, then what was pushed while held, with presence events in their place among the pushes', async () => {
    const { delivery, conn, frames } = node();
    const token = delivery.hold(conn, 'chat:1');
    delivery.receive({ kind: 'room', room: 'chat:1', items: ['"a"'], position: { first: 5, epoch: 'E' } });
    await new Promise((resolve) => setImmediate(resolve)); // the merger flushes "a" into the hold
    delivery.roomFrame('chat:1', new PresenceFrame({ room: 'chat:1', event: 'join', conn: 'other', user: 'bob', node: 'node' }), [conn]);
    delivery.receive({ kind: 'room', room: 'chat:1', items: ['"b"'], position: { first: 6, epoch: 'E' } });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(frames().length, 0, 'nothing reaches a held connection');
    delivery.sendTo(conn, new PushBatch(['"r3"', '"r4"', '"a"'], 'chat:1', { offset: 5, epoch: 'E' }));
    delivery.release(conn, 'chat:1', { offset: 5, epoch: 'E' }, token);
    await waitFor(() => frames().length >= 3, 2000, 'the replay and what followed');
    assert.deepEqual(
      frames().map((f) => (f.type === 'PUSH' ? f.data.items : f.type)),
      [['r3', 'r4', 'a'], 'PRESENCE_EVENT', ['b']],
      '"a" (in the replay) is cut, the presence event comes between "a" and "b"',
    );
    assert.equal(delivery.heldCount, 0, 'the fence went with the first batch past the replay');
  });

  it('drops the fence of a connection that leaves the room', () => {
    const { hub, delivery, conn } = node();
    const token = delivery.hold(conn, 'chat:1');
    delivery.release(conn, 'chat:1', { offset: 9, epoch: 'E' }, token);
    assert.equal(delivery.heldCount, 1);
    hub.leave(conn, 'chat:1');
    delivery.left(conn, 'chat:1');
    assert.equal(delivery.heldCount, 0);
  });
});
