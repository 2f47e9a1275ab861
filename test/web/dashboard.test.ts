import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import type { TestClient } from '../helpers/client.js';
import { postJson, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

// Every wait in this file is bounded by this many milliseconds (reconnecting after a restart: twice).
const WAIT = 5000;
const ARTIFACTS = 'dist/test-artifacts';
const SCREENSHOT = `${ARTIFACTS}/dashboard.png`;
const CLUSTER_SCREENSHOT = `${ARTIFACTS}/dashboard-cluster.png`;
const REFUSED_SCREENSHOT = `${ARTIFACTS}/dashboard-refused.png`;
const STATS_ROOM = 'pushgate:stats';
const ROOM = 'dash-room';

/** Waits until `selector`'s `data-value` (a number the page shows) satisfies `op` against `expected`. */
async function waitForValue(page: Page, selector: string, op: '==' | '>' | '>=', expected: number, ms = WAIT): Promise<number> {
  const handle = await page.waitForFunction(([selector, op, expected]) => {
    const raw = document.querySelector(selector)?.getAttribute('data-value');
    if (raw === null || raw === undefined || raw === '') return null;
    const value = Number(raw);
    const ok = op === '==' ? value === expected : op === '>' ? value > expected : value >= expected;
    return ok ? value : null;
  }, [selector, op, expected] as const, { timeout: ms }).catch(async (error: Error) => {
    const now = await page.$eval(selector, (node) => node.getAttribute('data-value')).catch(() => '<missing>');
    throw new Error(`${selector} did not become ${op} ${expected} within ${ms} ms (it is ${now}): ${error.message}`);
  });
  return (await handle.jsonValue()) as number;
}

/** How many samples the chart holds: a fresh sample has arrived once it grows. */
function sampleCount(page: Page): Promise<number> {
  return page.$eval('#chart', (chart) => Number(chart.getAttribute('data-samples')));
}

async function waitForSamples(page: Page, count: number): Promise<void> {
  await page.waitForFunction((count) => Number(document.getElementById('chart')?.getAttribute('data-samples')) >= count, count, { timeout: WAIT });
}

/** Opens a page that records console errors and uncaught exceptions. */
async function openPage(browser: Browser, errors: string[], noise: { expected: RegExp | null }): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 800 } });
  page.setDefaultTimeout(WAIT);
  page.setDefaultNavigationTimeout(WAIT);
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // While a test stops the gateway on purpose, Chromium reports the refused reconnection attempts.
    if (noise.expected?.test(message.text())) return;
    errors.push(`console: ${message.text()}`);
  });
  return page;
}

