import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { Backend } from '../helpers/backend.js';
import { checkedScreenshot, launchBrowser } from '../helpers/browser.js';
import type { TestClient } from '../helpers/client.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { PUSHER_APP, PUSHER_APP_SPEC } from '../helpers/pusher.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

// Every wait in this file is bounded by this many milliseconds (reconnecting after a restart: twice).
const WAIT = 5000;
const ARTIFACTS = 'dist/test-artifacts';
const SCREENSHOT = `${ARTIFACTS}/dashboard.png`;
const CLUSTER_SCREENSHOT = `${ARTIFACTS}/dashboard-cluster.png`;
const REFUSED_SCREENSHOT = `${ARTIFACTS}/dashboard-refused.png`;
const PUSHER_SCREENSHOT = `${ARTIFACTS}/dashboard-pusher.png`;
const STATS_ROOM = 'pushgate:stats';
const ROOM = 'dash-room';

/** Waits until `selector`'s `data-value` (a number the page shows) satisfies `op` against `expected`. */
async function waitForValue(page: Page, selector: string, op: '==' | '>' | '>=', expected: number, ms = WAIT): Promise<number> {
  const handle = await page
    .waitForFunction(
      ([selector, op, expected]) => {
        const raw = document.querySelector(selector)?.getAttribute('data-value');
        if (raw === null || raw === undefined || raw === '') return null;
        const value = Number(raw);
        const ok = op === '==' ? value === expected : op === '>' ? value > expected : value >= expected;
        // An object, not the number: waitForFunction waits for a truthy result, and 0 is not.
        return ok ? { value } : null;
      },
      [selector, op, expected] as const,
      { timeout: ms },
    )
    .catch(async (error: Error) => {
      const now = await page.$eval(selector, (node) => node.getAttribute('data-value')).catch(() => '<missing>');
      throw new Error(`${selector} did not become ${op} ${expected} within ${ms} ms (it is ${now}): ${error.message}`);
    });
  return ((await handle.jsonValue()) as { value: number }).value;
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

/** A raw Pusher client of `gw` (protocol 7), open once it got `pusher:connection_established`; terminated after test `t`. */
async function pusherClient(t: TestContext, gw: RunningGateway): Promise<WebSocket> {
  const ws = new WebSocket(gw.wsUrl(`/app/${PUSHER_APP.key}?protocol=7&client=js&version=8.4.0`));
  t.after(() => ws.terminate());
  const first = await withTimeout(
    new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.once('error', reject);
    }),
    WAIT,
    'pusher:connection_established',
  );
  assert.equal(JSON.parse(first).event, 'pusher:connection_established');
  return ws;
}

/** A page of one test: it records its own console errors and uncaught exceptions. */
interface TestPage {
  page: Page;
  errors: string[];
  /** Console errors expected meanwhile (refused reconnections while a test stops the gateway). */
  noise: { expected: RegExp | null };
}

/** Opens a page for test `t`, closed after it. */
async function newTestPage(t: TestContext, browser: Browser): Promise<TestPage> {
  const errors: string[] = [];
  const noise: { expected: RegExp | null } = { expected: null };
  const page = await openPage(browser, errors, noise);
  t.after(() => page.close());
  return { page, errors, noise };
}

/** Opens /dashboard of `gw` on a page of its own and waits until it is live, showing `online` connections. */
async function openDashboard(t: TestContext, browser: Browser, gw: RunningGateway, online = 1): Promise<TestPage> {
  const opened = await newTestPage(t, browser);
  await opened.page.goto(`${gw.pageUrl}/dashboard`);
  await opened.page.waitForSelector('#state[data-state="open"]', { timeout: WAIT });
  await waitForValue(opened.page, '#online', '==', online);
  return opened;
}

