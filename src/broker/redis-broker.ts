import { createClient, createCluster } from 'redis';
import type { HistoryStore, WithHistory } from '../history/history-store.js';
import { HISTORY_NEEDS_STANDALONE, RedisHistory } from '../history/redis-history.js';
import { BrokerBase, BrokerUnavailableError, type MessageHandler } from './broker.js';
import { answerWithin, DEFAULT_LIVENESS, LivenessProbe, type LivenessTiming, NoAnswerError } from './liveness.js';

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions {
  /** How long connect() may take to make the first connection (default 5000 ms); also each TCP connect attempt's timeout. */
  connectTimeoutMs?: number;
  /** Receives connection problems: at most one error per outage, then a line when the connection is back. */
  log?: (msg: string, err?: Error) => void;
  /** How long a publish or a liveness PING may wait for its reply, and how often every connection is PINGed. */
  liveness?: LivenessTiming;
}

type Client = ReturnType<typeof createClient>;
type Cluster = ReturnType<typeof createCluster>;
type BufferListener = (message: Buffer, channel: Buffer) => void;

const CHANNEL_NAME = /^[A-Za-z0-9_.-]+$/;
const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 2000;
/** Bound on restoring subscriptions after a reconnection, so that a second drop meanwhile cannot wedge recovery. */
const RESTORE_TIMEOUT_MS = 5000;
/** Bound on a graceful close (waiting for replies still due) before the sockets are destroyed. */
const CLOSE_TIMEOUT_MS = 1000;
/** How often, while down, a cluster broker checks whether every node connection is back. */
const CLUSTER_HEALTH_POLL_MS = 50;

/** Reconnection delay: exponential backoff (50 ms doubling, capped at 2 s) with full jitter. */
export function reconnectDelay(retries: number): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(retries, 16));
  return Math.floor(Math.random() * ceiling);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function unavailable(message: string, cause?: unknown): BrokerUnavailableError {
  const error = new BrokerUnavailableError(cause === undefined ? message : `${message}: ${asError(cause).message}`);
  if (cause !== undefined) error.cause = cause;
  return error;
}

/** Settles like `promise`, or rejects after `ms`; `promise` keeps a handler either way (no unhandled rejection). */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  promise.catch(() => undefined);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), Math.max(0, ms));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function destroyQuietly(client: Client | undefined): void {
  if (client === undefined) return;
  try {
    client.destroy();
  } catch {
    // already closed
  }
}

/** The node connections of a cluster client: per master, the command one and the sharded-subscription one. */
function clusterClients(cluster: Cluster): Client[] {
  const clients: Client[] = [];
  for (const master of cluster.masters) {
    if (master.client) clients.push(master.client as unknown as Client);
    if (master.pubSub) clients.push(master.pubSub.client as unknown as Client);
  }
  return clients;
}

/** Destroys a cluster client; node-redis stops at the first node client already closed, so finish the job. */
function destroyCluster(cluster: Cluster, clients: Client[]): void {
  if (cluster.isOpen) {
    try {
      cluster.destroy();
    } catch {
      // some node client was already closed
    }
  }
  for (const client of clients) if (client.isOpen) destroyQuietly(client);
}

/**
 * The Redis broker, over the official node-redis client (v5).
 *
 * Standalone Redis: two connections, one for PUBLISH and one in subscriber mode (a subscribed
 * connection cannot run other commands). Redis Cluster (detected at connect() with `INFO cluster`):
 * sharded pub/sub (SPUBLISH/SSUBSCRIBE), so that a channel's traffic only touches the shard that owns
 * its slot; node-redis then keeps, per master, one connection for commands and one for sharded
 * subscriptions.
 *
 * Connections are re-established forever (exponential backoff with full jitter, 50 ms → 2 s) until
 * close(). node-redis's offline queue is disabled: a publish during an outage fails at once instead of
 * being replayed after the reconnection (the caller has already been told it was not accepted).
 *
 * A server that stops answering without closing its connections (stopped, swapping, a half-open
 * connection) raises no error: every connection, the subscriber ones included (PING is allowed in
 * subscriber mode), is PINGed every `probeIntervalMs`, and a PING or a publish not answered within
 * `timeoutMs` turns the broker `down` until every connection answers again. A publish that timed out
 * may still be executed by the server once it resumes (it already had the command): the cluster layer
 * drops such late messages on arrival (see ClusterLink).
 */