/** Pushes batches to `room` every 100 ms until stopped; returns the stop function. */
function keepPushing(apiUrl: string, room: string, items = 10): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    let n = 0;
    while (running) {
      const res = await postJson(`${apiUrl}/push/room`, { room, items: Array.from({ length: items }, () => ({ n: n++ })) });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

// The tests below open the stream with --public-stats; without it (the default) the stats room needs
// the API key, as the last describe shows.
describe('the live dashboard in headless Chromium', () => {
  let gw: RunningGateway;
  let browser: Browser | undefined;
  let page: Page;
  let skip: string | undefined;
  const clients: TestClient[] = [];
  const errors: string[] = [];
  const noise: { expected: RegExp | null } = { expected: null };

  before(async () => {
    gw = await startGateway({ publicStats: true });
    const launched = await launchBrowser();
    if ('skip' in launched) {
      skip = launched.skip;
      return;
    }
    browser = launched.browser;
    page = await openPage(browser, errors, noise);
  });

  after(async () => {
    for (const client of clients) client.terminate();
    await browser?.close();
    await gw?.close();
  });

  it('is served at /dashboard and goes live on its own connection', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const response = await page.goto(`${gw.pageUrl}/dashboard`);
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()['content-security-policy'] ?? '', /connect-src ws: wss:/);
    assert.equal(await page.title(), 'pushgate dashboard');
    await page.waitForSelector('#state[data-state="open"]', { timeout: WAIT });
    // The dashboard's own connection is the one online connection, in one room (the stats room).
    await waitForValue(page, '#online', '==', 1);
    await waitForValue(page, '#rooms', '==', 1);
    assert.equal(gw.gateway.hub.members(STATS_ROOM)?.size, 1, 'the page joined the stats room');
    assert.equal(await page.$$eval('#nodes tbody tr', (rows) => rows.length), 1);
    assert.equal(await page.getAttribute('#nodes tbody tr', 'data-node'), gw.gateway.hub.nodeId);
    assert.equal(await page.textContent('#node-id'), gw.gateway.hub.nodeId);
    // A single process is an instance of its own: the instance line counts what GET /stats counts.
    await waitForValue(page, '#instance', '==', 1);
    assert.equal(await page.textContent('#instance'), `${gw.gateway.instanceId} · 1 process · 1 connection`);
    assert.match(await page.textContent('#scope') ?? '', /this node only/);
    assert.equal(await page.textContent('#broker'), 'none');
  });

  it('follows connections, rooms and deliveries live, without reloading', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    await page.evaluate(() => { (window as { __sameDocument?: boolean }).__sameDocument = true; });
    for (let i = 0; i < 3; i++) clients.push(await gw.connect());
    await waitForValue(page, '#online', '==', 4);
    assert.equal(await page.$eval('#nodes tbody tr td.online', (td) => td.getAttribute('data-value')), '4');

    for (const client of clients) assert.equal((await client.request('JOIN', { room: ROOM })).type, 'ACK');
    await waitForValue(page, '#rooms', '==', 2);

    // The stats push itself is one delivery per second to the page; pushes to 3 clients make far more.
    const stop = keepPushing(gw.apiUrl, ROOM);
    try {
      await waitForValue(page, '#deliveries-rate', '>', 20);
      await waitForValue(page, '#accepted-rate', '>', 5);
      await waitForValue(page, '#frames-rate', '>', 5);
      await waitForValue(page, '#nodes tbody tr td.deliveries', '>', 20);
    } finally {
      await stop();
    }
    assert.ok((await clients[0].nextOfType('PUSH')).data.items.length > 0, 'the clients got the pushes');
    assert.notEqual(await page.getAttribute('#chart .series-connections', 'd'), '', 'the chart draws connections');
    assert.match(await page.getAttribute('#chart .series-deliveries', 'd') ?? '', /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+/, 'the chart draws deliveries/s');
    assert.equal(await page.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument), true, 'no reload');
  });

  it('shows the connections and the room go when the clients close', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    for (const client of clients.splice(0)) {
      client.close();
      await client.waitClosed();
    }
    await waitForValue(page, '#online', '==', 1);
    await waitForValue(page, '#rooms', '==', 1);
    // With no more pushes, deliveries/s falls back to the stats stream's own (about 1 per second).
    await page.waitForFunction(() => Number(document.getElementById('deliveries-rate')?.getAttribute('data-value')) < 5, undefined, { timeout: WAIT });
    await waitForSamples(page, 8);
  });

  it('renders decently (screenshot for a human)', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true, timeout: WAIT });
    t.diagnostic(`screenshot: ${resolve(SCREENSHOT)}`);
    console.log(`dashboard screenshot: ${resolve(SCREENSHOT)}`);
  });

  it('shows server data as text and ignores malformed or foreign pushes', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    // The stats room can be pushed to through the API like any room: the page must hold up.
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const res = await postJson(`${gw.apiUrl}/push/room`, {
      room: STATS_ROOM,
      items: ['text', null, 42, { time: 'soon' }, { time: Date.now(), node: null }, { time: Date.now(), nodeId: hostile, worker: null, cluster: null, node: { onlineConnections: 77, roomCount: 'x' } }],
    });
    assert.equal(res.status, 200);
    const all = await postJson(`${gw.apiUrl}/push/all`, { items: [hostile, { time: 1, node: {} }] });
    assert.equal(all.status, 200);
    await page.waitForFunction((hostile) => document.querySelector('#nodes tbody tr')?.getAttribute('data-node') === hostile, hostile, { timeout: WAIT });
    assert.equal(await page.$('img'), null, 'no markup from server data');
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
    // The next real sample puts everything back.
    await page.waitForFunction((id) => document.querySelector('#nodes tbody tr')?.getAttribute('data-node') === id, gw.gateway.hub.nodeId, { timeout: WAIT });
    await waitForValue(page, '#online', '==', 1);
  });

  it('reconnects with backoff after a restart and treats the reset counters as 0, not negative', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const port = Number(new URL(gw.pageUrl).port);
    noise.expected = /WebSocket connection to .* failed/;
    try {
      await gw.close();
      await page.waitForSelector('#state[data-state="closed"]', { timeout: WAIT });
      assert.match(await page.textContent('#state') ?? '', /^closed 1001 .*retrying in \d+ s$/);
      gw = await startGateway({ port, publicStats: true });
      await page.waitForSelector('#state[data-state="open"]', { timeout: 2 * WAIT });
    } finally {
      noise.expected = null;
    }
    await page.waitForFunction((id) => document.getElementById('node-id')?.textContent === id, gw.gateway.hub.nodeId, { timeout: WAIT });
    await waitForValue(page, '#online', '==', 1);
    // Two samples from the new node: every rate is a number and none is negative.
    const count = await sampleCount(page);
    await waitForSamples(page, Math.min(count + 2, 300));
    for (const id of ['#accepted-rate', '#deliveries-rate', '#frames-rate']) {
      const raw = await page.getAttribute(id, 'data-value');
      assert.ok(raw !== null && raw !== '' && Number(raw) >= 0, `${id} = ${raw}`);
    }
    assert.doesNotMatch(await page.textContent('.tiles') ?? '', /-\d/, 'no negative numbers shown');
  });

  it('logged no page errors', (t) => {
    if (skip !== undefined) return t.skip(skip);
    assert.deepEqual(errors, []);
  });
});

