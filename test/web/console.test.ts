import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { checkedScreenshot, launchBrowser } from '../helpers/browser.js';
import { postForm, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

// Every wait in this file is bounded by this many milliseconds (a reconnect by RECONNECT_WAIT: the
// page uses the SDK's default backoff, 250 ms doubling).
const WAIT = 5000;
const RECONNECT_WAIT = 15000;
const ROOM = 'console-room';
// Screenshots for a human, under dist/ (ignored by git): dist/test-artifacts/console-*.png.
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
// Chromium reports each refused WebSocket handshake on the console; while the gateway restarts the
// SDK's retries are refused on purpose.
const REFUSED_WEBSOCKET = /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/connect' failed/;

/** Text of the whole log pane. */
function logText(page: Page): Promise<string> {
  return page.$eval('#log', (log) => log.textContent ?? '');
}

/** Waits until the log holds an entry of `dir` and `type` whose text includes `text`. */
async function waitForEntry(page: Page, type: string, text: string, dir = 'in', timeout = WAIT): Promise<string> {
  const handle = await page.waitForFunction(
    ([dir, type, text]) =>
      Array.from(document.querySelectorAll(`#log .entry[data-dir="${dir}"][data-type="${type}"]`))
        .map((entry) => entry.textContent ?? '')
        .find((content) => content.includes(text)),
    [dir, type, text] as const,
    { timeout },
  );
  return (await handle.jsonValue()) as string;
}

/** Waits for the connection id shown on the page to be a gateway id other than `not`. */
async function shownConnId(page: Page, not = '', timeout = WAIT): Promise<string> {
  const handle = await page.waitForFunction(
    (not) => {
      const node = document.getElementById('conn-id');
      const id = node?.textContent ?? '';
      return /^[0-9a-f]{8}-[0-9a-z]+$/.test(id) && id !== not && !node?.classList.contains('stale') ? id : null;
    },
    not,
    { timeout },
  );
  return (await handle.jsonValue()) as string;
}

/** A room listed as joined (ACKed by the server), not pending. */
const joinedRoom = (room: string): string => `#rooms li[data-room="${room}"]:not(.pending)`;

/** A console page of one test, with what it logged: page errors, and refused handshakes (expected during a restart). */
interface ConsolePage {
  page: Page;
  pageErrors: string[];
  refused: string[];
}

/** Opens a page for test `t` (closed after it), recording its errors. */
async function newConsolePage(t: TestContext, browser: Browser): Promise<ConsolePage> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  t.after(() => page.close());
  page.setDefaultTimeout(WAIT);
  page.setDefaultNavigationTimeout(WAIT);
  const pageErrors: string[] = [];
  const refused: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    if (REFUSED_WEBSOCKET.test(message.text())) refused.push(message.text());
    else pageErrors.push(message.text());
  });
  return { page, pageErrors, refused };
}

/** Opens the console of `gw` on a page of its own and connects; resolves once the connection id is shown. */
async function openConsole(t: TestContext, browser: Browser, gw: RunningGateway): Promise<ConsolePage & { connId: string }> {
  const opened = await newConsolePage(t, browser);
  await opened.page.goto(`${gw.pageUrl}/`);
  await opened.page.click('#connect');
  await opened.page.waitForSelector('#status[data-state="open"]', { timeout: WAIT });
  return { ...opened, connId: await shownConnId(opened.page) };
}

/** Joins `room` from the UI and waits until it is listed as joined. */
async function joinFromUi(page: Page, room: string): Promise<void> {
  await page.fill('#room', room);
  await page.click('#join');
  await page.waitForSelector(joinedRoom(room), { timeout: WAIT });
}

/** Takes a checked screenshot for a human: dist/test-artifacts/console-<name>.png. */
async function screenshot(t: TestContext, page: Page, name: string): Promise<void> {
  t.diagnostic(`screenshot: ${await checkedScreenshot(page, `${ARTIFACTS}console-${name}.png`)}`);
}

