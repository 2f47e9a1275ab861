import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NodeDelivery } from '../../src/push/node-delivery.js';
import { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';
import { type Deployment, pushRoom, recoversAfterAbsence, refusesWhatIsGone } from './recovery-scenario.js';

const HISTORY = ['chat:*=2000/300s', 'small:*=10/300s'];

describe('recovery after reconnect: a gateway alone (in-memory store)', () => {
  let node: RunningGateway;
  const deployment: Deployment = { connect: () => node.connect(), apiUrl: () => node.apiUrl };
  before(async () => {
    node = await startGateway({ history: HISTORY });
  });
  after(() => node?.close());

  it('replays the 1,000 items pushed during a 5 s absence, in order, none twice, then continues live', async () => {
    await recoversAfterAbsence(deployment, 'chat:alone');
  });

  it('answers recovered: false for an offset trimmed away, and for another epoch', async () => {
    const { epoch } = await pushRoom(
      node.apiUrl,
      'small:a',
      Array.from({ length: 30 }, (_, i) => i),
    );
    await refusesWhatIsGone(deployment, 'small:a', { offset: 5, epoch });
    await refusesWhatIsGone(deployment, 'small:a', { offset: 30, epoch: 'another-epoch' });
  });

  it('recovers nothing missed as recovered: true with an empty replay', async () => {
    const { offset, epoch } = await pushRoom(node.apiUrl, 'chat:none', ['x']);
    const client = await node.connect();
    const ack = await client.request('JOIN', { room: 'chat:none', offset, epoch });
    assert.deepEqual(ack.data.stream, { offset, epoch, recovered: true, replayed: 0 });
    client.terminate();
  });

  it('a recovered client of a quiet room that leaves, or closes, is not kept fenced waiting for a push', async () => {
    const { offset, epoch } = await pushRoom(node.apiUrl, 'chat:quiet', ['a', 'b']);
    const delivery = (node.gateway as unknown as { delivery: NodeDelivery }).delivery;
    const leaving = await node.connect();
    const closing = await node.connect();
    for (const client of [leaving, closing])
      assert.equal((await client.request('JOIN', { room: 'chat:quiet', offset: offset - 1, epoch })).data.stream.recovered, true);
    assert.equal(delivery.heldCount, 2, 'both fenced until a push past their replay comes');
    assert.equal((await leaving.request('LEAVE', { room: 'chat:quiet' })).type, 'ACK');
    assert.equal(delivery.heldCount, 1);
    closing.terminate();
    await waitFor(() => delivery.heldCount === 0, 5000, 'the closed connection unfenced');
    leaving.terminate();
  });

  it('refuses a JOIN with half a position, and a room without history ignores none of the rules', async () => {
    const client = await node.connect();
    const bad = await client.request('JOIN', { room: 'chat:x', offset: 3 });
    assert.equal(bad.type, 'ERROR');
    assert.equal(bad.data.code, 'BAD_REQUEST');
    const plain = await client.request('JOIN', { room: 'news' });
    assert.equal(plain.type, 'ACK');
    assert.equal(plain.data.stream, undefined, 'a room without history has no stream');
    client.terminate();
  });

  it('serves GET /history with offsets, since, limit and reverse, and answers its errors', async () => {
    await pushRoom(node.apiUrl, 'chat:api', [{ a: 1 }, 'b', [3]]);
    const page = await (await fetch(`${node.apiUrl}/history?room=chat:api&since=1&limit=5`)).json();
    assert.deepEqual(page.items, [
      { offset: 2, item: 'b' },
      { offset: 3, item: [3] },
    ]);
    assert.equal(page.top, 3);
    assert.equal(page.first, 1);
    const reversed = await (await fetch(`${node.apiUrl}/history?room=chat:api&reverse=true&limit=2`)).json();
    assert.deepEqual(
      reversed.items.map((entry: { offset: number }) => entry.offset),
      [3, 2],
    );
    const none = await fetch(`${node.apiUrl}/history?room=news`);
    assert.equal(none.status, 404);
    assert.equal((await none.json()).error.code, 'NO_HISTORY');
    const bad = await fetch(`${node.apiUrl}/history?room=chat:api&limit=0`);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, 'INVALID_BODY');
  });
});

describe('recovery after reconnect: two gateways on one in-process bus (one stream, any node)', () => {
  let a: RunningGateway;
  let b: RunningGateway;
  const deployment: Deployment = { connect: (n = 0) => (n === 0 ? a : b).connect(), apiUrl: (n = 0) => (n === 0 ? a : b).apiUrl };
  before(async () => {
    a = await startGateway({ history: HISTORY, broker: 'memory://recovery-bus' });
    b = await startGateway({ history: HISTORY, broker: 'memory://recovery-bus' });
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('a client that comes back on the other node recovers everything it missed', async () => {
    await recoversAfterAbsence(deployment, 'chat:moved', { missed: 500, awayMs: 1000, back: 1 });
  });
});

describe('recovery after reconnect: pushgate --workers 2 (the primary keeps the streams)', () => {
  let primary: Child;
  let ws = '';
  let api = '';
  after(() => primary?.stop(15000));
  before(async () => {
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--history', HISTORY.join(',')]);
    [, ws, api] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
  });

  it('replays the 1,000 items pushed during a 5 s absence whichever worker each connection lands on', async () => {
    const deployment: Deployment = { connect: () => TestClient.open(`ws://${ws}/connect`), apiUrl: () => `http://${api}` };
    await recoversAfterAbsence(deployment, 'chat:workers');
  });
});
