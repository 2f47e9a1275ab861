import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Gateway, type GatewayExtras } from '../../src/gateway/gateway.js';
import { TestClient } from '../helpers/client.js';
import { waitForAsync } from '../helpers/wait.js';

interface Started {
  gateway: Gateway;
  api: string;
  connect(): Promise<TestClient>;
}

async function start(extras: GatewayExtras): Promise<Started> {
  const gateway = new Gateway(
    { host: '127.0.0.1', port: 0, apiHost: '127.0.0.1', apiPort: 0, broker: 'memory://instance-stats', presenceInterval: 0.1 },
    undefined,
    extras,
  );
  const { ws, api } = await gateway.listen();
  return { gateway, api: `http://127.0.0.1:${api!.port}`, connect: () => TestClient.open(`ws://127.0.0.1:${ws!.port}/connect`) };
}

async function stats(api: string, query = ''): Promise<any> {
  return (await fetch(`${api}/stats${query}`, { signal: AbortSignal.timeout(2000) })).json();
}

// Two workers of one instance (as one primary's workers are) and a single process of its own, on one bus.
describe('GET /stats groups the processes of one instance', () => {
  let one: Started;
  let two: Started;
  let lone: Started;
  const clients: TestClient[] = [];
  before(async () => {
    const instance = { instance: 'machine-a', worker: 1 } as GatewayExtras;
    one = await start(instance);
    two = await start({ ...instance, worker: 2 });
    lone = await start({});
  });
  after(async () => {
    clients.forEach((c) => c.terminate());
    await Promise.all([one?.gateway.close(), two?.gateway.close(), lone?.gateway.close()]);
  });

  it("sums the instance's workers at the top level, and only additive counters over the cluster", async () => {
    for (const [node, count] of [
      [one, 2],
      [two, 3],
      [lone, 4],
    ] as const) {
      for (let i = 0; i < count; i++) {
        const client = await node.connect();
        clients.push(client);
        assert.equal((await client.request('JOIN', { room: node === lone ? 'lonely' : 'both' })).type, 'ACK');
      }
    }
    // Presence is asynchronous: wait until worker 1 has heard both others, and worker 2 has heard worker 1.
    await waitForAsync(
      async () => {
        const [a, b] = [await stats(one.api), await stats(two.api)];
        return a.onlineConnections === 5 && a.cluster.onlineConnections === 9 && b.onlineConnections === 5;
      },
      3000,
      "both workers to count the instance's 5 connections, and worker 1 the cluster's 9",
    );
    const fromOne = await stats(one.api);
    assert.equal(fromOne.instance, 'machine-a');
    assert.equal(fromOne.roomCount, 1, 'one room, with members on both workers');
    assert.deepEqual(
      fromOne.workers.map((w: { worker: number; stats: { onlineConnections: number } }) => [w.worker, w.stats.onlineConnections]),
      [
        [1, 2],
        [2, 3],
      ],
    );
    assert.equal(fromOne.nodeId, one.gateway.hub.nodeId, "the per-process fields are the answering worker's");
    assert.equal(fromOne.cluster.onlineConnections, 9);

    // A single process is an instance of its own: its top level is its own counts, no workers field.
    const fromLone = await stats(lone.api);
    assert.equal(fromLone.onlineConnections, 4);
    assert.equal(fromLone.instance, lone.gateway.hub.nodeId);
    assert.equal('workers' in fromLone, false);

    await waitForAsync(async () => (await stats(lone.api, '?scope=cluster')).onlineConnections === 9, 3000, 'the cluster to count 9 connections');
    const cluster = await stats(lone.api, '?scope=cluster');
    assert.equal(cluster.roomCount, 2);
    assert.equal(cluster.roomCountExact, true);
    assert.equal(cluster.pid, undefined);
    assert.equal(cluster.uptimeSeconds, undefined);
    assert.equal(cluster.worker, undefined);
    assert.deepEqual(cluster.nodes.map((n: { instance: string }) => n.instance).sort(), ['machine-a', 'machine-a', lone.gateway.hub.nodeId].sort());
  });

  it('answers the cluster scope of a lone process in the same shape', async () => {
    const alone = new Gateway({ host: '127.0.0.1', port: 0, apiHost: '127.0.0.1', apiPort: 0 });
    try {
      const { api } = await alone.listen();
      const body = await stats(`http://127.0.0.1:${api!.port}`, '?scope=cluster');
      assert.equal(body.scope, 'cluster');
      assert.equal(body.pid, undefined);
      assert.equal(body.onlineConnections, 0);
      assert.equal(body.nodes.length, 1);
      assert.equal(body.nodes[0].node, alone.hub.nodeId);
      assert.equal(body.nodes[0].stats.pid, process.pid);
    } finally {
      await alone.close();
    }
  });
});
