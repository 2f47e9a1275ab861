import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

/**
 * Slowloris: clients that hold a connection open by sending their handshake slowly, or not at all.
 * `handshakeTimeout` (here 1 s) bounds how long a handshake may take; the HTTP server checks every
 * quarter of it, so a slow client is cut between 1 and ~1.5 s after it connected. The tests assert the
 * lower bound (timers never fire early) and that the cut comes while the client is still dripping
 * (ordering); how soon after the timeout is not asserted, since a loaded machine delays every timer.
 *
 * A slow *consumer* (a client that stops reading pushes) is the other half of this threat: it is
 * covered by test/gateway/slow-consumer.test.ts (closed with 1013, its queue bounded by maxQueueBytes).
 */

/** Only a slow client that is never cut fails on this bound. */
const HANG_MS = 20_000;

/** Opens a raw TCP connection; resolves once connected, with a promise of when and how it ends. */
async function rawSocket(port: number): Promise<{ socket: Socket; closed: Promise<{ afterMs: number; answer: string }> }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), 3000, 'the TCP connection');
  const start = performance.now();
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  const closed = new Promise<{ afterMs: number; answer: string }>((resolve) =>
    socket.once('close', () => resolve({ afterMs: performance.now() - start, answer })),
  );
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
    let dripEnded = false;
    // One line every 300 ms, then filler headers (bounded by the loop: 40 lines, 12 s): never the final CRLF.
    const dripping = (async () => {
      for (let i = 0; i < 40 && !socket.destroyed; i++) {
        socket.write(lines[i] ?? `X-Filler-${i}: ${'a'.repeat(10)}\r\n`);
        sent += 1;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      dripEnded = true;
    })();
    // Meanwhile (once the drip is under way) another client connects and is served normally.
    await waitFor(() => sent >= 2, 5000, 'the drip to start');
    const other = await gw.connect();
    assert.equal((await other.request('PING')).type, 'PONG');
    const { afterMs, answer } = await withTimeout(closed, HANG_MS, 'the slow handshake to be cut');
    // Cut while it was still sending header lines: activity does not extend the handshake timeout.
    assert.equal(dripEnded, false, `the drip ran its 40 lines (12 s) without being cut`);
    await dripping;
    assert.ok(afterMs >= 900, `cut after ${afterMs} ms, before the 1 s handshake timeout`);
    assert.ok(sent < 40, `${sent} lines were accepted`);
    // The listener's clientError handler answers every client error, the timeout included, with 400.
    assert.ok(answer === '' || /^HTTP\/1\.1 (400|408) /.test(answer), `answered ${JSON.stringify(answer.slice(0, 40))}`);
    // The other client was never disturbed, and no WebSocket came into being for the slow one.
    assert.equal((await other.request('PING')).type, 'PONG');
    assert.equal(gw.gateway.snapshot().onlineConnections, 1);
    other.close();
  });

  it('cuts a client that connects and sends nothing', async () => {
    const { closed } = await rawSocket(port);
    const { afterMs } = await withTimeout(closed, HANG_MS, 'the silent connection to be cut');
    assert.ok(afterMs >= 900, `cut after ${afterMs} ms, before the 1 s handshake timeout`);
  });

  it('cuts many slow clients at once while a normal client keeps working', async () => {
    const slow = await Promise.all(Array.from({ length: 50 }, () => rawSocket(port)));
    for (const { socket } of slow) socket.write('GET /connect HTTP/1.1\r\nHost: x\r\n');
    const client = await gw.connect();
    // The normal client is answered while the 50 slow ones are held, and after they are cut.
    assert.equal((await client.request('PING')).type, 'PONG');
    const results = await withTimeout(Promise.all(slow.map((s) => s.closed)), HANG_MS, 'every slow client to be cut');
    const first = Math.min(...results.map((r) => r.afterMs));
    assert.ok(first >= 900, `one was cut after ${first} ms, before the 1 s handshake timeout`);
    assert.equal((await client.request('PING')).type, 'PONG');
    client.close();
  });
});
