import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Frame, TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';

const SECRET = 'presence-secret';
const KEY = 'presence-api-key';

async function call(url: string, key: string | null = KEY): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: key === null ? {} : { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.json() };
}

/** The next PRESENCE_EVENT a client gets (other frames skipped). */
async function nextEvent(client: TestClient, ms = 3000): Promise<any> {
  return (await client.nextOfType('PRESENCE_EVENT', ms)).data;
}

const sorted = (values: string[]): string[] => [...values].sort();

// One gateway alone: the routes, the PRESENCE frame and the events, against a real server and real sockets.
describe('presence on one gateway', () => {
  let gw: RunningGateway;
  const clients: TestClient[] = [];
  const open = async (user?: string): Promise<{ client: TestClient; id: string }> => {
    const client = await TestClient.open(`${gw.wsUrl()}?token=${await signToken({ sub: user, secret: SECRET })}`);
    clients.push(client);
    return { client, id: await client.connId() };
  };
  before(async () => {
    gw = await startGateway({ jwtSecret: SECRET, apiKey: KEY, joinLeave: ['jl-*', 'small-jl'], presenceMax: 3 });
  });
  after(async () => {
    clients.forEach((c) => c.terminate());
    await gw.close();
  });

  it('GET /presence lists the connections, distinct users and counts; /presence/stats the counts', async () => {
    const members = [await open('alice'), await open('alice'), await open('bob'), await open()];
    for (const { client } of members.slice(0, 3)) assert.equal((await client.request('JOIN', { room: 'lobby' })).type, 'ACK');
    const res = await call(`${gw.apiUrl}/presence?room=lobby`);
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body), ['room', 'connections', 'users', 'count', 'userCount', 'partial']);
    assert.deepEqual(res.body.users, ['alice', 'bob']);
    assert.deepEqual([res.body.room, res.body.count, res.body.userCount, res.body.partial], ['lobby', 3, 2, false]);
    const node = gw.gateway.hub.nodeId;
    assert.deepEqual(
      sorted(res.body.connections.map((c: any) => `${c.conn} ${c.user} ${c.node}`)),
      sorted([`${members[0].id} alice ${node}`, `${members[1].id} alice ${node}`, `${members[2].id} bob ${node}`]),
    );
    assert.deepEqual((await call(`${gw.apiUrl}/presence/stats?room=lobby`)).body, { room: 'lobby', count: 3, userCount: 2, partial: false });
    // An anonymous member counts as a connection, not as a user.
    assert.equal((await members[3].client.request('JOIN', { room: 'lobby' })).type, 'ACK');
    assert.deepEqual((await call(`${gw.apiUrl}/presence/stats?room=lobby`)).body, { room: 'lobby', count: 4, userCount: 2, partial: false });
  });

  it('answers counts only past --presence-max, and an empty room with zeros', async () => {
    // 4 members in lobby (the test above) > presenceMax 3.
    const res = await call(`${gw.apiUrl}/presence?room=lobby`);
    assert.deepEqual(res.body, { room: 'lobby', count: 4, userCount: 2, partial: false, truncated: true });
    assert.deepEqual((await call(`${gw.apiUrl}/presence?room=nobody-here`)).body, {
      room: 'nobody-here',
      connections: [],
      users: [],
      count: 0,
      userCount: 0,
      partial: false,
    });
  });

  it('refuses a bad room (400 INVALID_ROOM) and a missing API key (401)', async () => {
    for (const query of ['', '?room=', '?room=a%20b']) {
      const res = await call(`${gw.apiUrl}/presence${query}`);
      assert.deepEqual([res.status, res.body.ok, res.body.error.code], [400, false, 'INVALID_ROOM'], query);
      assert.equal(typeof res.body.error.message, 'string');
      assert.equal((await call(`${gw.apiUrl}/presence/stats${query}`)).status, 400);
    }
    const res = await call(`${gw.apiUrl}/presence?room=lobby`, null);
    assert.deepEqual([res.status, res.body.error.code], [401, 'UNAUTHORIZED']);
  });

  it('answers a PRESENCE frame of a member with the same result; FORBIDDEN for others; BAD_REQUEST without an id', async () => {
    const { client } = await open('carol');
    const refused = await client.request('PRESENCE', { room: 'p-room' });
    assert.deepEqual([refused.type, refused.data.code], ['ERROR', 'FORBIDDEN']);
    assert.equal((await client.request('JOIN', { room: 'p-room' })).type, 'ACK');
    const reply = await client.request('PRESENCE', { room: 'p-room' });
    assert.equal(reply.type, 'REPLY');
    assert.deepEqual(reply.data.result, (await call(`${gw.apiUrl}/presence?room=p-room`)).body);
    assert.deepEqual(reply.data.result.users, ['carol']);
    client.send({ type: 'PRESENCE', data: { room: 'p-room' } });
    const noId = await client.nextOfType('ERROR');
    assert.deepEqual([noId.id, noId.data.code], [undefined, 'BAD_REQUEST']);
    const badRoom = await client.request('PRESENCE', { room: 'a b' });
    assert.deepEqual([badRoom.type, badRoom.data.code], ['ERROR', 'INVALID_ROOM']);
  });

  it('tells members of a join-leave room who joins and leaves; the joiner gets the state instead of its own join', async () => {
    const alice = await open('alice');
    assert.equal((await alice.client.request('JOIN', { room: 'jl-a' })).type, 'ACK');
    const first = await nextEvent(alice.client);
    assert.deepEqual(first, { room: 'jl-a', event: 'state', connections: [{ conn: alice.id, user: 'alice', node: gw.gateway.hub.nodeId }], partial: false });

    const bob = await open('bob');
    assert.equal((await bob.client.request('JOIN', { room: 'jl-a' })).type, 'ACK');
    const node = gw.gateway.hub.nodeId;
    assert.deepEqual(await nextEvent(alice.client), { room: 'jl-a', event: 'join', conn: bob.id, user: 'bob', node });
    const state = await nextEvent(bob.client);
    assert.equal(state.event, 'state');
    assert.deepEqual(sorted(state.connections.map((c: any) => c.conn)), sorted([alice.id, bob.id]));

    // A LEAVE, then a close: each is a leave for the others.
    assert.equal((await bob.client.request('LEAVE', { room: 'jl-a' })).type, 'ACK');
    assert.deepEqual(await nextEvent(alice.client), { room: 'jl-a', event: 'leave', conn: bob.id, user: 'bob', node });
    const anon = await open();
    assert.equal((await anon.client.request('JOIN', { room: 'jl-a' })).type, 'ACK');
    assert.deepEqual(await nextEvent(alice.client), { room: 'jl-a', event: 'join', conn: anon.id, user: null, node });
    anon.client.close();
    assert.deepEqual(await nextEvent(alice.client), { room: 'jl-a', event: 'leave', conn: anon.id, user: null, node });
    // Bob left: he heard nothing of the anonymous connection.
    assert.equal(bob.client.frames.filter((f: Frame) => f.type === 'PRESENCE_EVENT').length, 1);
  });

  it("keeps an event in its place among the room's pushes", async () => {
    const watcher = await open('watcher');
    assert.equal((await watcher.client.request('JOIN', { room: 'jl-order' })).type, 'ACK');
    await nextEvent(watcher.client);
    const other = await open('other');
    // Pushed before the JOIN, pushed after it: the join event comes between them.
    assert.equal((await postFormKey(`${gw.apiUrl}/push/room`, { room: 'jl-order', items: '[1]' })).status, 200);
    assert.equal((await other.client.request('JOIN', { room: 'jl-order' })).type, 'ACK');
    assert.equal((await postFormKey(`${gw.apiUrl}/push/room`, { room: 'jl-order', items: '[2]' })).status, 200);
    const seen: string[] = [];
    while (seen.length < 3) {
      const frame = await watcher.client.next();
      if (frame.type === 'PUSH') seen.push(`push ${JSON.stringify(frame.data.items)}`);
      else if (frame.type === 'PRESENCE_EVENT') seen.push(`${frame.data.event} ${frame.data.user}`);
    }
    assert.deepEqual(seen, ['push [1]', 'join other', 'push [2]']);
  });

  it('sends no events for rooms --join-leave does not name', async () => {
    const a = await open('a');
    const b = await open('b');
    for (const { client } of [a, b]) assert.equal((await client.request('JOIN', { room: 'quiet' })).type, 'ACK');
    // A push after the join reaches a: had an event been sent, it would have come first.
    assert.equal((await postFormKey(`${gw.apiUrl}/push/room`, { room: 'quiet', items: '["after"]' })).status, 200);
    const frame = await a.client.nextOfType('PUSH');
    assert.deepEqual(frame.data.items, ['after']);
    assert.equal(a.client.frames.filter((f: Frame) => f.type === 'PRESENCE_EVENT').length, 0);
  });

  it('past --presence-max, members are told once that events stop (overflow), and newcomers too', async () => {
    const members = [await open('m1'), await open('m2'), await open('m3')];
    for (const [i, { client }] of members.entries()) {
      assert.equal((await client.request('JOIN', { room: 'small-jl' })).type, 'ACK');
      assert.equal((await nextEvent(client)).event, 'state');
      for (const earlier of members.slice(0, i)) assert.equal((await nextEvent(earlier.client)).user, `m${i + 1}`);
    }
    const fourth = await open('m4');
    assert.equal((await fourth.client.request('JOIN', { room: 'small-jl' })).type, 'ACK');
    for (const { client } of [...members, fourth]) assert.deepEqual(await nextEvent(client), { room: 'small-jl', event: 'overflow', count: 4 });
    const fifth = await open('m5');
    assert.equal((await fifth.client.request('JOIN', { room: 'small-jl' })).type, 'ACK');
    assert.equal((await nextEvent(fifth.client)).event, 'overflow');
    // A leave while over the bound is not announced: a push after it comes first.
    assert.equal((await fifth.client.request('LEAVE', { room: 'small-jl' })).type, 'ACK');
    assert.equal((await postFormKey(`${gw.apiUrl}/push/room`, { room: 'small-jl', items: '["after"]' })).status, 200);
    assert.deepEqual((await members[0].client.nextOfType('PUSH')).data.items, ['after']);
    assert.equal(members[0].client.frames.filter((f: Frame) => f.type === 'PRESENCE_EVENT').length, 4);
  });

  it('counts presence queries and events in /stats and /metrics', async () => {
    const stats = (await call(`${gw.apiUrl}/stats`)).body;
    // The answers above (refusals before the room was checked are not counted), and the events sent.
    assert.equal(stats.presenceQueries, 7);
    assert.equal(stats.presenceEvents, 21);
    const metrics = await (await fetch(`${gw.apiUrl}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
    assert.match(metrics, new RegExp(`pushgate_presence_queries_total\\{node="[^"]+"\\} ${stats.presenceQueries}\\b`));
    assert.match(metrics, /pushgate_presence_events_total\{node="[^"]+"\} \d+/);
  });
});

// A form push with the API key.
async function postFormKey(url: string, fields: Record<string, string>): Promise<{ status: number }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${KEY}` },
    body: new URLSearchParams(fields).toString(),
  });
  await res.arrayBuffer();
  return { status: res.status };
}
