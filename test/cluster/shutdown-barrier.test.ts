import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Broker, MessageHandler } from '../../src/broker/broker.js';
import { ForwardingBroker } from '../../src/broker/forwarding-broker.js';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { TestClient } from '../helpers/client.js';
import { postJson } from '../helpers/gateway.js';
import { type Service, serviceMissing, startRedis } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Two gateways over one Redis, as two workers of one primary are: a push accepted by A must reach B's
 * clients before B closes them, although B learns of it only once the broker has delivered it to B. The
 * test makes B's subscription lag (every message reaches it 300 ms late, in order) so that without the
 * shutdown barrier B would close its clients first.
 */
const LAG_MS = 300;

/** A broker whose subscribers get every message `lagMs` late (in order), as a loaded node reads its socket late. */
class LaggingBroker extends ForwardingBroker<Buffer> {
  constructor(
    inner: Broker,
    private readonly lagMs: number,
  ) {
    super(inner);
  }
  publish(channel: string, payload: Buffer): Promise<void> {
    return this.inner.publish(channel, payload);
  }
  subscribe(channel: string, handler: MessageHandler): Promise<void> {
    return this.inner.subscribe(channel, (payload, name) => setTimeout(() => handler(payload, name), this.lagMs));
  }
}

describe('shutdown of workers over a broker: the barrier', { skip: serviceMissing('redis-server') ?? false }, () => {
  let redis: Service | undefined;
  const gateways: Gateway[] = [];
  const clients: TestClient[] = [];
  after(async () => {
    clients.forEach((client) => client.terminate());
    await Promise.all(gateways.map((gateway) => gateway.close()));
    await redis?.stop();
  });

  it("a worker closes its clients only after every other worker's accepted pushes have reached it", { timeout: 30000 }, async () => {
    redis = await startRedis();
    const start = async (broker?: Broker): Promise<{ gateway: Gateway; api: string; ws: string }> => {
      const gateway = new Gateway(
        { host: '127.0.0.1', port: 0, apiHost: '127.0.0.1', apiPort: 0, broker: redis!.url, presenceInterval: 0.1, shutdownTimeout: 5 },
        undefined,
        broker === undefined ? {} : { broker },
      );
      gateways.push(gateway);
      const { ws, api } = await gateway.listen();
      return { gateway, api: `http://127.0.0.1:${api!.port}`, ws: `ws://127.0.0.1:${ws!.port}/connect` };
    };
    const a = await start();
    const b = await start(new LaggingBroker(new RedisBroker(redis.url), LAG_MS));
    const client = await TestClient.open(b.ws);
    clients.push(client);
    assert.equal((await client.request('JOIN', { room: 'news' })).type, 'ACK');
    await waitFor(() => a.gateway.clusterView()?.rooms.news === 1, 10000, "A to see B's member");

    assert.equal((await postJson(`${a.api}/push/room`, { room: 'news', items: ['accepted by A'] })).status, 200);
    // The primary's two phases: every worker drains, then each waits for the barriers and closes.
    const drained = await Promise.all([a.gateway.drain(), b.gateway.drain()]);
    assert.deepEqual(drained, [a.gateway.hub.nodeId, b.gateway.hub.nodeId], 'both published their barrier');
    const nodes = drained.filter((node): node is string => node !== null);
    await Promise.all(
      [a, b].map(async ({ gateway }) => {
        assert.equal(await gateway.awaitBarriers(nodes), true);
        await gateway.close();
      }),
    );
    const pushes = client.frames.filter((frame) => frame.type === 'PUSH').flatMap((frame) => frame.data.items);
    assert.deepEqual(pushes, ['accepted by A'], "B's client got A's push before its 1001");
    assert.equal((await client.waitClosed(5000)).code, 1001);
  });
});
