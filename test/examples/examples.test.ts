// The seeds' tutorial servers (examples/), each run as a real child process on a free loopback port and
// driven by real `ws` clients and by the seeds' own client.html in headless Chromium.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { TestClient } from '../helpers/client.js';
import { withTimeout } from '../helpers/wait.js';

type ExampleName = 'time-reply' | 'echo-heartbeat';

/** This file is dist/test/examples/examples.test.js: the servers are compiled beside it, the page is in the sources. */
const serverScript = (name: ExampleName): string => fileURLToPath(new URL(`../../examples/${name}/server.js`, import.meta.url));
const clientHtml = fileURLToPath(new URL('../../../examples/client.html', import.meta.url));
/** The page's WebSocket URL, as the string literal in its script (the comment above the page names it too). */
const SEED_URL = '"ws://localhost:8888/ws"';
const STOP_MS = 8000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<ChildProcess>();
// A safety net should the test process itself die: no example outlives it.
process.on('exit', () => {
  for (const child of running) if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
});

/** An example server in a child process, with everything it printed. */
class ExampleProcess {
  stdout = '';
  stderr = '';
  exit: Exit | null = null;
  readonly exited: Promise<Exit>;
  private readonly child: ChildProcess;
  private readonly watchers = new Set<() => void>();

  constructor(
    readonly name: ExampleName,
    args: string[],
  ) {
    this.child = spawn(process.execPath, [serverScript(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this.child);
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      // 'close' rather than 'exit': by then all output has been read.
      this.child.once('close', (code, signal) => {
        running.delete(this.child);
        this.exit = { code, signal };
        this.notify();
        resolve(this.exit);
      });
    });
  }

  /** Starts `name` on a free loopback port and waits (bounded) for its `listening ws=HOST:PORT` line. */
  static async start(name: ExampleName): Promise<ExampleProcess> {
    const example = new ExampleProcess(name, ['--port', '0', '--host', '127.0.0.1']);
    try {
      const [, host, port] = await example.waitForOutput(/listening ws=(\S+):(\d+)/, 10_000, 'the listening line');
      assert.equal(host, '127.0.0.1');
      example.port = Number(port);
      assert.ok(example.port > 0);
      return example;
    } catch (err) {
      // No caller gets the process to stop: kill it (by its PID) here, then report the first failure.
      if (example.exit === null) await example.stop('SIGKILL').catch(() => {});
      throw err;
    }
  }

  port = 0;

  get pid(): number {
    return this.child.pid as number;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  private notify(): void {
    for (const watcher of this.watchers) watcher();
  }

  /**
   * Resolves with the first match of `pattern` in stdout (from character `from` on); fails after `ms` or
   * when the process exits first.
   */
  waitForOutput(pattern: RegExp, ms: number, what: string, from = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what} from ${this.name}; stdout: ${this.stdout}; stderr: ${this.stderr}`));
      }, ms);
      const check = (): void => {
        const match = this.stdout.slice(from).match(pattern);
        if (match !== null) {
          done();
          resolve(match);
        } else if (this.exit !== null) {
          done();
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before printing ${what}; stdout: ${this.stdout}; stderr: ${this.stderr}`));
        }
      };
      this.watchers.add(check);
      check();
    });
  }

  /** Sends `signal` to the process (by PID) unless it already exited; resolves with how it exited. */
  stop(signal: NodeJS.Signals = 'SIGTERM', ms = STOP_MS): Promise<Exit> {
    if (this.exit === null) process.kill(this.pid, signal);
    return withTimeout(this.exited, ms, `${this.name} (pid ${this.pid}) to exit after ${signal}`);
  }
}

/** Runs an example to its end (for command-line errors), bounded. */
async function runToExit(name: ExampleName, args: string[]): Promise<ExampleProcess> {
  const example = new ExampleProcess(name, args);
  try {
    await withTimeout(example.exited, 10_000, `${name} ${args.join(' ')} to exit`);
  } finally {
    if (example.exit === null) await example.stop('SIGKILL');
  }
  return example;
}

