import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { type WebSocket as ServerSocket, WebSocketServer } from 'ws';
import {
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  connect,
  type FrameInfo,
  noReconnectCloseCodes,
  type PushgateClient,
  PushgateError,
  WHOAMI_ROOM,
} from '../../src/client/node.js';
import { postForm, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

// Every wait in this file is bounded by this many milliseconds (reconnects: RECONNECT_WAIT).
const WAIT = 3000;
const RECONNECT_WAIT = 8000;
// Fast reconnects for the tests; the defaults (250 ms / 30 s) are checked separately.
const FAST: ClientOptions = { minReconnectDelay: 20, maxReconnectDelay: 200 };

const clients: PushgateClient[] = [];
const gateways: RunningGateway[] = [];
const servers: WebSocketServer[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(gateways.splice(0).map((gw) => gw.close()));
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          for (const socket of server.clients) socket.terminate();
          server.close(() => resolve());
        }),
    ),
  );
});

async function gateway(options: Parameters<typeof startGateway>[0] = {}): Promise<RunningGateway> {
  const gw = await startGateway(options);
  gateways.push(gw);
  return gw;
}

/** A client that the test's afterEach closes, recording its state changes. */
function open(url: string, options: ClientOptions = {}): { client: PushgateClient; states: ClientState[] } {
  const client = connect(url, { ...FAST, ...options });
  clients.push(client);
  const states: ClientState[] = [];
  client.on('state', (state) => states.push(state));
  return { client, states };
}

/**
 * The next `event` from `client` (for which `test` holds), within `ms`. Call it before the action that
 * causes the event.
 */
function nextEvent<E extends keyof ClientEvents>(
  client: PushgateClient,
  event: E,
  ms = WAIT,
  test: (...args: Parameters<ClientEvents[E]>) => boolean = () => true,
): Promise<Parameters<ClientEvents[E]>> {
  let listener: ((...args: any[]) => void) | undefined;
  const seen = new Promise<Parameters<ClientEvents[E]>>((resolve) => {
    listener = (...args: any[]) => {
      if (test(...(args as Parameters<ClientEvents[E]>))) resolve(args as Parameters<ClientEvents[E]>);
    };
    client.on(event, listener as ClientEvents[E]);
  });
  return withTimeout(seen, ms, `the client's "${event}" event`).finally(() => client.off(event, listener as ClientEvents[E]));
}

/** Connects and waits for `ready`: the connection id is known. */
async function ready(url: string, options: ClientOptions = {}): Promise<{ client: PushgateClient; states: ClientState[]; connId: string }> {
  const { client, states } = open(url, options);
  const [connId] = await nextEvent(client, 'ready');
  return { client, states, connId };
}

async function rejection(promise: Promise<unknown>): Promise<PushgateError> {
  try {
    await withTimeout(promise, WAIT, 'the call to settle');
  } catch (error) {
    assert.ok(error instanceof PushgateError, `a PushgateError, got ${String(error)}`);
    return error;
  }
  assert.fail('the call resolved; a rejection was expected');
}

/**
 * A scriptable WebSocket server (plain `ws`, loopback) for what a real gateway never does: stay
 * silent, cut a connection in the middle of a request.
 */
