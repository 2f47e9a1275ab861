import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { GatewayOptions } from '../../src/config/options.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { memoryLogger } from '../helpers/log.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

/**
 * The push API's own bounds, driven with raw TCP sockets: a request whose headers or body stall is
 * cut after apiHeadersTimeout / apiRequestTimeout (here 0.5 s / 1 s), counted in apiRequestsAborted
 * and logged once at debug level (never as an error), and at most apiMaxConnections sockets are held.
 */

interface RawClient {
  socket: Socket;
  /** Everything the server wrote, as latin1. */
  answer: () => string;
  /** Resolves when the socket closes, with ms since it connected. */
  closed: Promise<number>;
}

async function rawClient(port: number): Promise<RawClient> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - start)));
  await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), 3000, 'the TCP connection');
  const start = performance.now();
  return { socket, answer: () => answer, closed };
}

/** A push whose body is `missing` bytes short of its Content-Length. */
function shortPush(port: number, missing: number, expectContinue = false): string {
  const body = `{"items":["${'x'.repeat(1000)}"]}`;
  return `POST /push/all HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length + missing}\r\n${expectContinue ? 'Expect: 100-continue\r\n' : ''}\r\n${body}`;
}

/** Only a request never cut fails on this bound; how soon after its timeout Node cuts it is not asserted (load delays it). */
const CUT_WITHIN_MS = 20_000;

