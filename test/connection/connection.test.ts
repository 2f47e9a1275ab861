import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ConnectionHandler, ConnectionLimits } from '../../src/connection/connection.js';
import { ConnectionClosedError } from '../../src/connection/inbound-queue.js';
import { connectionFromWebSocket } from '../../src/transport/ws-connection.js';
import { TestClient } from '../helpers/client.js';
import { withTimeout } from '../helpers/wait.js';

/** A bare ws server whose accepted sockets the test wraps itself. */
function serve(): Promise<{ url: string; next(): Promise<WebSocket>; close(): Promise<void> }> {
  const server: Server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const waiting: Array<(ws: WebSocket) => void> = [];
  const ready: WebSocket[] = [];
  wss.on('connection', (ws) => {
    const waiter = waiting.shift();
    if (waiter) waiter(ws);
    else ready.push(ws);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
        next: () =>
          withTimeout(
            new Promise<WebSocket>((r) => {
              const ws = ready.shift();
              if (ws) r(ws);
              else waiting.push(r);
            }),
            3000,
            'a connection',
          ),
        close: () =>
          new Promise<void>((r) => {
            for (const c of wss.clients) c.terminate();
            wss.close();
            server.close(() => r());
          }),
      }),
    ),
  );
}

describe('Connection', () => {
  let srv: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    srv = await serve();
  });
  after(() => srv.close());

  async function pair(limits?: Partial<ConnectionLimits>, handler: ConnectionHandler | null = null) {
    const client = await TestClient.open(srv.url);
    const conn = connectionFromWebSocket(await srv.next(), 't-1', { maxQueueBytes: 1 << 20, maxInboundMessages: 4, maxClientRate: 0, ...limits }, handler);
    return { client, conn };
  }

  it('reads messages with readMessage and as an async iterator, in order', async () => {
    const { client, conn } = await pair();
    client.send('one');
    client.send('two');
    assert.equal(await conn.readMessage(), 'one');
    client.send(Buffer.from([9]));
    client.send('three');
    const seen: Array<string | Buffer> = [];
    // The client closes once all three arrived; the iteration then ends by itself.
    await withTimeout(
      (async () => {
        for await (const message of conn) {
          seen.push(message);
          if (seen.length === 3) client.close();
        }
      })(),
      3000,
      'the iteration to end with the connection',
    );
    assert.deepEqual(seen, ['two', Buffer.from([9]), 'three']);
    await assert.rejects(conn.readMessage(), ConnectionClosedError);
  });

  it('sends text and binary, and reports "closed" after close instead of throwing', async () => {
    const { client, conn } = await pair();
    assert.equal(conn.send('hello'), 'sent');
    assert.equal((await client.next()).data, 'hello');
    conn.close(4100, 'bye');
    assert.equal(conn.send('late'), 'closed');
    assert.equal(conn.isOpen, false);
    assert.deepEqual(await client.waitClosed(), { code: 4100, reason: 'bye' });
    assert.deepEqual(await withTimeout(conn.closed, 3000, 'closed'), { code: 4100, reason: 'bye', by: 'server' });
    assert.equal(conn.isClosed, true);
    assert.equal(conn.send('later'), 'closed');
  });

  it('closes idempotently, calling the handler once', async () => {
    let closes = 0;
    const { client, conn } = await pair({}, { onMessage() {}, onClose: () => void closes++ });
    conn.close(1000, 'first');
    conn.close(1001, 'second');
    conn.terminate();
    await withTimeout(conn.closed, 3000, 'closed');
    conn.close();
    assert.equal(closes, 1);
    assert.equal((await conn.closed).reason, 'first');
    await client.waitClosed();
  });

  it('cuts a close reason to the 123 bytes a close frame can hold, instead of throwing', async () => {
    const { client, conn } = await pair();
    conn.close(4000, 'é'.repeat(100));
    const { reason } = await client.waitClosed();
    assert.equal(reason, 'é'.repeat(61));
    assert.equal((await conn.closed).reason, 'é'.repeat(61));
  });

  it('refuses a close code that cannot be sent, before changing anything', async () => {
    const { client, conn } = await pair();
    for (const code of [999, 1005, 1006, 1015, 5000]) assert.throws(() => conn.close(code), TypeError);
    assert.equal(conn.isOpen, true);
    conn.close(1000);
    assert.equal((await client.waitClosed()).code, 1000);
  });

  it('settles at once when given a socket that is already closed', async () => {
    const client = await TestClient.open(srv.url);
    const ws = await srv.next();
    client.terminate();
    await new Promise<void>((resolve) => ws.once('close', () => resolve()));
    const conn = connectionFromWebSocket(ws, 't-2');
    assert.equal(conn.isClosed, true);
    assert.equal(conn.send('x'), 'closed');
    assert.equal((await withTimeout(conn.closed, 1000, 'closed')).code, 1006);
  });

  it("reports a client-side close with the client's code", async () => {
    const { client, conn } = await pair();
    client.ws.close(4321, 'leaving');
    assert.deepEqual(await withTimeout(conn.closed, 3000, 'closed'), { code: 4321, reason: 'leaving', by: 'client' });
  });

  it('pauses the socket while its in queue is full, and resumes when it is read', async () => {
    const { client, conn } = await pair({ maxInboundMessages: 2 });
    for (let i = 0; i < 6; i++) client.send(String(i));
    const read: string[] = [];
    for (let i = 0; i < 6; i++) read.push((await withTimeout(conn.readMessage(), 3000, `message ${i}`)) as string);
    assert.deepEqual(read, ['0', '1', '2', '3', '4', '5']);
    client.close();
  });

  it('disconnects a client that does not read with 1013, bounding its queue', async () => {
    const maxQueueBytes = 256 * 1024;
    let slow = 0;
    const { client, conn } = await pair({ maxQueueBytes }, { onMessage() {}, onClose() {}, onSlow: () => void slow++ });
    // The client stops reading: the kernel buffers fill, then the socket's own queue.
    client.pauseReading();
    const chunk = 'x'.repeat(64 * 1024);
    let result = 'sent';
    let sends = 0;
    let maxQueued = 0;
    while (result === 'sent' && sends < 2000) {
      maxQueued = Math.max(maxQueued, conn.queuedBytes);
      result = conn.send(chunk);
      sends += 1;
      if (sends % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.equal(result, 'slow');
    assert.equal(slow, 1);
    assert.ok(maxQueued <= maxQueueBytes + chunk.length + 16, `queue stayed bounded (${maxQueued} bytes)`);
    assert.equal(conn.send(chunk), 'closed');
    client.resumeReading();
    assert.equal((await client.waitClosed(10000)).code, 1013);
  });

  it('lets a message through at rates below one per second', async () => {
    const received: unknown[] = [];
    const { client, conn } = await pair({ maxClientRate: 0.5 }, { onMessage: (_c, m) => void received.push(m), onClose() {} });
    client.send('one');
    client.send('two');
    assert.equal((await client.waitClosed()).code, 1008, 'the second, within two seconds, is over the rate');
    assert.deepEqual(received, ['one']);
    assert.equal((await conn.closed).code, 1008);
  });

  it('closes a client over its message rate with 1008', async () => {
    const { client, conn } = await pair({ maxClientRate: 10 }, { onMessage() {}, onClose() {} });
    for (let i = 0; i < 30; i++) client.send('spam');
    assert.equal((await client.waitClosed()).code, 1008);
    assert.equal((await conn.closed).code, 1008);
  });
});
