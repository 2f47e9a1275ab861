import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/codes.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';

describe('overload: delivery behind the latency budget', () => {
  let gw: RunningGateway;
  before(async () => {
    // A queue bound far above what this test writes: the client is refused pushes, never cut as slow.
    gw = await startGateway({ maxQueueBytes: 512 * 1024 * 1024, maxLatency: 100 });
  });
  after(() => gw.close());

  it('answers 503 OVERLOADED with Retry-After, counts it, and delivers every push it answered 200', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    await client.request('JOIN', { room: 'firehose' });
    // The client stops reading: its socket buffers fill, then every write finds its socket still full.
    client.pauseReading();
    const item = (n: number): string => `${n}:${'x'.repeat(64 * 1024)}`;
    let accepted = 0;
    let refusal: Awaited<ReturnType<typeof postJson>> | null = null;
    // Bounded: at most 2000 pushes of 64 KiB (128 MB), far more than loopback buffers hold.
    for (let n = 0; n < 2000 && refusal === null; n++) {
      const res = await postJson(`${gw.apiUrl}/push/room`, { room: 'firehose', items: [item(n)] });
      if (res.status === 200) accepted += 1;
      else refusal = res;
    }
    assert.ok(refusal !== null, `refused within 2000 pushes (${accepted} accepted)`);
    assert.equal(refusal.status, 503);
    assert.equal(refusal.body.error.code, ErrorCode.OVERLOADED);
    assert.match(refusal.body.error.message, /latency budget 100 ms/);
    assert.equal(refusal.headers.get('retry-after'), '1');
    const stats = (await (await fetch(`${gw.apiUrl}/stats`)).json()) as Record<string, number>;
    assert.ok(stats.pushesOverloaded >= 1);
    for (const gauge of ['writePassMs', 'deliveryLagMs']) assert.equal(typeof stats[gauge], 'number', gauge);
    const metrics = await (await fetch(`${gw.apiUrl}/metrics`)).text();
    assert.match(metrics, /pushgate_pushes_overloaded_total\{node="[0-9a-f]+"\} [1-9]/);
    assert.match(metrics, /pushgate_delivery_lag_ms/);
    // Nothing accepted is lost: once the client reads again, every accepted item arrives, in order.
    client.resumeReading();
    const received: string[] = [];
    // Each frame within 10 s (bounded), until all of them came.
    while (received.length < accepted) {
      const frame = await client.next(10000);
      for (const text of frame.data.items as string[]) received.push(text.slice(0, text.indexOf(':')));
    }
    assert.deepEqual(
      received,
      Array.from({ length: accepted }, (_, n) => String(n)),
    );
    assert.equal(gw.gateway.stats.slowConsumerDisconnects, 0);
  });
});
