import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser, startSite, type TestSite } from '../helpers/browser.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

// The README's "complete page", as a newcomer would use it: served by a site of its own (another origin),
// loading the SDK from the gateway, allowed to connect with --allowed-origins.
function readmePage(gatewayPort: number): string {
  const readme = readFileSync('README.md', 'utf8');
  const start = readme.indexOf('```html\n<!doctype html>');
  assert.ok(start !== -1, 'the README has a complete page');
  const page = readme.slice(start + '```html\n'.length, readme.indexOf('```', start + 8));
  return page.replaceAll('127.0.0.1:7777', `127.0.0.1:${gatewayPort}`);
}

describe("the README's SDK page, on a site of its own, in headless Chromium", () => {
  let browser: Browser | null = null;
  let skip: string | null = null;
  let site: TestSite;
  let gw: RunningGateway;
  before(async () => {
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
    site = await startSite();
    gw = await startGateway({ allowedOrigins: [site.url] });
    const html = readmePage(Number(new URL(gw.wsUrl()).port));
    site.server.on('request', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    });
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    await site?.close();
  });

  it('connects, joins "news" and shows a push made through the HTTP API', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(site.url);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'open', undefined, { timeout: 5000 });
    await page.waitForFunction(() => /-/.test(document.getElementById('conn')?.textContent ?? ''), undefined, { timeout: 5000 });
    // The join is acknowledged once the room has its member; then push.
    await waitFor(() => gw.gateway.hub.members('news') !== undefined, 3000, 'the page to join news');
    const res = await postJson(`${gw.apiUrl}/push/room`, { room: 'news', items: [{ title: 'hello from the README' }] });
    assert.equal(res.body.recipients, 1);
    await page.waitForFunction(() => document.getElementById('items')?.textContent?.includes('hello from the README'), undefined, { timeout: 5000 });
    assert.deepEqual(errors, []);
  });
});
