// The chat example (examples/chat/): its server module started in-process on free loopback ports (a real
// gateway, a real node:http backend answering its hooks), driven by real `ws` clients and by its page in
// headless Chromium (one browser context per user, so one cookie each); then its command line.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { checkText, HISTORY_SIZE, MAX_TEXT, nameFromCookie, validName } from '../../examples/chat/backend.js';
import { type RunningChat, start } from '../../examples/chat/server.js';
import { signHookRequest } from '../../src/index.js';
import { launchBrowser } from '../helpers/browser.js';
import { refusal, TestClient } from '../helpers/client.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const serverScript = fileURLToPath(new URL('../../examples/chat/server.js', import.meta.url));
const SECRET = 'chat-test-secret';

/** A `ws` client logged in as `name` (its cookie), with the page's origin. */
function openAs(chat: RunningChat, name: string): Promise<TestClient> {
  return TestClient.open(chat.wsUrl, { headers: { cookie: `other=1; chat_name=${encodeURIComponent(name)}`, origin: chat.backendUrl } });
}

/** The next PUSH of `client` whose items include one that `match`es (other pushes are skipped). */
async function pushWith(client: TestClient, match: (item: any) => boolean, ms = 5000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const frame = await client.nextOfType('PUSH', Math.max(1, deadline - Date.now()));
    assert.equal(frame.data.room, 'chat:lobby');
    const item = frame.data.items.find(match);
    if (item !== undefined) return item;
  }
}

/** Publishes `text` to the lobby and resolves with the answer (ACK or ERROR). */
function say(client: TestClient, text: unknown) {
  return client.request('PUBLISH', { room: 'chat:lobby', data: { text } });
}

