import assert from 'node:assert/strict';
import { afterEach, describe, it, mock, type TestContext } from 'node:test';
import {
  type ClientOptions,
  type ConnectedInfo,
  connect,
  type GapInfo,
  noReconnectCloseCodes,
  type PushgateClient,
  PushgateError,
  type PushInfo,
  REJOIN_RETRIES,
  type ReconnectInfo,
  type RecoveryInfo,
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

/** What `promise` rejected with (it must reject, with a PushgateError). */
async function rejection(promise: Promise<unknown>): Promise<PushgateError> {
  const error = await promise.then(
    () => assert.fail('the call resolved; a rejection was expected'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof PushgateError, `a PushgateError, got ${String(error)}`);
  return error;
}

/** How `promise` stands once pending callbacks have run: still pending, or what it settled with. */
async function outcome(promise: Promise<unknown>): Promise<{ pending: true } | { value: unknown } | { error: unknown }> {
  let result: { pending: true } | { value: unknown } | { error: unknown } = { pending: true };
  promise.then(
    (value) => (result = { value }),
    (error: unknown) => (result = { error }),
  );
  await settle();
  return result;
}

/** The frames of `type` the socket got from the client. */
const sentOf = (socket: FakeSocket, type: string): any[] => socket.sent.filter((m) => m.type === type);

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

describe('client SDK RPC (against a fake socket)', () => {
  it("sends RPC with a numeric id, method and data, and resolves with the REPLY's result; the connection stays open", async () => {
    const client = open();
    const socket = accept();
    const call = client.rpc('profile.get', { id: 7 });
    const rpc = socket.sent.at(-1);
    assert.deepEqual(rpc, { type: 'RPC', id: rpc.id, data: { method: 'profile.get', data: { id: 7 } } });
    assert.equal(typeof rpc.id, 'number');
    assert.deepEqual(await outcome(call), { pending: true }, 'no answer yet');
    socket.receive({ type: 'REPLY', id: rpc.id, data: { result: { name: 'Ada', langs: ['en'] } } });
    assert.deepEqual(await call, { name: 'Ada', langs: ['en'] });
    assert.equal(client.state, 'open');

    // No data: no data member; a REPLY without a result resolves with null.
    const bare = client.rpc('time');
    const sent = socket.sent.at(-1);
    assert.deepEqual(sent.data, { method: 'time' });
    socket.receive({ type: 'REPLY', id: sent.id, data: {} });
    assert.equal(await bare, null);
  });

  it('matches REPLYs to their RPCs by id, whatever order they come in', async () => {
    const client = open();
    const socket = accept();
    const calls = ['a', 'b', 'c'].map((method) => client.rpc(method, method));
    const [a, b, c] = sentOf(socket, 'RPC');
    assert.equal(new Set([a.id, b.id, c.id]).size, 3, 'distinct ids');
    socket.receive({ type: 'REPLY', id: c.id, data: { result: 'for c' } });
    socket.receive({ type: 'REPLY', id: a.id, data: { result: 'for a' } });
    assert.deepEqual(await outcome(calls[0]!), { value: 'for a' });
    assert.deepEqual(await outcome(calls[1]!), { pending: true }, 'b waits for its own REPLY');
    assert.deepEqual(await outcome(calls[2]!), { value: 'for c' });
    socket.receive({ type: 'ERROR', id: b.id, data: { code: 'UNKNOWN_METHOD', message: 'no route for b' } });
    const error = await rejection(calls[1]!);
    assert.equal(error.code, 'UNKNOWN_METHOD');
    assert.equal(error.request?.method, 'b');
  });

  it("rejects a backend's refusal with BACKEND_ERROR and its backendCode; other gateway codes pass through", async () => {
    const client = open();
    const socket = accept();
    const call = client.rpc('order.create', { sku: 'x' });
    const rpc = socket.sent.at(-1);
    socket.receive({ type: 'ERROR', id: rpc.id, data: { code: 'BACKEND_ERROR', message: 'out of stock', backendCode: 'OUT_OF_STOCK' } });
    const error = await rejection(call);
    assert.equal(error.code, 'BACKEND_ERROR');
    assert.equal(error.backendCode, 'OUT_OF_STOCK');
    assert.deepEqual(error.request, { id: rpc.id, type: 'RPC', method: 'order.create' });
    assert.match(error.message, /^RPC "order\.create" refused: BACKEND_ERROR: out of stock$/);
    assert.equal(client.state, 'open');

    for (const code of ['TIMEOUT', 'UNAVAILABLE', 'BAD_GATEWAY', 'TOO_MANY_REQUESTS']) {
      const next = client.rpc('m');
      socket.receive({ type: 'ERROR', id: socket.sent.at(-1).id, data: { code, message: 'hook' } });
      const refused = await rejection(next);
      assert.equal(refused.code, code);
      assert.equal(refused.backendCode, undefined);
    }
  });

  it('rejects with TIMEOUT after options.timeout (or requestTimeout) without an answer; a late REPLY changes nothing', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ requestTimeout: 500 });
    const socket = accept();
    const quick = client.rpc('slow', null, { timeout: 50 });
    const byDefault = client.rpc('slow');
    const [first, second] = sentOf(socket, 'RPC');
    mock.timers.tick(49);
    assert.deepEqual(await outcome(quick), { pending: true });
    mock.timers.tick(1);
    const error = await rejection(quick);
    assert.equal(error.code, 'TIMEOUT');
    assert.match(error.message, /RPC "slow" within 50 ms/);
    socket.receive({ type: 'REPLY', id: first.id, data: { result: 'late' } });
    mock.timers.tick(449);
    assert.deepEqual(await outcome(byDefault), { pending: true });
    mock.timers.tick(1);
    assert.equal((await rejection(byDefault)).code, 'TIMEOUT');
    socket.receive({ type: 'REPLY', id: second.id, data: { result: 'late' } });
    assert.equal(client.state, 'open');
    await assert.rejects(client.rpc('x', null, { timeout: 0 }), TypeError);
  });

  it('checks its arguments: a method and JSON data', async () => {
    const client = open();
    const socket = accept();
    const sent = socket.sent.length;
    await assert.rejects(client.rpc(''), TypeError);
    await assert.rejects(client.rpc(42 as unknown as string), TypeError);
    const circular: { self?: unknown } = {};
    circular.self = circular;
    await assert.rejects(client.rpc('m', circular), TypeError);
    await assert.rejects(client.rpc('m', 10n), TypeError);
    assert.equal(socket.sent.length, sent, 'nothing sent');
  });

  it('sends an RPC made while reconnecting once open; one in flight when the connection drops rejects with DISCONNECTED and is not sent again', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 10, maxReconnectDelay: 10 });
    const socket = accept();
    const cut = client.rpc('charge', { cents: 100 });
    socket.fail();
    const error = await rejection(cut);
    assert.equal(error.code, 'DISCONNECTED');
    assert.equal(client.state, 'reconnecting');
    const later = client.rpc('after');
    mock.timers.tick(10);
    const next = FakeSocket.made[1]!;
    next.open();
    assert.deepEqual(
      sentOf(next, 'RPC').map((m) => m.data.method),
      ['after'],
      'the waiting RPC is sent once; the one cut is not replayed',
    );
    next.receive({ type: 'REPLY', id: sentOf(next, 'RPC')[0].id, data: { result: 1 } });
    assert.equal(await later, 1);
  });

  it('does not hold the ready event for RPCs sent on opening', () => {
    const client = open();
    const ready: string[] = [];
    client.on('ready', (conn) => ready.push(conn));
    void client.rpc('slow').catch(() => undefined);
    const socket = FakeSocket.made[0]!;
    socket.open();
    assert.deepEqual(
      socket.sent.map((m) => m.type),
      ['RPC', 'LEAVE'],
      'the id is learnt with the whoami LEAVE',
    );
    socket.ack(socket.sent[1].id, 'conn-r');
    assert.deepEqual(ready, ['conn-r'], 'ready while the RPC is unanswered');
  });

  it('rejects an RPC waiting for a connection with CLOSED when the client closes for good', async () => {
    const client = open();
    FakeSocket.made[0]!.fail();
    const waiting = client.rpc('m');
    client.close();
    assert.equal((await rejection(waiting)).code, 'CLOSED');
    assert.equal((await rejection(client.rpc('m'))).code, 'CLOSED');
  });
});