describe('the dashboard of a two-node cluster', () => {
  let gwA: RunningGateway;
  let gwB: RunningGateway;
  let browser: Browser | undefined;
  let page: Page;
  let skip: string | undefined;
  let client: TestClient | undefined;
  const errors: string[] = [];

  before(async () => {
    gwA = await startGateway({ broker: 'memory://dash-test', presenceInterval: 0.2, publicStats: true });
    gwB = await startGateway({ broker: 'memory://dash-test', presenceInterval: 0.2 });
    const launched = await launchBrowser();
    if ('skip' in launched) {
      skip = launched.skip;
      return;
    }
    browser = launched.browser;
    page = await openPage(browser, errors, { expected: null });
  });

  after(async () => {
    client?.terminate();
    await browser?.close();
    await gwA?.close();
    await gwB?.close();
  });

  it('lists both nodes and counts a client of the other node in the cluster total', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    await page.goto(`${gwA.pageUrl}/dashboard`);
    await page.waitForSelector('#state[data-state="open"]', { timeout: WAIT });
    await page.waitForFunction(() => document.querySelectorAll('#nodes tbody tr').length === 2, undefined, { timeout: WAIT });
    const shown = await page.$$eval('#nodes tbody tr', (rows) => rows.map((row) => row.getAttribute('data-node')).sort());
    assert.deepEqual(shown, [gwA.gateway.hub.nodeId, gwB.gateway.hub.nodeId].sort());
    assert.match(await page.textContent('#scope') ?? '', /cluster of 2 nodes/);
    assert.match(await page.textContent('#staleness') ?? '', /counts up to \d+ ms old/);
    const staleness = Number(await page.getAttribute('#staleness', 'data-value'));
    assert.ok(staleness >= 0 && staleness <= 600, `staleness ${staleness} ms (3 presence intervals at most)`);
    assert.equal(await page.textContent(`#nodes tbody tr[data-node="${gwA.gateway.hub.nodeId}"] .tag`), 'this node');
    // Two single processes: two instances, each node its own.
    assert.equal(await page.textContent(`#nodes tbody tr[data-node="${gwB.gateway.hub.nodeId}"] td.instance`), gwB.gateway.instanceId);
    await waitForValue(page, '#online', '==', 1);

    client = await gwB.connect();
    const rowB = `#nodes tbody tr[data-node="${gwB.gateway.hub.nodeId}"]`;
    await waitForValue(page, `${rowB} td.online`, '==', 1);
    await waitForValue(page, '#online', '==', 2);
    await waitForValue(page, '#nodes-total td.online', '==', 2);
    assert.equal(await page.getAttribute(`#nodes tbody tr[data-node="${gwA.gateway.hub.nodeId}"] td.online`, 'data-value'), '1');

    // Rooms are counted over the cluster, and the other node's deliveries come from its presence reports.
    assert.equal((await client.request('JOIN', { room: ROOM })).type, 'ACK');
    await waitForValue(page, '#rooms', '==', 2);
    const stop = keepPushing(gwA.apiUrl, ROOM);
    try {
      await waitForValue(page, `${rowB} td.deliveries`, '>', 20);
      await waitForValue(page, '#deliveries-rate', '>', 20);
    } finally {
      await stop();
    }
  });

  it('renders the cluster (screenshot) and drops the client from the total when it leaves', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: CLUSTER_SCREENSHOT, fullPage: true, timeout: WAIT });
    t.diagnostic(`screenshot: ${resolve(CLUSTER_SCREENSHOT)}`);
    client!.close();
    await client!.waitClosed();
    await waitFor(() => gwB.gateway.hub.size === 0, WAIT, 'node B to drop its client');
    await waitForValue(page, '#online', '==', 1);
    await waitForValue(page, '#rooms', '==', 1);
    assert.deepEqual(errors, []);
  });
});

