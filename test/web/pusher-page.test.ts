import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import Pusher from 'pusher';
import { pusherRoom } from '../../src/pusher/pusher-rooms.js';
import { launchBrowser, startSite, type TestSite } from '../helpers/browser.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { PUSHER_APP, PUSHER_APP_SPEC, pusherAuthHandler } from '../helpers/pusher.js';
import { waitFor } from '../helpers/wait.js';

const APP = PUSHER_APP;
const PUSHER_JS = readFileSync('node_modules/pusher-js/dist/web/pusher.min.js');
const ECHO_JS = readFileSync('node_modules/laravel-echo/dist/echo.iife.js');

// A Laravel-style page: pusher-js and Echo from their own builds, the auth endpoint on the page's site.
function page(wsPort: number): string {
  return `<!doctype html>
<html><body><ul id="log"></ul>
<script src="/pusher.min.js"></script>
<script src="/echo.iife.js"></script>
<script>
  const log = (text) => { const li = document.createElement('li'); li.textContent = text; document.getElementById('log').append(li); };
  const options = { cluster: 'local', wsHost: '127.0.0.1', wsPort: ${wsPort}, forceTLS: false, enabledTransports: ['ws'], disableStats: true };
  const as = { endpoint: '/pusher/auth', transport: 'ajax', params: { user: 'carol' } };
  const pusher = new Pusher('${APP.key}', { ...options, channelAuthorization: as, userAuthentication: as });
  pusher.bind('pusher:signin_success', () => log('pusher-js signed in'));
  pusher.user.bind('note', (data) => log('user note: ' + data.text));
  pusher.signin();
  pusher.subscribe('news').bind('greeting', (data) => log('pusher-js news: ' + data.text));
  const orders = pusher.subscribe('private-orders');
  orders.bind('pusher:subscription_succeeded', () => log('pusher-js subscribed private-orders'));
  orders.bind('shipped', (data) => log('pusher-js shipped: ' + data.id));
  const echo = new Echo.default({ broadcaster: 'pusher', key: '${APP.key}', ...options, authEndpoint: '/pusher/auth', Pusher });
  echo.channel('news').subscribed(() => log('echo subscribed news')).listen('.greeting', (data) => log('echo news: ' + data.text));
  const lobby = new Echo.default({ broadcaster: 'pusher', key: '${APP.key}', ...options, authEndpoint: '/pusher/auth', auth: { params: { user: 'dan' } }, Pusher });
  lobby.join('lobby').here((users) => log('echo here: ' + users.map((user) => user.name).join(','))).listen('.call', (data) => log('echo lobby: ' + data.who));
</script></body></html>`;
}

describe('pusher-js and Laravel Echo in headless Chromium, from their own builds', () => {
  let browser: Browser | null = null;
  let skip: string | null = null;
  let site: TestSite;
  let gateway: RunningGateway;
  before(async () => {
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
    site = await startSite();
    gateway = await startGateway({ pusherApps: [PUSHER_APP_SPEC], allowedOrigins: [site.url] });
    const auth = pusherAuthHandler();
    const html = page(Number(new URL(gateway.pageUrl).port));
    site.server.on('request', (req, res) => {
      if (req.url === '/pusher.min.js' || req.url === '/echo.iife.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(req.url === '/pusher.min.js' ? PUSHER_JS : ECHO_JS);
        return;
      }
      if (req.url === '/pusher/auth') {
        auth(req, res);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    });
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await site?.close();
  });

  it('subscribes to public, private and presence channels, signs in, and shows what the server SDK sends', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (error) => errors.push(error.message));
    await tab.goto(`${site.url}/`);
    const logged = (text: string) => tab.waitForFunction((wanted) => document.getElementById('log')?.textContent?.includes(wanted), text, { timeout: 8000 });
    await logged('pusher-js subscribed private-orders');
    await logged('echo subscribed news');
    const { hostname, port } = new URL(gateway.apiUrl);
    const sdk = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: hostname, port, useTLS: false });
    await sdk.trigger('news', 'greeting', { text: 'hello browsers' });
    await sdk.trigger('private-orders', 'shipped', { id: 42 });
    await logged('pusher-js news: hello browsers');
    await logged('echo news: hello browsers');
    await logged('pusher-js shipped: 42');
    // Presence through Echo, and the signed-in user's own events through pusher-js.
    await logged('echo here: DAN');
    await sdk.trigger('presence-lobby', 'call', { who: 'erin' });
    await logged('echo lobby: erin');
    await logged('pusher-js signed in');
    await waitFor(() => (gateway.gateway.hub.members(pusherRoom(APP.id, '#server-to-user-carol'))?.size ?? 0) === 1, 8000, "carol's user channel");
    await sdk.sendToUser('carol', 'note', { text: 'for carol' });
    await logged('user note: for carol');
    assert.deepEqual(errors, []);
  });
});