export class RedisBroker extends BrokerBase implements WithHistory {
  private readonly connectTimeoutMs: number;
  private readonly log: ((msg: string, err?: Error) => void) | undefined;
  private readonly handlers = new Map<string, MessageHandler>();
  /** SUBSCRIBEs awaiting their acknowledgement, so that subscribing again waits for the same one. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Rejecters of the publishes awaiting Redis's reply, rejected by close(). */
  private readonly pending = new Set<(err: Error) => void>();
  private pub: Client | undefined;
  private sub: Client | undefined;
  private cluster: Cluster | undefined;
  private clusterMode = false;
  private connecting: Promise<void> | undefined;
  private abortConnect: ((err: Error) => void) | undefined;
  private closing: Promise<void> | undefined;
  private lastError: Error | undefined;
  private outageLogged = false;
  private recovering = false;
  private recoverAgain = false;
  private healthTimer: NodeJS.Timeout | undefined;
  private readonly liveness: LivenessTiming;
  private readonly probe: LivenessProbe;
  /** Why the server is taken as not answering (a PING or publish went unanswered), until a probe is answered. */
  private hung: Error | null = null;
  private historyStore: RedisHistory | undefined;

  /** The single node-redis listener for every channel; dispatches to the channel's handler. */
  private readonly onMessage: BufferListener = (message, channel) => {
    if (this.status === 'closed') return;
    const name = channel.toString();
    const handler = this.handlers.get(name);
    if (handler === undefined) return;
    try {
      handler(message, name);
    } catch (err) {
      // A throw would reach node-redis's reply parser, which then resets its decoder mid-stream.
      this.log?.(`redis broker: the handler of channel ${name} threw`, asError(err));
    }
  };

  constructor(
    private readonly url: string,
    options: RedisBrokerOptions = {},
  ) {
    super();
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.log = options.log;
    this.liveness = options.liveness ?? DEFAULT_LIVENESS;
    this.probe = new LivenessProbe(
      this.liveness,
      () => this.pingAll(),
      (error) => this.onProbe(error),
    );
  }

  get kind(): string {
    return this.clusterMode ? 'redis-cluster' : 'redis';
  }

  get subscriptionCount(): number {
    return this.handlers.size;
  }

  connect(): Promise<void> {
    if (this.status === 'closed') return Promise.reject(new BrokerUnavailableError('the redis broker was closed'));
    if (this.status !== 'connecting') return Promise.resolve();
    this.connecting ??= this.establish().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async establish(): Promise<void> {
    const deadline = Date.now() + this.connectTimeoutMs;
    this.lastError = undefined;
    const aborted = new Promise<never>((_, reject) => {
      this.abortConnect = reject;
    });
    aborted.catch(() => undefined);
    try {
      await Promise.race([withDeadline(this.openConnections(), this.connectTimeoutMs, `connecting to ${this.url}`), aborted]);
      await Promise.race([withDeadline(this.restoreSubscriptions(), deadline - Date.now(), 'subscribing'), aborted]);
    } catch (err) {
      this.teardown();
      if (this.isClosed()) throw new BrokerUnavailableError('the redis broker was closed while connecting');
      throw unavailable(`cannot connect to redis at ${this.url}`, this.lastError ?? err);
    } finally {
      this.abortConnect = undefined;
    }
    this.setStatus('up');
    this.probe.start();
    // A connection that dropped during the last steps: report it; 'ready' (or the health poll) brings it back.
    if (!this.healthy()) {
      this.setStatus('down', this.lastError);
      if (this.clusterMode) this.watchClusterHealth();
    }
  }

  /** Reads the status afresh (TypeScript keeps narrowings of the getter across awaits). */
  private isClosed(): boolean {
    return this.status === 'closed';
  }

  /** Opens the connections; probes for cluster mode on the first one. */
  private async openConnections(): Promise<void> {
    const probe = this.newClient();
    this.pub = probe;
    await probe.connect();
    const info = String(await probe.info('cluster'));
    if (this.isClosed()) throw new BrokerUnavailableError('closed');
    if (/^cluster_enabled:1\s*$/m.test(info)) {
      this.pub = undefined;
      destroyQuietly(probe);
      if (this.historyStore !== undefined) throw new Error(HISTORY_NEEDS_STANDALONE);
      this.clusterMode = true;
      this.cluster = this.newCluster();
      await this.cluster.connect();
      return;
    }
    this.sub = this.newClient();
    await this.sub.connect();
  }

  private newClient(): Client {
    const client = createClient({
      url: this.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: this.connectTimeoutMs, reconnectStrategy: reconnectDelay },
    });
    client.on('error', (err: unknown) => this.onConnectionError(asError(err), !client.isReady));
    client.on('ready', () => this.onReady());
    return client;
  }