describe('client SDK PUBLISH (against a fake socket)', () => {
  it('sends PUBLISH with an id, room and data, and resolves on the ACK', async () => {
    const client = open();
    const socket = accept();
    const published = client.publish('chat', { text: 'hi' });
    const frame = socket.sent.at(-1);
    assert.deepEqual(frame, { type: 'PUBLISH', id: frame.id, data: { room: 'chat', data: { text: 'hi' } } });
    assert.deepEqual(await outcome(published), { pending: true });
    socket.ack(frame.id);
    assert.deepEqual(await outcome(published), { value: undefined });
    assert.deepEqual(client.rooms, [], 'publishing joins nothing');
  });

  it("rejects a refused PUBLISH with the server's code and room; a wanted room of that name is kept", async () => {
    const client = open();
    const socket = accept();
    const joining = client.join('chat');
    socket.ack(socket.sent.at(-1).id);
    await joining;
    const published = client.publish('chat', 1);
    const frame = socket.sent.at(-1);
    socket.receive({ type: 'ERROR', id: frame.id, data: { code: 'FORBIDDEN', message: 'read-only room' } });
    const error = await rejection(published);
    assert.equal(error.code, 'FORBIDDEN');
    assert.equal(error.room, 'chat');
    assert.equal(error.request?.type, 'PUBLISH');
    assert.match(error.message, /read-only room/);
    assert.deepEqual(client.rooms, ['chat'], 'a refused publish is not a refused join');

    const down = client.publish('chat', 2);
    socket.receive({ type: 'ERROR', id: socket.sent.at(-1).id, data: { code: 'UNAVAILABLE', message: 'hook down' } });
    assert.equal((await rejection(down)).code, 'UNAVAILABLE');
    await assert.rejects(client.publish('chat', undefined), TypeError);
    await assert.rejects(client.publish(7 as unknown as string, 1), TypeError);
  });
});

