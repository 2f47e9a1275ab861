import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

/**
 * Slowloris: clients that hold a connection open by sending their handshake slowly, or not at all.
 * `handshakeTimeout` (here 1 s) bounds how long a handshake may take; the HTTP server checks every
 * quarter of it, so a slow client is cut between 1 and ~1.5 s after it connected.
 *
 * A slow *consumer* (a client that stops reading pushes) is the other half of this threat: it is
 * covered by test/gateway/slow-consumer.test.ts (closed with 1013, its queue bounded by maxQueueBytes).
 */

const LIMIT_MS = 3000;

/** Opens a raw TCP connection; resolves once connected, with a promise of when and how it ends. */
async function rawSocket(port: number): Promise<{ socket: Socket; closed: Promise<{ afterMs: number; answer: string }> }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), 3000, 'the TCP connection');
  const start = Date.now();
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  const closed = new Promise<{ afterMs: number; answer: string }>((resolve) => socket.once('close', () => resolve({ afterMs: Date.now() - start, answer })));
  return { socket, closed };
}

describe('slowloris', () => {
  let gw: RunningGateway;
  let port: number;
  before(async () => {
    gw = await startGateway({ handshakeTimeout: 1 });
    port = Number(new URL(gw.pageUrl).port);
  });
  after(() => gw.close());

  it('cuts a client that sends its upgrade request one header line at a time, and serves others meanwhile', async () => {
    const { socket, closed } = await rawSocket(port);
    const lines = [
      'GET /connect HTTP/1.1\r\n',
      `Host: 127.0.0.1:${port}\r\n`,
      'Upgrade: websocket\r\n',
      'Connection: Upgrade\r\n',
      'Sec-WebSocket-Version: 13\r\n',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
    ];
    let sent = 0;
    // One line every 300 ms, then filler headers forever (bounded by the loop): never the final CRLF.
    const dripping = (async () => {
      for (let i = 0; i < 40 && !socket.destroyed; i++) {
        socket.write(lines[i] ?? `X-Filler-${i}: ${'a'.repeat(10)}\r\n`);
        sent += 1;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
    // Meanwhile (once the drip is under way) another client connects and is served normally.
    await waitFor(() => sent >= 2, 2000, 'the drip to start');
    const other = await gw.connect();
    assert.equal((await other.request('PING')).type, 'PONG');
    const { afterMs, answer } = await withTimeout(closed, LIMIT_MS + 1000, 'the slow handshake to be cut');
    await dripping;
    assert.ok(afterMs <= LIMIT_MS, `cut after ${afterMs} ms`);
    assert.ok(afterMs >= 900, `cut after ${afterMs} ms, before the 1 s handshake timeout`);
    assert.ok(sent < lines.length + 6, `${sent} lines were accepted`);
    // The listener's clientError handler answers every client error, the timeout included, with 400.
    assert.ok(answer === '' || /^HTTP\/1\.1 (400|408) /.test(answer), `answered ${JSON.stringify(answer.slice(0, 40))}`);
    // The other client was never disturbed, and no WebSocket came into being for the slow one.
    assert.equal((await other.request('PING')).type, 'PONG');
    assert.equal(gw.gateway.snapshot().onlineConnections, 1);
    other.close();
  });

  it('cuts a client that connects and sends nothing', async () => {
    const { closed } = await rawSocket(port);
    const { afterMs } = await withTimeout(closed, LIMIT_MS + 1000, 'the silent connection to be cut');
    assert.ok(afterMs <= LIMIT_MS, `cut after ${afterMs} ms`);
  });

  it('cuts many slow clients at once while a normal client keeps working', async () => {
    const slow = await Promise.all(Array.from({ length: 50 }, () => rawSocket(port)));
    for (const { socket } of slow) socket.write('GET /connect HTTP/1.1\r\nHost: x\r\n');
    const client = await gw.connect();
    for (let i = 0; i < 5; i++) {
      assert.equal((await client.request('PING')).type, 'PONG');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const results = await withTimeout(Promise.all(slow.map((s) => s.closed)), LIMIT_MS + 1000, 'every slow client to be cut');
    const slowest = Math.max(...results.map((r) => r.afterMs));
    assert.ok(slowest <= LIMIT_MS, `the slowest was cut after ${slowest} ms`);
    assert.equal((await client.request('PING')).type, 'PONG');
    client.close();
  });
});
