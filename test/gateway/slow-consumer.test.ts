import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

describe('a slow consumer in the gateway', () => {
  let gw: RunningGateway;
  const maxQueueBytes = 128 * 1024;
  before(async () => {
    gw = await startGateway({ maxQueueBytes, maxBatchItems: 10 });
  });
  after(() => gw.close());

  it('is disconnected with 1013 and counted, its queue bounded, while a fast client gets everything', async (t) => {
    const slow = await gw.connect();
    const fast = await gw.connect();
    t.after(() => {
      slow.close();
      fast.close();
    });
    const slowId = await slow.connId();
    await slow.request('JOIN', { room: 'firehose' });
    await fast.request('JOIN', { room: 'firehose' });
    const serverSide = gw.gateway.hub.get(slowId);
    assert.ok(serverSide);
    // The slow client stops reading; its kernel buffers fill, then its queue in the gateway.
    slow.pauseReading();

    const item = (n: number): string => `${String(n).padStart(8, '0')}${'x'.repeat(8 * 1024)}`;
    const frameBytes = 10 * (item(0).length + 3) + 64;
    let pushed = 0;
    let maxQueued = 0;
    const statsBefore = { ...gw.gateway.stats };
    // Bounded: at most 4000 items (32 MB) — far more than loopback buffers hold.
    while (serverSide.isOpen && pushed < 4000) {
      gw.gateway.pushRoom(
        'firehose',
        Array.from({ length: 10 }, (_, i) => item(pushed + i)),
      );
      pushed += 10;
      // Let the merger and dispatcher run, and the fast client read.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      maxQueued = Math.max(maxQueued, serverSide.queuedBytes);
    }
    assert.equal(serverSide.isOpen, false, `still open after ${pushed} items`);
    assert.ok(maxQueued <= maxQueueBytes + frameBytes, `queue peaked at ${maxQueued} bytes`);
    assert.equal(gw.gateway.stats.slowConsumerDisconnects, statsBefore.slowConsumerDisconnects + 1);
    await waitFor(() => gw.gateway.hub.members('firehose')?.size === 1, 3000, 'the slow client to leave the room');

    // The fast client received every item, in order; what the slow one missed was counted, not lost silently.
    const received: string[] = [];
    while (received.length < pushed) received.push(...(await fast.nextOfType('PUSH', 10000)).data.items);
    assert.equal(received.length, pushed);
    assert.ok(
      received.every((text, i) => text.startsWith(String(i).padStart(8, '0'))),
      'in push order',
    );
    assert.ok(gw.gateway.stats.itemsDropped > statsBefore.itemsDropped, 'dropped items are counted');
    assert.ok(gw.gateway.stats.sendMessageFail > statsBefore.sendMessageFail, 'failed frames are counted');

    slow.resumeReading();
    assert.equal((await slow.waitClosed(10000)).code, 1013);
  });
});
