import type { Logger } from 'pino';
import { PUSHER_WEBHOOK_EVENTS, type PusherApp, type PusherApps } from './apps.js';
import { webhookSignature } from './signatures.js';

/**
 * One event of a Pusher webhook body, as Pusher Channels sends it (`events[i]`):
 * - `channel_occupied` / `channel_vacated`: a channel got its first subscriber / lost its last one;
 * - `member_added` / `member_removed`: a user joined / left a presence channel (once per user, not per connection);
 * - `client_event`: a client sent a `client-*` event on a private or presence channel; `user_id` only on presence;
 * - `cache_miss`: a client subscribed to a cache channel that holds no event;
 * - `subscription_count`: a channel's subscriber count changed.
 */
export type PusherWebhookEvent =
  | { name: 'channel_occupied' | 'channel_vacated'; channel: string }
  | { name: 'member_added' | 'member_removed'; channel: string; user_id: string }
  | { name: 'client_event'; channel: string; event: string; data: string; socket_id: string; user_id?: string }
  | { name: 'cache_miss'; channel: string }
  | { name: 'subscription_count'; channel: string; subscription_count: number };

/**
 * Posts one webhook request: `body` exactly as given (its signature is over these bytes) with `headers`, to
 * `url`. Resolves when the endpoint answered 2xx; rejects on anything else (another status, a timeout, a
 * network error), which {@link PusherWebhooks} retries. See {@link webhookPost} for one made of HookClients.
 */
export type PusherWebhookPost = (url: string, body: string, headers: Readonly<Record<string, string>>) => Promise<void>;

/** What {@link webhookPost} needs of a client: a HookClient's `callBody`. */
export interface WebhookBodyCaller {
  callBody(body: string, headers: Readonly<Record<string, string>>): Promise<{ status: number }>;
}

/**
 * A {@link PusherWebhookPost} made of one client per URL (e.g. a HookClient: keep-alive dispatcher, timeout,
 * circuit breaker), each made by `clientFor` on the URL's first POST and reused after. A HookClient resolves
 * a 4xx as an answer; Pusher retries every non-2xx, so this rejects it.
 */
export function webhookPost(clientFor: (url: string) => WebhookBodyCaller): PusherWebhookPost {
  const clients = new Map<string, WebhookBodyCaller>();
  return async (url, body, headers) => {
    let client = clients.get(url);
    if (client === undefined) clients.set(url, (client = clientFor(url)));
    const answer = await client.callBody(body, headers);
    if (answer.status < 200 || answer.status >= 300) throw new Error(`answered HTTP ${answer.status}`);
  };
}

/** Where {@link PusherWebhooks} counts (a plain object, or the gateway's Stats once it has these fields). */
export interface PusherWebhookCounters {
  /** Events queued for delivery: one per webhook URL that takes it. */
  webhookEvents: number;
  /** Events in a POST answered 2xx. */
  webhookEventsDelivered: number;
  /** POSTs made, retries included. */
  webhookPosts: number;
  /** Of those, the retries of a batch that had failed. */
  webhookRetries: number;
  /** Batches given up after every try failed (their events are counted in `webhookEventsDropped` too). */
  webhookFailures: number;
  /** Events never delivered: queue full, batch given up, left at the flush's deadline, emitted after flush or stop. */
  webhookEventsDropped: number;
}

/** Fresh counters, all zero. */
export function newWebhookCounters(): PusherWebhookCounters {
  return { webhookEvents: 0, webhookEventsDelivered: 0, webhookPosts: 0, webhookRetries: 0, webhookFailures: 0, webhookEventsDropped: 0 };
}

/** The timer functions {@link PusherWebhooks} uses (Node's by default; a fake clock's in unit tests). */
export interface WebhookTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** How failed batches are tried again: exponential backoff with jitter, bounded in tries and in age. */
export interface WebhookRetrySettings {
  /** Wait before the first retry (ms); doubled for each one after. */
  baseDelayMs: number;
  /** Longest wait between two tries (ms). */
  maxDelayMs: number;
  /** Tries of one batch, the first included, before it is given up. */
  maxAttempts: number;
  /** A batch is given up when its next try would come later than this after its first (ms). */
  maxAgeMs: number;
  /** Each wait is shortened by up to this fraction, at random (0: none), so endpoints that failed together are not retried in step. */
  jitter: number;
}

