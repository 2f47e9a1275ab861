import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { Backend, type BackendRequest, type BackendRoute } from '../helpers/backend.js';
import { checkedScreenshot, launchBrowser } from '../helpers/browser.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

// The console's RPC and Publish boxes and its CONNECTED display, against a real gateway whose hooks
// post to a real node:http backend (127.0.0.1, port 0). Every wait is bounded by WAIT milliseconds.
const WAIT = 5000;
const ROOM = 'console-hooks';
// Screenshots for a human, under dist/ (ignored by git): dist/test-artifacts/console-hooks-*.png.
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/**
 * The backend's hook routes:
 * - `/connect`: accepts as user `alice`, joins `lobby`, data `{"plan":"pro"}`;
 * - `/rpc`: method `sum` → `{"result":{"sum":a+b}}`; method `fail` → the backend's own error `OUT_OF_STOCK`;
 *   any other → `{"result":null}`;
 * - `/publish`: `{}` (published as is).
 */
const routes: Record<string, BackendRoute> = {
  '/connect': () => ({ body: { user: 'alice', rooms: ['lobby'], data: { plan: 'pro' } } }),
  '/publish': () => ({ body: {} }),
  '/rpc': (body) => {
    if (body?.method === 'sum') return { body: { result: { sum: body.data.a + body.data.b } } };
    if (body?.method === 'fail') return { body: { error: { code: 'OUT_OF_STOCK', message: 'nothing left' } } };
    return { body: { result: null } };
  },
};

/** Waits for the result box `id` to leave `pending` and returns its status and text. */
async function resultOf(page: Page, id: string): Promise<{ status: string; text: string }> {
  const handle = await page.waitForFunction(
    (id) => {
      const node = document.getElementById(id);
      const status = node?.dataset.status;
      return status && status !== 'pending' ? { status, text: node?.textContent ?? '' } : null;
    },
    id,
    { timeout: WAIT },
  );
  return (await handle.jsonValue()) as { status: string; text: string };
}