describe('the chat example: names, rooms, history and messages, all through hooks', () => {
  let chat: RunningChat;
  const clients: TestClient[] = [];
  before(async () => {
    chat = await start({ wsPort: 0, apiPort: 0, backendPort: 0, hookSecret: SECRET });
  });
  after(async () => {
    for (const client of clients) client.close();
    await chat?.close();
  });

  it('checks names, cookies and texts', () => {
    assert.equal(validName('  Zoë  '), 'Zoë');
    assert.equal(validName(''), null);
    assert.equal(validName('a'.repeat(33)), null);
    assert.equal(validName('bad\u0000name'), null);
    assert.equal(nameFromCookie('a=b; chat_name=J%C3%BCrgen; c=d'), 'Jürgen');
    assert.equal(nameFromCookie('chat_name=%E0%A4%A'), null);
    assert.equal(nameFromCookie(undefined), null);
    assert.deepEqual(checkText({ text: '  hi ' }), { text: 'hi' });
    assert.deepEqual(checkText({ text: '   ' }), { reason: 'empty message' });
    assert.deepEqual(checkText({ text: 'é'.repeat(MAX_TEXT) }), { text: 'é'.repeat(MAX_TEXT) });
    assert.deepEqual(checkText({ text: 'x'.repeat(MAX_TEXT + 1) }), { reason: `message too long: ${MAX_TEXT + 1} characters (at most ${MAX_TEXT})` });
    assert.deepEqual(checkText('hi'), { reason: 'a message is {"text": "…"}' });
  });

  it('refuses a handshake without a name (401, the connect hook)', async () => {
    const { status, body } = await refusal(TestClient.open(chat.wsUrl, { headers: { origin: chat.backendUrl } }));
    assert.equal(status, 401);
    assert.equal(body.error.code, 'UNAUTHORIZED');
    assert.match(body.error.message, /not logged in/);
  });

  it('refuses a hook request that is not signed with the secret', async () => {
    const body = JSON.stringify({ conn: 'x', headers: { cookie: 'chat_name=mallory' } });
    const unsigned = await fetch(`${chat.backendUrl}/hooks/connect`, { method: 'POST', body });
    assert.equal(unsigned.status, 401);
    const timestamp = Date.now();
    const forged = await fetch(`${chat.backendUrl}/hooks/connect`, {
      method: 'POST',
      body,
      headers: { 'x-pushgate-timestamp': String(timestamp), 'x-pushgate-signature': signHookRequest('not the secret', timestamp, body) },
    });
    assert.equal(forged.status, 401);
    const signed = await fetch(`${chat.backendUrl}/hooks/connect`, {
      method: 'POST',
      body,
      headers: { 'x-pushgate-timestamp': String(timestamp), 'x-pushgate-signature': signHookRequest(SECRET, timestamp, body) },
    });
    assert.equal(signed.status, 200);
    assert.deepEqual(await signed.json(), { user: 'mallory', rooms: ['chat:lobby'], data: { name: 'mallory' } });
  });

  it('names the user from the cookie, joins the lobby, stamps messages, keeps them for history, and says who left', async () => {
    const ann = await openAs(chat, 'ann');
    clients.push(ann);
    const connected = await ann.next();
    assert.equal(connected.type, 'CONNECTED');
    assert.equal(connected.data.user, 'ann');
    assert.deepEqual(connected.data.rooms, ['chat:lobby']);
    assert.deepEqual(connected.data.data, { name: 'ann' });

    const ben = await openAs(chat, 'ben');
    clients.push(ben);
    assert.equal((await ben.next()).type, 'CONNECTED');
    assert.deepEqual(await pushWith(ann, (item) => item.system !== undefined && item.system !== 'ann joined'), { system: 'ben joined' });

    // The client sends only a text; the backend's publish hook replaces it with who, what and when.
    const sent = await say(ben, '  hello, ann  ');
    assert.equal(sent.type, 'ACK', JSON.stringify(sent));
    const message = await pushWith(ann, (item) => item.text !== undefined);
    assert.equal(message.user, 'ben');
    assert.equal(message.text, 'hello, ann');
    assert.ok(Math.abs(Date.parse(message.at) - Date.now()) < 60_000);
    assert.equal(typeof message.id, 'number');
    // The user is the one the gateway vouches for: a name in the data changes nothing.
    await ben.request('PUBLISH', { room: 'chat:lobby', data: { text: 'I am ann', user: 'ann' } });
    assert.deepEqual(await pushWith(ann, (item) => item.text === 'I am ann').then(({ user, text }) => ({ user, text })), { user: 'ben', text: 'I am ann' });

    const tooLong = await say(ben, 'x'.repeat(MAX_TEXT + 1));
    assert.equal(tooLong.type, 'ERROR');
    assert.equal(tooLong.data.code, 'FORBIDDEN');
    assert.equal(tooLong.data.message, `message too long: ${MAX_TEXT + 1} characters (at most ${MAX_TEXT})`);
    assert.equal((await say(ben, ' ')).data.message, 'empty message');
    assert.match((await ben.request('PUBLISH', { room: 'chat:other', data: { text: 'hi' } })).data.message, /no room "chat:other"/);

    const history = await ann.request('RPC', { method: 'history' });
    assert.equal(history.type, 'REPLY');
    assert.deepEqual(
      history.data.result.messages.map((m: any) => [m.user, m.text]),
      [
        ['ben', 'hello, ann'],
        ['ben', 'I am ann'],
      ],
    );
    const unknown = await ann.request('RPC', { method: 'delete' });
    assert.equal(unknown.data.backendCode, 'UNKNOWN_METHOD');

    ben.close();
    assert.deepEqual(await pushWith(ann, (item) => item.system?.endsWith(' left')), { system: 'ben left' });
  });

  it(`keeps the last ${HISTORY_SIZE} messages`, async () => {
    // Three connections, so that none goes over the gateway's 50 messages a second.
    const cats = await Promise.all([1, 2, 3].map(() => openAs(chat, 'cat')));
    clients.push(...cats);
    const before = chat.backend.messages().length;
    for (let i = 0; i < HISTORY_SIZE + 5 - before; i++) assert.equal((await say(cats[i % 3], `message ${i}`)).type, 'ACK');
    const { messages } = (await cats[0].request('RPC', { method: 'history' })).data.result;
    assert.equal(messages.length, HISTORY_SIZE);
    assert.equal(messages.at(-1).text, `message ${HISTORY_SIZE + 4 - before}`);
    assert.ok(messages.every((m: any, i: number) => i === 0 || m.id > messages[i - 1].id));
  });
});