/** What {@link PusherWebhooks} is made of. */
export interface PusherWebhooksOptions {
  /** The apps served: their webhooks are indexed up front. An app emitted that is not among them is indexed on first use. */
  apps?: Iterable<PusherApp> | PusherApps;
  post: PusherWebhookPost;
  /** How long the first event of a batch waits for more (ms). Default {@link PUSHER_WEBHOOK_DEFAULTS}. */
  batchDelayMs?: number;
  /** Events one POST holds at most; a batch that reaches it goes at once. */
  maxBatchEvents?: number;
  /** Events one (app, URL) holds at most, waiting and in flight; more are dropped and counted. */
  maxQueuedEvents?: number;
  retry?: Partial<WebhookRetrySettings>;
  /** The clock (ms since the epoch): `time_ms` and the retries' age. Default `Date.now`. */
  now?: () => number;
  timers?: WebhookTimers;
  /** Random numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
  counters?: PusherWebhookCounters;
  log: Logger;
  /** At most one "dropped" warning per (app, URL) per this many ms; the drops in between are summed in the next. */
  dropLogIntervalMs?: number;
}

/**
 * The defaults, and why:
 * - `batchDelayMs` 250: Pusher batches webhooks for at most 250 ms (support article "What is the batch size
 *   and batch window for Channels webhooks?"), so a backend sees the latency it sees from Pusher.
 * - `maxBatchEvents` 100: Pusher closes a batch at 20 events, but posts batches in parallel (and does not
 *   keep their order); here one POST per (app, URL) is in flight so that order holds, so a batch must carry
 *   more to keep up with a burst (a backend iterates `events` whatever its length). 100 client events of
 *   10 KB at most stay about 1 MB.
 * - `maxQueuedEvents` 10,000: a few minutes of a busy app's channel and presence events while its endpoint is
 *   down (Pusher retries for 5 minutes), a few MB at most.
 * - retries 1 s, 2 s, 4 s … at most 60 s apart, up to 10 tries and 5 minutes: Pusher retries "with exponential
 *   backoff, for 5 minutes"; 10 tries of that schedule span about 4 minutes. Waits of 5 s and more also let
 *   a HookClient's breaker (5 s cool-down by default) probe again instead of failing the try at once.
 */
export const PUSHER_WEBHOOK_DEFAULTS = Object.freeze({
  batchDelayMs: 250,
  maxBatchEvents: 100,
  maxQueuedEvents: 10_000,
  retry: Object.freeze({ baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 10, maxAgeMs: 300_000, jitter: 0.5 }),
  dropLogIntervalMs: 10_000,
});

/** One batch, serialised once: every try posts the same bytes with the same signature and `time_ms`. */
interface Batch {
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly count: number;
  readonly firstAt: number;
  attempts: number;
}

/** One (app, URL): its queue, its batch in flight (or waiting to be retried), its timers. */
interface Route {
  readonly app: PusherApp;
  readonly url: string;
  /** The URL as logged: no user info, no query (either may hold a credential). */
  readonly shown: string;
  /** Events waiting, each serialised at emit. */
  queue: string[];
  batch: Batch | null;
  batchTimer: unknown;
  retryTimer: unknown;
  dropLogTimer: unknown;
  dropsUnlogged: number;
  dropReason: string;
}

const defaultTimers: WebhookTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Delivers Pusher Channels webhooks: {@link emit} queues an event for each webhook URL of its app that takes
 * it; per (app, URL) the events that come within `batchDelayMs` of the first go in one POST (at most
 * `maxBatchEvents`, in the order emitted), body `{"time_ms": …, "events": [...]}`, headers `Content-Type:
 * application/json`, `X-Pusher-Key` and `X-Pusher-Signature` (hex HMAC-SHA256 of the body with the app's
 * secret) — what the server SDKs' `webhook().isValid()` checks.
 *
 * One POST per (app, URL) is in flight at a time, and a failed batch is retried (backoff with jitter) before
 * any later event is sent: order holds across failures (a backend sees `channel_occupied` before the
 * `channel_vacated` of the same channel). Meanwhile events keep queuing, up to `maxQueuedEvents`; past that
 * they are dropped, counted and logged (at most one line per `dropLogIntervalMs`). Events that wait while a
 * POST is out go as soon as it settles: under load batches grow instead of queuing behind the delay.
 *
 * Shutdown: {@link flush} posts what waits and resolves when all is delivered or its timeout is reached;
 * {@link stop} only clears the timers. Nothing is ever lost silently: every event queued ends delivered or
 * counted in `webhookEventsDropped`.
 */
