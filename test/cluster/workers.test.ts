import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { clusterStats, untilCluster } from '../helpers/cluster.js';
import { postJson } from '../helpers/gateway.js';
import { EXACT_ITEMS, JSON_TYPE, nested, post, pushFrame } from '../helpers/items.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { waitForAsync, withTimeout } from '../helpers/wait.js';

describe('pushgate --workers 2 (no external broker)', () => {
  let primary: Child;
  const clients: TestClient[] = [];
  const ids = new Map<TestClient, string>();
  after(async () => {
    clients.forEach((c) => c.terminate());
    await primary?.stop(15000);
  });

  it("shares the ports between workers, delivers every push to every worker's clients, and counts per worker and in total", async () => {
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--presence-interval', '0.2']);
    const [, ws, api] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
    assert.match(primary.output(), /each of the 2 workers can hold about [\d,]+ connections/);
    for (let i = 0; i < 10; i++) clients.push(await TestClient.open(`ws://${ws}/connect`));
    for (const client of clients) ids.set(client, await client.connId());
    const nodes = new Set([...ids.values()].map((id) => id.split('-')[0]));
    assert.equal(nodes.size, 2, 'connections spread over both workers');

    const res = await postJson(`http://${api}/push/all`, { items: ['to every worker'] });
    assert.equal(res.status, 200);
    for (const client of clients) assert.deepEqual((await client.nextOfType('PUSH')).data.items, ['to every worker']);

    const stats = await untilCluster(api, (s) => s.onlineConnections === 10 && s.nodes.length === 2, 'both workers reporting 10 connections');
    assert.deepEqual(
      stats.nodes.map((n: { worker: number }) => n.worker),
      [1, 2],
    );
    // Whichever worker answers sums its own live count and the other's last report, which may be one
    // presence interval older than the report the cluster view above was answered with.
    await waitForAsync(
      async () => (await (await fetch(`http://${api}/stats`, { signal: AbortSignal.timeout(2000) })).json()).cluster.onlineConnections === 10,
      5000,
      "the node view's cluster summary to count 10 connections",
    );
    const metrics = await (await fetch(`http://${api}/metrics`)).text();
    assert.match(metrics, /^pushgate_cluster_online_connections\{node="[0-9a-f]+",worker="1"\} \d+$/m);
    assert.match(metrics, /^pushgate_cluster_nodes\{node="[0-9a-f]+"\} 2$/m);
  });

  it('relays items between workers byte for byte, up to the depth limit', async () => {
    const [, , api] = /listening ws=(\S+) api=(\S+)/.exec(primary.output()) ?? [];
    const deepest = nested(64);
    assert.equal((await post(`http://${api}/push/all`, JSON_TYPE, `{"items":[${EXACT_ITEMS.join(',')},${deepest}]}`)).status, 200);
    const expected = pushFrame([...EXACT_ITEMS, deepest]);
    for (const client of clients) {
      await client.nextOfType('PUSH');
      assert.equal(client.texts.filter((t) => t.startsWith('{"type":"PUSH"')).at(-1), expected);
    }
    const refused = await post(`http://${api}/push/all`, JSON_TYPE, `{"items":[${nested(65)}]}`);
    assert.deepEqual([refused.status, refused.body.error?.code], [400, 'ITEM_TOO_DEEP']);
  });

  it("replaces a worker that dies; the other worker's clients are unaffected", async () => {
    const [, , api] = /listening ws=(\S+) api=(\S+)/.exec(primary.output()) ?? [];
    const before = await clusterStats(api);
    const victim = before.nodes[0];
    process.kill(victim.stats.pid, 'SIGKILL');
    const survivors = clients.filter((c) => !ids.get(c)?.startsWith(`${victim.node}-`));
    const dropped = clients.filter((c) => !survivors.includes(c));
    for (const client of dropped) await client.waitClosed(5000);
    const res = await postJson(`http://${api}/push/all`, { items: ['after the crash'] });
    assert.equal(res.status, 200);
    for (const client of survivors) assert.deepEqual((await client.nextOfType('PUSH')).data.items, ['after the crash']);
    const after = await untilCluster(
      api,
      (s) => s.nodes.length === 2 && !s.nodes.some((n: { node: string }) => n.node === victim.node),
      'a new worker in its place',
    );
    assert.ok(
      after.nodes.some((n: { worker: number }) => n.worker === victim.worker),
      'the new worker took its number',
    );
    assert.match(primary.output(), /worker \d \(pid \d+\) exited/);
  });

  it('shuts every worker down gracefully on SIGTERM to the primary', async () => {
    const open = clients.filter((c) => c.ws.readyState === c.ws.OPEN);
    primary.child.kill('SIGTERM');
    for (const client of open) assert.equal((await client.waitClosed(10000)).code, 1001);
    assert.equal(await withTimeout(primary.exited, 15000, 'the primary to exit'), 0);
  });
});
