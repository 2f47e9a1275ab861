import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { type CloseInfo, Connection, type ConnectionHandler, type ConnectionLimits } from '../../src/connection/connection.js';
import { ConnectionClosedError } from '../../src/connection/inbound-queue.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { prepareFrame } from '../../src/protocol/prepared-frame.js';
import { FakeTransport } from '../helpers/fake-transport.js';

/** A connection over a fake transport, with a handler recording what it is told. */
function connection(limits: Partial<ConnectionLimits> = {}, withHandler = true) {
  const transport = new FakeTransport();
  const events = { messages: [] as Array<string | Buffer>, closes: [] as CloseInfo[], slow: 0, probes: [] as number[] };
  const handler: ConnectionHandler = {
    onMessage: (_conn, message) => void events.messages.push(message),
    onClose: (_conn, info) => void events.closes.push(info),
    onSlow: () => void events.slow++,
    onProbe: (_conn, rttMs) => void events.probes.push(rttMs),
  };
  const conn = new Connection(
    transport,
    'c-1',
    goPushProtocol,
    { maxQueueBytes: 1000, maxInboundMessages: 2, maxClientRate: 0, ...limits },
    withHandler ? handler : null,
  );
  return { conn, transport, events };
}

describe('Connection over a transport', () => {
  afterEach(() => mock.timers.reset());

  it('probes one at a time and tells the handler the round trip when the client answers (fake clock)', () => {
    mock.timers.enable({ apis: ['Date'], now: 1000 });
    const { conn, transport, events } = connection();
    assert.equal(conn.probe(), true);
    assert.equal(conn.probe(), false, 'one probe out at a time');
    assert.equal(transport.probes, 1);
    mock.timers.tick(250);
    assert.equal(conn.probeAgeMs(), 250);
    transport.sink?.transportPong();
    assert.deepEqual(events.probes, [250]);
    assert.equal(conn.probeAgeMs(), 0);
    // A pong nobody asked for (the client's own) only shows the client is alive.
    transport.sink?.transportPong();
    assert.deepEqual(events.probes, [250]);
    assert.equal(conn.lastSeen, 1250);
    conn.close(1000, 'bye');
    assert.equal(conn.probe(), false, 'no probe once closing');
  });

  it('sends messages through the transport, and prepared frames as their very bytes (one write for a batch)', () => {
    const { conn, transport } = connection();
    assert.equal(conn.protocol, goPushProtocol);
    assert.equal(conn.send('hello'), 'sent');
    assert.equal(conn.send(Buffer.from([1, 2])), 'sent');
    assert.deepEqual(transport.sent, ['hello', Buffer.from([1, 2])]);
    const [a, b] = [prepareFrame('a'), prepareFrame('b')];
    assert.equal(conn.sendPrepared(a), 'sent');
    assert.equal(conn.sendPreparedBatch([a, b]), 'sent');
    assert.equal(transport.writes.length, 2);
    assert.equal(transport.writes[0]![0], a.bytes, 'the same Buffer, not a copy');
    assert.deepEqual(transport.writes[1], [a.bytes, b.bytes]);
    assert.equal(conn.remoteAddress, '192.0.2.1');
  });

  it('disconnects a slow consumer with 1013 once its queue is full, and an empty queue takes any message', () => {
    const { conn, transport, events } = connection({ maxQueueBytes: 100 });
    assert.equal(conn.send('x'.repeat(500)), 'sent', 'an empty queue takes a message larger than the limit');
    transport.queued = 90;
    assert.equal(conn.send('x'.repeat(10)), 'sent', 'fits: 90 + 10 <= 100');
    assert.equal(conn.sendPrepared(prepareFrame('y'.repeat(20))), 'slow');
    assert.equal(events.slow, 1);
    assert.deepEqual(transport.closedWith, { code: 1013, reason: 'slow consumer' });
    assert.deepEqual(events.closes, [{ code: 1013, reason: 'slow consumer', by: 'server' }]);
    assert.equal(conn.send('z'), 'closed');
    assert.equal(transport.sent.length, 2);
  });

  it('closes once: one close on the transport, one onClose, and `closed` resolves when the transport is gone', async () => {
    const { conn, transport, events } = connection();
    conn.close(4100, 'bye');
    conn.close(1000, 'again');
    conn.terminate();
    assert.equal(transport.closeCalls, 1);
    assert.deepEqual(transport.closedWith, { code: 4100, reason: 'bye' });
    assert.equal(conn.isOpen, false);
    assert.equal(conn.isClosed, false, 'until the transport reports the socket gone');
    transport.gone(4100, 'bye');
    assert.deepEqual(await conn.closed, { code: 4100, reason: 'bye', by: 'server' });
    assert.equal(conn.isClosed, true);
    assert.equal(transport.detached, true, 'a closed connection lets go of its transport');
    assert.equal(events.closes.length, 1);
    assert.equal(conn.send('late'), 'closed');
  });

  it("reports the client's close, and a send after the client's close frame as closed", () => {
    const first = connection();
    first.transport.gone(4321, 'leaving');
    assert.deepEqual(first.events.closes, [{ code: 4321, reason: 'leaving', by: 'client' }]);
    const second = connection();
    second.transport.peerClosing();
    assert.equal(second.conn.send('x'), 'closed');
    assert.deepEqual(second.events.closes, [{ code: 1000, reason: 'closed by the client', by: 'client' }]);
  });

  it('settles at once over a transport that is no longer open', async () => {
    const transport = new FakeTransport(false);
    const conn = new Connection(transport, 'c-2', goPushProtocol);
    assert.equal(conn.isClosed, true);
    assert.equal(conn.send('x'), 'closed');
    assert.equal((await conn.closed).code, 1006);
  });

  it('closes a client over its message rate with 1008, after the messages within it', () => {
    const { transport, events } = connection({ maxClientRate: 2 });
    for (let i = 0; i < 5; i++) transport.receive(`m${i}`);
    assert.deepEqual(events.messages, ['m0', 'm1'], 'a burst of the rate, then the close');
    assert.deepEqual(transport.closedWith, { code: 1008, reason: 'message rate limit exceeded' });
  });

  it('queues messages for a reader, pausing the transport while the queue is full', async () => {
    const { conn, transport } = connection({ maxInboundMessages: 2 }, false);
    transport.receive('a');
    transport.receive('b');
    assert.equal(transport.paused, true);
    assert.equal(await conn.readMessage(), 'a');
    assert.equal(transport.paused, false);
    assert.equal(await conn.readMessage(), 'b');
    transport.gone();
    await assert.rejects(conn.readMessage(), ConnectionClosedError);
  });

  it('counts messages, pings and pongs as signs of life', () => {
    mock.timers.enable({ apis: ['Date'], now: 1000 });
    const { conn, transport } = connection();
    assert.equal(conn.lastSeen, 1000);
    mock.timers.tick(5000);
    transport.sink?.transportAlive();
    assert.equal(conn.lastSeen, 6000);
    mock.timers.tick(5000);
    transport.receive('hi');
    assert.equal(conn.lastSeen, 11000);
  });
});