export class PusherWebhooks {
  /** The counters written to (the ones given, or fresh ones). */
  readonly counters: PusherWebhookCounters;
  private readonly post: PusherWebhookPost;
  private readonly batchDelayMs: number;
  private readonly maxBatchEvents: number;
  private readonly maxQueuedEvents: number;
  private readonly retry: WebhookRetrySettings;
  private readonly now: () => number;
  private readonly timers: WebhookTimers;
  private readonly random: () => number;
  private readonly log: Logger;
  private readonly dropLogIntervalMs: number;
  /** Each app's routes by event name (an event goes to the routes of its name). */
  private readonly byApp = new Map<PusherApp, Map<string, Route[]>>();
  private readonly routes: Route[] = [];
  /** Events waiting or in flight, over every route. */
  private pending = 0;
  /** Between flush() and its end: batches go at once, retries waiting are tried now. */
  private flushing = false;
  /** After flush() or stop(): nothing is posted any more. */
  private closed = false;
  private idle: (() => void) | null = null;

  /** Throws a RangeError for a setting out of range. */
  constructor(options: PusherWebhooksOptions) {
    const d = PUSHER_WEBHOOK_DEFAULTS;
    this.post = options.post;
    this.batchDelayMs = setting('batchDelayMs', options.batchDelayMs ?? d.batchDelayMs, 0);
    this.maxBatchEvents = setting('maxBatchEvents', options.maxBatchEvents ?? d.maxBatchEvents, 1);
    this.maxQueuedEvents = setting('maxQueuedEvents', options.maxQueuedEvents ?? d.maxQueuedEvents, 1);
    const retry = { ...d.retry, ...options.retry };
    this.retry = {
      baseDelayMs: setting('retry.baseDelayMs', retry.baseDelayMs, 0),
      maxDelayMs: setting('retry.maxDelayMs', retry.maxDelayMs, 0),
      maxAttempts: setting('retry.maxAttempts', retry.maxAttempts, 1),
      maxAgeMs: setting('retry.maxAgeMs', retry.maxAgeMs, 0),
      jitter: retry.jitter,
    };
    if (!(retry.jitter >= 0 && retry.jitter <= 1)) throw new RangeError(`retry.jitter must be from 0 to 1, got ${retry.jitter}`);
    this.dropLogIntervalMs = setting('dropLogIntervalMs', options.dropLogIntervalMs ?? d.dropLogIntervalMs, 0);
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? defaultTimers;
    this.random = options.random ?? Math.random;
    this.counters = options.counters ?? newWebhookCounters();
    this.log = options.log;
    const apps = options.apps === undefined ? [] : 'all' in options.apps ? options.apps.all() : options.apps;
    for (const app of apps) this.routesOf(app);
  }

  /** Events not yet delivered nor dropped: waiting, or in a POST out (or waiting for its retry). */
  get queued(): number {
    return this.pending;
  }

  /** Whether some webhook of `app` takes one of `names` (so that what only they need is followed at all). */
  takes(app: PusherApp | undefined, ...names: PusherWebhookEvent['name'][]): boolean {
    if (app === undefined || app.webhooks.length === 0) return false;
    const routes = this.routesOf(app);
    return names.some((name) => (routes.get(name)?.length ?? 0) > 0);
  }

  /**
   * Queues `event` for every webhook of `app` that takes `event.name`; nothing for an app without webhooks.
   * Never blocks, never throws: an event that cannot be queued is dropped and counted. The event is
   * serialised here: changing it afterwards changes nothing.
   */
  emit(app: PusherApp, event: PusherWebhookEvent): void {
    // The hot path of an app without webhooks: one length check.
    if (app.webhooks.length === 0) return;
    let routes: Route[] | undefined;
    try {
      routes = this.routesOf(app).get(event.name);
      if (routes === undefined) return;
      const text = JSON.stringify(event);
      for (const route of routes) this.enqueue(route, text);
    } catch (error) {
      // An event that cannot be serialised (a caller's bug): the gateway goes on, the loss is on record.
      const lost = routes?.length ?? 1;
      this.counters.webhookEventsDropped += lost;
      this.log.error({ err: (error as Error)?.message, app: app.id, event: event?.name }, 'Pusher webhook event dropped: it could not be queued');
    }
  }

