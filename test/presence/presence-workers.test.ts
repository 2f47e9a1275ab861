import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { untilCluster } from '../helpers/cluster.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { waitForAsync } from '../helpers/wait.js';

async function presence(api: string, room: string): Promise<any> {
  const res = await fetch(`http://${api}/presence?room=${room}`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  return res.json();
}

// The workers of one primary, joined by its relay (no external broker): each worker answers for the
// connections of both, and events cross from one worker's clients to the other's.
describe('presence with --workers 2 (the primary relays)', () => {
  let primary: Child | undefined;
  const clients: TestClient[] = [];
  after(async () => {
    clients.forEach((c) => c.terminate());
    await primary?.stop(15000);
  });

  it("lists both workers' connections, and tells one worker's members of joins and leaves on the other", async () => {
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--presence-interval', '0.2', '--join-leave', 'jl-*']);
    const [, ws, api] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
    // Connections go to the workers in turn: open until each worker holds one.
    const byNode = new Map<string, { client: TestClient; id: string }>();
    for (let i = 0; i < 20 && byNode.size < 2; i++) {
      const client = await TestClient.open(`ws://${ws}/connect`);
      clients.push(client);
      const id = await client.connId();
      byNode.set(id.split('-')[0], { client, id });
    }
    assert.equal(byNode.size, 2, 'a connection on each worker');
    const [first, second] = [...byNode.values()];
    await untilCluster(api, (s) => s.nodes.length === 2 && s.stale === false, 'both workers in a current view');

    for (const { client } of [first, second]) assert.equal((await client.request('JOIN', { room: 'w-room' })).type, 'ACK');
    // Either worker may take the request, each with its own view: both are current within a few intervals.
    let view = await presence(api, 'w-room');
    await waitForAsync(
      async () => {
        view = await presence(api, 'w-room');
        return view.partial === false;
      },
      5000,
      'a complete answer',
    );
    assert.deepEqual(view.connections.map((c: any) => `${c.conn}@${c.node}`).sort(), [first, second].map(({ id }) => `${id}@${id.split('-')[0]}`).sort());

    assert.equal((await first.client.request('JOIN', { room: 'jl-w' })).type, 'ACK');
    assert.equal((await first.client.nextOfType('PRESENCE_EVENT', 5000)).data.event, 'state');
    assert.equal((await second.client.request('JOIN', { room: 'jl-w' })).type, 'ACK');
    const joined = (await first.client.nextOfType('PRESENCE_EVENT', 5000)).data;
    assert.deepEqual(joined, { room: 'jl-w', event: 'join', conn: second.id, user: null, node: second.id.split('-')[0] });
    const state = (await second.client.nextOfType('PRESENCE_EVENT', 5000)).data;
    assert.deepEqual(state.connections.map((c: any) => c.conn).sort(), [first.id, second.id].sort());
    second.client.close();
    assert.deepEqual((await first.client.nextOfType('PRESENCE_EVENT', 5000)).data, { ...joined, event: 'leave' });
  });
});
