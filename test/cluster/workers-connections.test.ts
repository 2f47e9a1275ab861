import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { untilCluster } from '../helpers/cluster.js';
import { signToken } from '../helpers/jwt.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { waitForAsync } from '../helpers/wait.js';

const SECRET = 'workers-connections-secret';

async function call(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    signal: AbortSignal.timeout(5000),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, body: await res.json() };
}

// The queries between nodes through the primary's relay (no external broker): whichever worker takes a
// request answers for the connections of both.
describe('connection API with --workers 2 (the primary relays)', () => {
  let primary: Child | undefined;
  const clients: TestClient[] = [];
  after(async () => {
    clients.forEach((c) => c.terminate());
    await primary?.stop(15000);
  });

  it("finds, lists and closes connections of either worker from either worker's push API", async () => {
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--presence-interval', '0.2', '--jwt-secret', SECRET]);
    const [, ws, api] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
    const token = await signToken({ sub: 'grace', secret: SECRET });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const client = await TestClient.open(`ws://${ws}/connect?token=${token}`);
      clients.push(client);
      ids.push(await client.connId());
    }
    assert.equal(new Set(ids.map((id) => id.split('-')[0])).size, 2, 'connections spread over both workers');
    await untilCluster(api, (s) => s.onlineConnections === 10 && s.nodes.length === 2 && s.stale === false, 'both workers in a current view');

    for (const id of ids) {
      const res = await call(`http://${api}/connections/${id}`);
      assert.deepEqual([res.status, res.body.conn, res.body.user], [200, id, 'grace'], id);
    }
    // Each request goes to either worker, and each holds its own view of the other: the stats above came
    // from one of them. Both are current within a few presence intervals.
    let listed = await call(`http://${api}/users/grace/connections`);
    await waitForAsync(
      async () => {
        listed = await call(`http://${api}/users/grace/connections`);
        return listed.body.partial === false;
      },
      5000,
      'a complete answer (each worker with a current view)',
    );
    assert.deepEqual([listed.status, listed.body.partial], [200, false]);
    assert.deepEqual(listed.body.connections.map((c: { conn: string }) => c.conn).sort(), [...ids].sort());

    const [first, ...rest] = ids;
    assert.deepEqual((await call(`http://${api}/connections/${first}`, 'DELETE', { code: 4060, reason: 'one' })).body, { ok: true, closed: 1 });
    assert.deepEqual(await clients[0].waitClosed(5000), { code: 4060, reason: 'one' });
    assert.equal((await call(`http://${api}/connections/${first}`)).status, 410);
    const closed = await call(`http://${api}/users/grace/connections`, 'DELETE', { code: 4061, reason: 'all' });
    assert.deepEqual([closed.status, closed.body], [200, { ok: true, closed: rest.length, partial: false }]);
    for (const client of clients.slice(1)) assert.deepEqual(await client.waitClosed(5000), { code: 4061, reason: 'all' });
  });
});