  private newCluster(): Cluster {
    const { username, password, protocol } = new URL(this.url);
    const cluster = createCluster({
      rootNodes: [{ url: this.url }],
      defaults: {
        disableOfflineQueue: true,
        ...(username ? { username: decodeURIComponent(username) } : {}),
        ...(password ? { password: decodeURIComponent(password) } : {}),
        socket: {
          connectTimeout: this.connectTimeoutMs,
          reconnectStrategy: reconnectDelay,
          ...(protocol === 'rediss:' ? { tls: true as const } : {}),
        },
      },
    });
    // `error`: a topology discovery failed; `node-error`: a node connection failed (node-redis reconnects it).
    cluster.on('error', (err: unknown) => this.onConnectionError(asError(err), true));
    cluster.on('node-error', (err: unknown) => this.onConnectionError(asError(err), !this.clusterHealthy()));
    return cluster;
  }

  /** Every node-redis 'error' lands here: recorded, turned into `down`, logged once per outage. */
  private onConnectionError(err: Error, connectionLost: boolean): void {
    this.lastError = err;
    if (this.status === 'connecting' || this.status === 'closed') return;
    if (!connectionLost && this.status === 'up') {
      this.log?.('redis broker: error on a connection still up', err);
      return;
    }
    if (!this.outageLogged) {
      this.outageLogged = true;
      this.log?.(`redis broker: connection to ${this.url} lost; reconnecting`, err);
    }
    if (this.status === 'up') {
      this.setStatus('down', err);
      if (this.clusterMode) this.watchClusterHealth();
    }
  }

  private onReady(): void {
    // After a stall the connection may be new: ask at once whether the server answers on it.
    if (this.hung !== null) this.probe.now();
    else if (this.status === 'down' && this.healthy()) void this.recover();
  }

  /** PINGs every connection: the command one(s) and the subscriber one(s). */
  private pingAll(): Promise<unknown> {
    const clients = this.cluster !== undefined ? clusterClients(this.cluster) : [this.pub, this.sub];
    return Promise.all(clients.map((client) => client?.ping() ?? Promise.reject(new BrokerUnavailableError('not connected'))));
  }

  /** A probe's outcome: not answered (or failed) marks the server hung; an answer clears it. */
  private onProbe(error: Error | null): void {
    if (error !== null) {
      this.noAnswer(error);
      return;
    }
    this.hung = null;
    if (this.status === 'down' && this.healthy()) void this.recover();
  }

  /** The server did not answer in time (or a PING failed): `down` until a probe is answered. */
  private noAnswer(error: Error): void {
    this.lastError = error;
    this.hung = error;
    if (this.status !== 'up') return;
    if (!this.outageLogged) {
      this.outageLogged = true;
      this.log?.(`redis broker: ${this.url} does not answer (${error.message}); refusing publishes until it does`, error);
    }
    this.setStatus('down', error);
    if (this.clusterMode) this.watchClusterHealth();
  }

  private healthy(): boolean {
    if (this.hung !== null) return false;
    if (this.clusterMode) return this.clusterHealthy();
    return this.pub?.isReady === true && this.sub?.isReady === true;
  }

  /** Whether every master's command connection, and every sharded-subscription connection, is ready. */
  private clusterHealthy(): boolean {
    const masters = this.cluster?.masters ?? [];
    if (masters.length === 0) return false;
    return masters.every((master) => master.client?.isReady === true && (master.pubSub === undefined || master.pubSub.client.isReady));
  }

