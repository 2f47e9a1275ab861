import assert from 'node:assert/strict';
import { afterEach, describe, it, mock, type TestContext } from 'node:test';
import {
  type ClientOptions,
  connect,
  type PushgateClient,
  PushgateError,
  type ReconnectInfo,
  type WebSocketLike,
  WHOAMI_ROOM,
} from '../../src/client/client.js';
import { connect as nodeConnect } from '../../src/client/node.js';

/**
 * A WebSocket the test plays the server for: it records what the client sends, and opens, answers
 * and closes when told. Every instance made is kept in {@link FakeSocket.made}.
 */
class FakeSocket implements WebSocketLike {
  static made: FakeSocket[] = [];
  readyState = 0;
  readonly sent: any[] = [];
  private readonly listeners = new Map<string, Array<(event: any) => void>>();

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeSocket.made.push(this);
  }

  addEventListener(type: string, listener: (event: any) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.fire('close', { code, reason, wasClean: true });
  }

  /** The server side: accept the connection. */
  open(): void {
    this.readyState = 1;
    this.fire('open', {});
  }

  /** The server side: send a frame. */
  receive(message: unknown): void {
    this.fire('message', { data: JSON.stringify(message) });
  }

  /** The server side: answer the request with `id` with an ACK naming the connection. */
  ack(id: unknown, conn = 'fake-1'): void {
    this.receive({ type: 'ACK', id, data: { conn } });
  }

  /** The connection fails (refused or lost) without a close frame. */
  fail(): void {
    this.readyState = 3;
    this.fire('error', { message: 'connect ECONNREFUSED' });
    this.fire('close', { code: 1006, reason: '', wasClean: false });
  }

  private fire(type: string, event: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

const clients: PushgateClient[] = [];

function open(options: ClientOptions = {}): PushgateClient {
  const client = connect('ws://gateway.test/connect', { WebSocket: FakeSocket, heartbeatInterval: 0, ...options });
  clients.push(client);
  return client;
}

/** Opens the client's latest socket and answers its whoami LEAVE: the client is ready. */
function accept(conn = 'fake-1'): FakeSocket {
  const socket = FakeSocket.made.at(-1)!;
  socket.open();
  const whoami = socket.sent.at(-1);
  assert.deepEqual(whoami.data, { room: WHOAMI_ROOM });
  socket.ack(whoami.id, conn);
  return socket;
}

/** Settles microtasks: the client's promise callbacks run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  FakeSocket.made = [];
  mock.timers.reset();
});

describe('client SDK protocol (against a fake socket)', () => {
  it('learns its connection id from the ACK of a throwaway LEAVE, then is ready', () => {
    const client = open();
    const ready: string[] = [];
    client.on('ready', (conn) => ready.push(conn));
    assert.equal(client.state, 'connecting');
    accept('cafe0001-7');
    assert.equal(client.state, 'open');
    assert.equal(client.connId, 'cafe0001-7');
    assert.deepEqual(ready, ['cafe0001-7']);
  });

  it('sends calls made before the socket opens once it does, in order, and resolves them on their ACKs', async () => {
    const client = open();
    const joined = client.join('early');
    const left = client.leave('early');
    const socket = FakeSocket.made[0]!;
    socket.open();
    assert.deepEqual(
      socket.sent.map((m) => [m.type, m.data.room]),
      [
        ['JOIN', 'early'],
        ['LEAVE', 'early'],
      ],
    );
    for (const message of socket.sent) socket.ack(message.id);
    await Promise.all([joined, left]);
    assert.deepEqual(client.rooms, []);
    assert.equal(client.connId, 'fake-1', 'an ACK to its own call told the id: no whoami needed');
  });

  it("rejects a refused JOIN with the server's code and forgets the room", async () => {
    const client = open();
    const socket = accept();
    const joining = client.join('not a room');
    const join = socket.sent.at(-1);
    socket.receive({ type: 'ERROR', id: join.id, data: { code: 'INVALID_ROOM', message: 'bad room' } });
    const error = await joining.then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(error instanceof PushgateError);
    assert.equal(error.code, 'INVALID_ROOM');
    assert.equal(error.room, 'not a room');
    assert.deepEqual(client.rooms, []);
  });

  it('delivers PUSH frames with their items and room', () => {
    const client = open();
    const socket = accept();
    const pushes: Array<[unknown[], string | undefined]> = [];
    client.on('push', (items, room) => pushes.push([items, room]));
    socket.receive({ type: 'PUSH', data: { room: 'news', items: [{ a: 1 }, 2] } });
    socket.receive({ type: 'PUSH', data: { items: ['all'] } });
    assert.deepEqual(pushes, [
      [[{ a: 1 }, 2], 'news'],
      [['all'], undefined],
    ]);
  });

  it('rejoins its rooms on the next connection', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 10, maxReconnectDelay: 10 });
    let socket = accept();
    const joining = client.join('kept');
    socket.ack(socket.sent.at(-1).id);
    await joining;
    socket.fail();
    assert.equal(client.state, 'reconnecting');
    mock.timers.tick(10);
    assert.equal(FakeSocket.made.length, 2);
    socket = FakeSocket.made[1]!;
    socket.open();
    const rejoin = socket.sent.at(-1);
    assert.deepEqual([rejoin.type, rejoin.data.room], ['JOIN', 'kept']);
    socket.ack(rejoin.id, 'fake-2');
    assert.equal(client.connId, 'fake-2');
  });
});

describe('client SDK reconnection (fake timers)', () => {
  it('backs off exponentially with full jitter: attempt n comes exactly its delay, random × min(max, min × 2^n), after the last failure', (t: TestContext) => {
    // Deterministic jitter: random() is pinned just below 1, so each delay is its cap.
    const random = Math.random;
    Math.random = () => 0.999;
    t.after(() => {
      Math.random = random;
    });
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    const client = open({ minReconnectDelay: 10, maxReconnectDelay: 80 });
    const scheduled: ReconnectInfo[] = [];
    client.on('reconnect', (info) => scheduled.push(info));
    const caps = [10, 20, 40, 80, 80, 80, 80];
    for (const [n, cap] of caps.entries()) {
      FakeSocket.made.at(-1)!.fail();
      assert.equal(scheduled.length, n + 1);
      const { attempt, delay } = scheduled[n]!;
      assert.equal(attempt, n + 1);
      assert.ok(Math.abs(delay - 0.999 * cap) < 1e-9, `attempt ${attempt}: delay ${delay}`);
      // No attempt a moment before the delay is up; one as soon as it is.
      mock.timers.tick(delay - 0.5);
      assert.equal(FakeSocket.made.length, n + 1, `attempt ${attempt} not before its delay`);
      mock.timers.tick(0.5);
      assert.equal(FakeSocket.made.length, n + 2, `attempt ${attempt} once its delay is up`);
    }
    assert.equal(client.state, 'reconnecting');
  });

  it('calls made while reconnecting wait for a connection and time out after requestTimeout; the room stays wanted', async (t: TestContext) => {
    // The retry's delay is random in [0, 1000): pinned near its cap, so no attempt comes within requestTimeout.
    const random = Math.random;
    Math.random = () => 0.999;
    t.after(() => {
      Math.random = random;
    });
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 1000, maxReconnectDelay: 1000, requestTimeout: 100 });
    FakeSocket.made[0]!.fail();
    await assert.rejects(client.ping(), { code: 'NOT_OPEN' });
    const joining = client.join('wanted').then(
      () => null,
      (e: unknown) => e,
    );
    mock.timers.tick(99);
    await settle();
    assert.equal(FakeSocket.made.length, 1, 'no attempt yet');
    mock.timers.tick(1);
    const error = await joining;
    assert.ok(error instanceof PushgateError);
    assert.equal(error.code, 'TIMEOUT');
    assert.deepEqual(client.rooms, ['wanted']);
  });

  it('makes no attempt after close(); pending and later calls reject with CLOSED', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 5, maxReconnectDelay: 10 });
    accept();
    const states: string[] = [];
    client.on('state', (state) => states.push(state));
    const pending = client.join('x');
    client.close();
    await assert.rejects(pending, { code: 'CLOSED' });
    await assert.rejects(client.join('y'), { code: 'CLOSED' });
    assert.equal(client.sendRaw('{"type":"PING","data":{}}'), false);
    // Far past any reconnection delay: still the one socket.
    mock.timers.tick(60_000);
    assert.equal(FakeSocket.made.length, 1);
    assert.deepEqual(states, ['closed']);
  });

  it('does not reconnect after a close code that means a client bug', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 5, maxReconnectDelay: 10 });
    const socket = accept();
    socket.close(1008, 'policy');
    assert.equal(client.state, 'closed');
    mock.timers.tick(60_000);
    assert.equal(FakeSocket.made.length, 1);
  });
});

describe('client SDK options', () => {
  it("checks its options; the Node entry point's default WebSocket (ws) refuses a malformed URL", () => {
    assert.throws(() => nodeConnect('ws://127.0.0.1:1/', { minReconnectDelay: 0 }), RangeError);
    assert.throws(() => nodeConnect('ws://127.0.0.1:1/', { minReconnectDelay: 100, maxReconnectDelay: 50 }), RangeError);
    assert.throws(() => nodeConnect('ws://127.0.0.1:1/', { heartbeatInterval: -1 }), RangeError);
    assert.throws(() => nodeConnect('not a url'), SyntaxError);
  });
});