  /**
   * For a shutdown: posts what is queued now, and what is emitted meanwhile, at once (no batch delay; a
   * retry that waits is tried now, later ones keep their backoff); resolves when all is delivered or given
   * up, or after `timeoutMs`. What is left then (waiting, or in a POST not answered yet) is counted as
   * dropped, and every later emit is dropped and counted.
   */
  async flush(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    this.flushing = true;
    for (const route of this.routes) {
      if (route.retryTimer !== null) {
        this.clear(route, 'retryTimer');
        this.attempt(route, route.batch!);
      } else if (route.batch === null) {
        this.send(route);
      }
    }
    if (this.pending > 0) {
      let deadline: unknown = null;
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        deadline = this.timers.setTimeout(resolve, timeoutMs);
      });
      this.idle = null;
      this.timers.clearTimeout(deadline);
    }
    this.close('the flush timed out');
  }

  /** Clears every timer and posts nothing more; what is still queued is counted as dropped. */
  stop(): void {
    this.close('the webhooks were stopped');
    this.idle?.();
  }

  private close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.flushing = false;
    for (const route of this.routes) {
      const left = route.queue.length + (route.batch?.count ?? 0);
      this.clear(route, 'batchTimer');
      this.clear(route, 'retryTimer');
      // A POST still out is abandoned: its answer, when it comes, is ignored (see settled()).
      route.queue = [];
      route.batch = null;
      if (left > 0) {
        this.pending -= left;
        this.counters.webhookEventsDropped += left;
        this.log.warn({ app: route.app.id, url: route.shown, dropped: left }, `Pusher webhook events dropped: ${reason} before they were delivered`);
      }
      this.clear(route, 'dropLogTimer');
      this.logDrops(route);
    }
  }

  // Routes are made per app object on first use: one per distinct URL, taking the union of the events its entries name.
  private routesOf(app: PusherApp): Map<string, Route[]> {
    let byEvent = this.byApp.get(app);
    if (byEvent !== undefined) return byEvent;
    byEvent = new Map();
    const byUrl = new Map<string, Route>();
    for (const hook of app.webhooks) {
      let route = byUrl.get(hook.url);
      if (route === undefined) {
        route = {
          app,
          url: hook.url,
          shown: shownUrl(hook.url),
          queue: [],
          batch: null,
          batchTimer: null,
          retryTimer: null,
          dropLogTimer: null,
          dropsUnlogged: 0,
          dropReason: '',
        };
        byUrl.set(hook.url, route);
        this.routes.push(route);
      }
      for (const name of hook.events ?? PUSHER_WEBHOOK_EVENTS) {
        let routes = byEvent.get(name);
        if (routes === undefined) byEvent.set(name, (routes = []));
        if (!routes.includes(route)) routes.push(route);
      }
    }
    this.byApp.set(app, byEvent);
    return byEvent;
  }

  private enqueue(route: Route, text: string): void {
    if (this.closed) {
      this.drop(route, 'emitted after the webhooks were flushed or stopped');
      return;
    }
    // The bound counts the batch out too: it is the memory one endpoint can hold, however it fails.
    if (route.queue.length + (route.batch?.count ?? 0) >= this.maxQueuedEvents) {
      this.drop(route, `its queue holds ${this.maxQueuedEvents} events (maxQueuedEvents)`);
      return;
    }
    route.queue.push(text);
    this.pending += 1;
    this.counters.webhookEvents += 1;
    // With a batch out, the events wait for it to settle (order), and go then.
    if (route.batch !== null) return;
    if (this.flushing || route.queue.length >= this.maxBatchEvents) this.send(route);
    else if (route.batchTimer === null) {
      route.batchTimer = this.unref(
        this.timers.setTimeout(() => {
          route.batchTimer = null;
          this.send(route);
        }, this.batchDelayMs),
      );
    }
  }

  // Takes the next batch off the queue and posts it, when none is out.
  private send(route: Route): void {
    this.clear(route, 'batchTimer');
    if (this.closed || route.batch !== null || route.queue.length === 0) return;
    const events = route.queue.splice(0, this.maxBatchEvents);
    const at = this.now();
    // The events are JSON already: the body is put together around them, and signed as it will be sent.
    const body = `{"time_ms":${at},"events":[${events.join(',')}]}`;
    const headers = {
      'content-type': 'application/json',
      'x-pusher-key': route.app.key,
      'x-pusher-signature': webhookSignature(route.app, body),
    };
    route.batch = { body, headers, count: events.length, firstAt: at, attempts: 0 };
    this.attempt(route, route.batch);
  }

  private attempt(route: Route, batch: Batch): void {
    batch.attempts += 1;
    this.counters.webhookPosts += 1;
    if (batch.attempts > 1) this.counters.webhookRetries += 1;
    let posting: Promise<void>;
    try {
      posting = this.post(route.url, batch.body, batch.headers);
    } catch (error) {
      posting = Promise.reject(error);
    }
    Promise.resolve(posting).then(
      () => this.delivered(route, batch),
      (error: unknown) => this.failed(route, batch, error),
    );
  }

  private delivered(route: Route, batch: Batch): void {
    // Abandoned by flush's deadline or stop(): already counted as dropped.
    if (route.batch !== batch) return;
    route.batch = null;
    this.pending -= batch.count;
    this.counters.webhookEventsDelivered += batch.count;
    this.next(route);
  }

  private failed(route: Route, batch: Batch, error: unknown): void {
    if (route.batch !== batch) return;
    const err = error instanceof Error ? error.message : String(error);
    const wait = this.backoff(batch.attempts);
    const where = { app: route.app.id, url: route.shown, events: batch.count, attempt: batch.attempts, err };
    if (batch.attempts >= this.retry.maxAttempts || this.now() - batch.firstAt + wait > this.retry.maxAgeMs) {
      route.batch = null;
      this.pending -= batch.count;
      this.counters.webhookFailures += 1;
      this.counters.webhookEventsDropped += batch.count;
      this.log.error(where, 'Pusher webhook batch dropped: every try failed');
      this.next(route);
      return;
    }
    // One line per failed try: one batch per endpoint is out, and the backoff spaces them.
    this.log.warn({ ...where, retryInMs: Math.round(wait) }, 'Pusher webhook POST failed; retrying');
    route.retryTimer = this.unref(
      this.timers.setTimeout(() => {
        route.retryTimer = null;
        this.attempt(route, batch);
      }, wait),
    );
  }

  // After a batch settled: what queued meanwhile has waited a round trip already, so it goes at once.
  private next(route: Route): void {
    if (route.queue.length > 0) this.send(route);
    else if (this.pending === 0) this.idle?.();
  }

  private backoff(attempts: number): number {
    const { baseDelayMs, maxDelayMs, jitter } = this.retry;
    const full = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempts - 1));
    return full * (1 - jitter * this.random());
  }

  // Counts every drop; logs the first of a window at once, and the others summed when the window ends.
  private drop(route: Route, reason: string): void {
    this.counters.webhookEventsDropped += 1;
    route.dropsUnlogged += 1;
    route.dropReason = reason;
    if (route.dropLogTimer !== null) return;
    this.logDrops(route);
    const window = (): void => {
      route.dropLogTimer = null;
      if (route.dropsUnlogged === 0) return;
      this.logDrops(route);
      route.dropLogTimer = this.unref(this.timers.setTimeout(window, this.dropLogIntervalMs));
    };
    route.dropLogTimer = this.unref(this.timers.setTimeout(window, this.dropLogIntervalMs));
  }

  private logDrops(route: Route): void {
    if (route.dropsUnlogged === 0) return;
    this.log.warn(
      { app: route.app.id, url: route.shown, dropped: route.dropsUnlogged, queued: route.queue.length + (route.batch?.count ?? 0) },
      `Pusher webhook events dropped: ${route.dropReason}`,
    );
    route.dropsUnlogged = 0;
  }

  private clear(route: Route, timer: 'batchTimer' | 'retryTimer' | 'dropLogTimer'): void {
    if (route[timer] === null) return;
    this.timers.clearTimeout(route[timer]);
    route[timer] = null;
  }

  // The gateway's servers keep the process up; a pending batch or retry must not keep a stopping one.
  private unref(handle: unknown): unknown {
    (handle as { unref?: () => void } | null)?.unref?.();
    return handle;
  }
}

function setting(name: string, value: number, min: number): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) throw new RangeError(`${name} must be a number ≥ ${min}, got ${value}`);
  return value;
}

function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(not a URL)';
  }
}
