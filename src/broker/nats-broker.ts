import { type NatsConnection, connect as natsConnect, errors as natsErrors, type Subscription } from '@nats-io/transport-node';
import type { HistoryStore, WithHistory } from '../history/history-store.js';
import { JetStreamHistory, type JetStreamHistoryOptions } from '../history/jetstream-history.js';
import { BrokerBase, BrokerUnavailableError, type MessageHandler } from './broker.js';
import { answerWithin, DEFAULT_LIVENESS, LivenessProbe, type LivenessTiming } from './liveness.js';

export interface NatsBrokerOptions {
  /** How long connect() keeps trying to make the first connection (default 5000 ms). Also each dial's handshake timeout. */
  connectTimeoutMs?: number;
  /** Told once per outage (and about server errors and throwing handlers). Silent by default. */
  log?: (msg: string, err?: Error) => void;
  /** How long a publish confirmation or a liveness PING may wait for its PONG, and how often the connection is PINGed. */
  liveness?: LivenessTiming;
  /** Where room history lives on JetStream, once {@link NatsBroker.history} is called (see jetstream-history.ts). */
  history?: JetStreamHistoryOptions;
}

/** Room channels (src/cluster/channels.ts): those of rooms with history are fed from the JetStream stream. */
const ROOM_CHANNEL_PREFIX = 'pushgate.room.';

/** Wait between (re)connection attempts, plus up to RECONNECT_JITTER_MS at random. */
const RECONNECT_WAIT_MS = 250;
const RECONNECT_JITTER_MS = 250;
/**
 * nats.js's own PINGs: after about 2 intervals unanswered it drops the connection and dials again
 * (instead of its 4-6 min default). A server that stops answering is noticed sooner by the liveness
 * probe, which turns the broker `down` without dropping the connection.
 */
const PING_INTERVAL_MS = 10_000;
const MAX_PINGS_OUT = 2;
/** How long close() lets an up connection drain (confirm in-flight publishes) before closing it hard. */
const CLOSE_DRAIN_MS = 2000;

/** Publishes (and subscriptions) confirmed together by one PING/PONG on one connection. */
interface Batch {
  nc: NatsConnection;
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

interface Entry {
  handler: MessageHandler;
  /** The nats.js subscription on the current connection (null while there is none). */
  sub: Subscription | null;
}

function unavailable(message: string, cause?: unknown): BrokerUnavailableError {
  const err = new BrokerUnavailableError(cause instanceof Error ? `${message}: ${cause.message}` : message);
  if (cause !== undefined) err.cause = cause;
  return err;
}

/** An attempt cut short by connect()'s deadline. */
class DeadlineError extends Error {}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * The NATS broker (core NATS, no JetStream): a channel is a subject.
 *
 * What "published" means: NATS publishes are fire-and-forget and nats.js buffers them while it
 * reconnects. So publish() refuses at once unless the connection is up, and otherwise resolves only
 * once the server has answered a PING sent after the message (concurrent publishes share one PING).
 * When the connection drops first, nats.js discards its outbound buffer and rejects the pending
 * PINGs when it dials again: the publish rejects and the message is never sent later.
 *
 * Subscriptions are kept here (channel -> handler) and by nats.js, which re-sends them on every
 * reconnection. The status is `up` only once the server has confirmed them.
 *
 * A server that stops answering keeps the connection open: a PING/PONG round trip every
 * `probeIntervalMs`, and each publish's confirmation, must come within `timeoutMs`, or the broker is
 * `down` (publishes refused) until a PING is answered again. A publish refused that way may still reach
 * subscribers when the server resumes (it already had the message): the cluster layer drops such late
 * messages on arrival (see ClusterLink).
 */
export class NatsBroker extends BrokerBase implements WithHistory {
  readonly kind = 'nats';
  private readonly url: string;
  private readonly connectTimeoutMs: number;
  private readonly log: (msg: string, err?: Error) => void;
  private nc: NatsConnection | null = null;
  private connecting: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private readonly entries = new Map<string, Entry>();
  /** Publishes waiting for the next PING (sent when the in-flight one is answered). */
  private next: Batch | null = null;
  /** Publishes whose PING has been sent. */
  private inFlight: Batch | null = null;
  /** Bumped on every loss of connection: a confirmation started before a loss must not set `up`. */
  private epoch = 0;
  private outageLogged = false;
  /** Pending waits (reconnect sleeps, connect deadline) that close() cuts short. */
  private readonly cancels = new Set<() => void>();
  private readonly liveness: LivenessTiming;
  private readonly probe: LivenessProbe;
  /** Fails the probe's PING when its connection closes: nats.js leaves a closed connection's PINGs pending, which would stop the probing. */
  private probeWaiter: ((error: Error) => void) | null = null;
  private readonly historyOptions: JetStreamHistoryOptions;
  private historyStore: JetStreamHistory | null = null;

