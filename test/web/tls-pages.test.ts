import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { serviceMissing } from '../helpers/services.js';
import { makeCertificates, type TestCertificates } from '../helpers/tls.js';

const WAIT = 8000;

// Chromium does not know the test's CA: the page's certificate error is ignored in this browser
// context only, which is what trusting the CA would do for these two pages.
describe('the console and the dashboard over https:// (wss:// for their sockets), in headless Chromium', { skip: serviceMissing('openssl') ?? false }, () => {
  let browser: Browser | null = null;
  let skip: string | null = null;
  let certs: TestCertificates;
  let gateway: RunningGateway;
  before(async () => {
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
    certs = makeCertificates(['server']);
    const { cert, key } = certs.server('server');
    gateway = await startGateway({ tlsCert: cert, tlsKey: key, publicStats: true });
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    certs?.remove();
  });

  it('the console connects over wss:// from its https:// page; the dashboard gets its samples', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const errors: string[] = [];
    const page = await context.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
    const base = gateway.pageUrl.replace(/^http:/, 'https:');
    const response = await page.goto(`${base}/`);
    assert.equal(response?.status(), 200);
    assert.match(await page.inputValue('#url'), /^wss:\/\//, 'the console picks wss:// on an https:// page');
    await page.click('#connect');
    await page.waitForSelector('#status[data-state="open"]', { timeout: WAIT });
    const dashboard = await context.newPage();
    dashboard.on('pageerror', (error) => errors.push(error.message));
    await dashboard.goto(`${base}/dashboard`);
    await dashboard.waitForFunction(() => Number(document.getElementById('chart')?.getAttribute('data-samples')) >= 1, undefined, { timeout: WAIT });
    assert.deepEqual(errors, []);
    await context.close();
  });
});