describe('client SDK JOIN data (against a fake socket)', () => {
  it("sends join data as data.data and resolves with the ACK's data; without either, as before", async () => {
    const client = open();
    const socket = accept();
    const withData = client.join('game-1', { seat: 3 });
    const join = socket.sent.at(-1);
    assert.deepEqual(join, { type: 'JOIN', id: join.id, data: { room: 'game-1', data: { seat: 3 } } });
    socket.receive({ type: 'ACK', id: join.id, data: { conn: 'fake-1', data: { players: 2, seat: 3 } } });
    assert.deepEqual(await withData, { players: 2, seat: 3 });

    const plain = client.join('news');
    const bare = socket.sent.at(-1);
    assert.deepEqual(bare.data, { room: 'news' }, 'no data member without data');
    socket.ack(bare.id);
    assert.equal(await plain, undefined);
  });

  it('sends the data of the last join of each room again when rejoining after a reconnect', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 10, maxReconnectDelay: 10 });
    const socket = accept();
    for (const [room, data] of [
      ['a', { v: 1 }],
      ['b', undefined],
      ['a', { v: 2 }],
    ] as const) {
      const joining = client.join(room, data);
      socket.ack(socket.sent.at(-1).id);
      await joining;
    }
    socket.fail();
    mock.timers.tick(10);
    const next = FakeSocket.made[1]!;
    next.open();
    assert.deepEqual(
      sentOf(next, 'JOIN').map((m) => m.data),
      [{ room: 'a', data: { v: 2 } }, { room: 'b' }],
    );
  });

  it('drops the room when the subscribe hook refuses it (FORBIDDEN)', async () => {
    const client = open();
    const socket = accept();
    const joining = client.join('vip', { pass: 'nope' });
    socket.receive({ type: 'ERROR', id: socket.sent.at(-1).id, data: { code: 'FORBIDDEN', message: 'not a member' } });
    const error = await rejection(joining);
    assert.equal(error.code, 'FORBIDDEN');
    assert.deepEqual(client.rooms, []);
  });
});