  constructor(url: string, options: NatsBrokerOptions = {}) {
    super();
    this.url = url;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.log = options.log ?? (() => {});
    this.liveness = options.liveness ?? DEFAULT_LIVENESS;
    this.historyOptions = options.history ?? {};
    this.probe = new LivenessProbe(
      this.liveness,
      () => this.pingCurrent(),
      (error) => this.onProbe(error),
    );
  }

  get subscriptionCount(): number {
    return this.entries.size;
  }

  /**
   * Room history on JetStream (the server must run with `-js`), made on first call. From then on, a room
   * channel subscribed here also gets the pushes appended to that room's stream, from one consumer that
   * follows the whole stream (see jetstream-history.ts); channels of rooms without history are untouched.
   */
  history(): HistoryStore {
    if (this.historyStore === null) {
      const store = new JetStreamHistory(
        {
          connection: () => this.nc,
          up: () => this.status === 'up',
          timeoutMs: this.liveness.timeoutMs,
          noAnswer: (error) => this.lost(error),
          deliver: (channel, payload) => this.deliverHistory(channel, payload),
          log: this.log,
        },
        this.historyOptions,
      );
      this.historyStore = store;
      for (const channel of this.entries.keys()) {
        if (channel.startsWith(ROOM_CHANNEL_PREFIX)) {
          void store.follow();
          break;
        }
      }
    }
    return this.historyStore;
  }