/** `count` clients of `gw` in `room`, terminated after test `t`. */
async function clientsIn(t: TestContext, gw: RunningGateway, room: string, count: number): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  t.after(() => clients.forEach((client) => client.terminate()));
  for (let i = 0; i < count; i++) {
    const client = await gw.connect();
    clients.push(client);
    assert.equal((await client.request('JOIN', { room })).type, 'ACK');
  }
  return clients;
}

// The tests below open the stream with --public-stats; without it (the default) the stats room needs
// the API key, as the last describe shows. Each test has a gateway and a page of its own.
describe('the live dashboard in headless Chromium', () => {
  let browser: Browser | undefined;
  let skip: string | undefined;

  before(async () => {
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
  });

  after(async () => {
    await browser?.close();
  });

  /** A gateway of test `t` (public stats), closed after it. */
  async function gateway(t: TestContext): Promise<RunningGateway> {
    const gw = await startGateway({ publicStats: true });
    t.after(() => gw.close());
    return gw;
  }

  it('is served at /dashboard and goes live on its own connection', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, errors } = await newTestPage(t, browser);
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
    assert.match((await page.textContent('#scope')) ?? '', /this node only/);
    assert.equal(await page.textContent('#broker'), 'none');
    assert.match((await page.textContent('#pace')) ?? '', /^window \d+ ms · pass \d+ ms · lag \d+ ms · 0 refused \(overloaded\)$/);
    assert.equal(await page.textContent('#hooks'), 'none configured');
    assert.deepEqual(errors, []);
  });

  it('shows go-push in the protocol table and hides the Pusher row without a Pusher app', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, errors } = await openDashboard(t, browser, gw);
    await clientsIn(t, gw, ROOM, 1);
    // The page's own connection and the client: both go-push.
    await waitForValue(page, '#proto-go-push td.open', '==', 2);
    await waitForValue(page, '#proto-go-push td.accepted', '==', 2);
    assert.equal(await page.textContent('#proto-go-push td.signins'), '—', 'go-push has no signin');
    assert.equal(await page.isHidden('#proto-pusher'), true, 'no Pusher row');
    assert.equal(await page.isHidden('#webhooks'), true, 'no webhooks line');
    assert.equal(await page.isHidden('#pusher-api'), true, 'no Pusher API line');
    assert.deepEqual(errors, []);
  });

  it('shows an open Pusher connection in the Pusher row, apart from go-push, and the webhooks line', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await startGateway({ publicStats: true, pusherApps: [PUSHER_APP_SPEC] });
    t.after(() => gw.close());
    const { page, errors } = await openDashboard(t, browser, gw);
    const pusher = await pusherClient(t, gw);
    await page.waitForSelector('#proto-pusher', { state: 'visible', timeout: WAIT });
    await waitForValue(page, '#proto-pusher td.accepted', '==', 1);
    await waitForValue(page, '#proto-go-push td.accepted', '==', 1);
    assert.equal(await page.isVisible('#webhooks'), true, 'the webhooks line is shown');
    assert.match((await page.textContent('#webhooks')) ?? '', /^Webhooks\s*0 queued · 0 events · 0 delivered · 0 posted · 0 retries · 0 failures · 0 dropped$/);
    assert.match((await page.textContent('#pusher-api')) ?? '', /^Pusher HTTP API\s*\d+ requests · \d+ refused/);
    // Open now: needs pusherOpen, counted by the Pusher handler when a connection opens and closes.
    await waitForValue(page, '#online', '==', 2);
    await waitForValue(page, '#proto-pusher td.open', '==', 1);
    await waitForValue(page, '#proto-go-push td.open', '==', 1);
    t.diagnostic(`screenshot: ${await checkedScreenshot(page, PUSHER_SCREENSHOT)}`);
    pusher.close();
    await waitForValue(page, '#online', '==', 1);
    await waitForValue(page, '#proto-pusher td.open', '==', 0);
    assert.equal(await page.isVisible('#proto-pusher'), true, 'the row stays: the connection is still counted as accepted');
    assert.deepEqual(errors, []);
  });

  it("shows each hook's calls, failures and latency, and a breaker that opened", async (t) => {
    if (browser === undefined) return t.skip(skip);
    const backend = await Backend.start({ '/rpc': (body) => (body.method === 'down' ? { status: 500 } : { body: { result: 1 } }) });
    t.after(() => backend.close());
    const gw = await startGateway({ publicStats: true, rpcHook: `${backend.url}/rpc`, hookBreakerFailures: 2, hookBreakerCooldown: 60000 });
    t.after(() => gw.close());
    const client = await gw.connect();
    t.after(() => client.close());
    assert.equal((await client.request('RPC', { method: 'up' })).type, 'REPLY');
    const { page, errors } = await newTestPage(t, browser);
    await page.goto(`${gw.pageUrl}/dashboard`);
    await page.waitForFunction(() => /^rpc 1 calls, [\d.]+ ms$/.test(document.querySelector('#hooks')?.textContent ?? ''), undefined, { timeout: WAIT });
    for (let i = 0; i < 2; i++) assert.equal((await client.request('RPC', { method: 'down' })).data.code, 'UNAVAILABLE');
    await page.waitForFunction(
      () => /^rpc 3 calls, 2 failed, [\d.]+ ms · rpc breaker open$/.test(document.querySelector('#hooks')?.textContent ?? ''),
      undefined,
      { timeout: WAIT },
    );
    assert.equal(await page.getAttribute('#hooks', 'class'), 'warn');
    assert.deepEqual(errors, []);
  });

  it('follows connections, rooms and deliveries live, without reloading', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, errors } = await openDashboard(t, browser, gw);
    await page.evaluate(() => {
      (window as { __sameDocument?: boolean }).__sameDocument = true;
    });
    const clients = await clientsIn(t, gw, ROOM, 3);
    await waitForValue(page, '#online', '==', 4);
    assert.equal(await page.$eval('#nodes tbody tr td.online', (td) => td.getAttribute('data-value')), '4');
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
    assert.ok((await clients[0]!.nextOfType('PUSH')).data.items.length > 0, 'the clients got the pushes');
    assert.notEqual(await page.getAttribute('#chart .series-connections', 'd'), '', 'the chart draws connections');
    assert.match((await page.getAttribute('#chart .series-deliveries', 'd')) ?? '', /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+/, 'the chart draws deliveries/s');
    assert.equal(await page.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument), true, 'no reload');
    assert.deepEqual(errors, []);
  });

  it('shows the connections and the room go when the clients close, and the rates fall back', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, errors } = await openDashboard(t, browser, gw);
    const clients = await clientsIn(t, gw, ROOM, 3);
    await waitForValue(page, '#online', '==', 4);
    const stop = keepPushing(gw.apiUrl, ROOM);
    try {
      await waitForValue(page, '#deliveries-rate', '>', 20);
    } finally {
      await stop();
    }
    for (const client of clients) {
      client.close();
      await client.waitClosed();
    }
    await waitForValue(page, '#online', '==', 1);
    await waitForValue(page, '#rooms', '==', 1);
    // With no more pushes, deliveries/s falls back to the stats stream's own (about 1 per second).
    await page.waitForFunction(() => Number(document.getElementById('deliveries-rate')?.getAttribute('data-value')) < 5, undefined, { timeout: WAIT });
    assert.deepEqual(errors, []);
  });

  it('renders every tile, the node table and the chart within the viewport (screenshot for a human)', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, errors } = await openDashboard(t, browser, gw);
    await clientsIn(t, gw, ROOM, 2);
    await waitForValue(page, '#online', '==', 3);
    const stop = keepPushing(gw.apiUrl, ROOM);
    try {
      await waitForValue(page, '#deliveries-rate', '>', 10);
      await waitForSamples(page, (await sampleCount(page)) + 2);
    } finally {
      await stop();
    }
    // Every tile shows a number, the table its node and the total, the chart a line per series.
    for (const id of ['#online', '#rooms', '#accepted-rate', '#deliveries-rate', '#frames-rate']) {
      assert.match((await page.textContent(id)) ?? '', /\d/, `${id} shows a number`);
    }
    assert.equal(await page.$$eval('#nodes tbody tr', (rows) => rows.length), 1);
    assert.equal(await page.getAttribute('#nodes-total td.online', 'data-value'), '3');
    for (const series of ['connections', 'deliveries']) {
      assert.match((await page.getAttribute(`#chart .series-${series}`, 'd')) ?? '', /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+/, `the chart draws ${series}`);
    }
    const path = await checkedScreenshot(page, SCREENSHOT);
    t.diagnostic(`screenshot: ${path}`);
    assert.deepEqual(errors, []);
  });

  it('shows server data as text and ignores malformed or foreign pushes', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, errors } = await openDashboard(t, browser, gw);
    // The stats room can be pushed to through the API like any room: the page must hold up.
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const res = await postJson(`${gw.apiUrl}/push/room`, {
      room: STATS_ROOM,
      items: [
        'text',
        null,
        42,
        { time: 'soon' },
        { time: Date.now(), node: null },
        { time: Date.now(), nodeId: hostile, worker: null, cluster: null, node: { onlineConnections: 77, roomCount: 'x' } },
      ],
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
    assert.deepEqual(errors, []);
  });

  it('reconnects with backoff after a restart and treats the reset counters as 0, not negative', async (t) => {
    if (browser === undefined) return t.skip(skip);
    let gw = await startGateway({ publicStats: true });
    t.after(() => gw.close());
    const { page, errors, noise } = await openDashboard(t, browser, gw);
    // Counters to reset: some pushes delivered before the restart.
    await clientsIn(t, gw, ROOM, 1);
    const stop = keepPushing(gw.apiUrl, ROOM);
    try {
      await waitForValue(page, '#deliveries-rate', '>', 5);
    } finally {
      await stop();
    }
    const port = Number(new URL(gw.pageUrl).port);
    noise.expected = /WebSocket connection to .* failed/;
    try {
      await gw.close();
      await page.waitForSelector('#state[data-state="closed"]', { timeout: WAIT });
      assert.match((await page.textContent('#state')) ?? '', /^closed 1001 .*retrying in \d+ s$/);
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
    assert.doesNotMatch((await page.textContent('.tiles')) ?? '', /-\d/, 'no negative numbers shown');
    assert.deepEqual(errors, []);
  });
});