  /** node-redis emits no repeated event when a cluster node's connection is back: poll while down. */
  private watchClusterHealth(): void {
    if (this.healthTimer !== undefined) return;
    this.healthTimer = setInterval(() => {
      if (this.status !== 'down') {
        clearInterval(this.healthTimer);
        this.healthTimer = undefined;
      } else if (this.healthy()) {
        void this.recover();
      }
    }, CLUSTER_HEALTH_POLL_MS);
    this.healthTimer.unref();
  }

  /** Back from an outage: makes the subscriptions match the handlers, then reports `up`. */
  private async recover(): Promise<void> {
    if (this.recovering) {
      this.recoverAgain = true;
      return;
    }
    this.recovering = true;
    try {
      do {
        this.recoverAgain = false;
        try {
          await withDeadline(this.restoreSubscriptions(), RESTORE_TIMEOUT_MS, 'restoring the subscriptions');
        } catch (err) {
          // A new drop meanwhile: the next 'ready' (or health poll) retries.
          if (this.healthy()) this.log?.('redis broker: cannot restore the subscriptions', asError(err));
          else continue;
        }
        if (this.status === 'down' && this.healthy()) {
          this.outageLogged = false;
          this.setStatus('up');
          this.log?.(`redis broker: connection to ${this.url} restored`);
        }
      } while (this.recoverAgain && this.status === 'down');
    } finally {
      this.recovering = false;
    }
  }

  /**
   * Subscribes the channels that have a handler but no Redis subscription, unsubscribes the others.
   * node-redis re-subscribes what it had on its own at each reconnection; this covers the
   * (un)subscriptions that were asked for while down or failed with the connection.
   */
  private async restoreSubscriptions(): Promise<void> {
    const active = new Set<string>();
    if (this.clusterMode) {
      for (const master of this.cluster?.masters ?? []) {
        for (const channel of master.pubSub?.client.getPubSubListeners('SHARDED').keys() ?? []) active.add(channel);
      }
    } else {
      for (const channel of this.sub?.getPubSubListeners('CHANNELS').keys() ?? []) active.add(channel);
    }
    const work: Promise<void>[] = [];
    for (const channel of this.handlers.keys()) if (!active.has(channel)) work.push(this.sendSubscribe(channel));
    for (const channel of active) if (!this.handlers.has(channel)) work.push(this.sendUnsubscribe(channel));
    await Promise.all(work);
  }

  private sendSubscribe(channel: string): Promise<void> {
    if (this.clusterMode) {
      if (this.cluster === undefined) return Promise.reject(new BrokerUnavailableError('not connected'));
      return this.cluster.sSubscribe(channel, this.onMessage, true);
    }
    if (this.sub === undefined) return Promise.reject(new BrokerUnavailableError('not connected'));
    return this.sub.subscribe(channel, this.onMessage, true);
  }

  /** Passes the listener so that node-redis marks the channel "unsubscribing": a subscribe right after sends a new SUBSCRIBE. */
  private sendUnsubscribe(channel: string): Promise<void> {
    if (this.clusterMode) return this.cluster?.sUnsubscribe(channel, this.onMessage, true) ?? Promise.resolve();
    return this.sub?.unsubscribe(channel, this.onMessage, true) ?? Promise.resolve();
  }

