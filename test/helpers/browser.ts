import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';

const candidates = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/**
 * Launches Debian's headless Chromium through playwright-core. Without a browser, returns the reason
 * to skip; CI (CI=true) treats a missing browser as a failure, since `.ci/run` installs it.
 */
export async function launchBrowser(): Promise<{ browser: Browser } | { skip: string }> {
  const executablePath = process.env.PUSHGATE_CHROMIUM ?? candidates.find((path) => existsSync(path));
  if (executablePath === undefined) {
    const reason = 'SKIPPED: no Chromium found; install the Debian package "chromium" (apt-get install -y chromium) to run the browser tests';
    if (process.env.CI === 'true') throw new Error(`${reason} (required in CI)`);
    process.stderr.write(`\n*** ${reason} ***\n\n`);
    return { skip: reason };
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  return { browser };
}

/**
 * Takes a full-page screenshot for a human (under dist/test-artifacts), after checking what can be
 * checked of the rendering: the page is laid out within the viewport's width (nothing pushed off to
 * the side), and the PNG written is that wide and not empty. Returns the screenshot's path.
 */
export async function checkedScreenshot(page: Page, path: string): Promise<string> {
  const layout = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
  assert.ok(layout.scrollWidth <= layout.innerWidth, `the page is ${layout.scrollWidth} px wide in a ${layout.innerWidth} px viewport`);
  mkdirSync(dirname(path), { recursive: true });
  const png = await page.screenshot({ path, fullPage: true, timeout: 10_000 });
  // A PNG starts with its signature and the IHDR chunk: width and height at bytes 16 and 20.
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG', 'a PNG was written');
  assert.equal(png.readUInt32BE(16), layout.innerWidth, 'as wide as the viewport');
  assert.ok(png.readUInt32BE(20) > 0);
  assert.ok(readFileSync(path).equals(png), 'the file holds the screenshot');
  return resolve(path);
}

/** A web site of a test's own (another origin than the gateway's): an HTTP server on 127.0.0.1, port 0. */
export interface TestSite {
  server: import('node:http').Server;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  close(): Promise<void>;
}

/** Starts a {@link TestSite}; its pages are served by the `request` listeners the test adds. */
export async function startSite(): Promise<TestSite> {
  const { createServer } = await import('node:http');
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as import('node:net').AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) };
}
