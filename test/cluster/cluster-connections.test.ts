import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CodecBroker } from '../../src/broker/codec-broker.js';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { nodeChannel, PRESENCE_CHANNEL } from '../../src/cluster/channels.js';
import { type LinkMessage, linkCodec } from '../../src/cluster/link-message.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { waitFor, waitForAsync } from '../helpers/wait.js';

const BUS = 'connection-api-test';
const SECRET = 'cluster-connections-secret';
const OPTIONS = { broker: `memory://${BUS}`, presenceInterval: 0.1, brokerTimeout: 500, jwtSecret: SECRET };

async function call(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    signal: AbortSignal.timeout(5000),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, body: await res.json() };
}

// The connection API across nodes over the in-process bus: two gateway nodes and an API-only node.
describe('connection API across nodes (in-process bus)', () => {
  let a: RunningGateway;
  let b: RunningGateway;
  let api: Gateway;
  let apiUrl: string;
  const clients: TestClient[] = [];
  const open = async (node: RunningGateway, user?: string): Promise<{ client: TestClient; id: string }> => {
    const client = await TestClient.open(`${node.wsUrl()}?token=${await signToken({ sub: user, secret: SECRET })}`);
    clients.push(client);
    return { client, id: await client.connId() };
  };
  /** A raw link message publisher on the bus, as another node would be. */
  const raw = new CodecBroker(new MemoryBroker(BUS), linkCodec);

  before(async () => {
    a = await startGateway(OPTIONS);
    b = await startGateway(OPTIONS);
    api = new Gateway({ ...OPTIONS, role: 'api', apiHost: '127.0.0.1', apiPort: 0 });
    apiUrl = `http://127.0.0.1:${(await api.listen()).api!.port}`;
    await raw.connect();
    // Every node's view holds the three, and is current (so that a missing node is really missing).
    for (const node of [a.gateway, b.gateway, api]) {
      await waitFor(() => node.clusterView()?.nodes.length === 3 && node.clusterView()?.stale === false, 5000, 'a current view of the three nodes');
    }
  });
  after(async () => {
    clients.forEach((c) => c.terminate());
    await Promise.all([a.close(), b.close(), api.close(), raw.close()]);
  });

  it('finds and closes a connection held by another node; the client gets the code and reason; then 410 from any node', async () => {
    const { client, id } = await open(b, 'carol');
    assert.equal((await client.request('JOIN', { room: 'lobby' })).type, 'ACK');
    for (const url of [a.apiUrl, apiUrl]) {
      const res = await call(`${url}/connections/${id}`);
      assert.equal(res.status, 200);
      assert.deepEqual([res.body.conn, res.body.node, res.body.user, res.body.rooms], [id, b.gateway.hub.nodeId, 'carol', ['lobby']]);
    }
    const closed = await call(`${apiUrl}/connections/${id}`, 'DELETE', { code: 4040, reason: 'moved' });
    assert.deepEqual([closed.status, closed.body], [200, { ok: true, closed: 1 }]);
    assert.deepEqual(await client.waitClosed(5000), { code: 4040, reason: 'moved' });
    for (const url of [a.apiUrl, apiUrl, b.apiUrl]) {
      const gone = await call(`${url}/connections/${id}`);
      assert.deepEqual(
        [gone.status, gone.body.error.code, gone.body.error.closeCode, gone.body.error.by, gone.body.error.node],
        [410, 'CONN_GONE', 4040, 'server', b.gateway.hub.nodeId],
      );
    }
    const unknown = await call(`${apiUrl}/connections/${b.gateway.hub.nodeId}-zzzz`);
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'CONN_NOT_FOUND']);
    const nodeGone = await call(`${apiUrl}/connections/deadbeef-1`);
    assert.deepEqual([nodeGone.status, nodeGone.body.error.code], [404, 'CONN_NOT_FOUND'], 'a node missing from a current view');
  });

  it("lists and closes a user's connections on every node", async () => {
    const on = [await open(a, 'dave'), await open(b, 'dave'), await open(b, 'dave')];
    const other = await open(a, 'erin');
    const listed = await call(`${apiUrl}/users/dave/connections`);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.partial, false);
    assert.deepEqual(listed.body.connections.map((c: { conn: string }) => c.conn).sort(), on.map((c) => c.id).sort());
    assert.deepEqual(new Set(listed.body.connections.map((c: { node: string }) => c.node)), new Set([a.gateway.hub.nodeId, b.gateway.hub.nodeId]));
    const closed = await call(`${a.apiUrl}/users/dave/connections`, 'DELETE', { code: 4041, reason: 'password changed' });
    assert.deepEqual([closed.status, closed.body], [200, { ok: true, closed: 3, partial: false }]);
    for (const { client } of on) assert.deepEqual(await client.waitClosed(5000), { code: 4041, reason: 'password changed' });
    assert.deepEqual((await call(`${apiUrl}/users/dave/connections`)).body, { user: 'dave', connections: [], partial: false });
    assert.equal((await other.client.request('PING')).type, 'PONG');
  });

  it('counts rooms over every node from their presence reports', async () => {
    for (const [node, room] of [
      [a, 'c-both'],
      [b, 'c-both'],
      [b, 'c-both'],
      [b, 'c-b-only'],
    ] as const) {
      assert.equal((await (await open(node)).client.request('JOIN', { room })).type, 'ACK');
    }
    const expected = {
      rooms: [
        { room: 'c-both', members: 3 },
        { room: 'c-b-only', members: 1 },
      ],
      total: 2,
      exact: true,
    };
    // Presence is asynchronous: each node's rooms reach the others within a few presence intervals.
    for (const url of [apiUrl, a.apiUrl, b.apiUrl]) {
      await waitForAsync(
        async () => JSON.stringify((await call(`${url}/rooms?prefix=c-`)).body) === JSON.stringify(expected),
        5000,
        `${url}/rooms to count both nodes' members`,
      );
      assert.deepEqual((await call(`${url}/rooms/c-both`)).body, { room: 'c-both', members: 3, exact: true });
    }
  });

  it("drops a query past its deadline, ignores one for another node, and answers one in time on the asker's channel", async () => {
    const { client, id } = await open(b);
    const bNode = b.gateway.hub.nodeId;
    const replies: LinkMessage[] = [];
    await raw.subscribe(nodeChannel('tester'), (message) => replies.push(message));
    const query = (to: string, expiresAt: number, reason: string): LinkMessage => ({
      type: 'query',
      query: { id: 1, from: 'tester', to, expiresAt, ask: { op: 'close-conn', conn: id, code: 4042, reason } },
    });
    const link = (b.gateway as any).cluster;
    await raw.publish(nodeChannel(bNode), query(bNode, Date.now() - 1, 'too late'));
    await raw.publish(nodeChannel(bNode), query('someone-else', Date.now() + 60000, 'not for b'));
    await waitFor(() => link.queriesExpired === 1, 5000, 'the late query to be dropped');
    assert.equal((await client.request('PING')).type, 'PONG', 'still open');
    await raw.publish(nodeChannel(bNode), query(bNode, Date.now() + 60000, 'in time'));
    assert.deepEqual(await client.waitClosed(5000), { code: 4042, reason: 'in time' });
    await waitFor(() => replies.length === 1, 5000, 'the reply');
    const [reply] = replies;
    assert.equal(reply.type, 'reply');
    if (reply.type !== 'reply') return;
    assert.deepEqual([reply.reply.id, reply.reply.from, reply.reply.to, reply.reply.answer.op], [1, bNode, 'tester', 'close-conn']);
    assert.equal(reply.reply.answer.op === 'close-conn' && reply.reply.answer.lookup.state, 'open');
  });

  it('answers 503 for a connection of a node that does not answer, and a partial list naming it for users', async () => {
    const ghost = 'ghost0001';
    const report = (): Promise<void> =>
      raw.publish(PRESENCE_CHANNEL, {
        type: 'presence',
        presence: {
          v: 1,
          node: ghost,
          role: 'gateway',
          worker: null,
          instance: ghost,
          intervalMs: 100,
          sentAt: Date.now(),
          stats: {},
          rooms: {},
          roomsTruncated: false,
        },
      });
    // A node that reports its presence and answers nothing (as one that hangs would), reporting while the test runs.
    const timer = setInterval(() => void report(), 50);
    try {
      await report();
      await waitFor(() => api.clusterView()?.nodes.some((n) => n.node === ghost) === true, 5000, 'the ghost in the view');
      const dave = await open(a, 'frank');
      const silent = await call(`${apiUrl}/connections/${ghost}-1`);
      assert.deepEqual([silent.status, silent.body.error.code], [503, 'BROKER_UNAVAILABLE']);
      assert.match(silent.body.error.message, /node ghost0001 did not answer within 500 ms/);
      const partial = await call(`${apiUrl}/users/frank/connections`);
      assert.equal(partial.status, 200);
      assert.deepEqual([partial.body.partial, partial.body.unanswered], [true, [ghost]]);
      assert.deepEqual(
        partial.body.connections.map((c: { conn: string }) => c.conn),
        [dave.id],
        'the nodes that answered',
      );
      const closed = await call(`${apiUrl}/users/frank/connections`, 'DELETE');
      assert.deepEqual(closed.body, { ok: true, closed: 1, partial: true, unanswered: [ghost] });
      assert.equal((await dave.client.waitClosed(5000)).code, 4003);
    } finally {
      clearInterval(timer);
    }
  });
});
