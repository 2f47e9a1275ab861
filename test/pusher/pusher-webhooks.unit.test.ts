import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Pusher from 'pusher';
import { silentLogger } from '../../src/log.js';
import { type PusherApp, PusherApps, parsePusherApp } from '../../src/pusher/apps.js';
import { newWebhookCounters, type PusherWebhookEvent, PusherWebhooks, type PusherWebhooksOptions, webhookPost } from '../../src/pusher/pusher-webhooks.js';
import { memoryLogger } from '../helpers/log.js';

/** A fake clock: `now`, and timers that run only when the test advances it (in due order, promises settled in between). */
class FakeClock {
  now = 1_700_000_000_000;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  readonly timers = {
    setTimeout: (fn: () => void, ms: number): unknown => {
      const id = ++this.seq;
      this.pending.set(id, { at: this.now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout: (handle: unknown): void => {
      this.pending.delete(handle as number);
    },
  };

  /** Timers not run nor cleared. */
  get timersPending(): number {
    return this.pending.size;
  }

  /** Moves the clock `ms` on, running every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    await settle();
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.pending) if (entry[1].at <= until && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
      await settle();
    }
    this.now = until;
  }
}

/** Lets the promise callbacks queued so far (and those they queue) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

interface Posted {
  url: string;
  body: string;
  headers: Readonly<Record<string, string>>;
  /** Settles this POST when the fake is manual. */
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * A fake `post`. Each POST takes the next scripted outcome: 'ok' resolves, 'fail' rejects, 'manual' waits
 * for the test to settle it; when the script is empty, `otherwise` applies.
 */
function fakePost(script: Array<'ok' | 'fail' | 'manual'> = [], otherwise: 'ok' | 'fail' | 'manual' = 'ok') {
  const posts: Posted[] = [];
  const post = (url: string, body: string, headers: Readonly<Record<string, string>>): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      posts.push({ url, body, headers, resolve, reject });
      const outcome = script.shift() ?? otherwise;
      if (outcome === 'ok') resolve();
      else if (outcome === 'fail') reject(new Error('answered HTTP 500'));
    });
  return { post, posts };
}

const eventsOf = (posted: Posted): PusherWebhookEvent[] => (JSON.parse(posted.body) as { events: PusherWebhookEvent[] }).events;
const channelsOf = (posted: Posted): string[] => eventsOf(posted).map((e) => (e as { channel: string }).channel);

function appWith(webhooks: PusherApp['webhooks'], spec = '1234:app-key:app-secret'): PusherApp {
  return { ...parsePusherApp(spec), webhooks };
}

const occupied = (channel: string): PusherWebhookEvent => ({ name: 'channel_occupied', channel });
const vacated = (channel: string): PusherWebhookEvent => ({ name: 'channel_vacated', channel });

const URL_A = 'http://127.0.0.1:9/a';
const URL_B = 'http://127.0.0.1:9/b';

function setUp(overrides: Partial<PusherWebhooksOptions> = {}, post = fakePost()) {
  const clock = new FakeClock();
  const counters = newWebhookCounters();
  const webhooks = new PusherWebhooks({
    post: post.post,
    now: () => clock.now,
    timers: clock.timers,
    random: () => 0,
    counters,
    log: silentLogger(),
    retry: { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 6, maxAgeMs: 300_000 },
    ...overrides,
  });
  return { clock, counters, webhooks, posts: post.posts };
}

describe('PusherWebhooks: batching', () => {
  it('puts the events of one batch delay in one POST, in order, with the time_ms of the POST', async () => {
    const app = appWith([{ url: URL_A }]);
    const { clock, counters, webhooks, posts } = setUp({ batchDelayMs: 250 });
    webhooks.emit(app, occupied('a'));
    await clock.advance(100);
    webhooks.emit(app, { name: 'member_added', channel: 'presence-a', user_id: 'u1' });
    await clock.advance(100);
    webhooks.emit(app, vacated('a'));
    await clock.advance(49);
    assert.equal(posts.length, 0, 'the batch waits 250 ms from its first event');
    assert.equal(webhooks.queued, 3);
    await clock.advance(1);
    assert.equal(posts.length, 1);
    assert.equal(posts[0].url, URL_A);
    assert.deepEqual(JSON.parse(posts[0].body), {
      time_ms: clock.now,
      events: [
        { name: 'channel_occupied', channel: 'a' },
        { name: 'member_added', channel: 'presence-a', user_id: 'u1' },
        { name: 'channel_vacated', channel: 'a' },
      ],
    });
    webhooks.emit(app, occupied('b'));
    await clock.advance(249);
    assert.equal(posts.length, 1, 'a later event opens a new batch, with its own delay');
    await clock.advance(1);
    assert.deepEqual(channelsOf(posts[1]), ['b']);
    assert.deepEqual(counters, {
      webhookEvents: 4,
      webhookEventsDelivered: 4,
      webhookPosts: 2,
      webhookRetries: 0,
      webhookFailures: 0,
      webhookEventsDropped: 0,
    });
    assert.equal(webhooks.queued, 0);
    assert.equal(clock.timersPending, 0);
  });

  it('splits at maxBatchEvents: a full batch goes at once, one POST in flight, the rest after it settles', async () => {
    const app = appWith([{ url: URL_A }]);
    const { clock, webhooks, posts } = setUp({ maxBatchEvents: 3 }, fakePost([], 'manual'));
    for (const c of ['1', '2', '3', '4', '5', '6', '7']) webhooks.emit(app, occupied(c));
    assert.equal(posts.length, 1, 'the full batch went at once; the next waits for it');
    assert.deepEqual(channelsOf(posts[0]), ['1', '2', '3']);
    await clock.advance(1000);
    assert.equal(posts.length, 1, 'still one in flight, whatever the delay');
    posts[0].resolve();
    await settle();
    assert.deepEqual(channelsOf(posts[1]), ['4', '5', '6']);
    posts[1].resolve();
    await settle();
    assert.deepEqual(channelsOf(posts[2]), ['7'], 'what waited during a POST goes when it settles, without a new delay');
    posts[2].resolve();
    await settle();
    assert.equal(webhooks.queued, 0);
  });

  it('sends each event to the webhooks that take its name, and nothing for an app without webhooks', async () => {
    const app = appWith([
      { url: URL_A, events: ['channel_occupied', 'channel_vacated'] },
      { url: URL_B },
      // The same URL twice is one endpoint: an event goes once, if either entry takes it.
      { url: URL_A, events: ['client_event'] },
    ]);
    const bare = appWith([], '5678:bare-key:bare-secret');
    const { clock, counters, webhooks, posts } = setUp({ apps: new PusherApps([app, bare]) });
    webhooks.emit(bare, occupied('x'));
    webhooks.emit(app, occupied('a'));
    webhooks.emit(app, { name: 'member_added', channel: 'presence-a', user_id: 'u' });
    webhooks.emit(app, { name: 'client_event', channel: 'private-a', event: 'client-x', data: '{}', socket_id: '1.2' });
    await clock.advance(250);
    const byUrl = new Map(posts.map((p) => [p.url, eventsOf(p).map((e) => e.name)]));
    assert.equal(posts.length, 2);
    assert.deepEqual(byUrl.get(URL_A), ['channel_occupied', 'client_event']);
    assert.deepEqual(byUrl.get(URL_B), ['channel_occupied', 'member_added', 'client_event']);
    assert.equal(counters.webhookEvents, 5, 'one per URL that takes it; none for the bare app');
  });
});

describe('PusherWebhooks: the wire format, against the pusher server SDK', () => {
  it("signs every POST so that the SDK's webhook().isValid() accepts it, and another app's does not", async () => {
    const app = appWith([{ url: URL_A }], '1234:app-key:app-secret');
    const other = appWith([{ url: URL_A }], '5678:other-key:other-secret');
    const { clock, webhooks, posts } = setUp();
    const event: PusherWebhookEvent = {
      name: 'client_event',
      channel: 'presence-room',
      event: 'client-typing',
      data: '{"text":"é ✓ \\u2028"}',
      socket_id: '123.456',
      user_id: 'u1',
    };
    webhooks.emit(app, event);
    webhooks.emit(other, { name: 'member_removed', channel: 'presence-room', user_id: 'u2' });
    await clock.advance(250);
    assert.equal(posts.length, 2, 'one batch per (app, URL): each is signed with its own app');
    const [mine, theirs] = posts[0].headers['x-pusher-key'] === app.key ? posts : [posts[1], posts[0]];
    const sdk = new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1' });
    assert.equal(mine.headers['content-type'], 'application/json');
    assert.equal(mine.headers['x-pusher-key'], 'app-key');
    const hook = sdk.webhook({ headers: mine.headers as Record<string, string>, rawBody: mine.body });
    assert.equal(hook.isValid(), true);
    assert.deepEqual(hook.getEvents(), [event]);
    assert.equal(hook.getTime().getTime(), clock.now);
    assert.equal(sdk.webhook({ headers: theirs.headers as Record<string, string>, rawBody: theirs.body }).isValid(), false, "the other app's key and secret");
    const otherSdk = new Pusher({ appId: other.id, key: other.key, secret: other.secret, host: '127.0.0.1' });
    assert.equal(otherSdk.webhook({ headers: theirs.headers as Record<string, string>, rawBody: theirs.body }).isValid(), true);
    assert.equal(sdk.webhook({ headers: mine.headers as Record<string, string>, rawBody: `${mine.body} ` }).isValid(), false, 'a body changed by a byte');
  });

  it('webhookPost makes one client per URL, resolves a 2xx and rejects any other answer', async () => {
    const made: string[] = [];
    const statuses = [200, 204, 404, 302];
    const post = webhookPost((url) => {
      made.push(url);
      return { callBody: async () => ({ status: statuses.shift()! }) };
    });
    await post(URL_A, '{}', {});
    await post(URL_A, '{}', {});
    await assert.rejects(post(URL_B, '{}', {}), /answered HTTP 404/);
    await assert.rejects(post(URL_A, '{}', {}), /answered HTTP 302/);
    assert.deepEqual(made, [URL_A, URL_B]);
  });
});

describe('PusherWebhooks: retries', () => {
  it('retries a failed batch with doubling waits until it succeeds, the same bytes each time, later events after it', async () => {
    const app = appWith([{ url: URL_A }]);
    const { clock, counters, webhooks, posts } = setUp({}, fakePost(['fail', 'fail', 'ok']));
    webhooks.emit(app, occupied('a'));
    await clock.advance(250);
    assert.equal(posts.length, 1);
    webhooks.emit(app, vacated('a'));
    await clock.advance(999);
    assert.equal(posts.length, 1, 'the first retry waits 1 s; the later event waits behind it');
    await clock.advance(1);
    assert.equal(posts.length, 2);
    await clock.advance(1999);
    assert.equal(posts.length, 2, 'the second retry waits 2 s');
    await clock.advance(1);
    assert.equal(posts.length, 4, 'the retry succeeded, and the event that waited went at once');
    assert.equal(posts[1].body, posts[0].body, 'a retry posts the same body (same time_ms, same signature)');
    assert.equal(posts[2].body, posts[0].body);
    assert.deepEqual(posts[2].headers, posts[0].headers);
    assert.deepEqual(
      posts.map((p) => eventsOf(p)[0].name),
      ['channel_occupied', 'channel_occupied', 'channel_occupied', 'channel_vacated'],
      'occupied is delivered before vacated, across the retries',
    );
    assert.deepEqual(counters, {
      webhookEvents: 2,
      webhookEventsDelivered: 2,
      webhookPosts: 4,
      webhookRetries: 2,
      webhookFailures: 0,
      webhookEventsDropped: 0,
    });
  });

  it('caps the wait at maxDelayMs and shortens it by the jitter', async () => {
    const app = appWith([{ url: URL_A }]);
    const { clock, webhooks, posts } = setUp(
      { batchDelayMs: 0, random: () => 0.5, retry: { baseDelayMs: 1000, maxDelayMs: 3000, maxAttempts: 10, maxAgeMs: 300_000, jitter: 0.5 } },
      fakePost(['fail', 'fail', 'fail', 'fail', 'ok']),
    );
    webhooks.emit(app, occupied('a'));
    await clock.advance(0);
    const before: number[] = [];
    for (const wait of [750, 1500, 2250, 2250]) {
      await clock.advance(wait - 1);
      before.push(posts.length);
      await clock.advance(1);
    }
    assert.deepEqual(before, [1, 2, 3, 4], 'no try before its wait: 1 s, 2 s, 3 s (capped), 3 s, each × (1 − 0.5 × 0.5)');
    assert.equal(posts.length, 5);
  });

  it('gives up a batch after maxAttempts, counts it, and goes on with the next', async () => {
    const app = appWith([{ url: URL_A }]);
    const memory = memoryLogger();
    const { clock, counters, webhooks, posts } = setUp(
      { log: memory.log, retry: { baseDelayMs: 100, maxAttempts: 3 } },
      fakePost(['fail', 'fail', 'fail', 'ok']),
    );
    webhooks.emit(app, occupied('a'));
    webhooks.emit(app, vacated('a'));
    await clock.advance(250);
    webhooks.emit(app, occupied('b'));
    await clock.advance(100 + 200);
    assert.equal(posts.length, 4, 'three tries, then the next batch');
    assert.deepEqual(channelsOf(posts[3]), ['b']);
    assert.equal(counters.webhookFailures, 1);
    assert.equal(counters.webhookEventsDropped, 2);
    assert.equal(counters.webhookEventsDelivered, 1);
    assert.equal(counters.webhookRetries, 2);
    assert.equal(webhooks.queued, 0);
    const lines = memory.lines();
    assert.equal(lines.filter((l) => l.level === 40).length, 2, 'a warning per failed try that is retried');
    assert.equal(lines.filter((l) => l.level === 50 && l.events === 2).length, 1, 'an error when the batch is given up');
  });

  it('gives up a batch whose next try would be later than maxAgeMs after its first', async () => {
    const app = appWith([{ url: URL_A }]);
    const { clock, counters, webhooks, posts } = setUp({ retry: { baseDelayMs: 1000, maxAttempts: 100, maxAgeMs: 2500 } }, fakePost([], 'fail'));
    webhooks.emit(app, occupied('a'));
    await clock.advance(250 + 1000 + 2000 + 4000);
    assert.equal(posts.length, 2, 'tried at 0 and 1 s; a try at 3 s would be past 2.5 s');
    assert.equal(counters.webhookFailures, 1);
    assert.equal(counters.webhookEventsDropped, 1);
  });

  it('treats a post that throws at once as a failed try (emit never throws)', async () => {
    const app = appWith([{ url: URL_A }]);
    let calls = 0;
    const { clock, counters, webhooks } = setUp(
      { retry: { maxAttempts: 2, baseDelayMs: 10 } },
      {
        post: () => {
          calls += 1;
          throw new Error('boom');
        },
        posts: [],
      },
    );
    webhooks.emit(app, occupied('a'));
    await clock.advance(250 + 10);
    assert.equal(calls, 2);
    assert.equal(counters.webhookFailures, 1);
    // A caller's bug: an event that is not JSON is dropped and counted, not thrown.
    assert.doesNotThrow(() => webhooks.emit(app, { name: 'channel_occupied', channel: 1n } as unknown as PusherWebhookEvent));
    assert.equal(counters.webhookEventsDropped, 2);
  });
});

describe('PusherWebhooks: bounds, flush and stop', () => {
  it('drops past maxQueuedEvents (the batch in flight included), counts every drop and logs them rate-limited', async () => {
    const app = appWith([{ url: URL_A }]);
    const memory = memoryLogger();
    const { clock, counters, webhooks, posts } = setUp(
      { maxQueuedEvents: 5, maxBatchEvents: 2, log: memory.log, dropLogIntervalMs: 10_000 },
      fakePost([], 'manual'),
    );
    for (let i = 0; i < 105; i++) webhooks.emit(app, occupied(`c${i}`));
    assert.equal(posts.length, 1);
    assert.equal(webhooks.queued, 5, '2 in flight, 3 waiting');
    assert.equal(counters.webhookEventsDropped, 100);
    const drops = () => memory.lines().filter((l) => typeof l.msg === 'string' && (l.msg as string).includes('dropped'));
    assert.equal(drops().length, 1, 'one line for the first drop, not one per event');
    assert.equal(drops()[0].dropped, 1);
    await clock.advance(10_000);
    assert.equal(drops().length, 2, 'the drops of the window, summed at its end');
    assert.equal(drops()[1].dropped, 99);
    await clock.advance(10_000);
    assert.equal(drops().length, 2, 'no drop since: no line');
    posts[0].resolve();
    await settle();
    assert.deepEqual(channelsOf(posts[1]), ['c2', 'c3'], 'the events queued before the bound are delivered in order');
  });

  it('flush posts what waits at once, and what is emitted during it, and resolves when all is delivered', async () => {
    const app = appWith([{ url: URL_A }]);
    const { counters, webhooks, posts } = setUp({ batchDelayMs: 60_000 }, fakePost([], 'manual'));
    webhooks.emit(app, occupied('a'));
    assert.equal(posts.length, 0);
    let done = false;
    const flushing = webhooks.flush(5000).then(() => (done = true));
    assert.equal(posts.length, 1, 'no batch delay when flushing');
    webhooks.emit(app, vacated('a'));
    posts[0].resolve();
    await settle();
    assert.equal(done, false);
    assert.deepEqual(channelsOf(posts[1]), ['a']);
    assert.equal(eventsOf(posts[1])[0].name, 'channel_vacated', 'an event emitted during the flush (a closing connection) goes too');
    posts[1].resolve();
    await flushing;
    assert.equal(counters.webhookEventsDelivered, 2);
    webhooks.emit(app, occupied('late'));
    assert.equal(counters.webhookEventsDropped, 1, 'after the flush, an event is dropped and counted');
    assert.equal(posts.length, 2);
  });

  it('flush tries a waiting retry now, and at its timeout counts what is left (in flight too) as dropped', async () => {
    const app = appWith([{ url: URL_A }]);
    const other = appWith([{ url: URL_B }], '5678:other-key:other-secret');
    const { clock, counters, webhooks, posts } = setUp({}, fakePost(['fail'], 'manual'));
    webhooks.emit(app, occupied('a'));
    webhooks.emit(other, occupied('b'));
    await clock.advance(250);
    assert.equal(posts.length, 2, 'A failed (retry in 1 s), B hangs');
    let done = false;
    const flushing = webhooks.flush(3000).then(() => (done = true));
    assert.equal(posts.length, 3, "A's retry is tried at once");
    assert.equal(posts[2].url, URL_A);
    posts[2].resolve();
    await settle();
    assert.equal(counters.webhookEventsDelivered, 1);
    await clock.advance(2999);
    assert.equal(done, false);
    await clock.advance(1);
    await flushing;
    assert.equal(counters.webhookEventsDropped, 1, "B's event, never answered, is counted as dropped");
    assert.equal(webhooks.queued, 0);
    posts[1].resolve();
    await settle();
    assert.equal(counters.webhookEventsDelivered, 1, 'an answer after the deadline changes nothing');
    assert.equal(clock.timersPending, 0);
  });

  it('stop clears every timer and counts what is left as dropped', async () => {
    const app = appWith([{ url: URL_A }, { url: URL_B }]);
    const { clock, counters, webhooks, posts } = setUp({ maxQueuedEvents: 1 }, fakePost(['fail']));
    webhooks.emit(app, occupied('a'));
    await clock.advance(250);
    webhooks.emit(app, occupied('b'));
    webhooks.emit(app, occupied('c'));
    assert.ok(clock.timersPending >= 2, 'a retry, a batch delay, a drop-log window');
    webhooks.stop();
    assert.equal(clock.timersPending, 0);
    assert.equal(webhooks.queued, 0);
    assert.equal(counters.webhookEvents, 3, 'a to A and B, b to B');
    assert.equal(counters.webhookEventsDelivered, 1, 'a to B');
    assert.equal(counters.webhookEventsDropped, 5, 'b and c to A (queue full), c to B, then a to A (waiting for its retry) and b to B');
    await clock.advance(60_000);
    assert.equal(posts.length, 2);
    await webhooks.flush(1000);
  });
});