describe('the dashboard when the gateway refuses its stream', () => {
  const KEY = 'dashboard-api-key';
  let keyed: RunningGateway;
  let closed: RunningGateway;
  let browser: Browser | undefined;
  let skip: string | undefined;
  const errors: string[] = [];

  before(async () => {
    keyed = await startGateway({ apiKey: KEY });
    closed = await startGateway();
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
  });

  after(async () => {
    await browser?.close();
    await keyed?.close();
    await closed?.close();
  });

  it('says the key is needed, takes it from the user, then goes live', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const page = await openPage(browser, errors, { expected: null });
    await page.goto(`${keyed.pageUrl}/dashboard`);
    await page.waitForSelector('#access:not([hidden])', { timeout: WAIT });
    assert.equal(await page.getAttribute('#state', 'data-state'), 'denied');
    assert.match(await page.textContent('#access-message') ?? '', /pushgate:stats is reserved: send the API key/);
    assert.match(await page.textContent('#access') ?? '', /--public-stats/);
    assert.equal(keyed.gateway.hub.members(STATS_ROOM), undefined);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: REFUSED_SCREENSHOT, timeout: WAIT });
    t.diagnostic(`screenshot: ${resolve(REFUSED_SCREENSHOT)}`);

    await page.fill('#access-key', 'not-the-key');
    await page.click('#access-submit');
    await page.waitForSelector('#state[data-state="denied"]:text("the key was refused")', { timeout: WAIT });
    assert.equal(await page.isVisible('#access'), true);

    await page.fill('#access-key', KEY);
    await page.click('#access-submit');
    await page.waitForSelector('#access', { state: 'hidden', timeout: WAIT });
    await page.waitForSelector('#state[data-state="open"]', { timeout: WAIT });
    await waitFor(() => keyed.gateway.hub.members(STATS_ROOM)?.size === 1, WAIT, 'the page to join the stats room');
    await waitForValue(page, '#online', '==', 1);
    assert.equal(await page.inputValue('#access-key'), '', 'the key is not left in the field');
    assert.ok(!page.url().includes(KEY), 'nor put in the URL');
    await page.close();
  });

  it('goes live at once when opened as /dashboard#key=<API key>', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const page = await openPage(browser, errors, { expected: null });
    await page.goto(`${keyed.pageUrl}/dashboard#key=${KEY}`);
    await waitForValue(page, '#online', '>=', 1);
    assert.equal(await page.isHidden('#access'), true);
    await page.close();
  });

  it('explains how to open a closed stream (no key, no --public-stats)', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const page = await openPage(browser, errors, { expected: null });
    await page.goto(`${closed.pageUrl}/dashboard`);
    await page.waitForSelector('#access:not([hidden])', { timeout: WAIT });
    assert.match(await page.textContent('#access-message') ?? '', /closed: start the gateway with --public-stats, or set --api-key/);
    assert.equal(await page.getAttribute('#state', 'data-state'), 'denied');
    assert.equal(await page.$$eval('#nodes tbody tr', (rows) => rows.length), 0, 'no data shown');
    await page.close();
    assert.deepEqual(errors, []);
  });
});
