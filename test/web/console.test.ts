import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { postForm, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

// Every wait in this file is bounded by this many milliseconds.
const WAIT = 5000;
const ROOM = 'console-room';
const SCREENSHOT = '/tmp/console.png';

/** Text of the whole log pane. */
function logText(page: Page): Promise<string> {
  return page.$eval('#log', (log) => log.textContent ?? '');
}

/** Waits until the log holds a received entry of `type` whose text includes `text`. */
async function waitForEntry(page: Page, type: string, text: string): Promise<string> {
  const handle = await page.waitForFunction(
    ([type, text]) => Array.from(document.querySelectorAll(`#log .entry[data-dir="in"][data-type="${type}"]`))
      .map((entry) => entry.textContent ?? '')
      .find((content) => content.includes(text)),
    [type, text] as const,
    { timeout: WAIT },
  );
  return (await handle.jsonValue()) as string;
}

describe('the demo console in headless Chromium', () => {
  let gw: RunningGateway;
  let browser: Browser | undefined;
  let page: Page;
  let skip: string | undefined;
  let connId = '';
  const pageErrors: string[] = [];

  before(async () => {
    gw = await startGateway();
    const launched = await launchBrowser();
    if ('skip' in launched) {
      skip = launched.skip;
      return;
    }
    browser = launched.browser;
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(WAIT);
    page.setDefaultNavigationTimeout(WAIT);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
  });

  it('is served at / and connects, showing the status and the connection id', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const response = await page.goto(`${gw.pageUrl}/`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.title(), 'pushgate console');
    assert.equal(await page.inputValue('#url'), gw.wsUrl('/connect'));
    assert.equal(await page.isChecked('#auto-ping'), true, 'automatic PING is on by default');
    assert.equal(await page.isDisabled('#join'), true, 'requests need a connection');

    await page.click('#connect');
    await page.waitForSelector('#status[data-state="open"]', { timeout: WAIT });
    const handle = await page.waitForFunction(() => {
      const id = document.getElementById('conn-id')?.textContent ?? '';
      return /^[0-9a-f]{8}-[0-9a-z]+$/.test(id) ? id : null;
    }, undefined, { timeout: WAIT });
    connId = (await handle.jsonValue()) as string;
    assert.ok(gw.gateway.hub.get(connId), 'the id shown names the browser\'s connection');
    assert.equal(await page.isDisabled('#connect'), true);
  });

  it('joins a room from the UI and shows a push from the HTTP API', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    await page.fill('#room', ROOM);
    await page.click('#join');
    // The room is listed once the ACK came.
    await page.waitForSelector(`#rooms li[data-room="${ROOM}"]`, { timeout: WAIT });
    assert.equal(gw.gateway.hub.members(ROOM)?.size, 1);
    assert.match(await page.textContent('#push-help') ?? '', new RegExp(`room=${ROOM}'.*/push/room`));

    const marker = `hello-${Date.now()}`;
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const pushed = await postForm(`${gw.apiUrl}/push/room`, { room: ROOM, items: JSON.stringify([{ hello: marker }, hostile]) });
    assert.deepEqual(pushed, { status: 200, body: { ok: true, items: 2, recipients: 1 } });

    const entry = await waitForEntry(page, 'PUSH', marker);
    assert.ok(entry.includes(`room ${ROOM} · 2 items`), entry);
    assert.ok(entry.includes(JSON.stringify({ hello: marker })), entry);
    assert.ok(entry.includes(JSON.stringify(hostile)), 'server data is shown as text');
    assert.equal(await page.$('#log img'), null, 'no markup from pushed data');
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
  });

  it('highlights ERROR frames and shows server messages as text', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    await page.fill('#room', 'not a room');
    await page.click('#join');
    const invalid = await waitForEntry(page, 'ERROR', 'INVALID_ROOM');
    assert.ok(invalid.includes('(answer to JOIN "not a room")'), invalid);
    assert.equal(await page.$$eval('#log .entry.error[data-type="ERROR"]', (entries) => entries.length), 1);
    assert.deepEqual(await page.$$eval('#rooms li', (items) => items.map((item) => (item as HTMLElement).dataset.room)), [ROOM]);

    // The server echoes the unknown type in its message: it must stay text.
    await page.fill('#send-text', '{"type":"<img src=x onerror=window.__pwned=2>","id":"x1"}');
    await page.click('#send');
    await waitForEntry(page, 'ERROR', 'UNKNOWN_TYPE');
    assert.equal(await page.$('#log img'), null);
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
    await page.fill('#room', ROOM);
  });

  it('sends PING and shows the PONG', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const pongs = await page.$$eval('#log .entry[data-dir="in"][data-type="PONG"]', (entries) => entries.length);
    await page.click('#ping');
    await page.waitForFunction(
      (before) => document.querySelectorAll('#log .entry[data-dir="in"][data-type="PONG"]').length > before,
      pongs,
      { timeout: WAIT },
    );
    const ping = await page.$$eval('#log .entry[data-dir="out"][data-type="PING"] .body', (bodies) => bodies.at(-1)?.textContent ?? '');
    const { id } = JSON.parse(ping) as { id: number };
    await waitForEntry(page, 'PONG', `{"type":"PONG","id":${id},"data":{}}`);
  });

  it('tracks rooms joined through the raw Send box', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    await page.fill('#send-text', '{"type":"JOIN","id":"raw-1","data":{"room":"raw-room"}}');
    await page.click('#send');
    await page.waitForSelector('#rooms li[data-room="raw-room"]', { timeout: WAIT });
    assert.equal(gw.gateway.hub.members('raw-room')?.size, 1);
  });

  it('leaves the room: a later push to it no longer arrives', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    await page.fill('#room', ROOM);
    await page.click('#leave');
    // The room leaves the list on the LEAVE's ACK.
    await page.waitForSelector(`#rooms li[data-room="${ROOM}"]`, { state: 'detached', timeout: WAIT });
    assert.equal(gw.gateway.hub.members(ROOM), undefined);

    const gone = `gone-${Date.now()}`;
    const toRoom = await postForm(`${gw.apiUrl}/push/room`, { room: ROOM, items: JSON.stringify([gone]) });
    assert.deepEqual(toRoom.body, { ok: true, items: 1, recipients: 0 });
    // Frames are delivered in order: once a later push to this connection is shown, the room push
    // would have been shown before it.
    const later = `later-${Date.now()}`;
    const toConn = await postForm(`${gw.apiUrl}/push/conn`, { conn: connId, items: JSON.stringify([later]) });
    assert.equal(toConn.status, 200);
    await waitForEntry(page, 'PUSH', later);
    assert.ok(!(await logText(page)).includes(gone), 'the push to the room left is not shown');
  });

  it('renders decently (screenshot for a human)', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    await page.fill('#room', 'raw-room');
    await page.dispatchEvent('#room', 'input');
    await page.screenshot({ path: SCREENSHOT, fullPage: true, timeout: WAIT });
    t.diagnostic(`screenshot: ${SCREENSHOT}`);
  });

  it('disconnects with 1000 and logs no page errors', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    await page.click('#disconnect');
    await page.waitForSelector('#status[data-state="closed"]', { timeout: WAIT });
    assert.match(await page.textContent('#status') ?? '', /^closed 1000/);
    assert.equal(await page.$$eval('#rooms li', (items) => items.length), 0);
    await waitFor(() => gw.gateway.hub.size === 0, WAIT, 'the server to drop the connection');
    assert.deepEqual(pageErrors, []);
  });
});