// Each test has a gateway and a page of its own: none relies on what another left behind.
describe('the demo console (on the client SDK) in headless Chromium', () => {
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

  /** A gateway of test `t`, closed after it. */
  async function gateway(t: TestContext): Promise<RunningGateway> {
    const gw = await startGateway();
    t.after(() => gw.close());
    return gw;
  }

  it('is served at /, loads the SDK from /client.js and connects, showing the status and the connection id', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, pageErrors } = await newConsolePage(t, browser);
    const scripts: string[] = [];
    page.on('response', (response) => scripts.push(`${response.status()} ${new URL(response.url()).pathname}`));
    const response = await page.goto(`${gw.pageUrl}/`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.title(), 'pushgate console');
    assert.equal(await page.inputValue('#url'), gw.wsUrl('/connect'));
    assert.equal(await page.isDisabled('#join'), true, 'requests need a connection');
    assert.equal(await page.textContent('#status'), 'not connected');

    await page.click('#connect');
    await page.waitForSelector('#status[data-state="open"]', { timeout: WAIT });
    const connId = await shownConnId(page);
    assert.ok(gw.gateway.hub.get(connId), "the id shown names the browser's connection");
    assert.ok(scripts.includes('200 /client.js'), `the page loaded the SDK: ${scripts.join(', ')}`);
    assert.equal(await page.isDisabled('#connect'), true);
    // The SDK learnt the id with a LEAVE of its throwaway room, shown dimmed as automatic.
    assert.equal(await page.$$eval('#log .entry.auto[data-dir="out"][data-type="LEAVE"]', (entries) => entries.length), 1);
    await waitForEntry(page, 'state', 'connecting → open', 'sys');
    assert.deepEqual(pageErrors, []);
  });

  it('joins a room from the UI and shows a push from the HTTP API', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, connId, pageErrors } = await openConsole(t, browser, gw);
    // The room is listed as joined once join() resolved on the ACK.
    await joinFromUi(page, ROOM);
    assert.equal(gw.gateway.hub.members(ROOM)?.size, 1);
    assert.match((await page.textContent('#push-help')) ?? '', new RegExp(`room=${ROOM}'.*/push/room`));
    assert.match((await page.textContent('#push-help')) ?? '', new RegExp(`conn=${connId}'.*/push/conn`));

    const marker = 'hello-marker';
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const pushed = await postForm(`${gw.apiUrl}/push/room`, { room: ROOM, items: JSON.stringify([{ hello: marker }, hostile]) });
    assert.deepEqual(pushed, { status: 200, body: { ok: true, items: 2, recipients: 1 } });

    const entry = await waitForEntry(page, 'PUSH', marker);
    assert.ok(entry.includes(`room ${ROOM} · 2 items`), entry);
    assert.ok(entry.includes(JSON.stringify({ hello: marker })), entry);
    assert.ok(entry.includes(JSON.stringify(hostile)), 'server data is shown as text');
    assert.equal(await page.$('#log img'), null, 'no markup from pushed data');
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
    assert.deepEqual(pageErrors, []);
  });

  it('highlights ERROR frames, shows the rejected join and server messages as text', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, pageErrors } = await openConsole(t, browser, gw);
    await joinFromUi(page, ROOM);
    await page.fill('#room', 'not a room');
    await page.click('#join');
    const invalid = await waitForEntry(page, 'ERROR', 'INVALID_ROOM');
    assert.ok(invalid.includes('(answer to JOIN "not a room")'), invalid);
    const rejected = await waitForEntry(page, 'join', 'rejected: INVALID_ROOM', 'sys');
    assert.ok(rejected.includes('"not a room"'), rejected);
    assert.equal(await page.$$eval('#log .entry.error[data-type="ERROR"]', (entries) => entries.length), 1);
    assert.deepEqual(
      await page.$$eval('#rooms li', (items) => items.map((item) => (item as HTMLElement).dataset.room)),
      [ROOM],
      'the refused room is not listed',
    );

    // The server echoes the unknown type in its message: it must stay text.
    await page.fill('#send-text', '{"type":"<img src=x onerror=window.__pwned=2>","id":"x1"}');
    await page.click('#send');
    await waitForEntry(page, 'ERROR', 'UNKNOWN_TYPE');
    assert.equal(await page.$('#log img'), null);
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
    assert.deepEqual(pageErrors, []);
  });

  it('pings through the SDK and shows the PONG and the round trip', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, pageErrors } = await openConsole(t, browser, gw);
    const pongs = await page.$$eval('#log .entry[data-dir="in"][data-type="PONG"]', (entries) => entries.length);
    await page.click('#ping');
    await page.waitForFunction((before) => document.querySelectorAll('#log .entry[data-dir="in"][data-type="PONG"]').length > before, pongs, { timeout: WAIT });
    const ping = await page.$$eval('#log .entry[data-dir="out"][data-type="PING"]:not(.auto) .body', (bodies) => bodies.at(-1)?.textContent ?? '');
    const { id } = JSON.parse(ping) as { id: number };
    await waitForEntry(page, 'PONG', `{"type":"PONG","id":${id},"data":{}}`);
    await page.waitForFunction(() => /^round trip \d+\.\d ms$/.test(document.getElementById('rtt')?.textContent ?? ''), undefined, { timeout: WAIT });
    assert.deepEqual(pageErrors, []);
  });

  it('tracks rooms joined through the raw Send box, and lays out log and rooms within the viewport (screenshot)', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, pageErrors } = await openConsole(t, browser, gw);
    await joinFromUi(page, ROOM);
    await page.fill('#send-text', '{"type":"JOIN","id":"raw-1","data":{"room":"raw-room"}}');
    await page.click('#send');
    await page.waitForSelector(joinedRoom('raw-room'), { timeout: WAIT });
    assert.equal(gw.gateway.hub.members('raw-room')?.size, 1);
    assert.deepEqual(await page.$$eval('#rooms li', (items) => items.map((item) => (item as HTMLElement).dataset.room).sort()), [ROOM, 'raw-room'].sort());
    assert.ok(await page.isVisible('#log .entry[data-type="ACK"]'), 'the log shows the answers');
    await screenshot(t, page, 'open');
    assert.deepEqual(pageErrors, []);
  });

  it('survives a gateway restart: shows reconnecting, then open, with its rooms rejoined', async (t) => {
    if (browser === undefined) return t.skip(skip);
    let gw = await startGateway();
    t.after(() => gw.close());
    const { page, connId, pageErrors, refused } = await openConsole(t, browser, gw);
    await joinFromUi(page, ROOM);
    await page.fill('#send-text', '{"type":"JOIN","id":"raw-1","data":{"room":"raw-room"}}');
    await page.click('#send');
    await page.waitForSelector(joinedRoom('raw-room'), { timeout: WAIT });

    const port = Number(new URL(gw.wsUrl()).port);
    await gw.close();
    // Nothing listens on the port now: the page must be reconnecting.
    await page.waitForSelector('#status[data-state="reconnecting"]', { timeout: WAIT });
    assert.match((await page.textContent('#status')) ?? '', /^reconnecting…/);
    await waitForEntry(page, 'state', 'open → reconnecting', 'sys');
    await waitForEntry(page, 'conn', 'closed 1001 · server shutting down', 'sys');
    assert.equal(await page.$$eval('#rooms li.pending', (items) => items.length), 2, 'the rooms wait to be rejoined');
    assert.equal(await page.isDisabled('#join'), false, 'joins wait for the connection');
    assert.equal(await page.isDisabled('#ping'), true);
    await screenshot(t, page, 'reconnecting');

    gw = await startGateway({ port });
    await page.waitForSelector('#status[data-state="open"]', { timeout: RECONNECT_WAIT });
    await waitForEntry(page, 'state', 'reconnecting → open', 'sys');
    const newId = await shownConnId(page, connId);
    assert.notEqual(newId, connId);
    assert.ok(gw.gateway.hub.get(newId), 'the new id names the new connection');
    // The SDK rejoined both rooms (the one joined through the raw box too) before showing the id.
    await page.waitForSelector(joinedRoom(ROOM), { timeout: WAIT });
    await page.waitForSelector(joinedRoom('raw-room'), { timeout: WAIT });
    assert.equal(gw.gateway.hub.members(ROOM)?.size, 1);
    assert.equal(gw.gateway.hub.members('raw-room')?.size, 1);

    const marker = 'after-restart-marker';
    const pushed = await postForm(`${gw.apiUrl}/push/room`, { room: ROOM, items: JSON.stringify([marker]) });
    assert.deepEqual(pushed.body, { ok: true, items: 1, recipients: 1 });
    const entry = await waitForEntry(page, 'PUSH', marker);
    assert.ok(entry.includes(`room ${ROOM} · 1 item`), entry);
    assert.deepEqual(pageErrors, []);
    t.diagnostic(`refused WebSocket handshakes reported by Chromium during the restart: ${refused.length}`);
  });

  it('leaves the room: a later push to it no longer arrives', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, connId, pageErrors } = await openConsole(t, browser, gw);
    await joinFromUi(page, ROOM);
    await page.fill('#room', ROOM);
    await page.click('#leave');
    // The room leaves the list at once; the LEAVE's ACK is logged.
    await page.waitForSelector(`#rooms li[data-room="${ROOM}"]`, { state: 'detached', timeout: WAIT });
    await waitForEntry(page, 'leave', `left "${ROOM}"`, 'sys');
    assert.equal(gw.gateway.hub.members(ROOM), undefined);

    const gone = 'gone-marker';
    const toRoom = await postForm(`${gw.apiUrl}/push/room`, { room: ROOM, items: JSON.stringify([gone]) });
    assert.deepEqual(toRoom.body, { ok: true, items: 1, recipients: 0 });
    // Frames are delivered in order: once a later push to this connection is shown, the room push
    // would have been shown before it.
    const later = 'later-marker';
    const toConn = await postForm(`${gw.apiUrl}/push/conn`, { conn: connId, items: JSON.stringify([later]) });
    assert.equal(toConn.status, 200);
    await waitForEntry(page, 'PUSH', later);
    assert.ok(!(await logText(page)).includes(gone), 'the push to the room left is not shown');
    assert.deepEqual(pageErrors, []);
  });

  it('disconnects with 1000 and does not reconnect', async (t) => {
    if (browser === undefined) return t.skip(skip);
    const gw = await gateway(t);
    const { page, pageErrors } = await openConsole(t, browser, gw);
    await joinFromUi(page, ROOM);
    await page.click('#disconnect');
    await page.waitForSelector('#status[data-state="closed"]', { timeout: WAIT });
    assert.match((await page.textContent('#status')) ?? '', /^closed 1000 · closed from the console/);
    assert.equal(await page.$$eval('#rooms li', (items) => items.length), 0);
    assert.equal(await page.isDisabled('#connect'), false);
    await waitFor(() => gw.gateway.hub.size === 0, WAIT, 'the server to drop the connection');
    await waitForEntry(page, 'state', 'open → closed', 'sys');
    assert.equal(gw.gateway.stats.connectionsTotal, 1, 'no reconnection');
    assert.deepEqual(pageErrors, []);
  });
});

// The same-origin check knows the gateway by its addresses and, on loopback, as localhost: the console
// opened at http://localhost:PORT/ connects too (while a page of another name would be refused).
describe('the demo console opened at http://localhost:PORT/', () => {
  let gw: RunningGateway;
  let browser: Browser | undefined;
  let skip: string | undefined;

  before(async () => {
    gw = await startGateway();
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
  });

  it("connects: its origin is the gateway's own", async (t) => {
    if (browser === undefined) return t.skip(skip);
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT);
    const port = new URL(gw.pageUrl).port;
    assert.equal((await page.goto(`http://localhost:${port}/`, { timeout: WAIT }))?.status(), 200);
    assert.equal(await page.inputValue('#url'), `ws://localhost:${port}/connect`);
    await page.click('#connect');
    await page.waitForSelector('#status[data-state="open"]', { timeout: WAIT });
    const connId = await shownConnId(page);
    assert.ok(gw.gateway.hub.get(connId));
    assert.equal(gw.gateway.stats.handshakesRefused, 0);
  });
});