  connect(): Promise<void> {
    if (this.status === 'closed') return Promise.reject(new BrokerUnavailableError('the nats broker was closed'));
    if (this.nc !== null) return Promise.resolve();
    this.connecting ??= this.firstConnect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  async publish(channel: string, payload: Buffer): Promise<void> {
    const nc = this.nc;
    if (this.status !== 'up' || nc === null) throw new BrokerUnavailableError(`the nats broker is ${this.status}`);
    try {
      nc.publish(channel, payload);
    } catch (err) {
      if (err instanceof natsErrors.ClosedConnectionError || err instanceof natsErrors.DrainingConnectionError) {
        throw unavailable('the nats connection is closing', err);
      }
      throw err; // a caller error: invalid subject, payload over max_payload
    }
    return this.confirmWithin(nc, `publish on ${channel}`);
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<void> {
    if (this.status === 'closed') throw new BrokerUnavailableError('the nats broker was closed');
    const existing = this.entries.get(channel);
    if (existing !== undefined) {
      existing.handler = handler;
    } else {
      const entry: Entry = { handler, sub: null };
      this.entries.set(channel, entry);
      // Without a connection yet, attach() subscribes when there is one.
      if (this.nc !== null) entry.sub = this.natsSubscribe(this.nc, channel, entry);
    }
    // Resolve once the server has the SUB, so a publish from elsewhere right after reaches it. When
    // down, nats.js sends the SUB on reconnection, before the status is `up` again.
    const nc = this.nc;
    if (this.status === 'up' && nc !== null) await this.confirmWithin(nc, `subscribe to ${channel}`).catch(() => {});
    // Likewise for the room's history stream: once its consumer is in place (it keeps trying when down).
    const store = this.historyStore;
    if (store !== null && channel.startsWith(ROOM_CHANNEL_PREFIX) && this.status === 'up') {
      await answerWithin(store.follow(), this.liveness.timeoutMs, `following the history stream for ${channel}`).catch(() => {});
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    const entry = this.entries.get(channel);
    if (entry === undefined) return;
    this.entries.delete(channel);
    try {
      entry.sub?.unsubscribe();
    } catch {
      // closed connection: nothing to unsubscribe from
    }
    entry.sub = null;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // --- connecting ---

  private async firstConnect(): Promise<void> {
    const nc = await this.open(Date.now() + this.connectTimeoutMs);
    if (this.status === 'closed') {
      await nc.close().catch(() => {});
      throw new BrokerUnavailableError('the nats broker was closed while connecting');
    }
    this.attach(nc);
    this.probe.start();
    // `up` once the subscriptions made before connect() are confirmed (or `down` if the connection
    // dropped meanwhile, or the server does not answer in time: connect() has done its part, and the
    // reconnection or the liveness probe brings it up).
    await answerWithin(this.confirmUp(nc), this.liveness.timeoutMs, 'confirming the subscriptions', (error) => this.lost(error)).catch(() => {});
  }

  /**
   * Makes a connection, trying again every ~RECONNECT_WAIT_MS until `deadline` (null: until close()).
   * Each attempt fails fast on a refused port; nats.js takes over the reconnecting once connected.
   */
  private async open(deadline: number | null): Promise<NatsConnection> {
    let lastError: unknown;
    for (;;) {
      if (this.status === 'closed') throw new BrokerUnavailableError('the nats broker was closed');
      if (deadline !== null && Date.now() >= deadline) {
        throw unavailable(`cannot connect to nats at ${this.url} within ${this.connectTimeoutMs} ms`, lastError);
      }
      try {
        return await this.attempt(deadline);
      } catch (err) {
        // Keep the informative cause (e.g. ECONNREFUSED) over our own deadline.
        if (!(err instanceof DeadlineError) || lastError === undefined) lastError = err;
      }
      if (this.closed()) continue;
      let wait = RECONNECT_WAIT_MS + Math.floor(Math.random() * (RECONNECT_JITTER_MS + 1));
      // The last attempt is made just before the deadline rather than giving up early.
      if (deadline !== null) wait = Math.min(wait, Math.max(0, deadline - Date.now() - 1));
      await this.sleep(wait);
    }
  }

  private attempt(deadline: number | null): Promise<NatsConnection> {
    const dialing = natsConnect({
      servers: this.url,
      name: 'pushgate',
      timeout: this.connectTimeoutMs,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      reconnectJitter: RECONNECT_JITTER_MS,
      pingInterval: PING_INTERVAL_MS,
      maxPingOut: MAX_PINGS_OUT,
      // Fail this attempt (instead of retrying inside nats.js, where it cannot be cancelled): open() retries.
      waitOnFirstConnect: false,
    });
    if (deadline === null) return dialing;
    return new Promise<NatsConnection>((resolve, reject) => {
      let settled = false;
      const stop = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.cancels.delete(cancel);
        reject(err);
        // A connection that comes up too late is closed rather than leaked.
        dialing.then(
          (nc) => nc.close().catch(() => {}),
          () => {},
        );
      };
      const cancel = (): void => stop(new BrokerUnavailableError('the nats broker was closed while connecting'));
      const timer = setTimeout(() => stop(new DeadlineError(`no connection after ${this.connectTimeoutMs} ms`)), Math.max(0, deadline - Date.now()));
      this.cancels.add(cancel);
      dialing.then(
        (nc) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.cancels.delete(cancel);
          resolve(nc);
        },
        (err: unknown) => stop(asError(err)),
      );
    });
  }

  /** A method, not `this.status === 'closed'`, so TypeScript does not narrow the status across awaits. */
  private closed(): boolean {
    return this.status === 'closed';
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed()) {
        resolve();
        return;
      }
      const cancel = (): void => {
        clearTimeout(timer);
        this.cancels.delete(cancel);
        resolve();
      };
      const timer = setTimeout(cancel, ms);
      this.cancels.add(cancel);
    });
  }

  /** Adopts a new connection: subscribes every channel on it and follows its status. */
  private attach(nc: NatsConnection): void {
    this.nc = nc;
    for (const [channel, entry] of this.entries) entry.sub = this.natsSubscribe(nc, channel, entry);
    void this.watch(nc);
    void nc.closed().then((err) => this.onClosed(nc, err));
  }

