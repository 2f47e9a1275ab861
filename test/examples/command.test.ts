// The command example (examples/command/): its server module started in-process on free loopback ports
// (a real gateway, a real node:http backend, real child processes), driven by real `ws` clients and by
// its page in headless Chromium; then its command line, run as a child process, stopped with SIGTERM.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { DEFAULT_COMMAND, type RunningCommand, start } from '../../examples/command/server.js';
import { launchBrowser } from '../helpers/browser.js';
import { type Frame, TestClient } from '../helpers/client.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const ticker = DEFAULT_COMMAND[1];
const serverScript = fileURLToPath(new URL('../../examples/command/server.js', import.meta.url));

/** Reads `client`'s frames until a PUSH holds the `{exit}` item; returns every pushed item, in order. */
async function itemsUntilExit(client: TestClient, ms = 10_000): Promise<any[]> {
  const deadline = Date.now() + ms;
  const items: any[] = [];
  while (!items.some((item) => 'exit' in item)) {
    const frame = await client.nextOfType('PUSH', Math.max(1, deadline - Date.now()));
    assert.equal(frame.data.room, undefined, 'pushed to the connection, not to a room');
    items.push(...frame.data.items);
  }
  return items;
}

/** Sends RPCs with string ids at once, then reads frames until each is answered; pushes read meanwhile are kept. */
async function rpcsAtOnce(client: TestClient, methods: string[]): Promise<{ answers: Map<string, Frame>; pushes: Frame[] }> {
  const ids = methods.map((_, i) => `rpc-${i}`);
  methods.forEach((method, i) => client.send({ type: 'RPC', id: ids[i], data: { method } }));
  const answers = new Map<string, Frame>();
  const pushes: Frame[] = [];
  while (answers.size < ids.length) {
    const frame = await client.next(5000);
    if (frame.type === 'PUSH') pushes.push(frame);
    else if (typeof frame.id === 'string' && ids.includes(frame.id)) answers.set(frame.id, frame);
  }
  return { answers, pushes };
}

describe('the command example: RPC start, the output to that connection only', () => {
  let example: RunningCommand;
  const clients: TestClient[] = [];
  const open = async (): Promise<TestClient> => {
    const client = await TestClient.open(example.wsUrl);
    clients.push(client);
    return client;
  };

  before(async () => {
    // 4 lines 30 ms apart, `done`, exit code 3.
    example = await start({ wsPort: 0, apiPort: 0, backendPort: 0, command: [process.execPath, ticker, '4', '30', '3'] });
  });
  after(async () => {
    for (const client of clients) client.close();
    await example?.close();
  });

  it('streams the lines in order, then {exit}, to the connection that started it; another gets nothing', async () => {
    const a = await open();
    const b = await open();
    const reply = await a.request('RPC', { method: 'start' });
    assert.equal(reply.type, 'REPLY', JSON.stringify(reply));
    assert.equal(reply.data.result.started, true);
    assert.deepEqual(reply.data.result.command, example.command);
    assert.equal(typeof reply.data.result.pid, 'number');
    const items = await itemsUntilExit(a);
    assert.deepEqual(items, [
      { stream: 'stdout', line: 'tick 1 of 4' },
      { stream: 'stdout', line: 'tick 2 of 4' },
      { stream: 'stdout', line: 'tick 3 of 4' },
      { stream: 'stdout', line: 'tick 4 of 4' },
      { stream: 'stdout', line: 'done' },
      { exit: 3, signal: null },
    ]);
    // Every push to a was accepted before its exit item was; a round trip on b after it shows that none went to b.
    const pong = await b.request('PING');
    assert.equal(pong.type, 'PONG');
    assert.deepEqual(
      b.frames.filter((frame) => frame.type === 'PUSH'),
      [],
    );
    await waitFor(() => example.backend.running.length === 0, 3000, 'the run to be over');
  });

  it('refuses a second start while the first runs (ALREADY_RUNNING), and allows one once it ended', async () => {
    const a = await open();
    const { answers, pushes } = await rpcsAtOnce(a, ['start', 'start']);
    const frames = [...answers.values()];
    assert.deepEqual(frames.map((frame) => frame.type).sort(), ['ERROR', 'REPLY'], JSON.stringify(frames));
    const refused = frames.find((frame) => frame.type === 'ERROR')!;
    assert.equal(refused.data.code, 'BACKEND_ERROR');
    assert.equal(refused.data.backendCode, 'ALREADY_RUNNING');
    const items = pushes.flatMap((frame) => frame.data.items);
    if (!items.some((item) => 'exit' in item)) items.push(...(await itemsUntilExit(a)));
    assert.deepEqual(items.at(-1), { exit: 3, signal: null });
    assert.equal(items.filter((item) => 'line' in item).length, 5, 'one run: its five lines once');
    // Over: the run is forgotten (at once after its exit item was pushed) and the next start is allowed.
    await waitFor(() => example.backend.running.length === 0, 3000, 'the run to be over');
    const again = await a.request('RPC', { method: 'start' });
    assert.equal(again.type, 'REPLY', JSON.stringify(again));
    assert.deepEqual((await itemsUntilExit(a)).at(-1), { exit: 3, signal: null });
  });

  it('answers an unknown method with UNKNOWN_METHOD from the backend, and a stop with nothing running with NOT_RUNNING', async () => {
    const a = await open();
    const unknown = await a.request('RPC', { method: 'rm -rf /' });
    assert.equal(unknown.type, 'ERROR');
    assert.equal(unknown.data.backendCode, 'UNKNOWN_METHOD');
    const stop = await a.request('RPC', { method: 'stop' });
    assert.equal(stop.data.backendCode, 'NOT_RUNNING');
  });
});