describe('the dashboard of a two-node cluster', () => {
  let gwA: RunningGateway;
  let gwB: RunningGateway;
  let browser: Browser | undefined;
  let skip: string | undefined;

  before(async () => {
    gwA = await startGateway({ broker: 'memory://dash-test', presenceInterval: 0.2, publicStats: true });
    gwB = await startGateway({ broker: 'memory://dash-test', presenceInterval: 0.2 });
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
  });

  after(async () => {
    await browser?.close();
    await gwA?.close();
    await gwB?.close();
  });

  /** A dashboard on node A showing both nodes, with one client of node B in ROOM (terminated after `t`). */
  async function clusterDashboard(t: TestContext, browser: Browser) {
    const opened = await newTestPage(t, browser);
    const { page } = opened;
    await page.goto(`${gwA.pageUrl}/dashboard`);
    await page.waitForSelector('#state[data-state="open"]', { timeout: WAIT });
    await page.waitForFunction(() => document.querySelectorAll('#nodes tbody tr').length === 2, undefined, { timeout: WAIT });
    const [client] = await clientsIn(t, gwB, ROOM, 1);
    await waitForValue(page, '#online', '==', 2);
    return { ...opened, client: client! };
  }

  it('lists both nodes and counts a client of the other node in the cluster total', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const { page, errors } = await clusterDashboard(t, browser);
    const shown = await page.$$eval('#nodes tbody tr', (rows) => rows.map((row) => row.getAttribute('data-node')).sort());
    assert.deepEqual(shown, [gwA.gateway.hub.nodeId, gwB.gateway.hub.nodeId].sort());
    assert.match((await page.textContent('#scope')) ?? '', /cluster of 2 nodes/);
    // The page shows how old the counts may be (the bound itself is asserted on /stats in cluster-memory.test.ts).
    assert.match((await page.textContent('#staleness')) ?? '', /counts up to \d+ ms old/);
    const staleness = Number(await page.getAttribute('#staleness', 'data-value'));
    assert.ok(Number.isFinite(staleness) && staleness >= 0, `staleness ${staleness}`);
    assert.equal(await page.textContent(`#nodes tbody tr[data-node="${gwA.gateway.hub.nodeId}"] .tag`), 'this node');
    // Two single processes: two instances, each node its own.
    assert.equal(await page.textContent(`#nodes tbody tr[data-node="${gwB.gateway.hub.nodeId}"] td.instance`), gwB.gateway.instanceId);

    const rowB = `#nodes tbody tr[data-node="${gwB.gateway.hub.nodeId}"]`;
    await waitForValue(page, `${rowB} td.online`, '==', 1);
    await waitForValue(page, '#nodes-total td.online', '==', 2);
    await waitForValue(page, `#nodes tbody tr[data-node="${gwA.gateway.hub.nodeId}"] td.online`, '==', 1);

    // Rooms are counted over the cluster, and the other node's deliveries come from its presence reports.
    await waitForValue(page, '#rooms', '==', 2);
    const stop = keepPushing(gwA.apiUrl, ROOM);
    try {
      await waitForValue(page, `${rowB} td.deliveries`, '>', 20);
      await waitForValue(page, '#deliveries-rate', '>', 20);
    } finally {
      await stop();
    }
    assert.deepEqual(errors, []);
  });

  it('renders the cluster within the viewport (screenshot) and drops the client from the total when it leaves', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const { page, errors, client } = await clusterDashboard(t, browser);
    await waitForValue(page, '#nodes-total td.online', '==', 2);
    const path = await checkedScreenshot(page, CLUSTER_SCREENSHOT);
    t.diagnostic(`screenshot: ${path}`);
    client.close();
    await client.waitClosed();
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
    const { page, errors } = await newTestPage(t, browser);
    await page.goto(`${keyed.pageUrl}/dashboard`);
    await page.waitForSelector('#access:not([hidden])', { timeout: WAIT });
    assert.equal(await page.getAttribute('#state', 'data-state'), 'denied');
    assert.match((await page.textContent('#access-message')) ?? '', /pushgate:stats is reserved: send the API key/);
    assert.match((await page.textContent('#access')) ?? '', /--public-stats/);
    assert.equal(keyed.gateway.hub.members(STATS_ROOM), undefined);
    assert.equal(await page.isVisible('#access-key'), true, 'the key field is shown');
    const path = await checkedScreenshot(page, REFUSED_SCREENSHOT);
    t.diagnostic(`screenshot: ${path}`);

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
    assert.deepEqual(errors, []);
  });

  it('goes live at once when opened as /dashboard#key=<API key>', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const { page, errors } = await newTestPage(t, browser);
    await page.goto(`${keyed.pageUrl}/dashboard#key=${KEY}`);
    await waitForValue(page, '#online', '>=', 1);
    assert.equal(await page.isHidden('#access'), true);
    assert.deepEqual(errors, []);
  });

  it('explains how to open a closed stream (no key, no --public-stats)', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const { page, errors } = await newTestPage(t, browser);
    await page.goto(`${closed.pageUrl}/dashboard`);
    await page.waitForSelector('#access:not([hidden])', { timeout: WAIT });
    assert.match((await page.textContent('#access-message')) ?? '', /closed: start the gateway with --public-stats, or set --api-key/);
    assert.equal(await page.getAttribute('#state', 'data-state'), 'denied');
    assert.equal(await page.$$eval('#nodes tbody tr', (rows) => rows.length), 0, 'no data shown');
    assert.deepEqual(errors, []);
  });
});