/** Reads frames until `done(texts)` holds; fails after `ms`, showing what did arrive. */
async function waitForTexts(client: TestClient, done: (texts: string[]) => boolean, ms: number, what: string): Promise<string[]> {
  const deadline = Date.now() + ms;
  while (!done(client.texts)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; received ${JSON.stringify(client.texts)}`);
    await client.next(left).catch((error: Error) => {
      if (!done(client.texts)) throw new Error(`waiting for ${what}: ${error.message}; received ${JSON.stringify(client.texts)}`);
    });
  }
  return client.texts;
}

const count = (texts: string[], text: string): number => texts.filter((t) => t === text).length;

/**
 * Asserts that `text` is a date-time taken between `sentAt` (before the message went) and now (after
 * the reply came): an ordering of clock readings on this machine, whatever the delay between them. A
 * second of slack either way allows for the clock being stepped meanwhile.
 */
function assertTimeBetween(text: string, sentAt: number): void {
  assert.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/, `"${text}" is not a date-time`);
  const at = Date.parse(text);
  assert.ok(Number.isFinite(at), `"${text}" does not parse as a date`);
  const receivedAt = Date.now();
  assert.ok(
    at >= sentAt - 1000 && at <= receivedAt + 1000,
    `"${text}" was not taken between the message (${new Date(sentAt).toISOString()}) and its reply (${new Date(receivedAt).toISOString()})`,
  );
}

async function assertStopsCleanly(example: ExampleProcess | undefined): Promise<void> {
  if (example === undefined) return;
  // Exit code 0 means the process ended on its own after closing everything: a heartbeat timer or a
  // socket left behind would have kept it alive until its 5 s backstop, which exits with 1.
  assert.deepEqual(await example.stop('SIGTERM'), { code: 0, signal: null }, `${example.name} output: ${example.stdout}${example.stderr}`);
  assert.match(example.stdout, /INFO: stopped/);
  assert.doesNotMatch(example.stdout, /ERROR|still running/);
}

// One Chromium for the file, launched on first use.
let browserLaunch: Promise<{ browser: Browser } | { skip: string }> | null = null;
after(async () => {
  const launched = await browserLaunch;
  if (launched !== undefined && launched !== null && 'browser' in launched) await launched.browser.close();
});

/**
 * Opens the seeds' client.html in headless Chromium from a file:// URL (as the seeds did, so the page's
 * origin is "null"), with only its WebSocket URL pointed at `server`, and runs `use` after Open and Send;
 * Close ends it. Skips the test when there is no Chromium.
 */
async function openSeedPage(t: TestContext, server: ExampleProcess, use: (page: Page) => Promise<void>): Promise<void> {
  browserLaunch ??= launchBrowser();
  const launched = await browserLaunch;
  if ('skip' in launched) {
    t.skip(launched.skip);
    return;
  }
  const html = readFileSync(clientHtml, 'utf8');
  assert.equal(html.split(SEED_URL).length, 2, `client.html's script has the string ${SEED_URL} exactly once`);
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-client-'));
  const context = await launched.browser.newContext();
  try {
    const file = join(dir, 'client.html');
    writeFileSync(file, html.replace(SEED_URL, `"ws://127.0.0.1:${server.port}/ws"`));
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(pathToFileURL(file).href);
    assert.equal(await page.evaluate(() => location.protocol), 'file:');
    const logged = server.stdout.length;
    await page.click('#open');
    await page.locator('#output div', { hasText: /^连接websocket$/ }).waitFor();
    // A page opened from a file sends Origin "null": the reason the seeds (and these examples) allow all origins.
    await server.waitForOutput(/connection \d+ opened from 127\.0\.0\.1 \(Origin "null"\)/, 5000, 'the page\'s connection with Origin "null"', logged);
    await page.click('#send');
    await page.locator('#output div', { hasText: /^发送消息: Hello golang!$/ }).waitFor();
    await use(page);
    await page.click('#close');
    await page.locator('#output div', { hasText: /^CLOSE$/ }).waitFor();
    assert.deepEqual(pageErrors, []);
  } finally {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('examples/time-reply (seeds 000/001)', () => {
  let server: ExampleProcess | undefined;
  before(async () => {
    server = await ExampleProcess.start('time-reply');
  });
  after(() => assertStopsCleanly(server));

  it('answers every message with exactly one reply: the server time', { timeout: 20_000 }, async () => {
    const client = await TestClient.open(server!.url);
    try {
      const sentAt = Date.now();
      for (const text of ['hello-1', 'hello-2', 'Hello golang!']) client.send(text);
      const texts = await waitForTexts(client, (all) => all.length >= 3, 5000, 'three replies');
      for (const text of texts) assertTimeBetween(text, sentAt);
      client.close();
      await client.waitClosed(5000);
      // Replies precede the server's close frame: had a message been answered twice, it would show here.
      assert.equal(client.texts.length, 3, `replies: ${JSON.stringify(client.texts)}`);
    } finally {
      client.terminate();
    }
  });

  it('logs each client message, like the seed\'s fmt.Println("client message " + ...)', { timeout: 20_000 }, async () => {
    const client = await TestClient.open(server!.url);
    try {
      client.send('log me\nINFO: forged line');
      await waitForTexts(client, (all) => all.length >= 1, 5000, 'the reply');
      // Quoted, so a newline in a message cannot forge a log line.
      await server!.waitForOutput(/INFO: client message "log me\\nINFO: forged line"/, 5000, 'the logged message');
      assert.doesNotMatch(server!.stdout, /^INFO: forged line/m);
    } finally {
      client.close();
      await client.waitClosed(5000);
    }
  });

  it('allows every origin, as the seeds did, and warns about it at start-up', { timeout: 20_000 }, async () => {
    assert.match(server!.stdout, /WARN: every origin is allowed/);
    for (const origin of ['null', 'https://elsewhere.example', undefined]) {
      const client = await TestClient.open(server!.url, origin === undefined ? {} : { origin });
      client.close();
      await client.waitClosed(5000);
    }
  });

  it('accepts WebSockets on /ws only', { timeout: 20_000 }, async () => {
    await assert.rejects(TestClient.open(`ws://127.0.0.1:${server!.port}/connect`), { status: 404 });
  });

  it("works with the seeds' client.html in Chromium (opened from a file)", { timeout: 30_000 }, async (t) => {
    const openedAt = Date.now();
    await openSeedPage(t, server!, async (page) => {
      const reply = page.locator('#output div', { hasText: /^收到消息: / }).first();
      await reply.waitFor();
      const text = (await reply.textContent()) ?? '';
      assertTimeBetween(text.replace(/^收到消息: /, ''), openedAt);
      await server!.waitForOutput(/client message "Hello golang!"/, 5000, "the page's message in the log");
    });
  });
});

describe('examples/echo-heartbeat (seeds 003/004)', () => {
  let server: ExampleProcess | undefined;
  before(async () => {
    server = await ExampleProcess.start('echo-heartbeat');
  });
  after(() => assertStopsCleanly(server));

  it('echoes every message back once, text as text and binary as binary', { timeout: 20_000 }, async () => {
    const client = await TestClient.open(server!.url);
    try {
      const binary = new Promise<Buffer>((resolve) => client.ws.on('message', (data, isBinary) => isBinary && resolve(data as Buffer)));
      for (const text of ['hello', 'Hello golang!', '{"type":"PING"}']) client.send(text);
      client.send(Buffer.from([1, 2, 3]));
      const echoes = (texts: string[]): string[] => texts.filter((t) => t !== 'heartbeat');
      await waitForTexts(client, (all) => echoes(all).length >= 4, 5000, 'four echoes');
      assert.deepEqual(echoes(client.texts), ['hello', 'Hello golang!', '{"type":"PING"}', '<binary 3>']);
      assert.deepEqual([...(await withTimeout(binary, 1000, 'the binary echo'))], [1, 2, 3]);
      client.close();
      await client.waitClosed(5000);
      // Each echoed once: the seed's writeLoop, which re-queued every written message, would repeat them.
      assert.deepEqual(echoes(client.texts), ['hello', 'Hello golang!', '{"type":"PING"}', '<binary 3>']);
    } finally {
      client.terminate();
    }
  });

  it('sends "heartbeat" at once, then every second: never faster, and it keeps coming', { timeout: 30_000 }, async () => {
    // Measured from before the connection exists, so that the n-th heartbeat after the first cannot
    // arrive sooner than n seconds later (timers never fire early); how much later, load decides.
    const openingAt = performance.now();
    const client = await TestClient.open(server!.url);
    try {
      client.send('marker');
      await waitForTexts(client, (all) => count(all, 'heartbeat') >= 3, 15_000, 'three heartbeats');
      assert.equal(client.texts[0], 'heartbeat', 'the first one comes at once, before the echo of the first message');
      const third = performance.now() - openingAt;
      assert.ok(third >= 2000 - 50, `the third heartbeat came ${third.toFixed(0)} ms after connecting, sooner than 2 s`);
    } finally {
      client.close();
      await client.waitClosed(5000);
    }
  });

  it("stops a client's heartbeat when it closes and keeps serving others", { timeout: 20_000 }, async () => {
    const first = await TestClient.open(server!.url);
    await waitForTexts(first, (all) => all.includes('heartbeat'), 5000, 'a heartbeat');
    first.close();
    const { code } = await first.waitClosed(5000);
    assert.equal(code, 1005);
    await server!.waitForOutput(/connection \d+ closed \(1005, by the client\)/, 5000, 'the close in the log');

    const second = await TestClient.open(server!.url);
    try {
      second.send('still there?');
      await waitForTexts(second, (all) => all.includes('still there?') && count(all, 'heartbeat') >= 2, 5000, 'an echo and two heartbeats');
    } finally {
      second.close();
      await second.waitClosed(5000);
    }
  });

  it("works with the seeds' client.html in Chromium (opened from a file)", { timeout: 30_000 }, async (t) => {
    await openSeedPage(t, server!, async (page) => {
      await page.locator('#output div', { hasText: /^收到消息: Hello golang!$/ }).waitFor();
      await page
        .locator('#output div', { hasText: /^收到消息: heartbeat$/ })
        .first()
        .waitFor();
      // Another heartbeat about a second later.
      await page.waitForFunction(
        () => Array.from(document.querySelectorAll('#output div')).filter((d) => d.textContent === '收到消息: heartbeat').length >= 2,
        undefined,
        { timeout: 5000 },
      );
    });
  });
});

describe('example shutdown', () => {
  for (const [name, signal] of [
    ['time-reply', 'SIGINT'],
    ['echo-heartbeat', 'SIGTERM'],
  ] as const) {
    it(`${name}: ${signal} closes clients with 1001 and exits 0`, { timeout: 20_000 }, async () => {
      const server = await ExampleProcess.start(name);
      try {
        const clients = [await TestClient.open(server.url), await TestClient.open(server.url)];
        clients[0].send('hi');
        await waitForTexts(clients[0], (all) => all.length >= 1, 5000, 'an answer');
        const exit = server.stop(signal);
        for (const client of clients) assert.deepEqual(await client.waitClosed(5000), { code: 1001, reason: 'server shutting down' });
        assert.deepEqual(await exit, { code: 0, signal: null }, server.stdout + server.stderr);
        assert.match(server.stdout, new RegExp(`${signal}: closing 2 connection\\(s\\) with 1001`));
      } finally {
        if (server.exit === null) await server.stop('SIGKILL');
      }
    });
  }

  it('echo-heartbeat: a client that never answers the close frame is cut after 2 s, then the server exits 0', { timeout: 20_000 }, async () => {
    const server = await ExampleProcess.start('echo-heartbeat');
    let client: TestClient | undefined;
    try {
      client = await TestClient.open(server.url);
      await waitForTexts(client, (all) => all.includes('heartbeat'), 5000, 'a heartbeat');
      // Stop reading: the server's close frame is never seen, so never answered.
      (client.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
      const started = performance.now();
      // Exit code 0, not the 1 of the 5 s backstop: the client was cut (at 2 s) and the server ended on its own.
      assert.deepEqual(await server.stop('SIGTERM', 15_000), { code: 0, signal: null }, server.stdout + server.stderr);
      const took = performance.now() - started;
      assert.ok(took >= 1500, `exited ${took.toFixed(0)} ms after SIGTERM, before the 2 s close timeout`);
      assert.match(server.stdout, /connection \d+ closed \(1001, by the server\)/);
    } finally {
      client?.terminate();
      if (server.exit === null) await server.stop('SIGKILL');
    }
  });
});

describe('example command line', () => {
  for (const args of [['--port', '70000'], ['--port', 'abc'], ['--port=-1'], ['--port', '1.5'], ['--port', '']]) {
    it(`refuses ${args.join(' ')} with exit code 2, naming --port`, { timeout: 15_000 }, async () => {
      const run = await runToExit('time-reply', args);
      assert.deepEqual(run.exit, { code: 2, signal: null });
      assert.match(run.stderr, /^time-reply: .*--port/);
      assert.match(run.stderr, /usage: time-reply \[--port N\] \[--host H\]/);
      assert.equal(run.stdout, '');
    });
  }

  it('refuses unknown options with exit code 2', { timeout: 15_000 }, async () => {
    const run = await runToExit('echo-heartbeat', ['--prot', '1']);
    assert.deepEqual(run.exit, { code: 2, signal: null });
    assert.match(run.stderr, /^echo-heartbeat: Unknown option '--prot'/);
  });

  it('exits 1 with a clear message when the port is taken', { timeout: 20_000 }, async () => {
    const first = await ExampleProcess.start('echo-heartbeat');
    try {
      const second = await runToExit('time-reply', ['--port', String(first.port), '--host', '127.0.0.1']);
      assert.deepEqual(second.exit, { code: 1, signal: null });
      assert.match(second.stdout, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE`));
    } finally {
      await assertStopsCleanly(first);
    }
  });
});
