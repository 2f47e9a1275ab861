import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { type ClientEvents, connect, type PushgateClient, type PushInfo, type RecoveryInfo, type WebSocketConstructor } from '../../src/client/node.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { steered } from '../helpers/steered-websocket.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

// Every wait in this file is bounded by this many milliseconds.
const WAIT = 8000;
const HISTORY = ['chat:*=2000/300s'];

const clients: PushgateClient[] = [];
const gateways: RunningGateway[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(gateways.splice(0).map((gw) => gw.close()));
});

// No latency budget: on a loaded machine a push may legitimately be refused OVERLOADED (a 503 the
// test would have to retry), and admission is not what these tests are about.
async function gateway(): Promise<RunningGateway> {
  const gw = await startGateway({ history: HISTORY, maxLatency: 0 });
  gateways.push(gw);
  return gw;
}

/** What a client delivered for one room: each item with its offset and whether it came in a replay. */
interface Received {
  items: unknown[];
  offsets: number[];
  replays: boolean[];
  epochs: string[];
  recoveries: RecoveryInfo[];
}

/** An SDK client on `url` (fast reconnects), recording the pushes and recoveries of `room`. */
async function open(url: string, room: string, WebSocketImpl?: WebSocketConstructor): Promise<{ client: PushgateClient; got: Received }> {
  const client = connect(url, { minReconnectDelay: 10, maxReconnectDelay: 50, ...(WebSocketImpl === undefined ? {} : { WebSocket: WebSocketImpl }) });
  clients.push(client);
  const got: Received = { items: [], offsets: [], replays: [], epochs: [], recoveries: [] };
  client.on('push', (items, pushed, info?: PushInfo) => {
    if (pushed !== room) return;
    assert.ok(info !== undefined, 'a push to a room with history carries its offsets');
    assert.equal(info.offset - info.first + 1, items.length, 'first..offset spans the items');
    items.forEach((item, i) => {
      got.items.push(item);
      got.offsets.push(info.first + i);
      got.replays.push(info.replay);
      got.epochs.push(info.epoch);
    });
  });
  client.on('recovered', (info) => {
    if (info.room === room) got.recoveries.push(info);
  });
  await nextEvent(client, 'ready');
  return { client, got };
}

/** The next `event` of `client` (call it before the action that causes it), within WAIT. */
function nextEvent<E extends keyof ClientEvents>(client: PushgateClient, event: E): Promise<Parameters<ClientEvents[E]>> {
  let listener: ((...args: any[]) => void) | undefined;
  const seen = new Promise<Parameters<ClientEvents[E]>>((resolve) => {
    listener = (...args: any[]) => resolve(args as Parameters<ClientEvents[E]>);
    client.on(event, listener as ClientEvents[E]);
  });
  return withTimeout(seen, WAIT, `the client's "${event}" event`).finally(() => client.off(event, listener as ClientEvents[E]));
}

/** POSTs `items` to `room`; answers the offset of the last one and the epoch. */
async function push(gw: RunningGateway, room: string, items: unknown[]): Promise<{ offset: number; epoch: string }> {
  const res = await postJson(`${gw.apiUrl}/push/room`, { room, items });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { offset: res.body.offset, epoch: res.body.epoch };
}

/** Asserts `offsets` are `from`, `from + 1`, …: in order, none missing, none twice. */
function assertRun(offsets: readonly number[], from: number, count: number): void {
  assert.deepEqual(
    offsets,
    Array.from({ length: count }, (_, i) => from + i),
  );
}

