import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { postForm, postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

describe('the go-push conversation', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('JOIN, push through the form API, PUSH arrives, PING/PONG, LEAVE', async (t) => {
    const client = await gw.connect('/connect');
    t.after(() => client.close());
    // go-push clients send no ids and expect no answer to JOIN; the next frame is then the push.
    client.send({ type: 'JOIN', data: { room: '默认房间' } });
    await waitFor(() => gw.gateway.hub.members('默认房间')?.size === 1, 3000, 'the join');

    const pushed = await postForm(`${gw.apiUrl}/push/room`, { room: '默认房间', items: JSON.stringify([{ msg: 'hello' }, 2]) });
    assert.deepEqual(pushed, { status: 200, body: { ok: true, items: 2, recipients: 1 } });
    assert.deepEqual(await client.next(), { type: 'PUSH', data: { room: '默认房间', items: [{ msg: 'hello' }, 2] } });

    client.send({ type: 'PING', data: {} });
    assert.deepEqual(await client.next(), { type: 'PONG', data: {} });

    client.send({ type: 'LEAVE', data: { room: '默认房间' } });
    await waitFor(() => gw.gateway.hub.members('默认房间') === undefined, 3000, 'the leave');
    const after = await postForm(`${gw.apiUrl}/push/room`, { room: '默认房间', items: '["gone"]' });
    assert.equal(after.body.recipients, 0);
    // A push to all still reaches the client, and is the next frame: the room push after LEAVE did not come.
    await postForm(`${gw.apiUrl}/push/all`, { items: '["to all"]' });
    assert.deepEqual(await client.next(), { type: 'PUSH', data: { items: ['to all'] } });
  });

  it("works the same on the seeds' /ws path, and pushes to all with a JSON body", async (t) => {
    const a = await gw.connect('/ws');
    const b = await gw.connect('/connect');
    t.after(() => {
      a.close();
      b.close();
    });
    const res = await postJson(`${gw.apiUrl}/push/all`, { items: [{ n: 1 }] });
    assert.equal(res.status, 200);
    assert.equal(res.body.recipients, gw.gateway.hub.size);
    assert.deepEqual((await a.next()).data, { items: [{ n: 1 }] });
    assert.deepEqual((await b.next()).data, { items: [{ n: 1 }] });
  });

  it('answers requests that carry an id with ACK (holding the connection id), PONG or ERROR', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    const ack = await client.request('JOIN', { room: 'r1' });
    assert.equal(ack.type, 'ACK');
    assert.match(ack.data.conn, /^[0-9a-f]{8}-[0-9a-z]+$/);
    assert.ok(gw.gateway.hub.get(ack.data.conn), 'the id names this connection');
    assert.deepEqual(await client.request('PING'), { type: 'PONG', id: 2, data: {} });
    assert.equal((await client.request('LEAVE', { room: 'r1' })).type, 'ACK');
    const error = await client.request('JOIN', { room: '' });
    assert.equal(error.type, 'ERROR');
    assert.equal(error.data.code, 'INVALID_ROOM');
  });

  it('pushes to one connection by id, as JSON and as a form', async (t) => {
    const target = await gw.connect();
    const other = await gw.connect();
    t.after(() => {
      target.close();
      other.close();
    });
    const id = await target.connId();
    const json = await postJson(`${gw.apiUrl}/push/conn`, { conn: id, items: ['just you'] });
    assert.deepEqual(json.body, { ok: true, items: 1, recipients: 1 });
    assert.deepEqual(await target.next(), { type: 'PUSH', data: { items: ['just you'] } });
    const form = await postForm(`${gw.apiUrl}/push/conn`, { conn: id, items: '[{"k":"v"}]' });
    assert.equal(form.status, 200);
    assert.deepEqual(await target.next(), { type: 'PUSH', data: { items: [{ k: 'v' }] } });
    // The other client got nothing: its next frame is the answer to its own PING.
    assert.equal((await other.request('PING')).type, 'PONG');
    assert.equal(other.frames.filter((f) => f.type === 'PUSH').length, 0);

    const missing = await postJson(`${gw.apiUrl}/push/conn`, { conn: 'nobody-1', items: [1] });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'CONN_NOT_FOUND');
  });

  it('delivers a room push to every member and to no one else', async (t) => {
    const members = await Promise.all([gw.connect(), gw.connect(), gw.connect()]);
    const outsider = await gw.connect();
    t.after(() => [...members, outsider].forEach((c) => c.close()));
    for (const member of members) assert.equal((await member.request('JOIN', { room: 'team' })).type, 'ACK');
    const res = await postJson(`${gw.apiUrl}/push/room`, { room: 'team', items: ['hi team'] });
    assert.equal(res.body.recipients, 3);
    for (const member of members) assert.deepEqual((await member.next()).data, { room: 'team', items: ['hi team'] });
    assert.equal((await outsider.request('PING')).type, 'PONG');
    assert.equal(outsider.frames.filter((f) => f.type === 'PUSH').length, 0);
  });

  it('counts a push to a connection that closed before delivery as dropped', async () => {
    const delayed = await startGateway({ maxBatchDelay: 100 });
    try {
      const client = await delayed.connect();
      const id = await client.connId();
      delayed.gateway.pushConn(id, ['never read']);
      client.terminate();
      await waitFor(() => delayed.gateway.stats.itemsDropped === 1, 3000, 'the drop to be counted');
      assert.equal(delayed.gateway.stats.itemsDelivered, 0);
      assert.equal(delayed.gateway.snapshot().pendingItems, 0);
    } finally {
      await delayed.close();
    }
  });

  it('keeps no state for closed connections', async () => {
    const clients = await Promise.all(Array.from({ length: 5 }, () => gw.connect()));
    for (const [i, client] of clients.entries()) {
      await client.request('JOIN', { room: `gone-${i}` });
      await client.request('JOIN', { room: 'gone-shared' });
    }
    const before = gw.gateway.snapshot();
    assert.ok(before.roomCount >= 6);
    clients.slice(0, 3).forEach((c) => c.close());
    clients.slice(3).forEach((c) => c.terminate());
    await waitFor(() => gw.gateway.hub.members('gone-shared') === undefined, 3000, 'the closes');
    for (let i = 0; i < 5; i++) assert.equal(gw.gateway.hub.members(`gone-${i}`), undefined);
    assert.equal(gw.gateway.snapshot().roomCount, before.roomCount - 6);
    assert.equal(gw.gateway.snapshot().onlineConnections, before.onlineConnections - 5);
  });
});

describe('listening on several addresses', () => {
  it('accepts clients on each address, on one port, into one hub', async () => {
    const gw = await startGateway({ host: '127.0.0.1,127.0.0.2' });
    try {
      const port = new URL(gw.wsUrl()).port;
      const a = await TestClient.open(`ws://127.0.0.1:${port}/connect`);
      const b = await TestClient.open(`ws://127.0.0.2:${port}/connect`);
      assert.equal(gw.gateway.hub.size, 2);
      gw.gateway.pushAll(['both']);
      assert.deepEqual((await a.next()).data.items, ['both']);
      assert.deepEqual((await b.next()).data.items, ['both']);
    } finally {
      await gw.close();
    }
  });
});

describe('TestClient sanity', () => {
  it('refuses to connect to a closed port', async () => {
    await assert.rejects(TestClient.open('ws://127.0.0.1:1/connect'));
  });
});
