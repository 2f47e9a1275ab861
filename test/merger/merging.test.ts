import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postForm, type RunningGateway, startGateway } from '../helpers/gateway.js';

describe('merging', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ maxBatchItems: 5 });
  });
  after(() => gw.close());

  it('sends several pushes made in one turn as one frame holding every item, in order', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    await client.request('JOIN', { room: 'm' });
    const flushedBefore = gw.gateway.stats.batchesFlushed;
    gw.gateway.pushRoom('m', [1]);
    gw.gateway.pushRoom('m', [2, 3]);
    gw.gateway.pushRoom('m', [{ four: 4 }]);
    const frame = await client.next();
    assert.deepEqual(frame, { type: 'PUSH', data: { room: 'm', items: [1, 2, 3, { four: 4 }] } });
    assert.equal(gw.gateway.stats.batchesFlushed - flushedBefore, 1, 'encoded once');
  });

  it('encodes a batch once for all its recipients', async (t) => {
    const clients = await Promise.all([gw.connect(), gw.connect(), gw.connect()]);
    t.after(() => clients.forEach((c) => c.close()));
    for (const client of clients) await client.request('JOIN', { room: 'shared' });
    const before = { ...gw.gateway.stats };
    gw.gateway.pushRoom('shared', ['one', 'two']);
    for (const client of clients) assert.deepEqual((await client.next()).data, { room: 'shared', items: ['one', 'two'] });
    assert.equal(gw.gateway.stats.batchesFlushed - before.batchesFlushed, 1, 'one frame built');
    assert.equal(gw.gateway.stats.sendMessageTotal - before.sendMessageTotal, 3, 'written three times');
    assert.equal(gw.gateway.stats.itemsDelivered - before.itemsDelivered, 6);
  });

  it('merges pushes to all separately from room pushes', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    await client.request('JOIN', { room: 'n' });
    gw.gateway.pushAll(['a1']);
    gw.gateway.pushRoom('n', ['r1']);
    gw.gateway.pushAll(['a2']);
    const frames = [await client.next(), await client.next()];
    const roomFrame = frames.find((f) => f.data.room === 'n');
    const allFrame = frames.find((f) => f.data.room === undefined);
    assert.deepEqual(roomFrame?.data, { room: 'n', items: ['r1'] });
    assert.deepEqual(allFrame?.data, { items: ['a1', 'a2'] });
  });

  it('flushes a full batch at maxBatchItems and keeps the order across frames', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    await client.request('JOIN', { room: 'o' });
    const items = Array.from({ length: 12 }, (_, i) => i);
    gw.gateway.pushRoom('o', items.slice(0, 7));
    gw.gateway.pushRoom('o', items.slice(7));
    const frames = [await client.next(), await client.next(), await client.next()];
    assert.deepEqual(
      frames.map((f) => f.data.items.length),
      [5, 5, 2],
    );
    assert.deepEqual(
      frames.flatMap((f) => f.data.items),
      items,
    );
  });

  it('merges HTTP pushes that arrive together and keeps their order per room', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    await client.request('JOIN', { room: 'h' });
    const count = 40;
    // Sequential requests: each is accepted before the next is sent, so the push order is known.
    for (let i = 0; i < count; i++) {
      const res = await postForm(`${gw.apiUrl}/push/room`, { room: 'h', items: JSON.stringify([i]) });
      assert.equal(res.status, 200);
    }
    const received: number[] = [];
    while (received.length < count) received.push(...(await client.next()).data.items);
    assert.deepEqual(
      received,
      Array.from({ length: count }, (_, i) => i),
    );
  });
});

describe('merging with maxBatchDelay', () => {
  let gw: RunningGateway;
  before(async () => {
    // Long enough that the two turns below cannot outlast it even on a loaded machine (the exact delay is
    // checked on fake timers in merger.unit.test.ts).
    gw = await startGateway({ maxBatchDelay: 1000, maxBatchItems: 100 });
  });
  after(() => gw.close());

  it('waits up to maxBatchDelay to merge pushes made in different turns', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    await client.request('JOIN', { room: 'd' });
    const flushedBefore = gw.gateway.stats.batchesFlushed;
    gw.gateway.pushRoom('d', ['first']);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    // Two turns later the batch is still open (without a delay it would have gone at the end of the first).
    assert.equal(gw.gateway.stats.batchesFlushed, flushedBefore, 'the batch waits for the delay');
    gw.gateway.pushRoom('d', ['second']);
    const frame = await client.next(10_000);
    assert.deepEqual(frame.data.items, ['first', 'second']);
    assert.equal(gw.gateway.stats.batchesFlushed, flushedBefore + 1);
  });
});
