import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { connect, type PresenceChangeInfo, type PushgateClient, PushgateError, type WebSocketConstructor } from '../../src/client/node.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { steered } from '../helpers/steered-websocket.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const SECRET = 'sdk-presence-secret';
const WAIT = 5000;

const clients: PushgateClient[] = [];
const gateways: RunningGateway[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(gateways.splice(0).map((gw) => gw.close()));
});

async function gateway(options: Parameters<typeof startGateway>[0] = {}): Promise<RunningGateway> {
  const gw = await startGateway({ jwtSecret: SECRET, joinLeave: ['jl-*'], ...options });
  gateways.push(gw);
  return gw;
}

/** An SDK client of `user` (none: anonymous) recording its join/leave events as `join bob`, `leave bob`. */
async function open(gw: RunningGateway, user?: string, WebSocketImpl?: WebSocketConstructor) {
  const token = await signToken({ sub: user, secret: SECRET });
  const client = connect(gw.wsUrl(), {
    token,
    minReconnectDelay: 10,
    maxReconnectDelay: 50,
    ...(WebSocketImpl === undefined ? {} : { WebSocket: WebSocketImpl }),
  });
  clients.push(client);
  const events: string[] = [];
  const infos: PresenceChangeInfo[] = [];
  for (const event of ['join', 'leave'] as const) {
    client.on(event, (info) => {
      events.push(`${event} ${info.user ?? `anonymous ${info.conn}`}`);
      infos.push(info);
    });
  }
  await withTimeout(new Promise((resolve) => client.on('ready', resolve)), WAIT, 'ready');
  return { client, events, infos };
}

describe('SDK presence', () => {
  it('presence() answers with the room over the cluster, for members only', async () => {
    const gw = await gateway();
    const { client } = await open(gw, 'alice');
    await assert.rejects(client.presence('room'), (error: unknown) => error instanceof PushgateError && error.code === 'FORBIDDEN');
    await client.join('room');
    const { client: bob } = await open(gw, 'bob');
    await bob.join('room');
    const result = await client.presence('room');
    assert.deepEqual(
      [result.room, result.users, result.count, result.userCount, result.partial, result.truncated],
      ['room', ['alice', 'bob'], 2, 2, false, undefined],
    );
    assert.deepEqual(result.connections?.map((c) => c.conn).sort(), [client.connId, bob.connId].sort());
    await assert.rejects(client.presence('a b'), (error: unknown) => error instanceof PushgateError && error.code === 'INVALID_ROOM');
  });

  it("emits join for a user's first connection in the room and leave for its last; anonymous ones each; never its own", async () => {
    const gw = await gateway();
    const watcher = await open(gw, 'alice');
    await watcher.client.join('jl-room');
    // The state of the room comes after the ACK: the next events are measured from it.
    await waitFor(() => gw.gateway.snapshot().presenceEvents >= 1, WAIT, 'the state');
    const bob1 = await open(gw, 'bob');
    await bob1.client.join('jl-room');
    const bob1ConnId = bob1.client.connId;
    const bob2 = await open(gw, 'bob');
    await bob2.client.join('jl-room');
    const bob2ConnId = bob2.client.connId;
    const alice2 = await open(gw, 'alice');
    await alice2.client.join('jl-room');
    await bob1.client.leave('jl-room');
    const anon = await open(gw);
    await anon.client.join('jl-room');
    const anonId = anon.client.connId;
    bob2.client.close();
    await waitFor(() => watcher.events.length === 3, WAIT, 'leave bob');
    anon.client.close();
    await waitFor(() => watcher.events.length === 4, WAIT, 'leave anonymous');
    assert.deepEqual(watcher.events, ['join bob', `join anonymous ${anonId}`, 'leave bob', `leave anonymous ${anonId}`]);
    // The connection that made bob come, and the one that made him go.
    assert.deepEqual(watcher.infos[0], { room: 'jl-room', user: 'bob', conn: bob1ConnId });
    assert.deepEqual(watcher.infos[2], { room: 'jl-room', user: 'bob', conn: bob2ConnId });
    // Alice's second connection, bob's first leaving while his second stayed: no event. Bob's joiners
    // heard of the others, never of themselves.
    assert.equal(bob1.events.includes('join bob'), false);
  });

  it('after a reconnect, announces who came and went meanwhile; presence() made meanwhile waits for the rejoin', async () => {
    const gw = await gateway();
    const socket = steered();
    const watcher = await open(gw, 'alice', socket.WebSocket);
    await watcher.client.join('jl-room');
    const dave = await open(gw, 'dave');
    await dave.client.join('jl-room');
    await waitFor(() => watcher.events.includes('join dave'), WAIT, 'join dave');

    socket.hold();
    const closed = new Promise((resolve) => watcher.client.on('close', resolve));
    const res = await fetch(`${gw.apiUrl}/connections/${watcher.client.connId}`, {
      method: 'DELETE',
      body: JSON.stringify({ code: 4010 }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 200);
    await withTimeout(closed, WAIT, 'the close');
    const carol = await open(gw, 'carol');
    await carol.client.join('jl-room');
    dave.client.close();
    await waitFor(() => gw.gateway.hub.members('jl-room')?.size === 1, WAIT, 'dave gone, carol in');
    const asked = watcher.client.presence('jl-room');
    socket.release();
    const result = await asked;
    assert.deepEqual(result.users, ['alice', 'carol']);
    await waitFor(() => watcher.events.length >= 3, WAIT, 'the differences');
    assert.deepEqual(watcher.events, ['join dave', 'leave dave', 'join carol']);
  });

  it('tells when a room passes presenceMax (presenceOverflow) and stops its events', async () => {
    const gw = await gateway({ presenceMax: 2 });
    const first = await open(gw, 'u1');
    const overflows: Array<[string, number]> = [];
    first.client.on('presenceOverflow', (room, count) => overflows.push([room, count]));
    await first.client.join('jl-big');
    const second = await open(gw, 'u2');
    await second.client.join('jl-big');
    await waitFor(() => first.events.length === 1, WAIT, 'join u2');
    const third = await open(gw, 'u3');
    await third.client.join('jl-big');
    await waitFor(() => overflows.length === 1, WAIT, 'the overflow');
    assert.deepEqual(overflows, [['jl-big', 3]]);
    assert.deepEqual(first.events, ['join u2']);
  });
});
