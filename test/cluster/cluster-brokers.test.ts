import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { untilCluster } from '../helpers/cluster.js';
import { postJson } from '../helpers/gateway.js';
import { type Child, CLI, startNode } from '../helpers/process.js';
import { type Service, serviceMissing, startNats, startRedis } from '../helpers/services.js';

/** Each node's presence interval. */
const PRESENCE_MS = 200;

const LISTENING = /listening ws=(\S+) api=(\S+)/;

interface Node {
  child: Child;
  ws: string;
  api: string;
}

/** Every process started here, registered at spawn so an `after` stops it even when its start failed. */
const children: Child[] = [];

/** Starts `pushgate <role>` as a real process joined to the broker. */
async function startNode_(role: 'gateway' | 'api', broker: string): Promise<Node> {
  const child = startNode(CLI, [
    role,
    '--broker',
    broker,
    '--workers',
    '1',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--api-host',
    '127.0.0.1',
    '--api-port',
    '0',
    '--presence-interval',
    String(PRESENCE_MS / 1000),
    '--log-level',
    'warn',
  ]);
  children.push(child);
  const [, ws, api] = await child.waitForLine(LISTENING, 10000);
  return { child, ws, api };
}

for (const [kind, binary, start] of [
  ['Redis', 'redis-server', startRedis],
  ['NATS', 'nats-server', startNats],
] as const) {
  describe(`a cluster over ${kind}: two gateway processes and a push API process`, { skip: serviceMissing(binary) ?? false }, () => {
    let broker: Service;
    let g1: Node;
    let g2: Node;
    let api: Node;
    const clients: TestClient[] = [];
    const connect = async (node: Node): Promise<TestClient> => {
      const client = await TestClient.open(`ws://${node.ws}/connect`);
      clients.push(client);
      return client;
    };
    before(async () => {
      broker = await start();
      [g1, g2, api] = await Promise.all([startNode_('gateway', broker.url), startNode_('gateway', broker.url), startNode_('api', broker.url)]);
    });
    after(async () => {
      clients.forEach((c) => c.terminate());
      await Promise.all(children.splice(0).map((child) => child.stop()));
      await broker?.stop();
    });

    it('delivers pushes from the API process to room members on both nodes, once each and in order', async () => {
      const [a, b, outsider] = [await connect(g1), await connect(g2), await connect(g2)];
      for (const client of [a, b]) assert.equal((await client.request('JOIN', { room: 'r' })).type, 'ACK');
      await untilCluster(api.api, (stats) => stats.rooms?.r === 2, 'the cluster to see both members');
      for (let i = 0; i < 30; i++) {
        const res = await postJson(`http://${api.api}/push/room`, { room: 'r', items: [i] });
        assert.equal(res.status, 200);
        assert.equal(res.body.recipients, 2);
      }
      for (const client of [a, b]) {
        const got: number[] = [];
        while (got.length < 30) got.push(...(await client.next(5000)).data.items);
        assert.deepEqual(
          got,
          Array.from({ length: 30 }, (_, i) => i),
          'every item once, in publish order',
        );
      }
      // The outsider got none of it: its next frame answers its PING.
      assert.equal((await outsider.request('PING')).type, 'PONG');
      assert.equal(outsider.frames.filter((f) => f.type === 'PUSH').length, 0);
    });

    it('pushes to all and to one connection on whichever node holds it', async () => {
      const [a, b] = [await connect(g1), await connect(g2)];
      const id = await b.connId();
      await untilCluster(api.api, (stats) => stats.nodes?.length === 3, 'presence of all nodes');
      assert.equal((await postJson(`http://${api.api}/push/conn`, { conn: id, items: ['just b'] })).status, 200);
      assert.deepEqual((await b.nextOfType('PUSH')).data.items, ['just b']);
      assert.equal((await postJson(`http://${api.api}/push/all`, { items: ['everyone'] })).status, 200);
      assert.deepEqual((await a.nextOfType('PUSH')).data.items, ['everyone']);
      assert.deepEqual((await b.nextOfType('PUSH')).data.items, ['everyone']);
    });

    it('counts connections across the cluster', async () => {
      const open = clients.filter((c) => c.ws.readyState === c.ws.OPEN).length;
      // A current view (stale: false): a late report on a loaded machine makes the view say it is stale
      // rather than break the bound; that is waited out here.
      const stats = await untilCluster(
        api.api,
        (s) => s.onlineConnections === open && s.stale === false && s.nodes?.length === 3,
        `${open} connections in a current cluster view`,
      );
      assert.equal(stats.scope, 'cluster');
      // The documented bound: while the view is current, no count is older than 3 presence intervals.
      assert.ok(stats.maxStalenessMs <= 3 * PRESENCE_MS, `stale by ${stats.maxStalenessMs} ms although the view is current`);
    });

    it('survives a broker restart mid-stream: accepted pushes delivered, refused ones answered 503, none twice', async () => {
      const [a, b] = [await connect(g1), await connect(g2)];
      for (const client of [a, b]) await client.request('JOIN', { room: 'stream' });
      await untilCluster(api.api, (stats) => stats.rooms?.stream === 2, 'the stream room');
      const accepted: number[] = [];
      const refused: number[] = [];
      let seq = 0;
      const pushOne = async (): Promise<void> => {
        const n = seq++;
        const res = await postJson(`http://${api.api}/push/room`, { room: 'stream', items: [n] }).catch(() => ({ status: 0, body: null }));
        if (res.status === 200) accepted.push(n);
        else {
          assert.equal(res.status, 503, `push ${n}: ${JSON.stringify(res.body)}`);
          assert.equal(res.body.error.code, 'BROKER_UNAVAILABLE');
          refused.push(n);
        }
      };
      // Pushes one at a time until `done`; the deadline is checked inside, so no push outlives a failure.
      const pushUntil = async (done: () => boolean, ms: number, what: string): Promise<void> => {
        const deadline = Date.now() + ms;
        while (!done()) {
          if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
          await pushOne();
        }
      };
      for (let i = 0; i < 20; i++) await pushOne();
      await broker.kill();
      // While it is down: pushes are refused, local clients are still served.
      await pushUntil(() => refused.length > 0, 10000, 'a refusal');
      assert.equal((await a.request('PING')).type, 'PONG');
      await broker.restart();
      // Back: pushes are accepted again without restarting anything.
      const back = accepted.length;
      await pushUntil(() => accepted.length >= back + 20, 20000, 'pushes to be accepted again');
      // Each member has every accepted push once, in order, and none of the refused ones.
      const last = accepted[accepted.length - 1];
      for (const client of [a, b]) {
        const got: number[] = [];
        while (!got.includes(last)) {
          const frame = await client.nextOfType('PUSH', 10000).catch((error: Error) => {
            throw new Error(`${error.message}; got ${got.join(',')}; accepted ${accepted.join(',')}; refused ${refused.length}`);
          });
          got.push(...frame.data.items);
        }
        assert.equal(new Set(got).size, got.length, 'no push delivered twice');
        // A push in flight at the instant of the crash may have reached the broker while its answer was
        // lost (so it was refused); every later refusal was made while the broker was down, and never arrives.
        assert.ok(got.filter((n) => refused.includes(n)).length <= 1, `refused pushes delivered: ${got.filter((n) => refused.includes(n))}`);
        const acceptedAfterRecovery = accepted.filter((n) => n > refused[refused.length - 1]);
        const acceptedBefore = accepted.filter((n) => n < refused[0]);
        for (const n of [...acceptedBefore, ...acceptedAfterRecovery])
          assert.ok(got.includes(n), `accepted push ${n} delivered (got ${got.join(',')}; accepted ${accepted.join(',')}; refused ${refused.join(',')})`);
        assert.deepEqual(
          got,
          [...got].sort((x, y) => x - y),
          'in order',
        );
      }
    });

    it('keeps serving when a gateway node dies', async () => {
      const [a] = [await connect(g1)];
      const onG2 = await connect(g2);
      g2.child.child.kill('SIGKILL');
      await onG2.waitClosed(5000);
      assert.equal((await postJson(`http://${api.api}/push/all`, { items: ['still here'] })).status, 200);
      assert.deepEqual((await a.nextOfType('PUSH')).data.items, ['still here']);
      await untilCluster(api.api, (stats) => stats.nodes?.length === 2, 'the dead node to leave the cluster view');
    });
  });
}