async function rawServer(): Promise<{
  url: string;
  sockets: ServerSocket[];
  messages: Map<ServerSocket, any[]>;
  nextSocket(ms?: number): Promise<ServerSocket>;
  nextMessage(socket: ServerSocket, ms?: number): Promise<any>;
}> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  servers.push(server);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const sockets: ServerSocket[] = [];
  const messages = new Map<ServerSocket, any[]>();
  let notify: (() => void) | null = null;
  server.on('connection', (socket) => {
    sockets.push(socket);
    messages.set(socket, []);
    socket.on('message', (data) => {
      messages.get(socket)!.push(JSON.parse(data.toString()));
      notify?.();
    });
    notify?.();
  });
  const until = async <T>(value: () => T | undefined, ms: number, what: string): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = value();
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await withTimeout(new Promise<void>((resolve) => (notify = resolve)), left, what).catch(() => undefined);
      notify = null;
    }
  };
  let taken = 0;
  const read = new Map<ServerSocket, number>();
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/connect`,
    sockets,
    messages,
    nextSocket: (ms = WAIT) => until(() => (taken < sockets.length ? sockets[taken++] : undefined), ms, 'a connection to the raw server'),
    nextMessage: (socket, ms = WAIT) =>
      until(
        () => {
          const list = messages.get(socket)!;
          const index = read.get(socket) ?? 0;
          if (index >= list.length) return undefined;
          read.set(socket, index + 1);
          return list[index];
        },
        ms,
        'a message at the raw server',
      ),
  };
}

describe('client SDK against a real gateway', () => {
  it('connects: state connecting → open, then ready with the connection id (learnt with a LEAVE of a throwaway room)', async () => {
    const gw = await gateway();
    const { client, states } = open(gw.wsUrl());
    assert.equal(client.state, 'connecting');
    assert.equal(client.connId, undefined);
    const frames: FrameInfo[] = [];
    client.on('frame', (frame) => frames.push(frame));
    const opened = nextEvent(client, 'open');
    const [connId] = await nextEvent(client, 'ready');
    await opened;
    assert.deepEqual(states, ['open']);
    assert.equal(client.state, 'open');
    assert.equal(client.connId, connId);
    assert.match(connId, /^[0-9a-f]{8}-[0-9a-z]+$/);
    assert.ok(gw.gateway.hub.get(connId), 'the id names this connection on the gateway');
    assert.deepEqual(client.rooms, []);
    // With no rooms to rejoin, one LEAVE of the throwaway room learnt the id.
    const out = frames.filter((frame) => frame.direction === 'out');
    assert.equal(out.length, 1);
    assert.equal(out[0].source, 'whoami');
    assert.deepEqual(out[0].message, { type: 'LEAVE', id: out[0].request!.id, data: { room: WHOAMI_ROOM } });
    assert.equal(gw.gateway.hub.members(WHOAMI_ROOM), undefined);

    const closing = nextEvent(client, 'close');
    client.close();
    assert.equal(client.state, 'closed');
    assert.deepEqual(states, ['open', 'closed']);
    assert.deepEqual((await closing)[0], { code: 1000, reason: '', willReconnect: false, wasClean: true });
    await waitFor(() => gw.gateway.hub.size === 0, WAIT, 'the gateway to drop the connection');
  });

  it('join and leave resolve on the ACK; rooms tracks what the client wants', async () => {
    const gw = await gateway();
    const { client, connId } = await ready(gw.wsUrl());
    await client.join('news');
    assert.deepEqual(
      [...(gw.gateway.hub.members('news') ?? [])].map((conn) => conn.id),
      [connId],
    );
    await client.join('sport');
    assert.deepEqual(client.rooms, ['news', 'sport']);
    await client.join('news'); // joining twice is harmless
    assert.deepEqual(client.rooms, ['news', 'sport']);
    await client.leave('news');
    assert.deepEqual(client.rooms, ['sport']);
    assert.equal(gw.gateway.hub.members('news'), undefined);
    await client.leave('never-joined'); // harmless too
    assert.deepEqual(client.rooms, ['sport']);
  });

  it('sends calls made before the connection opens once it does', async () => {
    const gw = await gateway();
    const { client } = open(gw.wsUrl());
    assert.equal(client.state, 'connecting');
    const joined = client.join('early');
    const left = client.join('gone').then(() => undefined);
    const leave = client.leave('gone');
    assert.deepEqual(client.rooms, ['early']);
    await withTimeout(Promise.all([joined, left, leave]), WAIT, 'the early calls');
    assert.equal(gw.gateway.hub.members('early')?.size, 1);
    assert.equal(gw.gateway.hub.members('gone'), undefined, 'calls are sent in the order they were made');
  });

  it('rejects an invalid room with INVALID_ROOM and drops it from rooms', async () => {
    const gw = await gateway();
    const { client } = await ready(gw.wsUrl());
    const error = await rejection(client.join('not a room'));
    assert.equal(error.code, 'INVALID_ROOM');
    assert.equal(error.room, 'not a room');
    assert.equal(error.request?.type, 'JOIN');
    assert.match(error.message, /JOIN "not a room" refused: INVALID_ROOM/);
    assert.deepEqual(client.rooms, []);
    assert.equal(client.state, 'open', 'an ERROR leaves the connection open');
    const leaveError = await rejection(client.leave(''));
    assert.equal(leaveError.code, 'INVALID_ROOM');
  });

  it('rejects a join past maxRooms with TOO_MANY_ROOMS', async () => {
    const gw = await gateway({ maxRooms: 1 });
    const { client } = await ready(gw.wsUrl());
    await client.join('first');
    const error = await rejection(client.join('second'));
    assert.equal(error.code, 'TOO_MANY_ROOMS');
    assert.equal(error.room, 'second');
    assert.deepEqual(client.rooms, ['first']);
    // Leaving makes room again.
    await client.leave('first');
    await client.join('second');
    assert.deepEqual(client.rooms, ['second']);
  });

  it('delivers pushes through on("push") with their room, in order', async () => {
    const gw = await gateway();
    const { client, connId } = await ready(gw.wsUrl());
    await client.join('news');
    const received: Array<[unknown[], string | undefined]> = [];
    client.on('push', (items, room) => received.push([items, room]));

    const toRoom = nextEvent(client, 'push', WAIT, (_items, room) => room === 'news');
    assert.equal((await postForm(`${gw.apiUrl}/push/room`, { room: 'news', items: JSON.stringify([{ title: 'hello' }, 2]) })).status, 200);
    assert.deepEqual(await toRoom, [[{ title: 'hello' }, 2], 'news']);

    const toConn = nextEvent(client, 'push', WAIT, (_items, room) => room === undefined);
    assert.equal((await postForm(`${gw.apiUrl}/push/conn`, { conn: connId, items: JSON.stringify(['just you']) })).status, 200);
    assert.deepEqual(await toConn, [['just you'], undefined]);

    const toAll = nextEvent(client, 'push', WAIT, (items) => items[0] === 'everyone');
    assert.equal((await postForm(`${gw.apiUrl}/push/all`, { items: JSON.stringify(['everyone']) })).status, 200);
    await toAll;
    assert.deepEqual(
      received.map(([items]) => items[0]),
      [{ title: 'hello' }, 'just you', 'everyone'],
    );
  });

  it('ping resolves with the round trip in milliseconds', async () => {
    const gw = await gateway();
    const { client } = await ready(gw.wsUrl());
    const rtt = await withTimeout(client.ping(), WAIT, 'the PONG');
    assert.equal(typeof rtt, 'number');
    assert.ok(Number.isFinite(rtt) && rtt >= 0, `rtt ${rtt}`);
  });

  it('is served at /client.js as one module without imports', async () => {
    const gw = await gateway();
    const res = await fetch(`${gw.pageUrl}/client.js`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/);
    const source = await res.text();
    assert.doesNotMatch(source, /^\s*import[\s{*]/m, 'no static imports');
    assert.doesNotMatch(source, /\bimport\(|\brequire\(/, 'no dynamic imports or require');
    assert.match(source, /export function connect\(/);
  });
});

describe('client SDK heartbeat', () => {
  it('keeps its connection alive past the gateway heartbeat while a silent raw client is dropped', async () => {
    // A 1 s gateway interval and a PING every 150 ms: a stall of most of a second on a loaded machine is harmless.
    const gw = await gateway({ heartbeatInterval: 1 });
    const { client, states, connId } = await ready(gw.wsUrl(), { heartbeatInterval: 150 });
    const closes: unknown[] = [];
    client.on('close', (info) => closes.push(info));
    // Opened after the SDK's connection: once it is dropped for its silence, the SDK's connection has
    // lived longer than the gateway lets a silent client live.
    const silent = await gw.connect();
    assert.equal((await silent.waitClosed(RECONNECT_WAIT)).code, 4000, 'the silent client is dropped for its silence');
    // And the SDK's PINGs are still being answered.
    await nextEvent(
      client,
      'frame',
      WAIT,
      (frame) => frame.direction === 'in' && (frame.message as { type?: string }).type === 'PONG' && frame.source === 'heartbeat',
    );
    assert.deepEqual(closes, []);
    assert.deepEqual(states, ['open']);
    assert.equal(client.connId, connId);
    assert.ok(gw.gateway.hub.get(connId), 'still connected to the gateway');
    assert.equal(gw.gateway.stats.heartbeatDisconnects, 1);
  });

  it('treats a connection that stops answering as dead and reconnects', async () => {
    const raw = await rawServer();
    const { client, states } = open(raw.url, { heartbeatInterval: 100, minReconnectDelay: 10, maxReconnectDelay: 20 });
    const first = await raw.nextSocket();
    // The raw server never answers; the client closes after 2 intervals without a frame.
    const [info] = await nextEvent(client, 'close');
    assert.equal(info.code, 4000);
    assert.equal(info.willReconnect, true);
    assert.match(info.reason, /no frame from the server for \d+ ms/);
    const pings = raw.messages.get(first)!.filter((message) => message.type === 'PING');
    assert.ok(pings.length >= 1, 'it sent PINGs before giving up');
    await raw.nextSocket();
    assert.deepEqual(states.slice(0, 2), ['open', 'reconnecting']);
  });
});

describe('client SDK reconnection', () => {
  it('reconnects to a restarted gateway on the same port, rejoins its rooms, gets a new connection id', async () => {
    const first = await gateway();
    const port = Number(new URL(first.wsUrl()).port);
    const { client, states, connId } = await ready(first.wsUrl());
    await client.join('news');
    await client.join('sport');

    const closed = nextEvent(client, 'close');
    const reconnecting = nextEvent(client, 'state', WAIT, (state) => state === 'reconnecting');
    await first.close();
    gateways.splice(gateways.indexOf(first), 1);
    const [info] = await closed;
    assert.equal(info.code, 1001, 'the gateway said it was going away');
    assert.equal(info.willReconnect, true);
    await reconnecting;
    assert.equal(client.state, 'reconnecting');
    assert.equal(client.connId, undefined);
    assert.deepEqual(client.rooms, ['news', 'sport'], 'the rooms are kept for the next connection');

    const readyAgain = nextEvent(client, 'ready', RECONNECT_WAIT);
    const second = await gateway({ port });
    const [newId] = await readyAgain;
    assert.notEqual(newId, connId);
    assert.equal(client.connId, newId);
    assert.deepEqual(
      states.filter((s, i) => s !== states[i - 1]),
      ['open', 'reconnecting', 'open'],
    );
    // Both rooms were rejoined on the new gateway before `ready`.
    assert.deepEqual(
      [...(second.gateway.hub.members('news') ?? [])].map((conn) => conn.id),
      [newId],
    );
    assert.deepEqual(
      [...(second.gateway.hub.members('sport') ?? [])].map((conn) => conn.id),
      [newId],
    );
    const pushed = nextEvent(client, 'push', WAIT, (_items, room) => room === 'news');
    const answer = await postForm(`${second.apiUrl}/push/room`, { room: 'news', items: JSON.stringify(['after restart']) });
    assert.deepEqual(answer.body, { ok: true, items: 1, recipients: 1 });
    assert.deepEqual(await pushed, [['after restart'], 'news']);
  });

  it('rejects a call cut by a lost connection with DISCONNECTED, keeping a joined room for the next connection', async () => {
    const raw = await rawServer();
    const { client } = open(raw.url, { minReconnectDelay: 10, maxReconnectDelay: 20 });
    const socket = await raw.nextSocket();
    // First frame: the whoami LEAVE; answer it so the client is ready.
    const whoami = await raw.nextMessage(socket);
    assert.equal(whoami.type, 'LEAVE');
    socket.send(JSON.stringify({ type: 'ACK', id: whoami.id, data: { conn: 'raw-1' } }));
    await waitFor(() => client.connId === 'raw-1', WAIT, 'the connection id');

    const joined = client.join('kept');
    const left = client.leave('other');
    const join = await raw.nextMessage(socket);
    assert.deepEqual(join.data, { room: 'kept' });
    await raw.nextMessage(socket);
    socket.terminate(); // no answer, connection lost
    assert.equal((await rejection(joined)).code, 'DISCONNECTED');
    assert.equal((await rejection(left)).code, 'DISCONNECTED');
    assert.deepEqual(client.rooms, ['kept']);

    // The next connection rejoins it by itself, with a fresh id.
    const next = await raw.nextSocket(RECONNECT_WAIT);
    const rejoin = await raw.nextMessage(next);
    assert.equal(rejoin.type, 'JOIN');
    assert.deepEqual(rejoin.data, { room: 'kept' });
    assert.notEqual(rejoin.id, join.id);
    const readyAgain = nextEvent(client, 'ready');
    next.send(JSON.stringify({ type: 'ACK', id: rejoin.id, data: { conn: 'raw-2' } }));
    assert.deepEqual(await readyAgain, ['raw-2']);
  });

  it('drops a room the server refuses on rejoin and reports it as an error event', async () => {
    const raw = await rawServer();
    const { client } = open(raw.url, { minReconnectDelay: 10, maxReconnectDelay: 20 });
    const socket = await raw.nextSocket();
    const whoami = await raw.nextMessage(socket);
    socket.send(JSON.stringify({ type: 'ACK', id: whoami.id, data: { conn: 'raw-1' } }));
    const joined = client.join('a');
    const join = await raw.nextMessage(socket);
    socket.send(JSON.stringify({ type: 'ACK', id: join.id, data: { conn: 'raw-1' } }));
    await joined;
    socket.terminate();

    const next = await raw.nextSocket(RECONNECT_WAIT);
    const rejoin = await raw.nextMessage(next);
    const errored = nextEvent(client, 'error');
    next.send(JSON.stringify({ type: 'ERROR', id: rejoin.id, data: { code: 'TOO_MANY_ROOMS', message: 'a connection may join at most 0 rooms' } }));
    const [error] = await errored;
    assert.equal(error.code, 'TOO_MANY_ROOMS');
    assert.equal(error.room, 'a');
    assert.deepEqual(client.rooms, []);
    // No ACK came: the client learns its id with the throwaway LEAVE, then is ready.
    const learn = await raw.nextMessage(next);
    assert.deepEqual(learn.data, { room: WHOAMI_ROOM });
    const readyAgain = nextEvent(client, 'ready');
    next.send(JSON.stringify({ type: 'ACK', id: learn.id, data: { conn: 'raw-2' } }));
    assert.deepEqual(await readyAgain, ['raw-2']);
  });

  it('does not reconnect after close(); pending and later calls reject with CLOSED', async () => {
    const gw = await gateway();
    let constructed = 0;
    const { WebSocket } = await import('ws');
    class Counting extends WebSocket {
      constructor(url: string) {
        super(url);
        constructed += 1;
      }
    }
    const { client, states } = await ready(gw.wsUrl(), { WebSocket: Counting as never, minReconnectDelay: 5, maxReconnectDelay: 10 });
    const events: string[] = [];
    client.on('reconnect', () => events.push('reconnect'));
    client.on('state', (state) => events.push(state));
    const pending = client.join('x');
    client.close();
    assert.equal((await rejection(pending)).code, 'CLOSED');
    assert.equal((await rejection(client.join('y'))).code, 'CLOSED');
    assert.equal((await rejection(client.ping())).code, 'CLOSED');
    assert.equal(client.sendRaw('{"type":"PING","data":{}}'), false);
    await waitFor(() => gw.gateway.hub.size === 0, WAIT, 'the gateway to see the close');
    // That no attempt follows, however long one waits, is checked on fake timers in client.unit.test.ts.
    assert.equal(constructed, 1);
    assert.deepEqual(events, ['closed']);
    assert.deepEqual(states, ['open', 'closed']);
    assert.equal(gw.gateway.stats.connectionsTotal, 1);
  });

  it('does not reconnect after a close code that means a client bug (1009 here)', async () => {
    const gw = await gateway({ maxMessageSize: 200 });
    const { client, states } = await ready(gw.wsUrl());
    const closed = nextEvent(client, 'close');
    const joined = client.join('z');
    assert.equal(client.sendRaw(JSON.stringify({ type: 'PING', id: 'big', data: { pad: 'x'.repeat(500) } })), true);
    const [info] = await closed;
    assert.equal(info.code, 1009);
    assert.equal(info.willReconnect, false);
    assert.equal(client.state, 'closed');
    assert.deepEqual(states, ['open', 'closed']);
    // The join was either answered before the close or rejected by it.
    await joined.catch((error: PushgateError) => assert.ok(['DISCONNECTED', 'CLOSED'].includes(error.code), error.code));
    assert.deepEqual([...noReconnectCloseCodes].sort(), [1003, 1007, 1008, 1009, 4001, 4003]);
  });
});
