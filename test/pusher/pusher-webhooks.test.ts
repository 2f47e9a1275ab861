import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import Pusher from 'pusher';
import { Agent } from 'undici';
import { HookClient, type HookClientSettings } from '../../src/hooks/hook-client.js';
import { silentLogger } from '../../src/log.js';
import { type PusherApp, parsePusherApp } from '../../src/pusher/apps.js';
import { newWebhookCounters, type PusherWebhookEvent, PusherWebhooks, webhookPost } from '../../src/pusher/pusher-webhooks.js';
import { withTimeout } from '../helpers/wait.js';

/** One webhook request the endpoint got, and the status it answered (null: it hung). */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number | null;
}

/** How the endpoint answers the n-th request (from 0) of a path: a status, or 'hang' (no answer). */
type Answer = (n: number) => number | 'hang';

const app: PusherApp = parsePusherApp('4321:hook-key:hook-secret');
const sdk = new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1' });
// Tries a few ms apart: the test waits on what the endpoint gets, never on time.
const FAST_RETRY = { baseDelayMs: 20, maxDelayMs: 100, maxAttempts: 6, maxAgeMs: 60_000 };

describe('PusherWebhooks over HTTP (a node:http endpoint, HookClients on an undici Agent)', () => {
  let server: Server;
  let base: string;
  let agent: Agent;
  const received: Received[] = [];
  const answers = new Map<string, Answer>();
  const hung: ServerResponse[] = [];
  /** Resolved when a path is answered 2xx. */
  const waiters: Array<{ path: string; resolve: (request: Received) => void }> = [];
  let webhooks: PusherWebhooks | null = null;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const path = req.url ?? '/';
        const n = received.filter((r) => r.path === path).length;
        const answer = (answers.get(path) ?? (() => 200))(n);
        const request: Received = { path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: answer === 'hang' ? null : answer };
        received.push(request);
        if (answer === 'hang') {
          hung.push(res);
          return;
        }
        // Plain text, as many webhook endpoints answer: the sender must not need JSON back.
        res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'oops');
        if (answer < 300) {
          for (const waiter of waiters.filter((w) => w.path === path)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(request);
          }
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    agent = new Agent({ keepAliveTimeout: 10_000, connections: 4, pipelining: 1 });
  });

  afterEach(() => {
    webhooks?.stop();
    webhooks = null;
  });

  after(async () => {
    for (const res of hung) res.destroy();
    await agent.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const delivered = (path: string): Promise<Received> => new Promise((resolve) => waiters.push({ path, resolve }));

  function start(path: string, timeoutMs = 2000) {
    const settings: HookClientSettings = { timeoutMs, concurrency: 4, maxAnswerBytes: 64 * 1024, breakerFailures: 5, breakerCooldownMs: 50, secret: '' };
    const counters = newWebhookCounters();
    const hookApp: PusherApp = { ...app, webhooks: [{ url: `${base}${path}` }] };
    webhooks = new PusherWebhooks({
      apps: [hookApp],
      post: webhookPost((url) => new HookClient('pusher-webhook', url, settings, agent)),
      batchDelayMs: 10,
      retry: FAST_RETRY,
      counters,
      log: silentLogger(),
    });
    return { hookApp, counters, webhooks };
  }

  const isValid = (request: Received): boolean => sdk.webhook({ headers: request.headers as Record<string, string>, rawBody: request.body }).isValid();

  it("delivers one batch the pusher SDK's webhook().isValid() accepts, events in order", async () => {
    const { hookApp, counters, webhooks } = start('/ok');
    const events: PusherWebhookEvent[] = [
      { name: 'channel_occupied', channel: 'presence-room' },
      { name: 'member_added', channel: 'presence-room', user_id: 'u1' },
      { name: 'client_event', channel: 'presence-room', event: 'client-hi', data: '{"text":"héllo"}', socket_id: '1.2', user_id: 'u1' },
      { name: 'member_removed', channel: 'presence-room', user_id: 'u1' },
      { name: 'channel_vacated', channel: 'presence-room' },
    ];
    const got = delivered('/ok');
    for (const event of events) webhooks.emit(hookApp, event);
    const request = await withTimeout(got, 5000, 'the webhook POST');
    assert.equal(request.headers['content-type'], 'application/json');
    assert.equal(request.headers['x-pusher-key'], app.key);
    assert.equal(isValid(request), true);
    const hook = sdk.webhook({ headers: request.headers as Record<string, string>, rawBody: request.body });
    assert.deepEqual(hook.getEvents(), events);
    assert.equal(typeof hook.getData().time_ms, 'number');
    assert.equal(received.filter((r) => r.path === '/ok').length, 1, 'one POST for the batch');
    await withTimeout(webhooks.flush(2000), 5000, 'the flush');
    assert.equal(counters.webhookEventsDelivered, 5);
  });

  it('retries a batch answered 500 twice: the endpoint gets it three times, the events are delivered once', async () => {
    answers.set('/flaky', (n) => (n < 2 ? 500 : 200));
    const { hookApp, counters, webhooks } = start('/flaky');
    const got = delivered('/flaky');
    webhooks.emit(hookApp, { name: 'channel_occupied', channel: 'news' });
    webhooks.emit(hookApp, { name: 'channel_vacated', channel: 'news' });
    await withTimeout(got, 5000, 'the third POST, answered 200');
    const requests = received.filter((r) => r.path === '/flaky');
    assert.deepEqual(
      requests.map((r) => r.status),
      [500, 500, 200],
    );
    assert.ok(
      requests.every((r) => r.body === requests[0].body && isValid(r)),
      'each try is the same signed body',
    );
    const accepted = requests.filter((r) => r.status === 200).flatMap((r) => JSON.parse(r.body).events);
    assert.deepEqual(accepted, [
      { name: 'channel_occupied', channel: 'news' },
      { name: 'channel_vacated', channel: 'news' },
    ]);
    await withTimeout(webhooks.flush(2000), 5000, 'the flush');
    assert.equal(counters.webhookPosts, 3);
    assert.equal(counters.webhookRetries, 2);
    assert.equal(counters.webhookEventsDelivered, 2);
    assert.equal(counters.webhookEventsDropped, 0);
  });

  it('retries a batch whose endpoint hangs past the timeout', async () => {
    answers.set('/slow', (n) => (n === 0 ? 'hang' : 204));
    const { hookApp, counters, webhooks } = start('/slow', 200);
    const got = delivered('/slow');
    webhooks.emit(hookApp, { name: 'member_added', channel: 'presence-x', user_id: 'u9' });
    const request = await withTimeout(got, 5000, 'the retry after the timeout');
    const requests = received.filter((r) => r.path === '/slow');
    assert.deepEqual(
      requests.map((r) => r.status),
      [null, 204],
    );
    assert.equal(requests[0].body, request.body);
    assert.equal(isValid(request), true);
    await withTimeout(webhooks.flush(2000), 5000, 'the flush');
    assert.equal(counters.webhookRetries, 1);
    assert.equal(counters.webhookEventsDelivered, 1);
  });
});
