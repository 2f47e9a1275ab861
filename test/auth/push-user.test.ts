import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { postForm, postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'push-user-secret-0123456789abcdef';

const token = (sub: string): Promise<string> => signToken({ sub, secret: SECRET, ttl: 600 });

/** A connection of `user`, its user subscription in place once this resolves (JOIN's ACK waits for it). */
async function connectAs(gw: RunningGateway, user: string): Promise<TestClient> {
  const client = await TestClient.open(`${gw.wsUrl()}?token=${await token(user)}`);
  assert.equal((await client.request('JOIN', { room: 'lobby' })).type, 'ACK');
  return client;
}

describe('POST /push/user', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ jwtSecret: SECRET });
  });
  after(() => gw.close());

  it('reaches every connection of the user (JSON and form), as PUSH frames without a room, and no one else', async (t) => {
    const alice1 = await connectAs(gw, 'alice');
    // The second one authenticates with a first AUTH message instead.
    const alice2 = await TestClient.open(gw.wsUrl(), {}, ['pushgate.auth']);
    assert.equal((await alice2.request('AUTH', { token: await token('alice') })).type, 'ACK');
    const bob = await connectAs(gw, 'bob');
    t.after(() => {
      alice1.close();
      alice2.close();
      bob.close();
    });

    const json = await postJson(`${gw.apiUrl}/push/user`, { user: 'alice', items: [{ dm: 'hi alice' }] });
    assert.equal(json.status, 200);
    assert.deepEqual(json.body, { ok: true, items: 1, recipients: 2 });
    const form = await postForm(`${gw.apiUrl}/push/user`, { user: 'alice', items: '["second"]' });
    assert.deepEqual(form, { status: 200, body: { ok: true, items: 1, recipients: 2 } });
    for (const client of [alice1, alice2]) {
      const first = await client.nextOfType('PUSH');
      assert.deepEqual(first.data, { items: [{ dm: 'hi alice' }] });
      assert.deepEqual((await client.nextOfType('PUSH')).data, { items: ['second'] });
    }
    // Bob's first PUSH is his own: alice's never reached him.
    assert.equal((await postJson(`${gw.apiUrl}/push/user`, { user: 'bob', items: ['for bob'] })).body.recipients, 1);
    assert.deepEqual((await bob.nextOfType('PUSH')).data, { items: ['for bob'] });
    assert.equal(gw.gateway.snapshot().pushUserTotal, 3);
  });

  it('answers 400 without a user, and 0 recipients for a user with no connection', async () => {
    for (const body of [{ items: [1] }, { user: '', items: [1] }, { user: 7, items: [1] }]) {
      const res = await postJson(`${gw.apiUrl}/push/user`, body);
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'INVALID_BODY');
    }
    assert.equal((await postForm(`${gw.apiUrl}/push/user`, { items: '[1]' })).status, 400);
    assert.deepEqual((await postJson(`${gw.apiUrl}/push/user`, { user: 'nobody', items: [1] })).body, { ok: true, items: 1, recipients: 0 });
  });

  it('drops a closed connection from the user index', async () => {
    const client = await connectAs(gw, 'zoe');
    assert.equal(gw.gateway.hub.userConnections('zoe')?.size, 1);
    client.close();
    await client.waitClosed();
    await waitFor(() => gw.gateway.hub.userConnections('zoe') === undefined, 3000, 'the index to forget zoe');
  });
});

describe('POST /push/user in a cluster (in-process bus)', () => {
  let a: RunningGateway;
  let b: RunningGateway;
  before(async () => {
    a = await startGateway({ broker: 'memory://user-test', presenceInterval: 0.2, jwtSecret: SECRET });
    b = await startGateway({ broker: 'memory://user-test', presenceInterval: 0.2, jwtSecret: SECRET });
  });
  after(() => Promise.all([a.close(), b.close()]));

  it("reaches the user's connections on every node", async (t) => {
    const onA = await connectAs(a, 'alice');
    const onB = await connectAs(b, 'alice');
    const bobOnB = await connectAs(b, 'bob');
    t.after(() => {
      onA.close();
      onB.close();
      bobOnB.close();
    });
    await waitFor(() => (a.gateway.clusterView()?.nodes.length ?? 0) >= 2, 3000, 'both nodes in presence');

    const res = await postJson(`${a.apiUrl}/push/user`, { user: 'alice', items: ['everywhere'] });
    assert.equal(res.status, 200);
    assert.ok(res.body.recipients >= 1, 'at least the local connection');
    for (const client of [onA, onB]) assert.deepEqual((await client.nextOfType('PUSH')).data, { items: ['everywhere'] });

    // Pushed from A to bob, who is only on B: B's subscription carries it.
    await postJson(`${a.apiUrl}/push/user`, { user: 'bob', items: ['to bob via b'] });
    assert.deepEqual((await bobOnB.nextOfType('PUSH')).data, { items: ['to bob via b'] });
    // Nothing else arrived: the next answer on each alice connection is a PONG.
    for (const client of [onA, onB]) assert.equal((await client.request('PING')).type, 'PONG');
    assert.equal(onA.frames.filter((frame) => frame.type === 'PUSH').length, 1);
  });
});