/** Drops the client's connection from the server side (a code that reconnects) and waits for the close. */
async function drop(gw: RunningGateway, client: PushgateClient): Promise<void> {
  const closed = nextEvent(client, 'close');
  const res = await fetch(`${gw.apiUrl}/connections/${client.connId}`, {
    method: 'DELETE',
    body: JSON.stringify({ code: 4010 }),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(res.status, 200);
  const [info] = await closed;
  assert.equal(info.willReconnect, true);
}

describe('SDK recovery (a real gateway with history)', () => {
  it('recovers the 200 items pushed while its connection was down, in order, none twice, then continues live', async () => {
    const gw = await gateway();
    const socket = steered();
    const room = 'chat:blink';
    const { client, got } = await open(gw.wsUrl(), room, socket.WebSocket);
    assert.equal(client.position(room), undefined, 'no position before joining');
    await client.join(room);
    const start = client.position(room);
    assert.ok(start !== undefined);
    assert.equal(start.offset, 0, "a new room's stream stands at 0");

    await push(gw, room, ['live-1', 'live-2', 'live-3']);
    await waitFor(() => got.items.length === 3, WAIT, 'the first live items');
    assert.deepEqual(client.position(room), { offset: 3, epoch: start.epoch });

    socket.hold();
    await drop(gw, client);
    const missed = Array.from({ length: 200 }, (_, i) => `missed-${i + 1}`);
    // In pushes of 1 to 40 items: the replay spans several frames of different sizes.
    for (let i = 0, size = 1; i < missed.length; i += size, size = (size % 40) + 7) await push(gw, room, missed.slice(i, i + size));

    const recovered = nextEvent(client, 'recovered');
    socket.release();
    const [info] = await recovered;
    assert.deepEqual(info, {
      room,
      recovered: true,
      replayed: 200,
      offset: 203,
      epoch: start.epoch,
      from: { offset: 3, epoch: start.epoch },
      cause: 'reconnect',
    });
    // The replay came before the ACK: every missed item is delivered when `recovered` is emitted.
    assert.equal(got.items.length, 203);
    assert.deepEqual(got.items, ['live-1', 'live-2', 'live-3', ...missed]);
    assertRun(got.offsets, 1, 203);
    assert.deepEqual(got.replays, [false, false, false, ...missed.map(() => true)]);

    await push(gw, room, ['after-1', 'after-2']);
    await waitFor(() => got.items.length === 205, WAIT, 'the live items after the recovery');
    assert.deepEqual(got.items.slice(203), ['after-1', 'after-2']);
    assertRun(got.offsets, 1, 205);
    assert.deepEqual(got.replays.slice(203), [false, false]);
    assert.ok(got.epochs.every((epoch) => epoch === start.epoch));
    assert.deepEqual(client.position(room), { offset: 205, epoch: start.epoch });
    assert.equal(got.recoveries.length, 1);
    assert.equal(gw.gateway.snapshot().itemsReplayed, 200);
  });

  it('a gateway on a new in-memory store (a new epoch) answers recovered: false, and live items follow in the new epoch', async () => {
    const first = await gateway();
    const socket = steered();
    const room = 'chat:restart';
    const { client, got } = await open(first.wsUrl(), room, socket.WebSocket);
    await client.join(room);
    const before = await push(first, room, ['a', 'b', 'c']);
    await waitFor(() => got.items.length === 3, WAIT, 'the items of the first gateway');

    socket.hold();
    const second = await gateway();
    socket.redirect(second.wsUrl());
    const closed = nextEvent(client, 'close');
    await first.close();
    await closed;
    const meanwhile = await push(second, room, ['x', 'y']);
    assert.notEqual(meanwhile.epoch, before.epoch, 'a new store, a new epoch');

    const recovered = nextEvent(client, 'recovered');
    socket.release();
    const [info] = await recovered;
    assert.deepEqual(info, {
      room,
      recovered: false,
      replayed: 0,
      offset: 2,
      epoch: meanwhile.epoch,
      from: { offset: 3, epoch: before.epoch },
      cause: 'reconnect',
    });
    assert.equal(got.items.length, 3, 'nothing replayed: the app reloads the room');
    assert.deepEqual(client.position(room), { offset: 2, epoch: meanwhile.epoch });

    await push(second, room, ['z']);
    await waitFor(() => got.items.length === 4, WAIT, 'the live item of the new epoch');
    assert.deepEqual([got.items[3], got.offsets[3], got.epochs[3]], ['z', 3, meanwhile.epoch]);
  });

  it('join from a GET /history page receives exactly what followed it, then live items; position() follows', async () => {
    const gw = await gateway();
    const room = 'chat:page';
    await push(gw, room, [1, 2, 3, 4, 5]);
    const page = await (await fetch(`${gw.apiUrl}/history?room=${room}`)).json();
    assert.equal(page.top, 5);
    // Pushed after the backend rendered its page.
    await push(gw, room, [6, 7, 8]);

    const { client, got } = await open(gw.wsUrl(), room);
    const recovered = nextEvent(client, 'recovered');
    const result = await client.joinRoom(room, { from: { offset: page.top, epoch: page.epoch } });
    assert.deepEqual(result, { room, data: undefined, stream: { offset: 8, epoch: page.epoch, recovered: true, replayed: 3 } });
    const [info] = await recovered;
    assert.deepEqual([info.recovered, info.replayed, info.offset, info.cause], [true, 3, 8, 'join']);
    assert.deepEqual(got.items, [6, 7, 8]);
    assertRun(got.offsets, 6, 3);
    assert.deepEqual(client.position(room), { offset: 8, epoch: page.epoch });

    // join(room, data, from) does the same, resolving with the hook's data (none here).
    const other = await open(gw.wsUrl(), room);
    assert.equal(await other.client.join(room, undefined, { offset: 7, epoch: page.epoch }), undefined);
    assert.deepEqual(other.got.items, [8]);

    await push(gw, room, [9]);
    await waitFor(() => got.items.length === 4 && other.got.items.length === 2, WAIT, 'the live item');
    assert.deepEqual(got.offsets, [6, 7, 8, 9]);
    assert.deepEqual(other.got.offsets, [8, 9]);

    await client.leave(room);
    assert.equal(client.position(room), undefined, 'leave forgets the position');
    await client.join('news');
    assert.equal(client.position('news'), undefined, 'a room without history has none');
    await assert.rejects(client.join(room, undefined, { offset: -1, epoch: page.epoch }), TypeError);
    await assert.rejects(client.joinRoom(room, { from: { offset: 1, epoch: 'not an epoch' } }), TypeError);
  });
});
