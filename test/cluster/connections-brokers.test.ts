import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { type Service, serviceMissing, startNats, startRedis } from '../helpers/services.js';
import { waitFor, waitForAsync } from '../helpers/wait.js';

const SECRET = 'connections-brokers-secret';

async function call(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    signal: AbortSignal.timeout(5000),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, body: await res.json() };
}

// Two gateway nodes (each with its push API) joined by a real broker server on a loopback port.
for (const [kind, binary, start] of [
  ['Redis', 'redis-server', startRedis],
  ['NATS', 'nats-server', startNats],
] as const) {
  describe(`connection API across two nodes over ${kind}`, { skip: serviceMissing(binary) ?? false }, () => {
    let broker: Service | undefined;
    let a: RunningGateway | undefined;
    let b: RunningGateway | undefined;
    const clients: TestClient[] = [];
    const open = async (node: RunningGateway, user?: string): Promise<{ client: TestClient; id: string }> => {
      const client = await TestClient.open(`${node.wsUrl()}?token=${await signToken({ sub: user, secret: SECRET })}`);
      clients.push(client);
      return { client, id: await client.connId() };
    };
    const nodes = (): [RunningGateway, RunningGateway] => [a!, b!];

    before(async () => {
      broker = await start();
      const options = { broker: broker.url, presenceInterval: 0.1, jwtSecret: SECRET };
      a = await startGateway(options);
      b = await startGateway(options);
      for (const node of nodes()) {
        await waitFor(
          () => node.gateway.clusterView()?.nodes.length === 2 && node.gateway.clusterView()?.stale === false,
          10000,
          'a current view of both nodes',
        );
      }
    });
    after(async () => {
      clients.forEach((c) => c.terminate());
      try {
        await Promise.all([a?.close(), b?.close()]);
      } finally {
        await broker?.stop();
      }
    });

    it('finds and closes a connection the other node holds; the client gets the close; then 410', async () => {
      const [onA, onB] = nodes();
      const { client, id } = await open(onB, 'alice');
      assert.equal((await client.request('JOIN', { room: 'x-lobby' })).type, 'ACK');
      const found = await call(`${onA.apiUrl}/connections/${id}`);
      assert.equal(found.status, 200);
      assert.deepEqual(
        [found.body.conn, found.body.node, found.body.user, found.body.protocol, found.body.rooms],
        [id, onB.gateway.hub.nodeId, 'alice', 'go-push', ['x-lobby']],
      );
      const closed = await call(`${onA.apiUrl}/connections/${id}`, 'DELETE', { code: 4050, reason: `closed over ${kind}` });
      assert.deepEqual([closed.status, closed.body], [200, { ok: true, closed: 1 }]);
      assert.deepEqual(await client.waitClosed(5000), { code: 4050, reason: `closed over ${kind}` });
      const gone = await call(`${onA.apiUrl}/connections/${id}`);
      assert.deepEqual(
        [gone.status, gone.body.error.code, gone.body.error.closeCode, gone.body.error.reason, gone.body.error.by],
        [410, 'CONN_GONE', 4050, `closed over ${kind}`, 'server'],
      );
      const unknown = await call(`${onA.apiUrl}/connections/${onB.gateway.hub.nodeId}-zzzz`, 'DELETE');
      assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'CONN_NOT_FOUND']);
    });

    it("lists a user's connections on both nodes and closes them all", async () => {
      const [onA, onB] = nodes();
      const bobs = [await open(onA, 'bob'), await open(onB, 'bob'), await open(onB, 'bob')];
      const listed = await call(`${onA.apiUrl}/users/bob/connections`);
      assert.equal(listed.status, 200);
      assert.equal(listed.body.partial, false);
      assert.deepEqual(listed.body.connections.map((c: { conn: string }) => c.conn).sort(), bobs.map((c) => c.id).sort());
      const closed = await call(`${onB.apiUrl}/users/bob/connections`, 'DELETE');
      assert.deepEqual([closed.status, closed.body], [200, { ok: true, closed: 3, partial: false }]);
      for (const { client } of bobs) assert.deepEqual(await client.waitClosed(5000), { code: 4003, reason: 'disconnected by the backend' });
      assert.deepEqual((await call(`${onA.apiUrl}/users/bob/connections`)).body, { user: 'bob', connections: [], partial: false });
    });

    it('counts rooms over both nodes from their presence reports', async () => {
      const [onA, onB] = nodes();
      for (const [node, room] of [
        [onA, 'x-both'],
        [onB, 'x-both'],
        [onB, 'x-b'],
      ] as const) {
        assert.equal((await (await open(node)).client.request('JOIN', { room })).type, 'ACK');
      }
      const expected = JSON.stringify({
        rooms: [
          { room: 'x-both', members: 2 },
          { room: 'x-b', members: 1 },
        ],
        total: 2,
        exact: true,
      });
      for (const node of [onA, onB]) {
        await waitForAsync(async () => JSON.stringify((await call(`${node.apiUrl}/rooms?prefix=x-`)).body) === expected, 5000, 'both nodes in /rooms');
        assert.deepEqual((await call(`${node.apiUrl}/rooms/x-both`)).body, { room: 'x-both', members: 2, exact: true });
      }
    });
  });
}
