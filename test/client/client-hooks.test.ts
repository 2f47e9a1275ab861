import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type ClientEvents, type ClientOptions, type ConnectedInfo, connect, type PushgateClient, PushgateError } from '../../src/client/node.js';
import { Backend } from '../helpers/backend.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { withTimeout } from '../helpers/wait.js';

// The SDK's RPC, PUBLISH, JOIN data and CONNECTED against a real gateway whose hooks post to a real
// node:http backend on 127.0.0.1. Every wait is bounded by WAIT milliseconds.
const WAIT = 3000;
const FAST: ClientOptions = { minReconnectDelay: 20, maxReconnectDelay: 200 };

const clients: PushgateClient[] = [];
const gateways: RunningGateway[] = [];
let backend: Backend;

before(async () => {
  backend = await Backend.start({
    '/connect': (body) =>
      body.query?.ban === '1'
        ? { body: { disconnect: { code: 4003, reason: 'banned' } } }
        : { body: { user: 'alice', rooms: ['user:alice'], data: { plan: 'pro', conn: body.conn } } },
    '/subscribe': (body) =>
      body.room === 'vip' ? { status: 403, body: { reason: 'members only' } } : { body: { data: { seat: body.data?.seat ?? null, room: body.room } } },
    '/rpc': (body) => {
      if (body.method === 'sum') return { body: { result: body.data.a + body.data.b } };
      if (body.method === 'fail') return { body: { error: { code: 'OUT_OF_STOCK', message: 'nothing left' } } };
      return { body: { result: { method: body.method, data: body.data, user: body.user } } };
    },
    '/publish': (body) => (body.room === 'readonly' ? { status: 403, body: { reason: 'read-only room' } } : { body: {} }),
  });
});

after(async () => {
  await backend?.close();
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(gateways.splice(0).map((gw) => gw.close()));
});

async function gateway(): Promise<RunningGateway> {
  const gw = await startGateway({
    connectHook: `${backend.url}/connect`,
    subscribeHook: `${backend.url}/subscribe`,
    rpcHook: `${backend.url}/rpc`,
    publishHook: `${backend.url}/publish`,
  });
  gateways.push(gw);
  return gw;
}

/** The first `event` of `client` within WAIT. Call it before what causes the event. */
function nextEvent<E extends keyof ClientEvents>(client: PushgateClient, event: E): Promise<Parameters<ClientEvents[E]>> {
  return withTimeout(
    new Promise<Parameters<ClientEvents[E]>>((resolve) => client.on(event, ((...args: Parameters<ClientEvents[E]>) => resolve(args)) as ClientEvents[E])),
    WAIT,
    `the client's "${event}" event`,
  );
}

/** Connects to `gw` and waits for `ready`, recording the CONNECTED frame. */
async function ready(gw: RunningGateway, query = ''): Promise<{ client: PushgateClient; connected: ConnectedInfo }> {
  const client = connect(gw.wsUrl(`/connect${query}`), FAST);
  clients.push(client);
  const connected = nextEvent(client, 'connected');
  await nextEvent(client, 'ready');
  return { client, connected: (await connected)[0] };
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

describe('client SDK with backend hooks (real gateway and backend)', () => {
  it("gets the CONNECTED frame: connected event, connId, user and connectData; the hook's rooms are joined, not in rooms", async () => {
    const gw = await gateway();
    const { client, connected } = await ready(gw);
    assert.equal(connected.conn, client.connId);
    assert.deepEqual(connected, { conn: client.connId, user: 'alice', rooms: ['user:alice'], data: { plan: 'pro', conn: client.connId } });
    assert.equal(client.user, 'alice');
    assert.deepEqual(client.connectData, { plan: 'pro', conn: client.connId });
    assert.deepEqual(client.rooms, []);
    assert.equal(gw.gateway.hub.members('user:alice')?.size, 1, 'the server joined the room');
  });

  it("resolves an RPC with the backend's result and rejects a refusal with BACKEND_ERROR and the backend's code", async () => {
    const gw = await gateway();
    const { client } = await ready(gw);
    assert.equal(await withTimeout(client.rpc('sum', { a: 2, b: 40 }), WAIT, 'sum'), 42);
    assert.deepEqual(await withTimeout(client.rpc('echo', [1, 'two']), WAIT, 'echo'), { method: 'echo', data: [1, 'two'], user: 'alice' });
    const error = await rejection(client.rpc('fail'));
    assert.equal(error.code, 'BACKEND_ERROR');
    assert.equal(error.backendCode, 'OUT_OF_STOCK');
    assert.equal(error.request?.method, 'fail');
    assert.equal(client.state, 'open');
    // Several in flight at once: each gets its own result.
    const sums = await withTimeout(Promise.all([1, 2, 3].map((a) => client.rpc('sum', { a, b: 10 }))), WAIT, 'three sums');
    assert.deepEqual(sums, [11, 12, 13]);
  });

  it('publishes: resolves on the ACK, the item arrives as a PUSH to the room; a refused publish rejects with FORBIDDEN', async () => {
    const gw = await gateway();
    const { client } = await ready(gw);
    await withTimeout(client.join('chat'), WAIT, 'join');
    const pushed = nextEvent(client, 'push');
    await withTimeout(client.publish('chat', { text: 'hello' }), WAIT, 'publish');
    assert.deepEqual(await pushed, [[{ text: 'hello' }], 'chat']);
    const refused = await rejection(client.publish('readonly', 1));
    assert.equal(refused.code, 'FORBIDDEN');
    assert.match(refused.message, /read-only room/);
    assert.equal(refused.room, 'readonly');
  });

  it("joins with data for the subscribe hook and resolves with the hook's data; a refused room is dropped", async () => {
    const gw = await gateway();
    const { client } = await ready(gw);
    assert.deepEqual(await withTimeout(client.join('game', { seat: 3 }), WAIT, 'join'), { seat: 3, room: 'game' });
    const asked = backend.on('/subscribe').filter((request) => request.body.conn === client.connId);
    assert.deepEqual(asked.at(-1)?.body.data, { seat: 3 });
    const error = await rejection(client.join('vip'));
    assert.equal(error.code, 'FORBIDDEN');
    assert.deepEqual(client.rooms, ['game']);
  });

  it('stops for good when the connect hook disconnects the client with 4003', async () => {
    const gw = await gateway();
    const client = connect(gw.wsUrl('/connect?ban=1'), FAST);
    clients.push(client);
    const [info] = await nextEvent(client, 'close');
    assert.equal(info.code, 4003);
    assert.equal(info.reason, 'banned');
    assert.equal(info.willReconnect, false);
    assert.equal(client.state, 'closed');
    // State closed: no retry is scheduled (that none follows later is checked on fake timers in client.unit.test.ts).
    assert.equal(backend.on('/connect').filter((request) => request.body.query?.ban === '1').length, 1);
  });
});
