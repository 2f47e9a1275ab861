import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestClient } from '../helpers/client.js';
import { clusterStats } from '../helpers/cluster.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { freeze, type Service, serviceMissing, startNats, startRedis } from '../helpers/services.js';
import { waitFor, waitForAsync } from '../helpers/wait.js';

// Short bounds, so that a stall of a couple of seconds is far longer than detection.
const TIMEOUT_MS = 500;
const PROBE_MS = 250;
const SKEW_MS = 100;
/** A generous bound on any answer during the stall (detection takes at most TIMEOUT_MS + PROBE_MS). */
const ANSWER_MS = 5000;

const nodeOptions = {
  brokerTimeout: TIMEOUT_MS,
  brokerProbeInterval: PROBE_MS,
  brokerClockSkew: SKEW_MS,
  presenceInterval: 0.1,
};

/** POSTs JSON, bounded: a request the gateway does not answer in time fails the test. */
async function post(url: string, body: unknown, ms = ANSWER_MS): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(ms),
  });
  return { status: res.status, body: await res.json() };
}

async function health(api: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(ANSWER_MS) });
  return { status: res.status, body: await res.json() };
}

for (const [kind, binary, start] of [
  ['Redis', 'redis-server', () => startRedis()],
  ['NATS', 'nats-server', startNats],
] as const) {
  describe(`two nodes while their ${kind} server is stopped (SIGSTOP) and resumed`, { skip: serviceMissing(binary) ?? false }, () => {
    let server: Service | undefined;
    let stopped = false;
    const nodes: RunningGateway[] = [];
    const clients: TestClient[] = [];
    const resume = (): void => {
      if (stopped && server !== undefined) process.kill(server.pid, 'SIGCONT');
      stopped = false;
    };
    before(async () => {
      server = await start();
      for (let i = 0; i < 2; i++) nodes.push(await startGateway({ broker: server.url, ...nodeOptions }));
    });
    after(async () => {
      // A failed test must never leave the server stopped.
      resume();
      clients.forEach((c) => c.terminate());
      await Promise.all(nodes.map((n) => n.close()));
      await server?.stop();
    });

    it('answers pushes 503 within the bound, reports down, never 404s a live connection, then recovers and delivers nothing refused', {
      timeout: 30000,
    }, async () => {
      const [a, b] = nodes as [RunningGateway, RunningGateway];
      const client = await b.connect();
      clients.push(client);
      const id = await client.connId();
      assert.equal((await client.request('JOIN', { room: 'hang' })).type, 'ACK');
      await waitFor(() => a.gateway.clusterView()?.rooms.hang === 1, 5000, "node A to see B's room member");
      assert.equal((await post(`${a.apiUrl}/push/room`, { room: 'hang', items: ['before'] })).status, 200);
      assert.deepEqual((await client.nextOfType('PUSH', 5000)).data.items, ['before']);

      await freeze(server!.pid);
      stopped = true;
      let lastAnsweredAt = 0;
      try {
        // Pushes made during the stall: some are written to the stopped server's socket, later ones are
        // refused at once; every one is answered 503 within the bound, none waits for the stall.
        const refused = Array.from({ length: 10 }, (_, i) => `stall-${i}`);
        const answers = await Promise.all(refused.map((item) => post(`${a.apiUrl}/push/room`, { room: 'hang', items: [item] })));
        lastAnsweredAt = Date.now();
        for (const [i, answer] of answers.entries()) {
          assert.equal(answer.status, 503, `push ${i}: ${JSON.stringify(answer.body)}`);
          assert.equal(answer.body.error.code, 'BROKER_UNAVAILABLE');
        }
        // The push API's health says so.
        await waitForAsync(async () => (await health(a.apiUrl)).status === 503, ANSWER_MS, 'A /healthz to answer 503');
        assert.equal((await health(a.apiUrl)).body.broker, 'down');
        // A connection on B that A cannot see right now: "unavailable, retry", not "not connected".
        const toConn = await post(`${a.apiUrl}/push/conn`, { conn: id, items: ['dm during'] });
        assert.equal(toConn.status, 503, JSON.stringify(toConn.body));
        assert.equal(toConn.body.error.code, 'BROKER_UNAVAILABLE');
        // The cluster view keeps B, marked stale, instead of showing it gone.
        const view = await clusterStats(a.apiUrl.slice('http://'.length));
        assert.equal(view.stale, true);
        assert.equal(view.nodes.length, 2, JSON.stringify(view.nodes));
        // Keep the stall until every refused push's deadline has passed (a push timed out TIMEOUT_MS after
        // its publish, its deadline is SKEW_MS later), so that the drop on arrival is what keeps them from
        // being delivered when the server resumes.
        await waitFor(() => Date.now() > lastAnsweredAt + SKEW_MS + 100, 5000, 'the deadline of the refused pushes');
      } finally {
        resume();
      }

      // Back: health and pushes recover without restarts, and a push is delivered.
      await waitForAsync(async () => (await health(a.apiUrl)).status === 200, 10000, 'A /healthz to answer 200 again');
      await waitForAsync(
        async () => (await post(`${a.apiUrl}/push/room`, { room: 'hang', items: ['after'] })).status === 200,
        10000,
        'a push to be accepted again',
      );
      const got: string[] = [];
      while (!got.includes('after')) got.push(...(await client.nextOfType('PUSH', 5000)).data.items);
      // Everything the server had queued from the stall came before "after" on the same connection.
      assert.deepEqual(
        got.filter((item) => item.startsWith('stall-')),
        [],
        `refused pushes delivered: ${got.join(',')}`,
      );
      // Those that reached the server before A noticed the stall (timed out, rather than refused at once)
      // were forwarded on SIGCONT, and dropped by B on arrival.
      const timedOut = a.gateway.stats.pushesTimedOut;
      if (timedOut > 0) assert.equal(b.gateway.stats.pushesExpired, timedOut, 'B dropped every timed-out push it received late');
      await waitForAsync(
        async () => (await post(`${a.apiUrl}/push/conn`, { conn: id, items: ['dm after'] })).status === 200,
        10000,
        'a push to the connection',
      );
      assert.deepEqual((await client.nextOfType('PUSH', 5000)).data.items, ['dm after']);
    });
  });
}