describe('client SDK CONNECTED frame (against a fake socket)', () => {
  it('emits connected with the frame, sets connId, user and connectData, and keeps the hook rooms out of rooms', () => {
    const client = open();
    const infos: ConnectedInfo[] = [];
    const errors: PushgateError[] = [];
    client.on('connected', (info) => infos.push(info));
    client.on('error', (error) => errors.push(error));
    assert.equal(client.user, undefined);
    assert.equal(client.connectData, undefined);
    const socket = FakeSocket.made[0]!;
    socket.open();
    socket.receive({ type: 'CONNECTED', data: { conn: 'hook-1', user: 'alice', rooms: ['user:alice', 'lobby'], data: { plan: 'pro' } } });
    assert.deepEqual(infos, [{ conn: 'hook-1', user: 'alice', rooms: ['user:alice', 'lobby'], data: { plan: 'pro' } }]);
    assert.equal(client.connId, 'hook-1');
    assert.equal(client.user, 'alice');
    assert.deepEqual(client.connectData, { plan: 'pro' });
    assert.deepEqual(client.rooms, [], 'the server joined those rooms: nothing for the client to rejoin');
    assert.deepEqual(errors, []);
    const pushes: Array<string | undefined> = [];
    client.on('push', (_items, room) => pushes.push(room));
    socket.receive({ type: 'PUSH', data: { room: 'lobby', items: [1] } });
    assert.deepEqual(pushes, ['lobby']);
  });

  it('does not rejoin the hook rooms after a reconnect; the next CONNECTED replaces user and data', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 10, maxReconnectDelay: 10 });
    const socket = FakeSocket.made[0]!;
    socket.open();
    socket.receive({ type: 'CONNECTED', data: { conn: 'hook-1', user: 'alice', rooms: ['lobby'], data: 1 } });
    socket.fail();
    assert.equal(client.connId, undefined);
    assert.equal(client.user, 'alice', 'kept until the next CONNECTED');
    mock.timers.tick(10);
    const next = FakeSocket.made[1]!;
    next.open();
    assert.deepEqual(sentOf(next, 'JOIN'), [], 'no JOIN of the hook rooms');
    next.receive({ type: 'CONNECTED', data: { conn: 'hook-2', user: null, rooms: [] } });
    assert.equal(client.connId, 'hook-2');
    assert.equal(client.user, null);
    assert.equal(client.connectData, undefined, 'omitted data');
  });

  it('fires connected before ready', () => {
    const client = open();
    const events: string[] = [];
    client.on('connected', (info) => events.push(`connected ${info.conn}`));
    client.on('ready', (conn) => events.push(`ready ${conn}`));
    const socket = FakeSocket.made[0]!;
    socket.open();
    socket.receive({ type: 'CONNECTED', data: { conn: 'hook-3', user: null, rooms: [] } });
    socket.ack(socket.sent.at(-1).id, 'hook-3');
    assert.deepEqual(events, ['connected hook-3', 'ready hook-3']);
  });
});