describe('the demo console with backend hooks (RPC, publish, CONNECTED) in headless Chromium', () => {
  let browser: Browser | undefined;
  let skip: string | undefined;
  let backend: Backend;

  before(async () => {
    backend = await Backend.start(routes);
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
  });

  after(async () => {
    await browser?.close();
    await backend?.close();
  });

  /** A gateway with the backend's hooks, for test `t` (closed after it). */
  async function gateway(t: TestContext, connectHook = false): Promise<RunningGateway> {
    const gw = await startGateway({
      rpcHook: `${backend.url}/rpc`,
      publishHook: `${backend.url}/publish`,
      ...(connectHook ? { connectHook: `${backend.url}/connect` } : {}),
    });
    t.after(() => gw.close());
    return gw;
  }

  /** Opens the console of `gw`, connects, and waits for the connection id; records page errors. */
  async function openConsole(t: TestContext, gw: RunningGateway): Promise<{ page: Page; connId: string; pageErrors: string[] }> {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    t.after(() => page.close());
    page.setDefaultTimeout(WAIT);
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.goto(`${gw.pageUrl}/`);
    await page.click('#connect');
    await page.waitForSelector('#status[data-state="open"]', { timeout: WAIT });
    const handle = await page.waitForFunction(
      () => /^[0-9a-f]{8}-[0-9a-z]+$/.test(document.getElementById('conn-id')?.textContent ?? '') && document.getElementById('conn-id')?.textContent,
      undefined,
      {
        timeout: WAIT,
      },
    );
    return { page, connId: (await handle.jsonValue()) as string, pageErrors };
  }

  it("sends an RPC from the RPC box and shows the backend's result, then a backend error with its code", async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, connId, pageErrors } = await openConsole(t, gw);
    const rpcCalls = (): BackendRequest[] => backend.on('/rpc').filter((call) => call.body?.conn === connId);

    await page.fill('#rpc-method', 'sum');
    await page.fill('#rpc-data', '{"a":2,"b":3}');
    await page.click('#rpc-send');
    assert.deepEqual(await resultOf(page, 'rpc-result'), { status: 'ok', text: 'result: {"sum":5}' });
    assert.equal(rpcCalls().length, 1);
    assert.equal(rpcCalls()[0]!.body.method, 'sum');
    assert.deepEqual(rpcCalls()[0]!.body.data, { a: 2, b: 3 }, 'the data field went to the backend as JSON');
    await page.waitForSelector('#log .entry[data-dir="in"][data-type="REPLY"]', { timeout: WAIT });

    await page.fill('#rpc-method', 'fail');
    await page.click('#rpc-send');
    const failed = await resultOf(page, 'rpc-result');
    assert.equal(failed.status, 'error');
    assert.match(failed.text, /^ERROR BACKEND_ERROR: .*nothing left.*\(backend code OUT_OF_STOCK\)$/);
    assert.equal(await page.getAttribute('#status', 'data-state'), 'open', 'the connection is kept');
    assert.deepEqual(pageErrors, []);
  });

  it('refuses bad JSON in the data fields with a clear message, sending nothing', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, connId, pageErrors } = await openConsole(t, gw);
    const sent = (): number => backend.requests.filter((call) => call.body?.conn === connId).length;

    await page.fill('#rpc-method', 'sum');
    await page.fill('#rpc-data', '{"a": 2,');
    await page.click('#rpc-send');
    const rpc = await resultOf(page, 'rpc-result');
    assert.equal(rpc.status, 'invalid');
    assert.match(rpc.text, /^data is not valid JSON: /);

    await page.fill('#publish-room', ROOM);
    await page.fill('#publish-data', "{'single': 'quotes'}");
    await page.click('#publish-send');
    const published = await resultOf(page, 'publish-result');
    assert.equal(published.status, 'invalid');
    assert.match(published.text, /^data is not valid JSON: /);
    await page.fill('#publish-data', '');
    await page.click('#publish-send');
    await page.waitForFunction(() => /^data is required/.test(document.getElementById('publish-result')?.textContent ?? ''), undefined, { timeout: WAIT });

    // The log shows every frame the SDK sends as it sends it (synchronously): none went out.
    assert.equal(
      await page.$$eval('#log .entry[data-dir="out"][data-type="RPC"], #log .entry[data-dir="out"][data-type="PUBLISH"]', (entries) => entries.length),
      0,
    );
    assert.equal(sent(), 0, 'the backend was not called');
    assert.deepEqual(pageErrors, [], 'no exception thrown');
  });

  it('publishes from the Publish box: shows the ACK, and the item comes back as a PUSH to the room', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, connId, pageErrors } = await openConsole(t, gw);
    await page.fill('#room', ROOM);
    await page.click('#join');
    await page.waitForSelector(`#rooms li[data-room="${ROOM}"]:not(.pending)`, { timeout: WAIT });

    const marker = 'published-marker';
    await page.fill('#publish-room', ROOM);
    await page.fill('#publish-data', JSON.stringify({ msg: marker }));
    await page.click('#publish-send');
    assert.deepEqual(await resultOf(page, 'publish-result'), { status: 'ok', text: `ACK: published to "${ROOM}"` });
    const hooked = backend.on('/publish').filter((call) => call.body?.conn === connId);
    assert.equal(hooked.length, 1);
    assert.equal(hooked[0]!.body.room, ROOM);
    assert.deepEqual(hooked[0]!.body.data, { msg: marker });
    const push = await page.waitForFunction(
      (marker) =>
        Array.from(document.querySelectorAll('#log .entry[data-dir="in"][data-type="PUSH"]'))
          .map((entry) => entry.textContent ?? '')
          .find((text) => text.includes(marker)),
      marker,
      { timeout: WAIT },
    );
    assert.ok(((await push.jsonValue()) as string).includes(`room ${ROOM} · 1 item`));
    // The RPC box's answer beside it, for the screenshot.
    await page.fill('#rpc-method', 'sum');
    await page.fill('#rpc-data', '{"a":1,"b":1}');
    await page.click('#rpc-send');
    assert.equal((await resultOf(page, 'rpc-result')).text, 'result: {"sum":2}');
    t.diagnostic(`screenshot: ${await checkedScreenshot(page, `${ARTIFACTS}console-hooks-answers.png`)}`);
    assert.deepEqual(pageErrors, []);
  });

  it("shows the CONNECTED frame's user, hook rooms and data (connect hook)", async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t, true);
    const { page, connId, pageErrors } = await openConsole(t, gw);
    await page.waitForFunction(() => (document.getElementById('connect-data')?.textContent ?? '') !== '', undefined, { timeout: WAIT });
    assert.equal(await page.textContent('#connect-data'), '{"plan":"pro"}');
    assert.equal(await page.textContent('#conn-user'), 'alice');
    assert.equal(await page.textContent('#connect-rooms'), 'lobby');
    assert.ok(await page.isVisible('#log .entry[data-dir="in"][data-type="CONNECTED"]'));
    assert.deepEqual(
      await page.$$eval('#rooms li', (items) => items.length),
      0,
      'the hook rooms are not listed as rooms the console joined (it does not rejoin them)',
    );
    await waitFor(() => gw.gateway.hub.members('lobby')?.size === 1, WAIT, 'the connect hook to have joined lobby');
    assert.ok(gw.gateway.hub.get(connId));
    assert.deepEqual(pageErrors, []);
  });
});