describe('push API: stalled requests', () => {
  let gw: RunningGateway;
  let port: number;
  let logs: ReturnType<typeof memoryLogger>;
  const options: Partial<GatewayOptions> = { apiHeadersTimeout: 0.5, apiRequestTimeout: 1 };
  before(async () => {
    logs = memoryLogger();
    gw = await startGateway(options, logs.log);
    port = Number(new URL(gw.apiUrl).port);
  });
  after(() => gw?.close());

  const aborted = (): number => gw.gateway.snapshot().apiRequestsAborted as number;

  it('cuts 20 bodies that stall short of their Content-Length, answers 408, counts each once and logs no error', async () => {
    const before = aborted();
    const clients = await Promise.all(Array.from({ length: 20 }, () => rawClient(port)));
    for (const client of clients) client.socket.write(shortPush(port, 576));
    const times = await withTimeout(Promise.all(clients.map((c) => c.closed)), CUT_WITHIN_MS, 'the stalled bodies to be cut');
    // Not before the request timeout: Node's timers never fire early, and load only makes the cut later.
    assert.ok(Math.min(...times) >= 900, `cut after ${Math.min(...times)} ms, before the 1 s request timeout`);
    for (const client of clients) assert.match(client.answer(), /^HTTP\/1\.1 408 .*"code":"REQUEST_TIMEOUT"/s);
    await waitFor(() => aborted() === before + 20, 3000, `20 aborted requests (have ${aborted() - before})`);
    const cut = logs.lines().filter((l) => l.msg === 'push API request cut before it was complete');
    assert.equal(cut.length, 20);
    for (const line of cut) {
      assert.equal(line.level, 20, 'logged at debug');
      assert.equal(line.err, undefined, 'no error object, no stack');
      assert.equal(line.reason, 'timeout');
    }
    assert.deepEqual(
      logs.lines().filter((l) => (l.level as number) >= 50),
      [],
      'no error-level line',
    );
  });

  it('cuts a request whose headers stall, and one that sends nothing, counting both', async () => {
    const before = aborted();
    const [dripping, silent] = [await rawClient(port), await rawClient(port)];
    dripping.socket.write(`POST /push/all HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n`);
    await withTimeout(Promise.all([dripping.closed, silent.closed]), CUT_WITHIN_MS, 'the stalled headers to be cut');
    await waitFor(() => aborted() === before + 2, 3000, `2 aborted requests (have ${aborted() - before})`);
    assert.deepEqual(
      logs.lines().filter((l) => (l.level as number) >= 50),
      [],
      'no error-level line',
    );
  });

  it('serves a push sent in time on the same kind of connection', async () => {
    const res = await fetch(`${gw.apiUrl}/push/all`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"items":[1]}' });
    assert.equal(res.status, 200);
  });

  it('shows apiRequestsAborted and apiConnectionsDropped in /stats and /metrics', async () => {
    const stats = await (await fetch(`${gw.apiUrl}/stats`)).json();
    assert.equal(stats.apiRequestsAborted, aborted());
    assert.equal(typeof stats.apiConnectionsDropped, 'number');
    const metrics = await (await fetch(`${gw.apiUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`^pushgate_api_requests_aborted_total\\{node="[0-9a-f]+"\\} ${aborted()}$`, 'm'));
    assert.match(metrics, /^pushgate_api_connections_dropped_total\{node="[0-9a-f]+"\} 0$/m);
  });
});

describe('push API: a client that goes away mid-body (default options)', () => {
  let gw: RunningGateway | undefined;
  after(() => gw?.close());

  it('counts the aborted request and logs it once at debug level, without an error or a stack', async () => {
    const logs = memoryLogger();
    gw = await startGateway({}, logs.log);
    const { gateway } = gw;
    const port = Number(new URL(gw.apiUrl).port);
    const clients = await Promise.all(Array.from({ length: 5 }, () => rawClient(port)));
    for (const client of clients) client.socket.write(shortPush(port, 576, true));
    // Once the server has read the headers (it answers 100 Continue), the client gives up.
    await waitFor(() => clients.every((c) => c.answer().startsWith('HTTP/1.1 100')), 3000, 'every request to be read');
    for (const client of clients) client.socket.destroy();
    await waitFor(() => gateway.snapshot().apiRequestsAborted === 5, 3000, '5 aborted requests');
    const cut = logs.lines().filter((l) => l.msg === 'push API request cut before it was complete');
    assert.equal(cut.length, 5);
    for (const line of cut) assert.deepEqual([line.level, line.err, line.reason], [20, undefined, 'closed']);
    assert.deepEqual(
      logs.lines().filter((l) => (l.level as number) >= 50),
      [],
      'no error-level line',
    );
  });
});

describe('push API: apiMaxConnections', () => {
  let gw: RunningGateway;
  let port: number;
  const held: RawClient[] = [];
  before(async () => {
    gw = await startGateway({ apiMaxConnections: 5, apiRequestTimeout: 30, apiHeadersTimeout: 30 });
    port = Number(new URL(gw.apiUrl).port);
  });
  after(async () => {
    held.forEach((c) => c.socket.destroy());
    await gw.close();
  });

  it('holds at most 5 connections, drops and counts the rest, and serves again once one goes', async () => {
    for (let i = 0; i < 5; i++) {
      const client = await rawClient(port);
      held.push(client);
      client.socket.write(shortPush(port, 100, true));
    }
    await waitFor(() => held.every((c) => c.answer().startsWith('HTTP/1.1 100')), 3000, 'the 5 requests to be read');
    const extra = await rawClient(port);
    // Dropped at once rather than held until its 30 s request timeout: only that (or a hang) outlasts this bound.
    await withTimeout(extra.closed, 10_000, 'the 6th connection to be dropped');
    assert.equal(extra.answer(), '', 'dropped without an answer');
    assert.equal(gw.gateway.snapshot().apiConnectionsDropped, 1);
    // One of the five finishes and goes: a new connection is served (the server sees the close asynchronously).
    const first = held.shift()!;
    first.socket.end('x'.repeat(100));
    await withTimeout(first.closed, 3000, "the finished request's connection to close");
    let served = false;
    for (let attempt = 0; attempt < 20 && !served; attempt++) {
      const probe = await rawClient(port);
      probe.socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      await withTimeout(probe.closed, 3000, 'the probe to be answered or dropped');
      served = probe.answer().startsWith('HTTP/1.1 200');
      if (!served) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(served, 'a new connection is served once one of the five is gone');
  });
});