describe('client SDK close code 4003 (disconnected by the backend)', () => {
  it('does not reconnect after 4003: the call in flight rejects with DISCONNECTED, later ones with CLOSED', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    assert.ok(noReconnectCloseCodes.includes(4003));
    const client = open({ minReconnectDelay: 5, maxReconnectDelay: 10 });
    const socket = accept();
    const closes: Array<{ code: number; willReconnect: boolean }> = [];
    client.on('close', ({ code, willReconnect }) => closes.push({ code, willReconnect }));
    const waiting = client.rpc('m');
    socket.close(4003, 'banned');
    assert.equal(client.state, 'closed');
    assert.deepEqual(closes, [{ code: 4003, willReconnect: false }]);
    assert.equal((await rejection(waiting)).code, 'DISCONNECTED');
    assert.equal((await rejection(client.join('x'))).code, 'CLOSED');
    mock.timers.tick(60_000);
    assert.equal(FakeSocket.made.length, 1, 'no attempt after 4003');
  });

  it('still reconnects after a neighbouring application code (4002)', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 5, maxReconnectDelay: 5 });
    accept().close(4002, 'other');
    assert.equal(client.state, 'reconnecting');
    mock.timers.tick(5);
    assert.equal(FakeSocket.made.length, 2);
  });
});

