// The file-watch example (examples/file-watch/): its server module started in-process on free loopback
// ports (a real gateway, a real node:http backend, a real file watched with fs.watch), driven by real `ws`
// clients and by its page in headless Chromium; then its command line, stopped with SIGINT.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { type FileSnapshot, MAX_CONTENT, roomOf } from '../../examples/file-watch/backend.js';
import { type RunningFileWatch, start } from '../../examples/file-watch/server.js';
import { launchBrowser } from '../helpers/browser.js';
import { TestClient } from '../helpers/client.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const serverScript = fileURLToPath(new URL('../../examples/file-watch/server.js', import.meta.url));

/**
 * What a page shows, rebuilt from the snapshot and the pushes as the example's page does: a change is
 * applied only on top of the version shown (a content item replaces everything).
 */
class FileView {
  version: number;
  text: string;
  readonly versions: number[] = [];
  constructor(snapshot: FileSnapshot) {
    this.version = snapshot.version;
    this.text = snapshot.text;
  }

  apply(item: any): void {
    if (item.version <= this.version) return;
    assert.ok(item.kind === 'content' || item.version === this.version + 1, `a gap: version ${this.version}, then ${JSON.stringify(item)}`);
    this.text = item.kind === 'content' ? item.text : this.text + item.text;
    this.version = item.version;
    this.versions.push(item.version);
  }

  /** Applies `client`'s pushes until the text is `expected`. */
  async until(client: TestClient, expected: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.text !== expected) {
      const frame = await client.nextOfType('PUSH', Math.max(1, deadline - Date.now())).catch((error: Error) => {
        throw new Error(`${error.message}; shown ${JSON.stringify(this.text)}, expected ${JSON.stringify(expected)}`);
      });
      for (const item of frame.data.items) this.apply(item);
    }
  }
}

async function joinRoom(client: TestClient, room: string): Promise<FileSnapshot> {
  const ack = await client.request('JOIN', { room });
  assert.equal(ack.type, 'ACK', JSON.stringify(ack));
  return ack.data.data;
}

describe('the file-watch example: the content with the JOIN, changes pushed to the room', () => {
  let dir: string;
  let file: string;
  let example: RunningFileWatch;
  const clients: TestClient[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pushgate-file-watch-test-'));
    file = join(dir, 'notes.txt');
    writeFileSync(file, 'first line\n');
    example = await start({ file, wsPort: 0, apiPort: 0, backendPort: 0 });
  });
  after(async () => {
    for (const client of clients) client.close();
    await example?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the room after the file, and refuses other rooms through the subscribe hook', async () => {
    assert.equal(example.room, 'file:notes.txt');
    assert.equal(roomOf('/var/log/my app (1).log'), 'file:my_app__1_.log');
    const client = await TestClient.open(example.wsUrl);
    clients.push(client);
    const refused = await client.request('JOIN', { room: 'file:passwd' });
    assert.equal(refused.type, 'ERROR');
    assert.equal(refused.data.code, 'FORBIDDEN');
    assert.match(refused.data.message, /serves only file:notes\.txt/);
  });

  it('gives the current content to a client that joins, then pushes appends and rewrites', async () => {
    const client = await TestClient.open(example.wsUrl);
    clients.push(client);
    const snapshot = await joinRoom(client, example.room);
    assert.equal(snapshot.kind, 'content');
    assert.equal(snapshot.text, 'first line\n');
    assert.equal(snapshot.size, 11);
    assert.equal(snapshot.missing, false);
    const view = new FileView(snapshot);

    appendFileSync(file, 'second line\n');
    await view.until(client, 'first line\nsecond line\n');
    appendFileSync(file, 'third line\n');
    await view.until(client, 'first line\nsecond line\nthird line\n');
    // An editor's save: a new file renamed over the old one.
    writeFileSync(`${file}.tmp`, 'all new\n');
    renameSync(`${file}.tmp`, file);
    await view.until(client, 'all new\n');
    // Rewritten in place, shorter.
    writeFileSync(file, 'x\n');
    await view.until(client, 'x\n');
    assert.ok(view.versions.length >= 4, `each change was pushed: versions ${view.versions}`);

    // A client joining now gets what the first one shows.
    const late = await TestClient.open(example.wsUrl);
    clients.push(late);
    const now = await joinRoom(late, example.room);
    assert.equal(now.text, 'x\n');
    assert.equal(now.version, view.version);
  });

  it('pushes only the end of a large file, and says it is truncated', async () => {
    const client = await TestClient.open(example.wsUrl);
    clients.push(client);
    const view = new FileView(await joinRoom(client, example.room));
    const big = `${'0123456789'.repeat(MAX_CONTENT / 10 + 100)}END\n`;
    writeFileSync(file, big);
    const end = big.slice(-MAX_CONTENT);
    await view.until(client, end);
    const snapshot = await joinRoom(client, example.room);
    assert.equal(snapshot.truncated, true);
    assert.equal(snapshot.size, Buffer.byteLength(big));
  });
});

