import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Backend } from '../helpers/backend.js';
import { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { type Service, serviceMissing, startRedis } from '../helpers/services.js';
import { waitForAsync } from '../helpers/wait.js';

describe('hooks on a cluster of two nodes over Redis', { skip: serviceMissing('redis-server') ?? false }, () => {
  let redis: Service;
  let backend: Backend;
  const nodes: RunningGateway[] = [];
  const clients: TestClient[] = [];

  before(async () => {
    redis = await startRedis();
    backend = await Backend.start({
      '/connect': (body) => ({ body: { user: body.query.user, rooms: ['chat:all'] } }),
      '/publish': (body, request) => ({ body: { data: { text: body.data, from: body.user, node: request.headers['x-pushgate-hook'] } } }),
      '/rpc': (body) => ({ body: { result: `hello ${body.user}` } }),
    });
    for (let i = 0; i < 2; i++) {
      nodes.push(
        await startGateway({
          broker: redis.url,
          presenceInterval: 0.2,
          connectHook: `${backend.url}/connect`,
          publishHook: `${backend.url}/publish`,
          rpcHook: `${backend.url}/rpc`,
        }),
      );
    }
  });

  after(async () => {
    for (const client of clients) client.close();
    await Promise.all(nodes.map((node) => node.close()));
    await backend?.close();
    await redis?.stop();
  });

  it("a client's PUBLISH on one node reaches the room's members on the other; each node calls the hooks of its own connections", async () => {
    const alice = await TestClient.open(`${nodes[0].wsUrl()}?user=alice`);
    const bob = await TestClient.open(`${nodes[1].wsUrl()}?user=bob`);
    clients.push(alice, bob);
    assert.equal((await alice.nextOfType('CONNECTED')).data.user, 'alice');
    assert.equal((await bob.nextOfType('CONNECTED')).data.user, 'bob');
    // Both nodes subscribed to the room by the time the other node's presence shows its member.
    await waitForAsync(
      async () => {
        const stats = (await (await fetch(`${nodes[0].apiUrl}/stats?scope=cluster`)).json()) as { onlineConnections: number };
        return stats.onlineConnections === 2;
      },
      8000,
      'both nodes to see both connections',
    );
    assert.equal((await alice.request('PUBLISH', { room: 'chat:all', data: 'hi from node 0' })).type, 'ACK');
    assert.deepEqual((await bob.nextOfType('PUSH', 5000)).data, { room: 'chat:all', items: [{ text: 'hi from node 0', from: 'alice', node: 'publish' }] });
    assert.deepEqual(
      (await alice.nextOfType('PUSH', 5000)).data.items,
      [{ text: 'hi from node 0', from: 'alice', node: 'publish' }],
      'the publisher is a member too',
    );
    assert.deepEqual((await bob.request('RPC', { method: 'greet' })).data, { result: 'hello bob' });
    assert.equal(nodes[0].gateway.hooksView()?.calls.rpc, undefined, 'the RPC was made by the node holding its connection');
    const [zero, one] = [nodes[0].gateway.hooksView(), nodes[1].gateway.hooksView()];
    assert.ok(zero !== null && one !== null);
    assert.equal((one.calls.rpc as { calls: number }).calls, 1);
    assert.equal((zero.calls.publish as { calls: number }).calls, 1);
    const stats = (await (await fetch(`${nodes[0].apiUrl}/stats`)).json()) as Record<string, unknown>;
    assert.deepEqual([stats.queriesExpired, stats.queryRepliesDropped], [0, 0], 'the connection API query counters are in /stats');
    assert.match(await (await fetch(`${nodes[0].apiUrl}/metrics`)).text(), /^pushgate_cluster_query_replies_dropped\{node="[0-9a-f]+"\} 0$/m);
  });
});
