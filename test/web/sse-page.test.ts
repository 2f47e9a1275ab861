import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, startSite, type TestSite } from '../helpers/browser.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

// A page on a site of its own (another origin, allowed with --allowed-origins) with the browser's own
// EventSource, and fetch for the stream's requests: no SDK, nothing but the wire format.
function page(gateway: string): string {
  return `<!doctype html>
<html><body><ul id="log"></ul>
<script>
  const gateway = ${JSON.stringify(gateway)};
  const log = (text) => { const li = document.createElement('li'); li.textContent = text; document.getElementById('log').append(li); };
  window.items = [];
  window.opened = 0;
  const source = new EventSource(gateway + '/sse?rooms=news,chat:b');
  const post = (conn, secret, operation, body) =>
    fetch(gateway + '/sse/' + conn + '/' + operation, {
      method: 'POST',
      headers: { authorization: 'Bearer ' + secret, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((res) => res.status);
  source.addEventListener('connected', async (event) => {
    const { conn, secret } = JSON.parse(event.data);
    window.opened += 1;
    window.conn = conn;
    log('connected ' + window.opened);
    if (window.opened > 1) return;
    log('join status ' + (await post(conn, secret, 'join', { room: 'later', id: 'j1' })));
    log('wrong secret status ' + (await post(conn, 'A'.repeat(43), 'leave', { room: 'news' })));
  });
  source.addEventListener('ack', (event) => {
    const ack = JSON.parse(event.data);
    log('ack ' + ack.id + (ack.stream && ack.stream.recovered !== undefined ? ' recovered=' + ack.stream.recovered : ''));
  });
  source.addEventListener('push', (event) => {
    const push = JSON.parse(event.data);
    if (push.room === 'chat:b') window.items.push(...push.items);
    log('push ' + push.room + ' ' + JSON.stringify(push.items) + ' id=' + event.lastEventId);
  });
  source.addEventListener('refused', (event) => log('refused ' + event.data));
</script></body></html>`;
}

// A page whose network refuses WebSockets, on the SDK served by the gateway: it falls back to the
// browser's EventSource and sends its requests with fetch.
function sdkPage(gateway: string): string {
  const ws = gateway.replace('http:', 'ws:');
  return `<!doctype html>
<html><body><ul id="log"></ul>
<script type="module">
  import { connect } from '${gateway}/client.js';
  const log = (text) => { const li = document.createElement('li'); li.textContent = text; document.getElementById('log').append(li); };
  class Blocked {
    constructor() { this.readyState = 0; this.listeners = {}; setTimeout(() => { this.readyState = 3; for (const f of this.listeners.error ?? []) f({}); for (const f of this.listeners.close ?? []) f({ code: 1006, reason: '', wasClean: false }); }, 1); }
    send() { throw new Error('blocked'); }
    close() {}
    addEventListener(type, f) { (this.listeners[type] ??= []).push(f); }
  }
  const client = connect('${ws}/connect', { WebSocket: Blocked, minReconnectDelay: 10, maxReconnectDelay: 50 });
  client.on('push', (items, room) => log('push ' + room + ' ' + JSON.stringify(items)));
  client.join('sdk-room').then(() => log('joined over ' + client.transport + ' as ' + client.connId), (error) => log('join failed ' + error.code));
</script></body></html>`;
}

describe("the browser's own EventSource against GET /sse, from a site of its own, in headless Chromium", () => {
  let browser: Browser | null = null;
  let skip: string | null = null;
  let site: TestSite;
  let gw: RunningGateway;
  before(async () => {
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
    site = await startSite();
    gw = await startGateway({ allowedOrigins: [site.url], history: ['chat:*=100/300s'] });
    const html = page(gw.pageUrl);
    const sdk = sdkPage(gw.pageUrl);
    site.server.on('request', (req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.url === '/sdk' ? sdk : html);
    });
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    await site?.close();
  });

  const logged = (tab: Page, text: string, timeout = 8000) =>
    tab.waitForFunction((wanted) => document.getElementById('log')?.textContent?.includes(wanted), text, { timeout });

  it('receives pushes, joins over a CORS request with its secret, and recovers after a drop with Last-Event-ID', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (error) => errors.push(error.message));
    await tab.goto(site.url);
    await logged(tab, 'ack rooms:0');
    await logged(tab, 'ack rooms:1');
    await logged(tab, 'join status 202');
    await logged(tab, 'ack j1');
    await logged(tab, 'wrong secret status 401');
    await postJson(`${gw.apiUrl}/push/room`, { room: 'news', items: [{ title: 'hello' }] });
    await postJson(`${gw.apiUrl}/push/room`, { room: 'later', items: ['joined later'] });
    await logged(tab, 'push news [{"title":"hello"}]');
    await logged(tab, 'push later ["joined later"]');

    for (const n of [1, 2]) await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:b', items: [n] });
    await tab.waitForFunction(() => (window as unknown as { items: number[] }).items.length === 2, undefined, { timeout: 5000 });
    const conn = gw.gateway.hub.get(await tab.evaluate(() => (window as unknown as { conn: string }).conn));
    assert.ok(conn !== undefined);
    conn.terminate();
    await waitFor(() => gw.gateway.hub.get(conn.id) === undefined, 3000, 'the stream to be cut');
    for (const n of [3, 4]) await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:b', items: [n] });
    await logged(tab, 'connected 2', 10_000);
    await logged(tab, 'ack rooms:1 recovered=true');
    await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:b', items: [5] });
    await tab.waitForFunction(() => (window as unknown as { items: number[] }).items.includes(5), undefined, { timeout: 5000 });
    assert.deepEqual(await tab.evaluate(() => (window as unknown as { items: number[] }).items), [1, 2, 3, 4, 5], 'no gap, no duplicate');
    assert.deepEqual(errors, []);
  });

  it('the SDK, when WebSockets are refused, falls back to the stream and its requests', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (error) => errors.push(error.message));
    await tab.goto(`${site.url}/sdk`);
    await logged(tab, 'joined over sse as ');
    await postJson(`${gw.apiUrl}/push/room`, { room: 'sdk-room', items: [{ via: 'sse' }] });
    await logged(tab, 'push sdk-room [{"via":"sse"}]');
    assert.deepEqual(errors, []);
  });
});