  private async watch(nc: NatsConnection): Promise<void> {
    // The iterator ends when the connection closes.
    for await (const s of nc.status()) {
      if (this.nc !== nc) continue;
      switch (s.type) {
        case 'disconnect':
          this.lost(unavailable(`lost the connection to nats at ${s.server}`));
          break;
        case 'staleConnection':
          this.lost(unavailable(`the connection to nats at ${this.url} is stale (no PONG)`));
          break;
        case 'reconnecting':
          this.lost(unavailable(`reconnecting to nats at ${this.url}`));
          break;
        case 'reconnect':
          void this.confirmUp(nc);
          break;
        case 'error':
          this.log(`nats server error on ${this.url}`, s.error);
          break;
        default:
          break;
      }
    }
  }

  private lost(err: Error): void {
    this.epoch++;
    this.historyStore?.forget();
    if (this.status === 'closed' || this.status === 'down') return;
    if (!this.outageLogged) {
      this.outageLogged = true;
      this.log(`nats broker down (${err.message}); refusing publishes until the server answers again`, err);
    }
    this.setStatus('down', err);
  }

  /** A PING/PONG round trip on the current connection; failPending() fails it if the connection closes. */
  private pingCurrent(): Promise<unknown> {
    const nc = this.nc;
    if (nc === null) return Promise.reject(new BrokerUnavailableError('not connected'));
    return new Promise<void>((resolve, reject) => {
      const settle = (error: Error | null): void => {
        if (this.probeWaiter === fail) this.probeWaiter = null;
        if (error === null) resolve();
        else reject(error);
      };
      const fail = (error: Error): void => settle(error);
      this.probeWaiter = fail;
      nc.flush().then(
        () => settle(null),
        (error: unknown) => settle(asError(error)),
      );
    });
  }

  /** A probe's outcome: no answer turns the broker `down`; an answer while `down` brings it back up. */
  private onProbe(error: Error | null): void {
    if (error !== null) {
      this.lost(unavailable(`nats at ${this.url} does not answer`, error));
      return;
    }
    const nc = this.nc;
    if (this.status === 'down' && nc !== null) void this.confirmUp(nc);
  }

  /** Sets `up` once a PING on `nc` is answered, i.e. the (re-sent) subscriptions are in place. */
  private async confirmUp(nc: NatsConnection): Promise<void> {
    const epoch = this.epoch;
    try {
      await nc.flush();
    } catch {
      return; // dropped again: the next `reconnect` tries again
    }
    if (this.nc !== nc || this.epoch !== epoch || this.status === 'closed') return;
    this.outageLogged = false;
    this.setStatus('up');
  }

  /**
   * nats.js gave up on `nc` (it only does with maxReconnectAttempts -1 after repeated authentication
   * errors), or close() closed it. In the first case start over with a new connection, forever.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: nats.js types closed() as Promise<void | Error>.
  private onClosed(nc: NatsConnection, err: void | Error): void {
    if (this.nc !== nc || this.status === 'closed') return;
    this.nc = null;
    for (const entry of this.entries.values()) entry.sub = null;
    const why = unavailable(`the nats connection to ${this.url} was closed`, err ?? undefined);
    this.failPending(why);
    this.lost(why);
    void this.open(null).then(
      (fresh) => {
        if (this.status === 'closed') {
          void fresh.close().catch(() => {});
          return;
        }
        this.attach(fresh);
        void this.confirmUp(fresh);
      },
      () => {}, // open(null) only gives up when closed
    );
  }

  // --- confirming publishes ---

  /** {@link confirm}, bounded by the timeout: no PONG in time turns the broker `down`. */
  private confirmWithin(nc: NatsConnection, what: string): Promise<void> {
    return answerWithin(this.confirm(nc), this.liveness.timeoutMs, what, (error) => this.lost(error));
  }

