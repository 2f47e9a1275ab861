import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { type Child, CLI, startNode } from '../helpers/process.js';
import { type Service, serviceMissing, startNats, startRedis } from '../helpers/services.js';
import { waitFor, waitForAsync } from '../helpers/wait.js';

const INTERVAL = 0.2;
// A node killed is out of GET /presence (and announced as left) within 4 presence intervals, plus the
// broker timeout for the queries that wait for it meanwhile: the waits below allow ample room beyond it.
const GONE_WITHIN_MS = 4 * INTERVAL * 1000 + 2000 + 3000;

async function presence(api: string, room: string): Promise<any> {
  const res = await fetch(`${api}/presence?room=${encodeURIComponent(room)}`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  return res.json();
}

async function nextEvent(client: TestClient, ms = 5000): Promise<any> {
  return (await client.nextOfType('PRESENCE_EVENT', ms)).data;
}

// Two gateway nodes in this process and a third in a process of its own (to be killed), joined by a
// real broker server on a loopback port.
for (const [kind, binary, start] of [
  ['Redis', 'redis-server', startRedis],
  ['NATS', 'nats-server', startNats],
] as const) {
  describe(`presence across nodes over ${kind}`, { skip: serviceMissing(binary) ?? false }, () => {
    let broker: Service | undefined;
    let a: RunningGateway | undefined;
    let b: RunningGateway | undefined;
    let c: Child | undefined;
    let cWs = '';
    let cNode = '';
    const clients: TestClient[] = [];
    const open = async (url: string): Promise<{ client: TestClient; id: string }> => {
      const client = await TestClient.open(url);
      clients.push(client);
      return { client, id: await client.connId() };
    };

    before(async () => {
      broker = await start();
      const options = { broker: broker.url, presenceInterval: INTERVAL, joinLeave: ['jl-*'] };
      a = await startGateway(options);
      b = await startGateway(options);
      c = startNode(CLI, [
        ...['--workers', '1', '--host', '127.0.0.1', '--port', '0', '--api-host', '127.0.0.1', '--api-port', '0'],
        ...['--broker', broker.url, '--presence-interval', String(INTERVAL), '--join-leave', 'jl-*'],
      ]);
      const [, ws, , node] = await c.waitForLine(/listening ws=(\S+) api=(\S+) broker=\S+ node=(\S+)/, 15000);
      cWs = ws;
      cNode = node;
      for (const gw of [a, b]) {
        await waitFor(() => gw.gateway.clusterView()?.nodes.length === 3 && gw.gateway.clusterView()?.stale === false, 10000, 'a current view of the 3 nodes');
      }
    });
    after(async () => {
      clients.forEach((client) => client.terminate());
      try {
        await Promise.all([a?.close(), b?.close(), c?.stop()]);
      } finally {
        await broker?.stop();
      }
    });

    it("GET /presence lists the connections of every node, each node's API alike", async () => {
      const onA = await open(a!.wsUrl());
      const onB = await open(b!.wsUrl());
      const onC = await open(`ws://${cWs}/connect`);
      for (const { client } of [onA, onB, onC]) assert.equal((await client.request('JOIN', { room: 'everywhere' })).type, 'ACK');
      const expected = [
        { conn: onA.id, user: null, node: a!.gateway.hub.nodeId },
        { conn: onB.id, user: null, node: b!.gateway.hub.nodeId },
        { conn: onC.id, user: null, node: cNode },
      ].sort((x, y) => (x.node < y.node ? -1 : 1));
      for (const gw of [a!, b!]) {
        const view = await presence(gw.apiUrl, 'everywhere');
        assert.deepEqual(view, { room: 'everywhere', connections: expected, users: [], count: 3, userCount: 0, partial: false });
      }
    });

    it('tells members on every node of a join and a leave on another', async () => {
      const onA = await open(a!.wsUrl());
      assert.equal((await onA.client.request('JOIN', { room: 'jl-across' })).type, 'ACK');
      assert.equal((await nextEvent(onA.client)).event, 'state');
      const onB = await open(b!.wsUrl());
      assert.equal((await onB.client.request('JOIN', { room: 'jl-across' })).type, 'ACK');
      const nodeB = b!.gateway.hub.nodeId;
      assert.deepEqual(await nextEvent(onA.client), { room: 'jl-across', event: 'join', conn: onB.id, user: null, node: nodeB });
      const state = await nextEvent(onB.client);
      assert.deepEqual([state.event, state.connections.map((e: any) => e.conn).sort()], ['state', [onA.id, onB.id].sort()]);
      onB.client.close();
      assert.deepEqual(await nextEvent(onA.client), { room: 'jl-across', event: 'leave', conn: onB.id, user: null, node: nodeB });
    });

    it('a killed node leaves GET /presence, and its connections are announced as left, within the bound', async () => {
      const watcher = await open(a!.wsUrl());
      assert.equal((await watcher.client.request('JOIN', { room: 'jl-kill' })).type, 'ACK');
      assert.equal((await nextEvent(watcher.client)).event, 'state');
      const doomed = await open(`ws://${cWs}/connect`);
      assert.equal((await doomed.client.request('JOIN', { room: 'jl-kill' })).type, 'ACK');
      assert.deepEqual(await nextEvent(watcher.client), { room: 'jl-kill', event: 'join', conn: doomed.id, user: null, node: cNode });
      assert.deepEqual((await presence(a!.apiUrl, 'jl-kill')).connections.map((e: any) => e.conn).sort(), [watcher.id, doomed.id].sort());

      c!.child.kill('SIGKILL');
      await c!.exited;
      // The leave comes once node C is taken as gone (3 intervals of silence, seen on the next tick).
      assert.deepEqual(await nextEvent(watcher.client, GONE_WITHIN_MS), { room: 'jl-kill', event: 'leave', conn: doomed.id, user: null, node: cNode });
      const view = await presence(a!.apiUrl, 'jl-kill');
      assert.deepEqual([view.connections.map((e: any) => e.conn), view.partial], [[watcher.id], false]);
      // B's API too: C is out of its view, its connection out of the answer.
      await waitForAsync(async () => (await presence(b!.apiUrl, 'jl-kill')).partial === false, GONE_WITHIN_MS, "B's view without C");
      assert.deepEqual(
        (await presence(b!.apiUrl, 'jl-kill')).connections.map((e: any) => e.conn),
        [watcher.id],
      );
    });
  });
}
