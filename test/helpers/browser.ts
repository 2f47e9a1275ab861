import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

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
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    ],
  });
  return { browser };
}
