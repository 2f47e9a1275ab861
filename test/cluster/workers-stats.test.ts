import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { waitForAsync, withTimeout } from '../helpers/wait.js';

const CLIENTS = 10;
const CALLS = 20;

/**
 * `GET` on a connection of its own (no keep-alive), so that node:cluster hands each request to the
 * next worker: a keep-alive connection would stay with one worker.
 */
function getJson(url: string): Promise<any> {
  return withTimeout(
    new Promise((resolve, reject) => {
      get(url, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text));
          } catch (error) {
            reject(error);
          }
        });
        res.on('error', reject);
      }).on('error', reject);
    }),
    2000,
    `GET ${url}`,
  );
}

describe('GET /stats with --workers 2: the whole instance at the top level', () => {
  let primary: Child;
  const clients: TestClient[] = [];
  after(async () => {
    clients.forEach((c) => c.terminate());
    await primary?.stop(15000);
  });

  it("reports the instance's totals whichever worker answers, the per-worker split under workers, and sums only additive counters for the cluster", async () => {
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--presence-interval', '0.5']);
    const [, ws, api] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
    const perNode = new Map<string, number>();
    for (let i = 0; i < CLIENTS; i++) {
      const client = await TestClient.open(`ws://${ws}/connect`);
      clients.push(client);
      // Every client in one room (members on both workers), the first also in a room of its own.
      const ack = await client.request('JOIN', { room: 'shared' });
      assert.equal(ack.type, 'ACK');
      const node = String(ack.data.conn).split('-')[0];
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
    assert.equal((await clients[0].request('JOIN', { room: 'solo' })).type, 'ACK');
    assert.equal(perNode.size, 2, 'connections spread over both workers');

    // Presence settles within a few intervals, on each worker in its own time (each hears the other's
    // latest report up to one interval later): once both have said 10 (and seen the room "solo"), every
    // answer counts the whole instance.
    const settled = new Set<number>();
    await waitForAsync(
      async () => {
        const stats = await getJson(`http://${api}/stats`);
        if (stats.onlineConnections === CLIENTS && stats.roomCount === 2) settled.add(stats.worker);
        return settled.size === 2;
      },
      8000,
      `GET /stats to say ${CLIENTS} connections from both workers`,
    );
    const answeredBy = new Set<number>();
    for (let i = 0; i < CALLS; i++) {
      const stats = await getJson(`http://${api}/stats`);
      answeredBy.add(stats.worker);
      assert.equal(stats.onlineConnections, CLIENTS, `call ${i + 1} (worker ${stats.worker})`);
      // Two distinct rooms: "shared" has members on both workers and counts once.
      assert.equal(stats.roomCount, 2, `call ${i + 1}: distinct rooms`);
      assert.equal(stats.roomCountExact, true);
      assert.equal(typeof stats.instance, 'string');
      assert.equal(typeof stats.maxStalenessMs, 'number');
      assert.equal(typeof stats.stale, 'boolean');
      // The per-worker detail: one entry per worker, the live split of the connections.
      assert.deepEqual(
        stats.workers.map((w: { worker: number }) => w.worker),
        [1, 2],
      );
      assert.deepEqual(new Map(stats.workers.map((w: { node: string; stats: { onlineConnections: number } }) => [w.node, w.stats.onlineConnections])), perNode);
      assert.equal(
        stats.workers.reduce((sum: number, w: { stats: { connectionsTotal: number } }) => sum + w.stats.connectionsTotal, 0),
        stats.connectionsTotal,
      );
      // Who answered: that worker's own identity, next to the instance's counters.
      const self = stats.workers.find((w: { worker: number }) => w.worker === stats.worker);
      assert.equal(self.node, stats.nodeId);
      assert.equal(self.stats.pid, stats.pid);
    }
    assert.deepEqual([...answeredBy].sort(), [1, 2], 'both workers answered');

    const cluster = await getJson(`http://${api}/stats?scope=cluster`);
    assert.equal(cluster.scope, 'cluster');
    for (const perProcess of ['pid', 'worker', 'uptimeSeconds', 'nodeId', 'role', 'broker', 'relayChannels']) {
      assert.equal(perProcess in cluster, false, `no ${perProcess} at the top level of the cluster scope`);
    }
    assert.equal(cluster.nodes.length, 2);
    const sum = (key: string): number => cluster.nodes.reduce((total: number, n: { stats: Record<string, number> }) => total + n.stats[key], 0);
    assert.equal(cluster.onlineConnections, CLIENTS);
    for (const key of ['onlineConnections', 'connectionsTotal', 'requestsTotal', 'sendMessageTotal', 'brokerSubscriptions'])
      assert.equal(cluster[key], sum(key), key);
    assert.equal(cluster.roomCount, 2);
    assert.equal(cluster.rooms.shared, CLIENTS);
    assert.equal(cluster.rooms.solo, 1);
    // Per-process values stay with their node.
    for (const node of cluster.nodes) {
      assert.equal(typeof node.stats.pid, 'number');
      assert.equal(typeof node.stats.uptimeSeconds, 'number');
      assert.equal(node.instance, cluster.nodes[0].instance, 'the workers of one primary are one instance');
    }
    assert.notEqual(cluster.nodes[0].stats.pid, cluster.nodes[1].stats.pid);
  });
});