  /** Resolves once the server has answered a PING sent on `nc` after now. */
  private confirm(nc: NatsConnection): Promise<void> {
    if (this.next !== null && this.next.nc !== nc) {
      // Cannot happen (a connection change fails the batches first), but never leave one hanging.
      this.next.reject(new BrokerUnavailableError('the nats connection changed before the server confirmed'));
      this.next = null;
    }
    if (this.next === null) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.next = { nc, promise, resolve, reject };
      // Let the publishes of this tick join; if a PING is in flight, this batch goes when it is answered.
      if (this.inFlight === null) queueMicrotask(() => this.sendPing());
    }
    return this.next.promise;
  }

  private sendPing(): void {
    const batch = this.next;
    if (batch === null || this.inFlight !== null) return;
    this.next = null;
    this.inFlight = batch;
    void this.ping(batch).then((err) => {
      if (this.inFlight !== batch) return;
      this.inFlight = null;
      const waiting = this.next;
      if (waiting === null) return;
      if (err === null) {
        this.sendPing();
        return;
      }
      // The connection dropped after the in-flight PING, so the messages of the waiting batch, written
      // after it, went to the dead socket or were dropped with nats.js's buffer. They must not get a
      // PING on the next connection, whose PONG would claim they were delivered.
      this.next = null;
      waiting.reject(err);
    });
  }

  /** Settles `batch` with the outcome of a PING on its connection; resolves with the error, if any. */
  private ping(batch: Batch): Promise<Error | null> {
    return batch.nc.flush().then(
      () => {
        batch.resolve();
        return null;
      },
      (cause: unknown) => {
        // nats.js rejects the pending PINGs when it dials again: before it reconnects, after it has
        // discarded its outbound buffer, so those messages are never sent.
        const err = unavailable('the nats connection dropped before the server confirmed', cause);
        batch.reject(err);
        return err;
      },
    );
  }

  /** Rejects what waits for a PONG that a closed connection will never give (nats.js leaves those pending). */
  private failPending(err: Error): void {
    const batches = [this.inFlight, this.next];
    this.inFlight = null;
    this.next = null;
    for (const batch of batches) batch?.reject(err);
    this.probeWaiter?.(err);
  }

  // --- delivering ---

  private natsSubscribe(nc: NatsConnection, channel: string, entry: Entry): Subscription {
    return nc.subscribe(channel, {
      callback: (err, msg) => {
        if (err !== null) {
          this.log(`nats subscription to ${channel} failed`, err);
          return;
        }
        if (this.entries.get(channel) !== entry) return;
        const data = msg.data;
        try {
          entry.handler(Buffer.from(data.buffer, data.byteOffset, data.byteLength), channel);
        } catch (handlerError) {
          // An exception escaping here would end nats.js's read loop and silently stall the connection.
          this.log(`a handler for nats channel ${channel} threw`, asError(handlerError));
        }
      },
    });
  }

  /** A push of a room with history, from the stream: to the channel's handler, as a core-NATS message would go. */
  private deliverHistory(channel: string, payload: Buffer): void {
    const entry = this.entries.get(channel);
    if (entry === undefined) return;
    try {
      entry.handler(payload, channel);
    } catch (handlerError) {
      this.log(`a handler for nats channel ${channel} threw`, asError(handlerError));
    }
  }

  // --- closing ---

  private async shutdown(): Promise<void> {
    const wasUp = this.status === 'up';
    this.setStatus('closed');
    this.probe.stop();
    for (const cancel of [...this.cancels]) cancel();
    await this.historyStore?.close().catch(() => {});
    const nc = this.nc;
    this.nc = null;
    this.entries.clear();
    let waiting: Batch | null = null;
    if (nc !== null && !nc.isClosed()) {
      if (wasUp) {
        // Publishes still waiting for their PING get it now, ahead of the drain's final PING (else the
        // connection could close before their PONG although the server has their messages).
        waiting = this.next;
        this.next = null;
        if (waiting !== null) void this.ping(waiting);
        // Drain: the publishes already sent get their PONG (resolve) before the connection closes.
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CLOSE_DRAIN_MS);
        });
        await Promise.race([nc.drain().catch(() => {}), timeout]);
        clearTimeout(timer);
      }
      // Down (or drain too slow): close at once. nats.js drops its outbound buffer, so nothing
      // still queued is sent; the publishes waiting on it reject below.
      if (!nc.isClosed()) await nc.close().catch(() => {});
    }
    const closed = new BrokerUnavailableError('the nats broker was closed');
    waiting?.reject(closed); // no-op when its PONG came
    this.failPending(closed);
  }
}