describe('client SDK recovery (against a fake socket)', () => {
  const E = 'Ep0ch-1';
  const pushOf = (room: string, items: unknown[], offset: number, epoch = E) => ({ type: 'PUSH', data: { room, items, offset, epoch } });

  /** Records the client's pushes (items with their info), gaps, recoveries and errors. */
  function record(client: PushgateClient) {
    const pushes: Array<{ items: unknown[]; room: string | undefined; info: PushInfo | undefined }> = [];
    const gaps: GapInfo[] = [];
    const recoveries: RecoveryInfo[] = [];
    const errors: PushgateError[] = [];
    client.on('push', (items, room, info) => pushes.push({ items, room, info }));
    client.on('gap', (info) => gaps.push(info));
    client.on('recovered', (info) => recoveries.push(info));
    client.on('error', (error) => errors.push(error));
    return { pushes, gaps, recoveries, errors };
  }

  /** Joins `room` on the open `socket`, the ACK saying the stream stands at `offset`. */
  async function joinAt(client: PushgateClient, socket: FakeSocket, room: string, offset: number, epoch = E): Promise<void> {
    const joining = client.join(room);
    const join = socket.sent.at(-1);
    assert.deepEqual(join.data, { room }, 'a first JOIN carries no position');
    socket.receive({ type: 'ACK', id: join.id, data: { conn: 'fake-1', stream: { offset, epoch } } });
    await joining;
  }

  /** Fails the socket, waits out the (10 ms) backoff and opens the next one; answers it. */
  function reconnect(): FakeSocket {
    FakeSocket.made.at(-1)!.fail();
    mock.timers.tick(10);
    const next = FakeSocket.made.at(-1)!;
    next.open();
    return next;
  }

  it('gives each push its offsets and epoch, and drops items already delivered (a whole frame, or its head)', async () => {
    const client = open();
    const socket = accept();
    const { pushes } = record(client);
    await joinAt(client, socket, 'chat', 2);
    assert.deepEqual(client.position('chat'), { offset: 2, epoch: E });
    socket.receive(pushOf('chat', ['c', 'd'], 4));
    socket.receive(pushOf('chat', ['c', 'd'], 4));
    socket.receive(pushOf('chat', ['d', 'e', 'f'], 6));
    socket.receive({ type: 'PUSH', data: { room: 'news', items: ['plain'] } });
    assert.deepEqual(pushes, [
      { items: ['c', 'd'], room: 'chat', info: { first: 3, offset: 4, epoch: E, replay: false } },
      { items: ['e', 'f'], room: 'chat', info: { first: 5, offset: 6, epoch: E, replay: false } },
      { items: ['plain'], room: 'news', info: undefined },
    ]);
    assert.deepEqual(client.position('chat'), { offset: 6, epoch: E });
    assert.equal(client.position('news'), undefined);
  });

  it('a gap is not delivered: a gap event, then LEAVE and a JOIN from the position; the replay comes, then recovered', async () => {
    const client = open();
    const socket = accept();
    const { pushes, gaps, recoveries } = record(client);
    await joinAt(client, socket, 'chat', 0);
    socket.receive(pushOf('chat', ['1'], 1));
    const sentBefore = socket.sent.length;
    socket.receive(pushOf('chat', ['5'], 5));
    assert.deepEqual(gaps, [{ room: 'chat', offset: 1, epoch: E, first: 5, frameEpoch: E }]);
    const [leave, join] = socket.sent.slice(sentBefore);
    assert.deepEqual([leave.type, leave.data], ['LEAVE', { room: 'chat' }]);
    assert.deepEqual([join.type, join.data], ['JOIN', { room: 'chat', offset: 1, epoch: E }]);
    // While the recovery is answered, frames that skip are expected (the replay covers them): no second gap.
    socket.receive(pushOf('chat', ['6'], 6));
    socket.ack(leave.id);
    socket.receive(pushOf('chat', ['2', '3', '4', '5', '6'], 6));
    socket.receive({ type: 'ACK', id: join.id, data: { conn: 'fake-1', stream: { offset: 6, epoch: E, recovered: true, replayed: 5 } } });
    socket.receive(pushOf('chat', ['7'], 7));
    assert.equal(gaps.length, 1);
    assert.deepEqual(
      pushes.map((p) => [p.items, p.info?.first, p.info?.replay]),
      [
        [['1'], 1, false],
        [['2', '3', '4', '5', '6'], 2, true],
        [['7'], 7, false],
      ],
    );
    assert.deepEqual(recoveries, [{ room: 'chat', recovered: true, replayed: 5, offset: 6, epoch: E, from: { offset: 1, epoch: E }, cause: 'gap' }]);
    assert.deepEqual(client.rooms, ['chat']);
  });

  it('another epoch in the middle of the stream is a gap too; recovered: false moves the position to the new epoch', async () => {
    const client = open();
    const socket = accept();
    const { pushes, gaps, recoveries } = record(client);
    await joinAt(client, socket, 'chat', 3);
    socket.receive(pushOf('chat', ['x'], 1, 'Ep0ch-2'));
    assert.deepEqual(gaps, [{ room: 'chat', offset: 3, epoch: E, first: 1, frameEpoch: 'Ep0ch-2' }]);
    const join = socket.sent.at(-1);
    assert.deepEqual(join.data, { room: 'chat', offset: 3, epoch: E });
    socket.receive({ type: 'ACK', id: join.id, data: { conn: 'fake-1', stream: { offset: 1, epoch: 'Ep0ch-2', recovered: false, replayed: 0 } } });
    assert.deepEqual(recoveries, [{ room: 'chat', recovered: false, replayed: 0, offset: 1, epoch: 'Ep0ch-2', from: { offset: 3, epoch: E }, cause: 'gap' }]);
    socket.receive(pushOf('chat', ['y'], 2, 'Ep0ch-2'));
    assert.deepEqual(
      pushes.map((p) => [p.items, p.info?.offset, p.info?.epoch]),
      [[['y'], 2, 'Ep0ch-2']],
    );
  });

  it('rejoins after a reconnect from the last position; the replay before the ACK, then recovered and ready', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 10, maxReconnectDelay: 10 });
    const socket = accept();
    const { pushes, recoveries } = record(client);
    const ready: string[] = [];
    client.on('ready', (conn) => ready.push(conn));
    await joinAt(client, socket, 'chat', 0);
    socket.receive(pushOf('chat', ['a', 'b'], 2));
    const next = reconnect();
    const rejoin = next.sent.at(-1);
    assert.deepEqual([rejoin.type, rejoin.data], ['JOIN', { room: 'chat', offset: 2, epoch: E }]);
    next.receive(pushOf('chat', ['c'], 3));
    next.receive({ type: 'ACK', id: rejoin.id, data: { conn: 'fake-2', stream: { offset: 3, epoch: E, recovered: true, replayed: 1 } } });
    assert.deepEqual(
      pushes.map((p) => [p.items, p.info?.replay]),
      [
        [['a', 'b'], false],
        [['c'], true],
      ],
    );
    assert.deepEqual(recoveries, [{ room: 'chat', recovered: true, replayed: 1, offset: 3, epoch: E, from: { offset: 2, epoch: E }, cause: 'reconnect' }]);
    assert.deepEqual(ready, ['fake-2']);
  });

  it(`retries a rejoin refused with UNAVAILABLE with backoff, at most ${REJOIN_RETRIES} times; the room stays wanted`, async (t: TestContext) => {
    const random = Math.random;
    Math.random = () => 0.999;
    t.after(() => {
      Math.random = random;
    });
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 10, maxReconnectDelay: 10_000 });
    const socket = accept();
    const { errors } = record(client);
    await joinAt(client, socket, 'chat', 4);
    const next = reconnect();
    const joins = () => sentOf(next, 'JOIN');
    const refuse = () => next.receive({ type: 'ERROR', id: joins().at(-1).id, data: { code: 'UNAVAILABLE', message: 'history unreadable' } });
    refuse();
    for (let n = 0; n < REJOIN_RETRIES; n++) {
      const delay = 0.999 * 10 * 2 ** (n + 1);
      mock.timers.tick(delay - 0.5);
      assert.equal(joins().length, n + 1, `retry ${n + 1} not before its delay`);
      mock.timers.tick(0.5);
      assert.equal(joins().length, n + 2, `retry ${n + 1} once its delay is up`);
      assert.deepEqual(joins().at(-1).data, { room: 'chat', offset: 4, epoch: E }, 'each retry recovers from the position');
      refuse();
    }
    mock.timers.tick(60_000);
    assert.equal(joins().length, REJOIN_RETRIES + 1, 'no retry after the last');
    const refusals = errors.filter((e) => e.code !== 'SOCKET_ERROR'); // the failed socket's own
    assert.equal(refusals.length, REJOIN_RETRIES + 1, 'each refusal is told');
    assert.ok(refusals.every((e) => e.code === 'UNAVAILABLE' && e.room === 'chat'));
    assert.match(refusals[0]!.message, /retry 1 of 5 in 20 ms/);
    assert.match(refusals.at(-1)!.message, /gave up/);
    assert.deepEqual(client.rooms, ['chat']);
    assert.deepEqual(client.position('chat'), { offset: 4, epoch: E });
  });

  it('a retried rejoin that succeeds recovers as usual', async (t: TestContext) => {
    const random = Math.random;
    Math.random = () => 0.5;
    t.after(() => {
      Math.random = random;
    });
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 10, maxReconnectDelay: 10_000 });
    const socket = accept();
    const { recoveries, pushes } = record(client);
    await joinAt(client, socket, 'chat', 4);
    const next = reconnect();
    next.receive({ type: 'ERROR', id: sentOf(next, 'JOIN').at(-1).id, data: { code: 'UNAVAILABLE', message: 'history unreadable' } });
    mock.timers.tick(10);
    const retry = sentOf(next, 'JOIN').at(-1);
    assert.equal(sentOf(next, 'JOIN').length, 2);
    next.receive(pushOf('chat', ['e'], 5));
    next.receive({ type: 'ACK', id: retry.id, data: { conn: 'fake-2', stream: { offset: 5, epoch: E, recovered: true, replayed: 1 } } });
    assert.deepEqual(
      pushes.map((p) => p.items),
      [['e']],
    );
    assert.deepEqual(
      recoveries.map((r) => [r.recovered, r.replayed, r.cause]),
      [[true, 1, 'reconnect']],
    );
  });

  it('join(room, data, from) starts from the position given (leaving first when joined already); joinRoom resolves with the stream', async () => {
    const client = open();
    const socket = accept();
    const { pushes, recoveries } = record(client);
    await joinAt(client, socket, 'chat', 10);
    const sentBefore = socket.sent.length;
    const joining = client.joinRoom('chat', { data: { k: 1 }, from: { offset: 7, epoch: E } });
    const [leave, join] = socket.sent.slice(sentBefore);
    assert.deepEqual([leave.type, leave.data], ['LEAVE', { room: 'chat' }]);
    assert.deepEqual([join.type, join.data], ['JOIN', { room: 'chat', data: { k: 1 }, offset: 7, epoch: E }]);
    assert.deepEqual(client.position('chat'), { offset: 7, epoch: E });
    socket.ack(leave.id);
    socket.receive(pushOf('chat', [8, 9, 10], 10));
    const stream = { offset: 10, epoch: E, recovered: true, replayed: 3 };
    socket.receive({ type: 'ACK', id: join.id, data: { conn: 'fake-1', data: 'hook', stream } });
    assert.deepEqual(await joining, { room: 'chat', data: 'hook', stream });
    assert.deepEqual(
      pushes.map((p) => p.items),
      [[8, 9, 10]],
    );
    assert.deepEqual(
      recoveries.map((r) => r.cause),
      ['join'],
    );
    const sent = socket.sent.length;
    await assert.rejects(client.join('chat', undefined, { offset: 1.5, epoch: E }), TypeError);
    await assert.rejects(client.join('chat', undefined, { offset: 1, epoch: 'no spaces' }), TypeError);
    assert.equal(socket.sent.length, sent, 'nothing sent for a bad position');
  });

  it('a rejoin answered as a repeated JOIN (the server had the room already) is recovered once more, by LEAVE and JOIN', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const client = open({ minReconnectDelay: 10, maxReconnectDelay: 10 });
    const socket = accept();
    const { pushes, recoveries } = record(client);
    await joinAt(client, socket, 'chat', 2);
    const next = reconnect();
    const rejoin = next.sent.at(-1);
    // A live frame of a room the connection is in already (the connect hook's): not the next offset.
    next.receive(pushOf('chat', ['f'], 6));
    const sentBefore = next.sent.length;
    next.receive({ type: 'ACK', id: rejoin.id, data: { conn: 'fake-2', stream: { offset: 6, epoch: E } } });
    const [leave, join] = next.sent.slice(sentBefore);
    assert.deepEqual([leave.type, join.type, join.data], ['LEAVE', 'JOIN', { room: 'chat', offset: 2, epoch: E }]);
    next.ack(leave.id, 'fake-2');
    next.receive(pushOf('chat', ['c', 'd', 'e', 'f'], 6));
    next.receive({ type: 'ACK', id: join.id, data: { conn: 'fake-2', stream: { offset: 6, epoch: E, recovered: true, replayed: 4 } } });
    assert.deepEqual(
      pushes.map((p) => [p.items, p.info?.first]),
      [[['c', 'd', 'e', 'f'], 3]],
    );
    assert.deepEqual(
      recoveries.map((r) => [r.recovered, r.replayed]),
      [[true, 4]],
    );
    assert.equal(sentOf(next, 'LEAVE').length, 1, 'once only');
  });

  it('leave forgets the position: a later join starts afresh, with no position', async () => {
    const client = open();
    const socket = accept();
    await joinAt(client, socket, 'chat', 5);
    const leaving = client.leave('chat');
    assert.equal(client.position('chat'), undefined);
    socket.ack(socket.sent.at(-1).id);
    await leaving;
    // A frame on its way when the room was left is delivered, but sets no position.
    socket.receive(pushOf('chat', ['late'], 6));
    assert.equal(client.position('chat'), undefined);
    await joinAt(client, socket, 'chat', 9);
    assert.deepEqual(client.position('chat'), { offset: 9, epoch: E });
  });
});
