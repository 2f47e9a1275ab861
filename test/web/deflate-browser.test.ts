import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { WireTap } from '../helpers/wire-tap.js';

// Chromium always offers permessage-deflate (with client_max_window_bits): with --per-message-deflate
// it gets PUSH frames compressed once for every such client, and must read them as any other.
describe('permessage-deflate in headless Chromium', () => {
  let browser: Browser | null = null;
  let skip: string | null = null;
  let gw: RunningGateway;
  let tap: WireTap;
  before(async () => {
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
    gw = await startGateway({ perMessageDeflate: true, allowedOrigins: ['*'] });
    tap = await WireTap.relay(Number(new URL(gw.wsUrl()).port));
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    await tap?.close();
  });

  it('negotiates it, receives compressed PUSH frames and parses their items', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // Any page of the gateway's port, through the tap: the WebSocket below goes through it too.
    await page.goto(`http://127.0.0.1:${tap.port}/`);
    const extensions = await page.evaluate(
      (url) =>
        new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(url);
          (window as unknown as { received: unknown[]; ws: WebSocket }).received = [];
          (window as unknown as { ws: WebSocket }).ws = ws;
          ws.onerror = () => reject(new Error('WebSocket error'));
          ws.onmessage = (event) => {
            const frame = JSON.parse(event.data as string);
            if (frame.type === 'ACK') resolve(ws.extensions);
            if (frame.type === 'PUSH') (window as unknown as { received: unknown[] }).received.push(...frame.data.items);
          };
          ws.onopen = () => ws.send(JSON.stringify({ type: 'JOIN', id: 1, data: { room: 'browser' } }));
        }),
      `ws://127.0.0.1:${tap.port}/connect`,
    );
    assert.match(extensions, /permessage-deflate/);
    assert.match(extensions, /server_no_context_takeover/);
    const wire = tap.connections.find((connection) => / 101 /.test(connection.response));
    assert.ok(wire !== undefined, 'the WebSocket went through the tap');
    const batches = [0, 1, 2].map((batch) =>
      Array.from({ length: 8 }, (_, i) => ({ batch, i, text: `item ${i} of batch ${batch}: some text a browser app would receive`, at: 1700000000000 + i })),
    );
    for (const items of batches) {
      // A busy machine (the browser, other tests) may have the latency budget refuse a push: retry those.
      let res = await postJson(`${gw.apiUrl}/push/room`, { room: 'browser', items });
      for (let retry = 0; res.status === 503 && retry < 20; retry++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        res = await postJson(`${gw.apiUrl}/push/room`, { room: 'browser', items });
      }
      assert.equal(res.body.recipients, 1, `push answered ${res.status} ${JSON.stringify(res.body)}`);
      // One batch at a time, so that each is its own frame.
      await page.waitForFunction((n) => (window as unknown as { received: unknown[] }).received.length >= n, (batches.indexOf(items) + 1) * 8, {
        timeout: 5000,
      });
    }
    const received = await page.evaluate(() => (window as unknown as { received: unknown[] }).received);
    assert.deepEqual(received, batches.flat());
    await waitFor(() => wire.frames.filter((frame) => frame.rsv1).length >= 3, 2000, 'the compressed frames on the wire');
    // What Chromium does with its own messages under client_no_context_takeover (the server inflates either).
    t.diagnostic(`Chromium's JOIN went ${wire.clientFrames[0]?.rsv1 ? 'compressed' : 'uncompressed'}`);
    assert.deepEqual(errors, []);
  });
});
