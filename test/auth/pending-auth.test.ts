import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'pending-auth-test-secret-0123456789';

const token = (sub: string): Promise<string> => signToken({ secret: SECRET, sub });

/** Opens a client that offers `pushgate.auth` and has not authenticated; resolves once the server holds it. */
async function awaitingAuth(gw: RunningGateway): Promise<TestClient> {
  const client = await TestClient.open(gw.wsUrl(), {}, ['pushgate.auth']);
  // A round trip: the server has accepted the connection once it answers.
  assert.equal((await client.request('PING')).data.code, 'UNAUTHORIZED');
  return client;
}

describe('connections awaiting AUTH', () => {
  let gw: RunningGateway;
  const clients: TestClient[] = [];
  before(async () => {
    // A handshake timeout far beyond the test: nothing here is closed by the AUTH deadline.
    gw = await startGateway({ jwtSecret: SECRET, handshakeTimeout: 30 });
  });
  after(async () => {
    clients.forEach((client) => client.close());
    await gw.close();
  });

  it('get no push of any target and are not counted as recipients or online; after AUTH they are', async () => {
    const alice = await TestClient.open(`${gw.wsUrl()}?token=${await token('alice')}`);
    clients.push(alice);
    const aliceId = (await alice.request('JOIN', { room: 'news' })).data.conn as string;
    const pending = await awaitingAuth(gw);
    clients.push(pending);
    // Ids are <nodeId>-<sequence>: the pending client is this gateway's second connection (checked after AUTH).
    const pendingId = `${gw.gateway.hub.nodeId}-2`;
    assert.equal(aliceId, `${gw.gateway.hub.nodeId}-1`);

    const all = await postJson(`${gw.apiUrl}/push/all`, { items: ['to all'] });
    const room = await postJson(`${gw.apiUrl}/push/room`, { room: 'news', items: ['to news'] });
    const user = await postJson(`${gw.apiUrl}/push/user`, { user: 'alice', items: ['to alice'] });
    const conn = await postJson(`${gw.apiUrl}/push/conn`, { conn: pendingId, items: ['to the pending one'] });
    // Barrier: alice got all three, nothing is left to write, and a later answer reached the pending
    // client, so any PUSH addressed to it would be in its frames by now.
    const received = [];
    for (let i = 0; i < 3; i++) received.push(...(await alice.nextOfType('PUSH')).data.items);
    assert.deepEqual(received.sort(), ['to alice', 'to all', 'to news']);
    await waitFor(() => gw.gateway.snapshot().dispatchPending === 0 && gw.gateway.snapshot().mergerPending === 0, 3000, 'every frame written');
    assert.equal((await pending.request('PING')).data.code, 'UNAUTHORIZED');
    assert.deepEqual(
      pending.frames.filter((frame) => frame.type === 'PUSH'),
      [],
      'no PUSH before AUTH',
    );

    assert.equal(all.status, 200);
    assert.equal(all.body.recipients, 1, 'push/all counts only the authenticated connection');
    assert.equal(room.body.recipients, 1);
    assert.equal(user.body.recipients, 1);
    assert.equal(conn.status, 404);
    assert.equal(conn.body.error.code, 'CONN_NOT_FOUND');

    const before = gw.gateway.snapshot();
    assert.equal(before.onlineConnections, 1);
    assert.equal(before.pendingAuthConnections, 1);
    assert.equal(gw.gateway.hub.get(pendingId), undefined, 'not an online connection yet');
    const metrics = await (await fetch(`${gw.apiUrl}/metrics`)).text();
    assert.match(metrics, /^pushgate_online_connections(\{[^}]*\})? 1$/m);
    assert.match(metrics, /^pushgate_pending_auth_connections(\{[^}]*\})? 1$/m);

    const ack = await pending.request('AUTH', { token: await token('bob') });
    assert.equal(ack.type, 'ACK');
    assert.equal(ack.data.conn, pendingId);
    const now = gw.gateway.snapshot();
    assert.equal(now.onlineConnections, 2);
    assert.equal(now.pendingAuthConnections, 0);

    const after = await postJson(`${gw.apiUrl}/push/all`, { items: ['after auth'] });
    assert.equal(after.body.recipients, 2);
    assert.deepEqual((await pending.nextOfType('PUSH')).data.items, ['after auth']);
    const direct = await postJson(`${gw.apiUrl}/push/conn`, { conn: pendingId, items: ['to bob'] });
    assert.equal(direct.status, 200);
    assert.deepEqual((await pending.nextOfType('PUSH')).data.items, ['to bob']);
    const bob = await postJson(`${gw.apiUrl}/push/user`, { user: 'bob', items: ['to user bob'] });
    assert.equal(bob.body.recipients, 1);
    assert.deepEqual((await pending.nextOfType('PUSH')).data.items, ['to user bob']);
    assert.equal((await pending.request('JOIN', { room: 'news' })).type, 'ACK');
    const news = await postJson(`${gw.apiUrl}/push/room`, { room: 'news', items: ['news again'] });
    assert.equal(news.body.recipients, 2);
    assert.deepEqual((await pending.nextOfType('PUSH')).data.items, ['news again']);
  });

  it('are counted apart until they close, and leave no trace', async () => {
    const pending = await awaitingAuth(gw);
    const base = gw.gateway.snapshot();
    assert.ok(base.pendingAuthConnections >= 1);
    pending.close();
    await pending.waitClosed();
    await waitFor(() => gw.gateway.snapshot().pendingAuthConnections === base.pendingAuthConnections - 1, 3000, 'the pending connection to go');
    assert.equal(gw.gateway.snapshot().onlineConnections, base.onlineConnections);
  });
});

describe('connections awaiting AUTH at their deadline and at shutdown', () => {
  it('are closed with 4001 when no AUTH comes in time, and with 1001 at shutdown', async (t) => {
    const gw = await startGateway({ jwtSecret: SECRET, handshakeTimeout: 1, shutdownTimeout: 2 });
    t.after(() => gw.close());
    const late = await awaitingAuth(gw);
    assert.equal((await late.waitClosed(15_000)).code, 4001);
    assert.equal(gw.gateway.snapshot().pendingAuthConnections, 0);

    const waiting = await awaitingAuth(gw);
    const closing = gw.close();
    assert.deepEqual(await waiting.waitClosed(), { code: 1001, reason: 'server shutting down' });
    await closing;
    assert.equal(gw.gateway.snapshot().pendingAuthConnections, 0);
  });
});
