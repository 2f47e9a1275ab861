import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { postJson } from '../helpers/gateway.js';
import { type Child, CLI, startNode } from '../helpers/process.js';
import type { Service } from '../helpers/services.js';
import { waitForAsync } from '../helpers/wait.js';
import { type Deployment, pushRoom, readItems, recoversAfterAbsence, type Seen } from './recovery-scenario.js';

const HISTORY = 'chat:*=2000/300s';

/** A broker server the recovery proof runs over. */
export interface BrokerServer {
  /** What the suite is called, e.g. `Redis Streams`. */
  name: string;
  /** Why the suite is skipped (the server's package is missing), or null. */
  missing: string | null;
  start(): Promise<Service>;
  /** Brings the server back with none of its data, as a restart without persistence or a lost disk does. */
  restartEmpty(service: Service): Promise<void>;
  /** What the server is called in the last test's name, e.g. `a Redis restart without persistence`. */
  lossName: string;
}

/** The recovery proof over a broker server, with two gateway processes (`--workers 1` each). */
export function describeRecoveryOver(server: BrokerServer): void {
  describe(`recovery after reconnect over ${server.name} (two gateway processes)`, { skip: server.missing ?? false }, () => {
    let service: Service;
    const nodes: Array<{ child: Child; ws: string; api: string }> = [];
    const start = async (): Promise<{ child: Child; ws: string; api: string }> => {
      const child = startNode(CLI, [
        ...['--workers', '1', '--host', '127.0.0.1', '--port', '0', '--api-host', '127.0.0.1', '--api-port', '0'],
        ...['--broker', service.url, '--history', HISTORY, '--presence-interval', '0.2', '--broker-timeout', '500', '--broker-probe-interval', '100'],
      ]);
      const [, ws, api] = await child.waitForLine(/listening ws=(\S+) api=(\S+)/, 15000);
      return { child, ws, api: `http://${api}` };
    };
    before(async () => {
      service = await server.start();
      nodes.push(await start(), await start());
    });
    after(async () => {
      for (const node of nodes) await node.child.stop(15000);
      await service?.stop();
    });

    const deployment: Deployment = { connect: (n = 0) => TestClient.open(`ws://${nodes[n].ws}/connect`), apiUrl: (n = 0) => nodes[n].api };

    it('replays the 1,000 items pushed during a 5 s absence to a client that comes back on the other node', async () => {
      await recoversAfterAbsence(deployment, 'chat:absent', { back: 1 });
    });

    it('a client of a node that was killed recovers on the other node what was pushed meanwhile', async () => {
      const room = 'chat:killed';
      const client = await deployment.connect(0);
      const ack = await client.request('JOIN', { room });
      const seen: Seen = { offsets: [], items: [], epoch: ack.data.stream.epoch };
      await pushRoom(nodes[1].api, room, ['before']);
      await readItems(client, room, seen, 1);
      nodes[0].child.child.kill('SIGKILL');
      await nodes[0].child.exited;
      for (let i = 0; i < 20; i++)
        await pushRoom(
          nodes[1].api,
          room,
          Array.from({ length: 10 }, (_, j) => i * 10 + j),
        );
      const back = await deployment.connect(1);
      back.send({ type: 'JOIN', id: 'back', data: { room, offset: seen.offsets[0], epoch: seen.epoch } });
      const replay: Seen = { offsets: [], items: [], epoch: seen.epoch };
      await readItems(back, room, replay, 200);
      const rejoined = await back.nextOfType('ACK');
      assert.equal(rejoined.data.stream.recovered, true);
      assert.deepEqual(
        replay.items,
        Array.from({ length: 200 }, (_, i) => i),
      );
      back.terminate();
      nodes[0] = await start();
    });

    it(`${server.lossName} changes the epoch: a returning client is told recovered: false; pushes refused meanwhile are in no history`, async () => {
      const room = 'chat:restart';
      const { offset, epoch } = await pushRoom(nodes[0].api, room, ['kept']);
      await service.kill();
      const refused = await postJson(`${nodes[0].api}/push/room`, { room, items: ['refused while down'] });
      assert.equal(refused.status, 503);
      await server.restartEmpty(service);
      // Accepted again once the broker is back and both nodes have reported.
      let after: { offset: number; epoch: string } | null = null;
      await waitForAsync(
        async () => {
          const res = await postJson(`${nodes[0].api}/push/room`, { room, items: ['after'] });
          if (res.status === 200) after = { offset: res.body.offset, epoch: res.body.epoch };
          return res.status === 200;
        },
        20000,
        'pushes accepted again',
      );
      assert.ok(after !== null);
      const { offset: newOffset, epoch: newEpoch } = after as { offset: number; epoch: string };
      assert.notEqual(newEpoch, epoch, 'the stream lost with the server has a new epoch');
      assert.equal(newOffset, 1);
      const page = await (await fetch(`${nodes[0].api}/history?room=${room}`)).json();
      assert.deepEqual(
        page.items.map((entry: { item: unknown }) => entry.item),
        ['after'],
        'the push refused with 503 is not in history',
      );
      const client = await deployment.connect(0);
      const ack = await client.request('JOIN', { room, offset, epoch });
      assert.deepEqual(ack.data.stream, { offset: 1, epoch: newEpoch, recovered: false, replayed: 0 });
      client.terminate();
    });
  });
}