describe('the command example: stopping a run', () => {
  let example: RunningCommand;
  const clients: TestClient[] = [];
  before(async () => {
    // Long enough to be stopped: 1000 lines 20 ms apart.
    example = await start({ wsPort: 0, apiPort: 0, backendPort: 0, command: [process.execPath, ticker, '1000', '20'] });
  });
  after(async () => {
    for (const client of clients) client.close();
    await example?.close();
  });

  it('RPC stop ends the run with SIGTERM, reported as {exit: null, signal: "SIGTERM"}', async () => {
    const a = await TestClient.open(example.wsUrl);
    clients.push(a);
    assert.equal((await a.request('RPC', { method: 'start' })).type, 'REPLY');
    await a.nextOfType('PUSH', 5000); // it runs
    const stop = await a.request('RPC', { method: 'stop' });
    assert.equal(stop.type, 'REPLY', JSON.stringify(stop));
    assert.deepEqual((await itemsUntilExit(a)).at(-1), { exit: null, signal: 'SIGTERM' });
  });

  it('a connection that closes has its run stopped (disconnect hook)', async () => {
    const a = await TestClient.open(example.wsUrl);
    clients.push(a);
    assert.equal((await a.request('RPC', { method: 'start' })).type, 'REPLY');
    await a.nextOfType('PUSH', 5000);
    assert.equal(example.backend.running.length, 1);
    a.close();
    await waitFor(() => example.backend.running.length === 0, 5000, 'the run of the closed connection to be stopped');
  });
});

describe('the command example in headless Chromium', () => {
  let browser: Browser | null = null;
  let skip: string | null = null;
  let example: RunningCommand;
  before(async () => {
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
    example = await start({ wsPort: 0, apiPort: 0, backendPort: 0, command: [process.execPath, ticker, '3', '30', '0'] });
  });
  after(async () => {
    await browser?.close();
    await example?.close();
  });

  it('the page starts the command and shows its output and exit code', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${example.backendUrl}/`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'open', undefined, { timeout: 5000 });
    await page.click('#start');
    await page.waitForFunction(() => document.getElementById('exit')?.textContent === 'exit 0', undefined, { timeout: 5000 });
    assert.equal(await page.textContent('#output'), 'tick 1 of 3\ntick 2 of 3\ntick 3 of 3\ndone\n');
    assert.equal(await page.isEnabled('#start'), true, 'start is enabled again');
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe('the command example: its command line', () => {
  let child: ChildProcess | null = null;
  after(() => {
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('starts on the ports it is given, runs a command given after --, and stops on SIGTERM with exit code 0', async () => {
    const proc = spawn(
      process.execPath,
      [serverScript, '--ws-port', '0', '--api-port', '0', '--backend-port', '0', '--', process.execPath, ticker, '2', '10'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    let output = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
    await waitFor(() => /command: .* open http:\/\/127\.0\.0\.1:\d+\//.test(output), 15_000, `the start-up line (output: ${output})`);
    assert.match(output, /ticker\.js","2","10"\]/);
    const ws = /gateway (ws:\/\/[^\s,)]+)/.exec(output)![1];
    const client = await TestClient.open(ws);
    assert.equal((await client.request('RPC', { method: 'start' })).type, 'REPLY');
    assert.deepEqual((await itemsUntilExit(client)).at(-1), { exit: 0, signal: null });
    proc.kill('SIGTERM');
    assert.equal(await withTimeout(exited, 10_000, 'the example to exit'), 0, output);
    assert.equal((await client.waitClosed()).code, 1001);
    assert.match(output, /SIGTERM: stopping/);
  });

  it('exits with 2 and the usage on a bad flag', async () => {
    const proc = spawn(process.execPath, [serverScript, '--ws-port', 'seven'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await withTimeout(new Promise<number | null>((resolve) => proc.once('close', resolve)), 10_000, 'the example to exit');
    assert.equal(code, 2);
    assert.match(stderr, /--ws-port must be an integer from 0 to 65535, got "seven"/);
    assert.match(stderr, /usage: example:command/);
  });
});