describe('the chat example in headless Chromium: two users, a late third, a refusal, a departure', () => {
  let browser: Browser | null = null;
  let skip: string | null = null;
  let chat: RunningChat;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  before(async () => {
    const launched = await launchBrowser();
    if ('skip' in launched) skip = launched.skip;
    else browser = launched.browser;
    chat = await start({ wsPort: 0, apiPort: 0, backendPort: 0 });
  });
  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await chat?.close();
  });

  /** A new browser (context: its own cookies) on the chat page, logged in as `name`, connected. */
  async function logIn(name: string): Promise<Page> {
    const context = await browser!.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => errors.push(`${name}: ${error.message}`));
    await page.goto(`${chat.backendUrl}/`);
    assert.equal(await page.isVisible('#login'), true, 'the login form first');
    assert.equal(await page.textContent('#status'), 'not logged in');
    await page.fill('#name', name);
    await Promise.all([page.waitForURL(`${chat.backendUrl}/`), page.click('#login button')]);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'open', undefined, { timeout: 5000 });
    assert.equal(await page.textContent('#me'), name);
    return page;
  }

  /** Whether `page` lists a message from `user` saying `text`. */
  const showsMessage = (page: Page, user: string, text: string): Promise<unknown> =>
    page.waitForFunction(
      ([u, t]) =>
        Array.from(document.querySelectorAll('#messages li')).some(
          (li) => (li as HTMLElement).dataset.user === u && li.querySelector('.text')?.textContent === t,
        ),
      [user, text],
      { timeout: 5000 },
    );
  const showsSystem = (page: Page, text: string): Promise<unknown> =>
    page.waitForFunction((t) => Array.from(document.querySelectorAll('#messages li.system')).some((li) => li.textContent === t), text, { timeout: 5000 });

  it('one sends, the other sees it with the sender’s name; a later page gets it from the history; too long is refused; closing says who left', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const alice = await logIn('alice');
    const bob = await logIn('bob');
    await showsSystem(alice, 'bob joined');

    await alice.fill('#text', 'hello from alice');
    await alice.click('#send button');
    await showsMessage(bob, 'alice', 'hello from alice');
    await showsMessage(alice, 'alice', 'hello from alice'); // the sender gets it back from the room too
    assert.equal(await alice.inputValue('#text'), '', 'the input is cleared once sent');
    assert.equal(await bob.textContent('#messages li[data-user="alice"] .user'), 'alice');

    // Carol was not there: the history RPC brings the message.
    const carol = await logIn('carol');
    await showsMessage(carol, 'alice', 'hello from alice');
    assert.equal(await carol.locator('#messages li[data-user]').count(), 1, 'once, though it came with the history');

    await bob.fill('#text', 'y'.repeat(MAX_TEXT + 1));
    await bob.click('#send button');
    await bob.waitForFunction(() => document.getElementById('error')?.textContent?.includes('message too long'), undefined, { timeout: 5000 });
    assert.match((await bob.textContent('#error'))!, new RegExp(`not sent: .*message too long: ${MAX_TEXT + 1} characters \\(at most ${MAX_TEXT}\\)`));
    assert.equal(await bob.inputValue('#text'), 'y'.repeat(MAX_TEXT + 1), 'kept, to be shortened');
    assert.equal(await carol.locator('#messages li[data-user]').count(), 1, 'nothing was published');

    await alice.close();
    await showsSystem(bob, 'alice left');
    await showsSystem(carol, 'alice left');
    assert.deepEqual(errors, []);
  });

  it('a refused login name stays on the form with the reason', async (t) => {
    if (skip !== null || browser === null) return t.skip(skip ?? 'no browser');
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${chat.backendUrl}/`);
    await page.fill('#name', 'n'.repeat(40));
    await page.click('#login button');
    await page.waitForFunction(() => document.getElementById('error')?.textContent?.includes('a name is 1 to 32 characters'), undefined, { timeout: 5000 });
    assert.equal(await page.isVisible('#login'), true);
    assert.equal(await page.isVisible('#chat'), false);
  });
});

describe('the chat example: its command line', () => {
  let child: ChildProcess | null = null;
  after(() => {
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('starts on the ports it is given, closes its clients and exits 0 on SIGTERM', async () => {
    const proc = spawn(process.execPath, [serverScript, '--ws-port', '0', '--api-port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BACKEND_PORT: '0', PUSHGATE_HOOK_SECRET: 'from-the-environment' },
    });
    child = proc;
    let output = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
    await waitFor(() => /chat: open (http:\/\/127\.0\.0\.1:\d+)\/ \(gateway (ws:\/\/\S+),/.test(output), 15_000, `the start-up line (output: ${output})`);
    const [, page, ws] = /chat: open (http:\/\/127\.0\.0\.1:\d+)\/ \(gateway (ws:\/\/\S+),/.exec(output)!;
    const client = await TestClient.open(ws, { headers: { cookie: 'chat_name=dan', origin: page } });
    assert.equal((await client.next()).type, 'CONNECTED');
    // The hook secret came from the environment.
    const body = '{"conn":"x","headers":{}}';
    const timestamp = Date.now();
    const answer = await fetch(`${page}/hooks/connect`, {
      method: 'POST',
      body,
      headers: { 'x-pushgate-timestamp': String(timestamp), 'x-pushgate-signature': signHookRequest('from-the-environment', timestamp, body) },
    });
    assert.equal(answer.status, 401, 'signed right, refused for want of a name');
    assert.match(await answer.text(), /not logged in/);
    proc.kill('SIGTERM');
    assert.equal(await withTimeout(exited, 10_000, 'the example to exit'), 0, output);
    assert.equal((await client.waitClosed()).code, 1001);
  });

  it('exits with 2 and the usage on a bad flag', async () => {
    const proc = spawn(process.execPath, [serverScript, '--nope'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await withTimeout(new Promise<number | null>((resolve) => proc.once('close', resolve)), 10_000, 'the example to exit');
    assert.equal(code, 2);
    assert.match(stderr, /Unknown option '--nope'/);
    assert.match(stderr, /usage: example:chat/);
  });
});
