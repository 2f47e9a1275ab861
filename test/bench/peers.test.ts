import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { TestClient } from '../helpers/client.js';
import { type Child, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

/**
 * Smoke test of the benchmark's peer servers (bench/peers): each one started as the benchmark starts it,
 * on two loopback addresses, with real clients on both, pushed to through its HTTP push API.
 */

const LISTENING = /^listening ws=(127\.0\.0\.1):(\d+) api=(127\.0\.0\.1):(\d+)$/m;
const ARGS = ['--host', '127.0.0.1,127.0.0.2', '--port', '0', '--api-port', '0', '--api-host', '127.0.0.1'];

const children: Child[] = [];
after(async () => {
  // Whatever a failed test left running: SIGTERM by PID, and it must be gone within 5 s.
  for (const child of children) {
    if (child.child.exitCode === null && child.child.signalCode === null) assert.equal(await child.stop(5000), 0);
  }
});

interface Peer {
  child: Child;
  wsPort: number;
  api: string;
}

async function startPeer(script: string): Promise<Peer> {
  const child = startNode(script, ARGS);
  children.push(child);
  const [, , wsPort, , apiPort] = await child.waitForLine(LISTENING, 10_000);
  assert.notEqual(Number(wsPort), 0);
  return { child, wsPort: Number(wsPort), api: `http://127.0.0.1:${apiPort}` };
}

async function api(peer: Peer, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> {
  const res = await fetch(peer.api + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': contentType },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: await res.json() };
}

/** Polls `GET /stats` until it equals `expected`, for at most 5 s. */
async function statsBecome(peer: Peer, expected: { onlineConnections: number; roomCount: number }): Promise<void> {
  const deadline = Date.now() + 5000;
  let last: unknown;
  while (Date.now() < deadline) {
    last = (await api(peer, 'GET', '/stats')).body;
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(last, expected, 'stats within 5 s');
}

/** The answers every peer gives to bad requests. */
async function checkApiErrors(peer: Peer): Promise<void> {
  assert.deepEqual(await api(peer, 'GET', '/healthz'), { status: 200, body: { ok: true } });
  for (const [body, code] of [
    ['{"items":[1', 'INVALID_BODY'],
    [{ items: [] }, 'INVALID_BODY'],
    [{ items: 'x' }, 'INVALID_BODY'],
    [[1], 'INVALID_BODY'],
  ] as const) {
    const res = await api(peer, 'POST', '/push/all', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.ok, false);
    assert.equal(res.body.error.code, code);
  }
  const noRoom = await api(peer, 'POST', '/push/room', { items: [1] });
  assert.equal(noRoom.status, 400);
  assert.equal(noRoom.body.error.code, 'INVALID_BODY');
  const form = await api(peer, 'POST', '/push/all', 'items=[1]', 'application/x-www-form-urlencoded');
  assert.equal(form.status, 415);
  assert.equal(form.body.ok, false);
  const missing = await api(peer, 'GET', '/push/all');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'NOT_FOUND');
  assert.equal((await api(peer, 'GET', '/nope')).status, 404);
}

describe('bench peer: ws-server', () => {
  let peer: Peer;
  let a: TestClient;
  let b: TestClient;
  before(async () => {
    peer = await startPeer('dist/bench/peers/ws-server.js');
  });

  it('accepts clients on every --host address, at /connect and /ws', async () => {
    a = await TestClient.open(`ws://127.0.0.1:${peer.wsPort}/connect`);
    b = await TestClient.open(`ws://127.0.0.2:${peer.wsPort}/ws`);
    await assert.rejects(TestClient.open(`ws://127.0.0.1:${peer.wsPort}/other`), { status: 404 });
    await statsBecome(peer, { onlineConnections: 2, roomCount: 0 });
  });

  it('answers PING with PONG and takes JOIN, with go-push frames and with the id extension', async () => {
    a.send({ type: 'JOIN', data: { room: 'news' } });
    a.send({ type: 'PING', data: {} });
    assert.deepEqual(await a.next(), { type: 'PONG', data: {} }); // JOIN came first, on the same socket
    const ack = await b.request('JOIN', { room: 'other' });
    assert.equal(ack.type, 'ACK');
    assert.equal((await b.request('PING')).type, 'PONG');
    a.send('not json'); // ignored, the connection stays
    await statsBecome(peer, { onlineConnections: 2, roomCount: 2 });
  });

  it('pushes to all: one frame per push, built once', async () => {
    const res = await api(peer, 'POST', '/push/all', { items: [{ n: 1 }, 'two'] });
    assert.deepEqual(res, { status: 200, body: { ok: true, items: 2, recipients: 2 } });
    for (const client of [a, b]) assert.deepEqual(await client.next(), { type: 'PUSH', data: { items: [{ n: 1 }, 'two'] } });
  });

  it('pushes to a room only to its members', async () => {
    const res = await api(peer, 'POST', '/push/room', { room: 'news', items: [1, 2] });
    assert.deepEqual(res, { status: 200, body: { ok: true, items: 2, recipients: 1 } });
    assert.deepEqual(await a.next(), { type: 'PUSH', data: { room: 'news', items: [1, 2] } });
    // A marker pushed to all after the room push: b's next frame must be the marker.
    await api(peer, 'POST', '/push/all', { items: ['marker'] });
    assert.deepEqual(await b.next(), { type: 'PUSH', data: { items: ['marker'] } });
    assert.deepEqual(await a.next(), { type: 'PUSH', data: { items: ['marker'] } });
    assert.deepEqual((await api(peer, 'POST', '/push/room', { room: 'nobody', items: [1] })).body, { ok: true, items: 1, recipients: 0 });
  });

  it('forgets rooms on LEAVE and on close', async () => {
    assert.equal((await a.request('LEAVE', { room: 'news' })).type, 'ACK');
    assert.equal((await api(peer, 'POST', '/push/room', { room: 'news', items: [1] })).body.recipients, 0);
    b.close();
    await b.waitClosed();
    await statsBecome(peer, { onlineConnections: 1, roomCount: 0 });
  });

  it('refuses bad push API requests', () => checkApiErrors(peer));

  it('closes its clients and exits 0 on SIGTERM', async () => {
    assert.equal(await peer.child.stop(5000), 0);
    assert.equal((await a.waitClosed(1000)).code, 1001);
  });
});

/**
 * A Socket.IO client speaking engine.io v4 / socket.io v5 over a raw `ws` client (socket.io-client is
 * not installed): `0{…}` open, `40` connect, `2`/`3` ping/pong, `42[…]` events, `43N[…]` acks.
 */
class SioClient {
  readonly events: unknown[][] = [];
  private read = 0;
  private waiter: (() => void) | null = null;
  private nextAck = 1;
  private readonly acks = new Map<number, (args: unknown[]) => void>();
  readonly connected: Promise<void>;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    let onConnect!: () => void;
    this.connected = new Promise((resolve) => (onConnect = resolve));
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        resolve(code);
        this.waiter?.();
      }),
    );
    ws.on('error', () => {});
    ws.on('message', (raw) => {
      const text = raw.toString();
      if (text.startsWith('0')) ws.send('40');
      else if (text === '2') ws.send('3');
      else if (text.startsWith('40')) onConnect();
      else if (text.startsWith('42')) {
        this.events.push(JSON.parse(text.slice(2)));
        this.waiter?.();
      } else if (text.startsWith('43')) {
        const [, id, args] = /^43(\d+)(.*)$/s.exec(text)!;
        this.acks.get(Number(id))?.(JSON.parse(args));
      }
    });
  }

  static async open(url: string): Promise<SioClient> {
    const ws = new WebSocket(url);
    const client = new SioClient(ws);
    await withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      }),
      5000,
      `connection to ${url}`,
    );
    await withTimeout(client.connected, 5000, 'the Socket.IO connect packet');
    return client;
  }

  emit(event: string, ...args: unknown[]): void {
    this.ws.send('42' + JSON.stringify([event, ...args]));
  }

  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    const id = this.nextAck++;
    const acked = new Promise<unknown[]>((resolve) => this.acks.set(id, resolve));
    this.ws.send(`42${id}` + JSON.stringify([event, ...args]));
    return withTimeout(acked, 3000, `the ack of ${event}`);
  }

  /** The next event not yet returned, as `[name, ...args]`. */
  async next(ms = 3000): Promise<unknown[]> {
    const deadline = Date.now() + ms;
    while (this.read >= this.events.length) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('connection closed while waiting for an event');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${ms} ms`);
      await withTimeout(new Promise<void>((resolve) => (this.waiter = resolve)), left, 'the next event').catch(() => {});
      this.waiter = null;
    }
    return this.events[this.read++];
  }
}

describe('bench peer: socketio-server', () => {
  let peer: Peer;
  let a: SioClient;
  let b: SioClient;
  const url = (host: string): string => `ws://${host}:${peer.wsPort}/socket.io/?EIO=4&transport=websocket`;
  before(async () => {
    peer = await startPeer('dist/bench/peers/socketio-server.js');
  });

  it('accepts Socket.IO clients on every --host address', async () => {
    a = await SioClient.open(url('127.0.0.1'));
    b = await SioClient.open(url('127.0.0.2'));
    await statsBecome(peer, { onlineConnections: 2, roomCount: 0 });
  });

  it('joins rooms on `join`, calling the ack when given', async () => {
    assert.deepEqual(await a.emitWithAck('join', 'news'), []);
    b.emit('join', 'other');
    await statsBecome(peer, { onlineConnections: 2, roomCount: 2 });
  });

  it('pushes to all: one `push` event per item', async () => {
    const res = await api(peer, 'POST', '/push/all', { items: [{ n: 1 }, 'two'] });
    assert.deepEqual(res, { status: 200, body: { ok: true, items: 2, recipients: 2 } });
    for (const client of [a, b]) {
      assert.deepEqual(await client.next(), ['push', { n: 1 }]);
      assert.deepEqual(await client.next(), ['push', 'two']);
    }
  });

  it('pushes to a room only to its members', async () => {
    const res = await api(peer, 'POST', '/push/room', { room: 'news', items: [1, 2] });
    assert.deepEqual(res, { status: 200, body: { ok: true, items: 2, recipients: 1 } });
    assert.deepEqual(await a.next(), ['push', 1]);
    assert.deepEqual(await a.next(), ['push', 2]);
    await api(peer, 'POST', '/push/all', { items: ['marker'] });
    assert.deepEqual(await b.next(), ['push', 'marker']); // and not the room's items
    assert.deepEqual(await a.next(), ['push', 'marker']);
  });

  it('forgets rooms on `leave` and on disconnect', async () => {
    await a.emitWithAck('leave', 'news');
    assert.equal((await api(peer, 'POST', '/push/room', { room: 'news', items: [1] })).body.recipients, 0);
    b.ws.close();
    await withTimeout(b.closed, 3000, 'b to close');
    await statsBecome(peer, { onlineConnections: 1, roomCount: 0 });
  });

  it('refuses bad push API requests', () => checkApiErrors(peer));

  it('closes its clients and exits 0 on SIGTERM', async () => {
    assert.equal(await peer.child.stop(5000), 0);
    await withTimeout(a.closed, 1000, 'the client to be closed');
  });
});
