import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'connection-api-secret';

/** A request to the push API; the JSON answer parsed. */
async function call(
  url: string,
  method = 'GET',
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(5000) };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('connection API on one gateway', () => {
  let gw: RunningGateway;
  const clients: TestClient[] = [];
  const open = async (user?: string): Promise<{ client: TestClient; id: string }> => {
    // A token without `sub` is an anonymous connection.
    const client = await TestClient.open(`${gw.wsUrl()}?token=${await signToken({ sub: user, secret: SECRET })}`);
    clients.push(client);
    // The ACK says the connection is online in the hub, with its id.
    return { client, id: await client.connId() };
  };
  before(async () => {
    gw = await startGateway({ jwtSecret: SECRET });
  });
  after(async () => {
    clients.forEach((c) => c.terminate());
    await gw.close();
  });

  it('describes a connection: node, user, address, protocol, rooms, times', async () => {
    const before = Date.now();
    const { client, id } = await open('alice');
    for (const room of ['news', 'é/x']) assert.equal((await client.request('JOIN', { room })).type, 'ACK');
    const res = await call(`${gw.apiUrl}/connections/${encodeURIComponent(id)}`);
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body), ['conn', 'node', 'user', 'address', 'protocol', 'rooms', 'connectedAt', 'lastSeenAt']);
    assert.equal(res.body.conn, id);
    assert.equal(res.body.node, gw.gateway.hub.nodeId);
    assert.equal(res.body.user, 'alice');
    assert.equal(res.body.address, '127.0.0.1');
    assert.equal(res.body.protocol, 'go-push');
    assert.deepEqual(res.body.rooms, ['news', 'é/x']);
    assert.match(res.body.connectedAt, ISO);
    assert.match(res.body.lastSeenAt, ISO);
    assert.ok(Date.parse(res.body.connectedAt) >= before - 1000 && Date.parse(res.body.lastSeenAt) >= Date.parse(res.body.connectedAt));
  });

  it('closes a connection with the code and reason asked: the client receives them; then the connection is gone (410)', async () => {
    const { client, id } = await open();
    const res = await call(`${gw.apiUrl}/connections/${id}`, 'DELETE', { code: 4005, reason: 'maintenance ✓' });
    assert.deepEqual([res.status, res.body], [200, { ok: true, closed: 1 }]);
    assert.deepEqual(await client.waitClosed(5000), { code: 4005, reason: 'maintenance ✓' });
    const gone = await call(`${gw.apiUrl}/connections/${id}`);
    assert.equal(gone.status, 410);
    assert.equal(gone.body.ok, false);
    assert.equal(gone.body.error.code, 'CONN_GONE');
    assert.equal(typeof gone.body.error.message, 'string');
    assert.deepEqual(
      { ...gone.body.error, message: undefined, closedAt: undefined },
      {
        code: 'CONN_GONE',
        message: undefined,
        conn: id,
        node: gw.gateway.hub.nodeId,
        closedAt: undefined,
        closeCode: 4005,
        reason: 'maintenance ✓',
        by: 'server',
      },
    );
    assert.match(gone.body.error.closedAt, ISO);
    const again = await call(`${gw.apiUrl}/connections/${id}`, 'DELETE');
    assert.deepEqual([again.status, again.body.error.code, again.body.error.closeCode], [410, 'CONN_GONE', 4005]);
  });

  it('closes with 4003 "disconnected by the backend" when the DELETE has no body', async () => {
    const { client, id } = await open();
    const res = await call(`${gw.apiUrl}/connections/${id}`, 'DELETE');
    assert.deepEqual([res.status, res.body], [200, { ok: true, closed: 1 }]);
    assert.deepEqual(await client.waitClosed(5000), { code: 4003, reason: 'disconnected by the backend' });
  });

  it('answers 410 with how it ended for a connection its client closed, and 404 for ids it never had', async () => {
    const { client, id } = await open();
    client.ws.close(4321, 'bye from the client');
    await client.waitClosed(5000);
    await waitFor(() => gw.gateway.hub.get(id) === undefined, 5000, 'the gateway to see the close');
    const gone = await call(`${gw.apiUrl}/connections/${id}`);
    assert.equal(gone.status, 410);
    assert.deepEqual([gone.body.error.closeCode, gone.body.error.reason, gone.body.error.by], [4321, 'bye from the client', 'client']);
    for (const unknown of [`${gw.gateway.hub.nodeId}-zzzz`, 'cafe0000-1', 'no-node-here', 'nodash']) {
      const res = await call(`${gw.apiUrl}/connections/${encodeURIComponent(unknown)}`);
      assert.deepEqual([res.status, res.body.error.code], [404, 'CONN_NOT_FOUND'], unknown);
      const del = await call(`${gw.apiUrl}/connections/${encodeURIComponent(unknown)}`, 'DELETE');
      assert.deepEqual([del.status, del.body.error.code], [404, 'CONN_NOT_FOUND'], unknown);
    }
  });

  it('refuses a DELETE whose body it cannot use, and leaves the connection open', async () => {
    const { client, id } = await open();
    const url = `${gw.apiUrl}/connections/${id}`;
    const bad: Array<[string, unknown, number, string, Record<string, string>?]> = [
      ['a code below 4000', { code: 1000 }, 400, 'INVALID_BODY'],
      ['a code above 4999', { code: 5000 }, 400, 'INVALID_BODY'],
      ['a code that is not an integer', { code: 4000.5 }, 400, 'INVALID_BODY'],
      ['a code as a string', { code: '4000' }, 400, 'INVALID_BODY'],
      ['a reason over 123 bytes', { reason: 'é'.repeat(62) }, 400, 'INVALID_BODY'],
      ['a reason that is not a string', { reason: 7 }, 400, 'INVALID_BODY'],
      ['an unknown member', { code: 4000, why: 'x' }, 400, 'INVALID_BODY'],
      ['a member twice', '{"code":4000,"code":4001}', 400, 'INVALID_BODY'],
      ['malformed JSON', '{"code":', 400, 'INVALID_BODY'],
      ['an array', '[4000]', 400, 'INVALID_BODY'],
      ['a form', 'code=4000', 415, 'UNSUPPORTED_MEDIA_TYPE', { 'content-type': 'application/x-www-form-urlencoded' }],
    ];
    for (const [what, body, status, code, headers] of bad) {
      const res = await call(url, 'DELETE', body, headers);
      assert.deepEqual([res.status, res.body?.error?.code], [status, code], what);
    }
    // 123 bytes exactly is a valid reason.
    assert.equal((await call(`${gw.apiUrl}/connections/${id}`)).status, 200, 'still open');
    const res = await call(url, 'DELETE', { code: 4999, reason: 'é'.repeat(61) + 'x' });
    assert.equal(res.status, 200);
    assert.deepEqual(await client.waitClosed(5000), { code: 4999, reason: 'é'.repeat(61) + 'x' });
  });

  it("lists a user's connections, and closes them all", async () => {
    const [a1, a2, bob] = [await open('alice·1'), await open('alice·1'), await open('bob')];
    const url = `${gw.apiUrl}/users/${encodeURIComponent('alice·1')}/connections`;
    const listed = await call(url);
    assert.equal(listed.status, 200);
    assert.deepEqual(Object.keys(listed.body), ['user', 'connections', 'partial']);
    assert.equal(listed.body.user, 'alice·1');
    assert.equal(listed.body.partial, false);
    assert.deepEqual(listed.body.connections.map((c: { conn: string }) => c.conn).sort(), [a1.id, a2.id].sort());
    assert.deepEqual(
      listed.body.connections[0],
      (await call(`${gw.apiUrl}/connections/${listed.body.connections[0].conn}`)).body,
      'the same objects as GET /connections/:id',
    );

    const closed = await call(url, 'DELETE', { code: 4010, reason: 'logged out' });
    assert.deepEqual([closed.status, closed.body], [200, { ok: true, closed: 2, partial: false }]);
    for (const { client } of [a1, a2]) assert.deepEqual(await client.waitClosed(5000), { code: 4010, reason: 'logged out' });
    assert.deepEqual((await call(url)).body, { user: 'alice·1', connections: [], partial: false });
    assert.deepEqual((await call(url, 'DELETE')).body, { ok: true, closed: 0, partial: false });
    assert.equal((await bob.client.request('PING')).type, 'PONG', "bob's connection is untouched");
    assert.deepEqual((await call(`${gw.apiUrl}/users/nobody/connections`)).body, { user: 'nobody', connections: [], partial: false });
    const slash = await call(`${gw.apiUrl}/users/${encodeURIComponent('a/b c')}/connections`);
    assert.deepEqual([slash.status, slash.body.user], [200, 'a/b c']);
  });

  it('lists rooms, the largest first then by name, with limit and prefix, and counts one room (0 for an empty one)', async () => {
    const members: Record<string, number> = { 'rooms-big': 3, 'rooms-news:a': 2, 'rooms-news:b': 2, 'rooms-a/b': 1 };
    for (const [room, count] of Object.entries(members)) {
      for (let i = 0; i < count; i++) assert.equal((await (await open()).client.request('JOIN', { room })).type, 'ACK');
    }
    const all = await call(`${gw.apiUrl}/rooms?prefix=rooms-`);
    assert.equal(all.status, 200);
    assert.deepEqual(all.body, {
      rooms: [
        { room: 'rooms-big', members: 3 },
        { room: 'rooms-news:a', members: 2 },
        { room: 'rooms-news:b', members: 2 },
        { room: 'rooms-a/b', members: 1 },
      ],
      total: 4,
      exact: true,
    });
    assert.deepEqual((await call(`${gw.apiUrl}/rooms?prefix=rooms-news:&limit=1`)).body, {
      rooms: [{ room: 'rooms-news:a', members: 2 }],
      total: 2,
      exact: true,
    });
    assert.deepEqual((await call(`${gw.apiUrl}/rooms?prefix=rooms-&limit=0`)).body, { rooms: [], total: 4, exact: true });
    const everything = await call(`${gw.apiUrl}/rooms`);
    assert.ok(everything.body.total >= 4 && everything.body.rooms[0].members >= 3);
    assert.deepEqual((await call(`${gw.apiUrl}/rooms/rooms-big`)).body, { room: 'rooms-big', members: 3, exact: true });
    assert.deepEqual((await call(`${gw.apiUrl}/rooms/rooms-a/b`)).body, { room: 'rooms-a/b', members: 1, exact: true });
    assert.deepEqual((await call(`${gw.apiUrl}/rooms/rooms-a%2Fb`)).body, { room: 'rooms-a/b', members: 1, exact: true });
    assert.deepEqual((await call(`${gw.apiUrl}/rooms/${encodeURIComponent('默认房间')}`)).body, { room: '默认房间', members: 0, exact: true });
  });

  it('answers 400 for malformed path encodings, bad room names and limits; 404 and 405 for routes', async () => {
    const cases: Array<[string, string, number, string]> = [
      ['GET', '/connections/%E0%A4%A', 400, 'INVALID_BODY'],
      ['DELETE', '/connections/%ZZ', 400, 'INVALID_BODY'],
      ['GET', '/users/%FF/connections', 400, 'INVALID_BODY'],
      ['GET', '/rooms/%C3', 400, 'INVALID_BODY'],
      ['GET', '/rooms/bad%20name', 400, 'INVALID_ROOM'],
      ['GET', '/rooms?limit=abc', 400, 'INVALID_BODY'],
      ['GET', '/rooms?limit=-1', 400, 'INVALID_BODY'],
      ['GET', '/rooms?limit=10001', 400, 'INVALID_BODY'],
      ['GET', '/connections/', 404, 'NOT_FOUND'],
      ['GET', '/connections/a/b', 404, 'NOT_FOUND'],
      ['GET', '/users//connections', 404, 'NOT_FOUND'],
      ['POST', '/connections/x-1', 405, 'METHOD_NOT_ALLOWED'],
      ['DELETE', '/rooms', 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const [method, path, status, code] of cases) {
      const res = await call(`${gw.apiUrl}${path}`, method);
      assert.deepEqual([res.status, res.body?.error?.code], [status, code], `${method} ${path}`);
    }
    const allowed = await call(`${gw.apiUrl}/connections/x-1`, 'PUT');
    assert.equal(allowed.headers.get('allow'), 'GET, DELETE');
    assert.equal((await call(`${gw.apiUrl}/rooms?limit=10000`)).status, 200);
  });
});

describe('connection API with an API key', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ apiKey: 'k3y' });
  });
  after(() => gw.close());

  it('needs the key on every route, before the path is looked at', async () => {
    for (const path of ['/connections/x-1', '/users/alice/connections', '/rooms', '/rooms/news', '/connections/%ZZ']) {
      const res = await call(`${gw.apiUrl}${path}`);
      assert.deepEqual([res.status, res.body.error.code], [401, 'UNAUTHORIZED'], path);
    }
    const client = await TestClient.open(gw.wsUrl());
    const id = await client.connId();
    const res = await call(`${gw.apiUrl}/connections/${id}`, 'DELETE', undefined, { authorization: 'Bearer k3y' });
    assert.deepEqual([res.status, res.body], [200, { ok: true, closed: 1 }]);
    assert.equal((await client.waitClosed(5000)).code, 4003);
  });
});