  publish(channel: string, payload: Buffer): Promise<void> {
    if (this.status !== 'up') return Promise.reject(new BrokerUnavailableError(`the redis broker is ${this.status}`));
    if (!CHANNEL_NAME.test(channel)) return Promise.reject(new TypeError(`invalid channel name ${JSON.stringify(channel)}`));
    let command: Promise<unknown>;
    try {
      command = this.clusterMode ? this.cluster!.sPublish(channel, payload) : this.pub!.publish(channel, payload);
    } catch (err) {
      return Promise.reject(unavailable('publish failed', err));
    }
    return new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      this.pending.add(fail);
      // Not answered in time: refused, and the broker is down. The server may still run the command
      // when it resumes; the message then carries its deadline and is dropped where it arrives.
      const timer = setTimeout(() => {
        if (!this.pending.delete(fail)) return;
        const error = new NoAnswerError(`redis publish on ${channel}`, this.liveness.timeoutMs);
        this.noAnswer(error);
        reject(error);
      }, this.liveness.timeoutMs);
      command.then(
        () => {
          if (this.pending.delete(fail)) {
            clearTimeout(timer);
            resolve();
          }
        },
        (err: unknown) => {
          if (this.pending.delete(fail)) fail(unavailable('publish failed', err));
        },
      );
    });
  }

  /**
   * Room history in Redis Streams, on the command connection (see RedisHistory); one per broker.
   * Throws in Redis Cluster mode (and connect() then fails when it finds a cluster).
   */
  history(): HistoryStore {
    if (this.clusterMode) throw new Error(HISTORY_NEEDS_STANDALONE);
    this.historyStore ??= new RedisHistory({
      status: () => this.status,
      client: () => (this.clusterMode ? undefined : this.pub),
      timeoutMs: this.liveness.timeoutMs,
      noAnswer: (error) => this.noAnswer(error),
    });
    return this.historyStore;
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<void> {
    if (this.status === 'closed') throw new BrokerUnavailableError('the redis broker was closed');
    if (!CHANNEL_NAME.test(channel)) throw new TypeError(`invalid channel name ${JSON.stringify(channel)}`);
    const known = this.handlers.has(channel);
    this.handlers.set(channel, handler);
    if (known) return this.inflight.get(channel);
    // Not connected (yet, or right now): the subscription is made when the connection is up.
    if (this.status !== 'up') return;
    const sent = answerWithin(this.sendSubscribe(channel), this.liveness.timeoutMs, `SUBSCRIBE ${channel}`, (error) => this.noAnswer(error));
    const attempt = sent.catch((err: unknown) => {
      if (this.status === 'closed') throw unavailable('the redis broker was closed', err);
      // The connection dropped meanwhile: recover() subscribes it on the way back up.
      if (this.status !== 'up') return;
      if (this.handlers.get(channel) === handler) this.handlers.delete(channel);
      throw unavailable(`cannot subscribe to ${channel}`, err);
    });
    this.inflight.set(channel, attempt);
    try {
      await attempt;
    } finally {
      if (this.inflight.get(channel) === attempt) this.inflight.delete(channel);
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.handlers.delete(channel)) return;
    this.inflight.delete(channel);
    // Delivery stopped with the handler; while down, recover() drops the Redis subscription.
    if (this.status !== 'up') return;
    try {
      await this.sendUnsubscribe(channel);
    } catch (err) {
      if (this.status === 'up') this.log?.(`redis broker: cannot unsubscribe from ${channel}`, asError(err));
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const wasUp = this.status === 'up';
    this.setStatus('closed');
    this.probe.stop();
    if (this.healthTimer !== undefined) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    const closed = new BrokerUnavailableError('the redis broker was closed');
    for (const fail of this.pending) fail(closed);
    this.pending.clear();
    this.handlers.clear();
    this.inflight.clear();
    this.abortConnect?.(closed);
    await this.disconnect(wasUp);
  }

  /** Closes the connections: gracefully (bounded) when they are up, at once otherwise. */
  private async disconnect(graceful: boolean): Promise<void> {
    const { pub, sub, cluster } = this;
    this.pub = undefined;
    this.sub = undefined;
    this.cluster = undefined;
    if (cluster !== undefined) {
      const clients = clusterClients(cluster);
      if (graceful) {
        await withDeadline(cluster.close(), CLOSE_TIMEOUT_MS, 'closing the cluster connections').catch(() => undefined);
      }
      destroyCluster(cluster, clients);
    }
    await Promise.all(
      [pub, sub].map(async (client) => {
        if (client === undefined) return;
        if (graceful && client.isReady) {
          try {
            await withDeadline(client.close(), CLOSE_TIMEOUT_MS, 'closing a connection');
            return;
          } catch {
            // destroyed below
          }
        }
        destroyQuietly(client);
      }),
    );
  }

  /** Drops whatever a failed connect() opened, so that connect() can be tried again. */
  private teardown(): void {
    destroyQuietly(this.pub);
    destroyQuietly(this.sub);
    if (this.cluster !== undefined) destroyCluster(this.cluster, clusterClients(this.cluster));
    this.pub = undefined;
    this.sub = undefined;
    this.cluster = undefined;
    this.clusterMode = false;
  }
}