describe('the file-watch example: a file that does not exist yet, and the default file', () => {
  it('says the file is missing, then pushes its content once it is created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pushgate-file-watch-test-'));
    const example = await start({ file: join(dir, 'later.txt'), wsPort: 0, apiPort: 0, backendPort: 0 });
    const client = await TestClient.open(example.wsUrl);
    try {
      const snapshot = await joinRoom(client, 'file:later.txt');
      assert.equal(snapshot.missing, true);
      assert.equal(snapshot.text, '');
      const view = new FileView(snapshot);
      writeFileSync(join(dir, 'later.txt'), 'here now\n');
      await view.until(client, 'here now\n');
    } finally {
      client.close();
      await example.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a file, watches a temporary one it creates and removes when closed', async () => {
    const example = await start({ wsPort: 0, apiPort: 0, backendPort: 0 });
    try {
      assert.ok(existsSync(example.file));
      assert.equal(example.room, 'file:watched.txt');
    } finally {
      await example.close();
    }
    assert.equal(existsSync(example.file), false);
  });
});

describe('the file-watch example in headless Chromium', () => {
  let browser: Browser | null = null;
  let skip: string | null = null;
  let example: RunningFileWatch;
  before(async () => {
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
    example = await start({ wsPort: 0, apiPort: 0, backendPort: 0 });
  });
  after(async () => {
    await browser?.close();
    await example?.close();
  });

  it('the page shows the file, then each change', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${example.backendUrl}/`);
    await page.waitForFunction(() => document.getElementById('content')?.textContent?.startsWith("Watched by pushgate's"), undefined, { timeout: 5000 });
    const shown = (await page.textContent('#content'))!;
    appendFileSync(example.file, 'appended from the test\n');
    await page.waitForFunction((text) => document.getElementById('content')?.textContent === text, `${shown}appended from the test\n`, { timeout: 5000 });
    writeFileSync(example.file, 'replaced\n');
    await page.waitForFunction(() => document.getElementById('content')?.textContent === 'replaced\n', undefined, { timeout: 5000 });
    assert.equal(await page.textContent('#room'), 'file:watched.txt');
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe('the file-watch example: its command line', () => {
  let child: ChildProcess | null = null;
  after(() => {
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('watches a temporary file, and on SIGINT stops with exit code 0 and removes it', async () => {
    const proc = spawn(process.execPath, [serverScript, '--ws-port', '0', '--api-port', '0', '--backend-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
    await waitFor(
      () => /file-watch: watching (\S+) \(room file:watched\.txt\); open http:\/\/127\.0\.0\.1:\d+\//.test(output),
      15_000,
      `the start-up line (output: ${output})`,
    );
    const watched = /file-watch: watching (\S+) /.exec(output)![1];
    assert.ok(existsSync(watched));
    proc.kill('SIGINT');
    assert.equal(await withTimeout(exited, 10_000, 'the example to exit'), 0, output);
    assert.equal(existsSync(watched), false, 'the temporary file is removed');
  });
});
