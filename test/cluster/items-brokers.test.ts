import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { GatewayOptions } from '../../src/config/options.js';
import type { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { EXACT_ITEMS, FORM_TYPE, form, JSON_TYPE, nested, nextPushText, post, pushFrame } from '../helpers/items.js';
import { type Service, serviceMissing, startNats, startRedis } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Items cross a real broker exactly as they were pushed: the receiving node takes each item's text
 * from the envelope, it never re-encodes it. Two in-process gateways share a real redis-server or
 * nats-server; pushes go into node A's API and come out of node B's WebSocket.
 */
for (const [kind, binary, start] of [
  ['Redis', 'redis-server', startRedis],
  ['NATS', 'nats-server', startNats],
] as const) {
  describe(`items over ${kind}`, { skip: serviceMissing(binary) ?? false }, () => {
    let broker: Service | undefined;
    const gateways: RunningGateway[] = [];
    const clients: TestClient[] = [];

    /** Two nodes on the broker; a client of node B in room `r`, seen by node A's cluster view. */
    async function pair(options: Partial<GatewayOptions> = {}): Promise<{ api: string; member: TestClient }> {
      const a = await startGateway({ broker: broker!.url, presenceInterval: 0.1, ...options });
      gateways.push(a);
      const b = await startGateway({ broker: broker!.url, presenceInterval: 0.1, ...options });
      gateways.push(b);
      const member = await b.connect();
      clients.push(member);
      assert.equal((await member.request('JOIN', { room: 'r' })).type, 'ACK');
      await waitFor(() => (a.gateway.clusterView()?.rooms.r ?? 0) >= 1, 5000, 'node A to see the member of r');
      return { api: a.apiUrl, member };
    }

    before(async () => {
      broker = await start();
    });
    after(async () => {
      clients.forEach((c) => c.terminate());
      await Promise.all(gateways.map((g) => g.close()));
      await broker?.stop();
    });

    describe('with the default limits', () => {
      let api: string;
      let member: TestClient;
      before(async () => {
        ({ api, member } = await pair());
      });

      it('delivers JSON and form items byte for byte, to all and to a room', async () => {
        assert.equal((await post(`${api}/push/all`, JSON_TYPE, `{"items":[${EXACT_ITEMS.join(',')}]}`)).status, 200);
        assert.equal(await nextPushText(member), pushFrame(EXACT_ITEMS));
        assert.equal(
          (
            await post(
              `${api}/push/room`,
              FORM_TYPE,
              form([
                ['room', 'r'],
                ['items', `[${EXACT_ITEMS.join(' , ')}]`],
              ]),
            )
          ).status,
          200,
        );
        assert.equal(await nextPushText(member), pushFrame(EXACT_ITEMS, 'r'));
        assert.equal(
          (
            await post(
              `${api}/push/room`,
              FORM_TYPE,
              form([
                ['room', 'r'],
                ['msg', '9007199254740993'],
              ]),
            )
          ).status,
          200,
        );
        assert.equal(await nextPushText(member), pushFrame(['9007199254740993'], 'r'));
      });

      it('delivers whatever it accepts, however deep, and refuses the rest with 400 ITEM_TOO_DEEP', async () => {
        // 4100–4120: deep enough that re-encoding on the receiving node overflowed its stack, shallow
        // enough that the API's own encoding did not: once answered 200 and lost.
        for (const depth of [1, 64, 65, 4110, 5000]) {
          const item = nested(depth);
          const res = await post(`${api}/push/room`, JSON_TYPE, `{"room":"r","items":[${item}]}`);
          if (res.status === 200) assert.equal(await nextPushText(member), pushFrame([item], 'r'), `depth ${depth}`);
          else assert.deepEqual([res.status, res.body.error?.code], [400, 'ITEM_TOO_DEEP'], `depth ${depth}`);
          assert.equal(res.status, depth <= 64 ? 200 : 400, `depth ${depth} answered ${res.status}`);
        }
      });
    });

    describe('with maxItemDepth at its maximum (10000)', () => {
      let api: string;
      let member: TestClient;
      before(async () => {
        ({ api, member } = await pair({ maxItemDepth: 10000 }));
      });

      it('delivers items nested up to 10000 deep and refuses one nested 10001 deep', async () => {
        for (let depth = 4100; depth <= 4120; depth += 2) {
          const item = `${'['.repeat(depth)}${']'.repeat(depth)}`;
          assert.equal((await post(`${api}/push/all`, JSON_TYPE, `{"items":[${item}]}`)).status, 200);
          assert.equal(await nextPushText(member), pushFrame([item]), `depth ${depth}`);
        }
        const item = nested(10000);
        assert.equal((await post(`${api}/push/room`, JSON_TYPE, `{"room":"r","items":[${item}]}`)).status, 200);
        assert.equal(await nextPushText(member), pushFrame([item], 'r'));
        const refused = await post(
          `${api}/push/room`,
          FORM_TYPE,
          form([
            ['room', 'r'],
            ['msg', nested(10001)],
          ]),
        );
        assert.deepEqual([refused.status, refused.body.error.code], [400, 'ITEM_TOO_DEEP']);
      });
    });
  });
}
