import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { isLoopback } from '../api/api-key.js';
import { ApiServer } from '../api/api-server.js';
import { JwtVerifier, KeyFileError } from '../auth/jwt.js';
import { createOriginPolicy, type OriginPolicy } from '../auth/origin.js';
import { type Broker, BrokerUnavailableError } from '../broker/broker.js';
import { brokerLiveness, createBroker } from '../broker/create-broker.js';
import { NoAnswerError } from '../broker/liveness.js';
import { nodeOfConnection } from '../cluster/channels.js';
import { ClusterLink, type ClusterView, type InstanceView, type NodeView } from '../cluster/cluster-link.js';
import type { PushEnvelope } from '../cluster/envelope.js';
import { IpcBroker } from '../cluster/ipc-broker.js';
import { type GatewayOptions, OptionError, optionSpec, resolveOptions } from '../config/options.js';
import type { Connection } from '../connection/connection.js';
import { Heartbeat } from '../hub/heartbeat.js';
import { Hub } from '../hub/hub.js';
import { silentLogger } from '../log.js';
import { Dispatcher } from '../merger/dispatcher.js';
import { Merger, type PushTarget } from '../merger/merger.js';
import { CloseCode } from '../protocol/codes.js';
import { apiError, type PushError } from '../protocol/errors.js';
import { roomNameProblem } from '../protocol/room-name.js';
import { hostPort } from '../server/http-lifecycle.js';
import { sendJson } from '../server/http-reply.js';
import { WsListener } from '../server/ws-listener.js';
import { aggregateReports } from '../stats/aggregate.js';
import { createMetricsRegistry } from '../stats/metrics.js';
import { Stats, type StatsSnapshot } from '../stats/stats.js';
import { Pages } from '../web/pages.js';
import { type AuthContext, ClientAdmission } from './client-admission.js';
import { type ClientHandler, STATS_ROOM, type StatsAccess, statsAccess } from './client-handler.js';
import { acceptItems, itemCount } from './items.js';

/** What an accepted push amounts to. */
export interface PushResult {
  /** Items accepted. */
  items: number;
  /** Connections the push is addressed to at acceptance. */
  recipients: number;
}

/** The bound addresses, known once {@link Gateway.listen} resolved (null for a side this role does not serve). */
export interface GatewayAddresses {
  ws: AddressInfo | null;
  api: AddressInfo | null;
}

/** What a gateway may be given besides its options. */
export interface GatewayExtras {
  /** A broker to use instead of the one `options.broker` names (workers get the primary's relay). */
  broker?: Broker;
  /** This process's worker number, when run with `--workers`. */
  worker?: number;
  /**
   * The instance this process belongs to: an id the primary of `--workers` gives all its workers, so
   * that `GET /stats` counts the whole instance. Default: this process's own node id (an instance alone).
   */
  instance?: string;
}

export { STATS_ROOM };

/** Longest user id `POST /push/user` takes. */
export const MAX_USER_ID_LENGTH = 1024;

// What the start-up line says of the dashboard stream, and how to open it.
const STATS_ACCESS_LINES: Record<StatsAccess, string> = {
  public: 'public: any client may read node ids, pids and counters (--public-stats)',
  key: 'needs the API key: open /dashboard#key=<API key> (or start with --public-stats to make it public)',
  closed: 'closed: start with --public-stats to open it to anyone, or set --api-key and open /dashboard#key=<API key>',
};

/** WebSocket paths: go-push's `/connect` and the seeds' `/ws`. */
export const WEBSOCKET_PATHS = ['/connect', '/ws'] as const;

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * One gateway process: WebSocket clients in rooms, pushes merged and delivered, the push API and the
 * demo console. `new Gateway(options)` then `listen()`; `close()` shuts down gracefully.
 *
 * @example
 * const gateway = new Gateway({ port: 0, apiPort: 0 });
 * const { ws, api } = await gateway.listen();
 * gateway.pushRoom('news', [{ title: 'hello' }]);
 * await gateway.close();
 */
export class Gateway {
  /** The options in force, defaults filled in and checked. */
  readonly options: Readonly<GatewayOptions>;
  readonly stats = new Stats();
  readonly hub: Hub;
  readonly log: Logger;
  /** Prometheus registry of this gateway (served at `GET /metrics`). */
  readonly metrics: Registry;
  /** The instance this process belongs to (see {@link GatewayExtras.instance}). */
  readonly instanceId: string;

  private readonly originPolicy: OriginPolicy;
  /** Verifies connection tokens; null when authentication is off. */
  private readonly verifier: JwtVerifier | null;
  private readonly admission: ClientAdmission;
  private readonly handler: ClientHandler;
  private readonly merger: Merger;
  private readonly dispatcher: Dispatcher;
  private readonly heartbeat: Heartbeat;
  private readonly wsListener: WsListener;
  private readonly api: ApiServer;
  private readonly startedAt = Date.now();
  private state: State = 'new';
  private closing: Promise<void> | null = null;
  private draining: Promise<string | null> | null = null;
  /** When a graceful shutdown must be over (`shutdownTimeout` after it started). */
  private shutdownDeadline = 0;
  private wsPortClosed: Promise<void> | null = null;
  private starting: Promise<unknown> | null = null;
  private cluster: ClusterLink | null = null;
  private readonly extras: GatewayExtras;
  private pages: Pages | null = null;
  private statsStream: NodeJS.Timeout | null = null;

  /**
   * @param options any subset of {@link GatewayOptions}; the rest are the embedded defaults. Throws an
   *   `OptionError` naming a bad option.
   * @param log where to log; silent by default.
   */
  constructor(options: Partial<GatewayOptions> = {}, log: Logger = silentLogger(), extras: GatewayExtras = {}) {
    this.options = Object.freeze(resolveOptions(options));
    this.log = log;
    this.extras = extras;
    this.originPolicy = createOriginPolicy(this.options.allowedOrigins, this.options.host.split(','));
    try {
      this.verifier = JwtVerifier.fromOptions(this.options);
    } catch (error) {
      if (error instanceof KeyFileError) throw new OptionError(optionSpec('jwtPublicKey') ?? 'jwtPublicKey', error.message);
      throw error;
    }
    this.hub = new Hub(this.options.maxRooms);
    this.instanceId = extras.instance ?? this.hub.nodeId;
    this.admission = new ClientAdmission({
      options: this.options,
      hub: this.hub,
      stats: this.stats,
      log,
      verifier: this.verifier,
      accepting: () => this.state === 'running' || this.state === 'starting',
    });
    this.handler = this.admission.handler;
    this.dispatcher = new Dispatcher({
      sent: (frame) => {
        this.stats.sendMessageTotal += 1;
        this.stats.itemsDelivered += frame.items;
      },
      failed: (frame) => {
        this.stats.sendMessageFail += 1;
        this.stats.itemsDropped += frame.items;
      },
    });
    this.merger = new Merger(this.options.maxBatchItems, this.options.maxBatchDelay, (batch, target) => {
      this.stats.batchesFlushed += 1;
      this.dispatcher.enqueue(batch, this.recipientsOf(target));
    });
    // With authentication on, the sweep also enforces AUTH deadlines and token expiry, at least every second.
    this.heartbeat = new Heartbeat(
      this.hub,
      this.options.heartbeatInterval * 1000,
      (count) => {
        this.stats.heartbeatDisconnects += count;
        log.debug({ count }, 'heartbeat timeout');
      },
      this.verifier === null ? null : 1000,
      (counts) => log.debug(counts, 'authentication sweep'),
    );
    this.metrics = createMetricsRegistry(
      () => this.snapshot(),
      () => this.clusterView(),
    );
    // Each worker or node serves its own /metrics: a label tells them apart in one Prometheus.
    this.metrics.setDefaultLabels({ node: this.hub.nodeId });
    this.wsListener = new WsListener({
      host: this.options.host,
      port: this.options.port,
      paths: WEBSOCKET_PATHS,
      originPolicy: this.originPolicy,
      maxMessageSize: this.options.maxMessageSize,
      handshakeTimeout: this.options.handshakeTimeout * 1000,
      maxConnectionsPerIp: this.options.maxConnectionsPerIp,
      admit: (req) => this.admission.admitHandshake(req),
      onConnection: (ws, _req, context) => this.admission.accept(ws, context as AuthContext | undefined),
      onRefused: (status, reason, req) => {
        this.stats.handshakesRefused += 1;
        log.info({ status, reason, origin: req.headers.origin, address: req.socket.remoteAddress }, 'handshake refused');
      },
      onAborted: (req) => {
        this.stats.handshakesAborted += 1;
        log.debug({ address: req.socket.remoteAddress }, 'handshake aborted by the client');
      },
      onRequest: (req, res) => this.servePage(req, res),
      onError: (error) => log.error({ err: error }, 'WebSocket server error'),
    });
    this.api = new ApiServer(this, log);
  }

  /** `true` between a successful {@link listen} and the start of {@link close}. */
  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Whether this process holds client connections (roles `both` and `gateway`). */
  get servesConnections(): boolean {
    return this.options.role !== 'api';
  }

  /** Whether this process serves the push API (roles `both` and `api`). */
  get servesApi(): boolean {
    return this.options.role !== 'gateway';
  }

  /**
   * Joins the cluster (when a broker is configured), then binds the WebSocket port and the push API
   * port as the role asks; resolves with the bound addresses.
   */
  async listen(): Promise<GatewayAddresses> {
    if (this.state !== 'new') throw new Error('listen() may be called once');
    this.state = 'starting';
    let ws: AddressInfo | null = null;
    let api: AddressInfo | null = null;
    try {
      const bound = (async () => {
        const broker = this.extras.broker ?? (await createBroker(this.options.broker, this.log, brokerLiveness(this.options)));
        if (this.servesApi && this.options.apiKey === '' && !isLoopback(this.options.apiHost)) {
          throw new OptionError(
            optionSpec('apiKey') ?? 'apiKey',
            `the push API would listen on ${this.options.apiHost} without a key: set --api-key (PUSHGATE_API_KEY), or listen on a loopback address`,
          );
        }
        if (broker === null && this.options.role !== 'both') {
          throw new OptionError(
            optionSpec('broker') ?? 'broker',
            `role ${this.options.role} needs a broker shared with the other role (redis://… or nats://…), not memory`,
          );
        }
        if (broker !== null) {
          this.cluster = new ClusterLink(broker, this.clusterHost(), this.log, {
            presenceIntervalMs: this.options.presenceInterval * 1000,
            publishTimeoutMs: this.options.brokerTimeout,
            probeIntervalMs: this.options.brokerProbeInterval,
            clockSkewMs: this.options.brokerClockSkew,
          });
          this.hub.onRoomChange = (room, open) => (open ? this.cluster?.roomOpened(room) : this.cluster?.roomClosed(room));
          this.handler.roomReady = (room) => this.cluster?.roomReady(room) ?? null;
          this.hub.onUserChange = (user, open) => (open ? this.cluster?.userOpened(user) : this.cluster?.userClosed(user));
          this.handler.userReady = (user) => this.cluster?.userReady(user) ?? null;
          await this.cluster.start();
        }
        if (this.servesConnections) {
          this.pages = new Pages(this.log);
          ws = await this.wsListener.listen();
        }
        if (this.servesApi) api = await this.api.listen(this.options.apiPort, this.options.apiHost);
      })();
      this.starting = bound;
      await bound;
    } catch (error) {
      // Release whichever port did bind, so a failed start leaves nothing behind.
      this.state = 'stopped';
      void this.wsListener.stopAccepting();
      this.wsListener.destroy();
      void this.api.close();
      await this.cluster?.stop().catch(() => undefined);
      throw error;
    }
    if (this.closing !== null || this.draining !== null) return { ws, api }; // close() or drain() was called meanwhile: it takes over from here
    this.state = 'running';
    this.heartbeat.start();
    if (this.servesConnections) {
      this.statsStream = setInterval(() => this.streamStats(), 1000);
      this.statsStream.unref();
    }
    if (this.originPolicy.allowsAll) {
      this.log.warn('allowedOrigins is "*": pages on ANY site may open WebSockets here (cross-site WebSocket hijacking); list your origins instead');
    } else {
      const origins = this.options.allowedOrigins;
      const port = (ws as AddressInfo | null)?.port ?? this.options.port;
      const own = this.originPolicy.ownHostnames.map((name) => `http://${name}:${port}`).join(', ');
      this.log.info(
        origins.length === 0
          ? `allowed origins: same origin only (${own}); other sites and names need --allowed-origins`
          : `allowed origins: ${origins.join(', ')}`,
      );
    }
    if (this.servesConnections)
      this.log.info(`dashboard stream (${STATS_ROOM}): ${STATS_ACCESS_LINES[statsAccess(this.options.publicStats, this.options.apiKey !== '')]}`);
    const where = (address: AddressInfo | null): string => (address === null ? 'none' : hostPort(address));
    this.log.info(`listening ws=${where(ws)} api=${where(api)}${this.cluster === null ? '' : ` broker=${this.cluster.broker.kind} node=${this.hub.nodeId}`}`);
    return { ws, api };
  }

  /**
   * Pushes items to every connection (on every node, in a cluster). `items` is an array of JSON
   * values, each serialised once here (or, from the push API, the items' exact texts). Rejects with a
   * {@link PushError} when refused: `INVALID_BODY` for an empty list or a value JSON cannot hold,
   * `ITEM_TOO_DEEP` past `maxItemDepth`, 503s when full or stopping. Without a broker the items are
   * merged before this returns, so pushes made in one turn share frames.
   */
  async pushAll(items: unknown): Promise<PushResult> {
    return this.push({ kind: 'all', items: this.admit(items) });
  }

  /** Pushes items to the members of `room`, as one or more PUSH frames naming the room. */
  async pushRoom(room: string, items: unknown): Promise<PushResult> {
    const problem = roomNameProblem(room);
    if (problem !== null) throw apiError.INVALID_ROOM.problem(problem);
    return this.push({ kind: 'room', room, items: this.admit(items) });
  }

  /**
   * Pushes items to one connection by id, on whichever node holds it; 404 (`CONN_NOT_FOUND`) when
   * no live node holds it. A node this one cannot see while its view of the cluster is not current
   * (broker down, or just back) is no proof of absence: that answers 503 `BROKER_UNAVAILABLE` (retry).
   */
  async pushConn(id: string, items: unknown): Promise<PushResult> {
    if (this.state !== 'running') throw apiError.SHUTTING_DOWN.gateway();
    const node = nodeOfConnection(id);
    const cluster = this.cluster;
    if (cluster === null || node === this.hub.nodeId) {
      if (this.hub.get(id) === undefined) throw apiError.CONN_NOT_FOUND.notConnected(id);
    } else {
      // The broker first: while it is down, no answer about other nodes can be trusted.
      if (!cluster.available) throw this.brokerUnavailable();
      if (node === null) throw apiError.CONN_NOT_FOUND.notConnected(id);
      if (!cluster.knowsNode(node)) {
        if (!cluster.viewCurrent) {
          this.stats.pushRejected += 1;
          throw apiError.BROKER_UNAVAILABLE.viewNotCurrent(node, id);
        }
        throw apiError.CONN_NOT_FOUND.notConnected(id);
      }
    }
    return this.push({ kind: 'conn', conn: id, items: this.admit(items) });
  }

  /**
   * Pushes items to every connection of an authenticated user (the token's `sub`), on every node, as
   * PUSH frames without a room. `recipients` counts the user's connections on this node only: users
   * are not in presence reports, so in a cluster it is a lower bound (0 on an API-only node).
   */
  async pushUser(user: string, items: unknown): Promise<PushResult> {
    if (user === '' || user.length > MAX_USER_ID_LENGTH) throw apiError.INVALID_BODY.userLength(MAX_USER_ID_LENGTH);
    return this.push({ kind: 'user', user, items: this.admit(items) });
  }

  private push(envelope: PushEnvelope): Promise<PushResult> {
    const result: PushResult = { items: envelope.items.length, recipients: this.recipientCount(envelope) };
    if (envelope.kind === 'all') this.stats.pushAllTotal += 1;
    else if (envelope.kind === 'room') this.stats.pushRoomTotal += 1;
    else if (envelope.kind === 'user') this.stats.pushUserTotal += 1;
    else this.stats.pushConnTotal += 1;
    if (this.cluster === null) {
      this.deliver(envelope);
      return Promise.resolve(result);
    }
    return this.cluster.publish(envelope).then(
      () => result,
      (error: unknown) => {
        this.stats.itemsAccepted -= envelope.items.length;
        if (error instanceof NoAnswerError) this.stats.pushesTimedOut += 1;
        if (error instanceof BrokerUnavailableError) throw this.brokerUnavailable();
        this.stats.pushRejected += 1;
        throw error;
      },
    );
  }

  // Connections a push is addressed to at acceptance: here, or over the cluster as last reported.
  private recipientCount(envelope: PushEnvelope): number {
    const view = this.cluster?.view() ?? null;
    switch (envelope.kind) {
      case 'all':
        return view === null ? this.hub.size : view.total.onlineConnections;
      case 'room':
        return view === null ? (this.hub.members(envelope.room)?.size ?? 0) : (view.rooms[envelope.room] ?? 0);
      case 'conn':
        return 1;
      case 'user':
        // Users are not in presence (unbounded): this node's connections of the user only.
        return this.hub.userConnections(envelope.user)?.size ?? 0;
    }
  }

  // A push for this node's clients, from the API directly or from the broker.
  private deliver(envelope: PushEnvelope): void {
    if (!this.servesConnections) return;
    switch (envelope.kind) {
      case 'all':
        this.merger.add('*', ALL, envelope.items);
        return;
      case 'room':
        // A node receives only rooms it has members in; the last one may have just left.
        if (this.hub.members(envelope.room) !== undefined) this.merger.add(`r:${envelope.room}`, { kind: 'room', room: envelope.room }, envelope.items);
        return;
      case 'conn': {
        const conn = this.hub.get(envelope.conn);
        if (conn === undefined) {
          this.stats.itemsDropped += envelope.items.length;
          return;
        }
        this.merger.add(`c:${envelope.conn}`, { kind: 'conn', conn }, envelope.items);
        return;
      }
      case 'user':
        // As rooms: the user's last connection here may have just closed.
        if (this.hub.userConnections(envelope.user) !== undefined) this.merger.add(`u:${envelope.user}`, { kind: 'user', user: envelope.user }, envelope.items);
    }
  }

  private clusterHost() {
    return {
      nodeId: this.hub.nodeId,
      instance: this.instanceId,
      role: this.options.role,
      worker: this.extras.worker ?? null,
      holdsConnections: this.servesConnections,
      deliver: (push: PushEnvelope) => this.deliver(push),
      expired: () => {
        this.stats.pushesExpired += 1;
      },
      stats: () => numericStats(this.snapshot()),
      rooms: () => this.hub.roomSizes(),
      users: () => this.hub.userIds(),
      holdsRoom: (room: string) => this.hub.members(room) !== undefined,
      holdsUser: (user: string) => this.hub.userConnections(user) !== undefined,
    };
  }

  /** The cluster as reported by every live node; null without a broker. */
  clusterView(): ClusterView | null {
    return this.cluster?.view() ?? null;
  }

  /** Whether this process is one of the workers of `--workers`. */
  get isWorker(): boolean {
    return this.extras.worker !== undefined;
  }

  /**
   * This process's instance as one whole: in a cluster, the processes sharing {@link instanceId} (the
   * other workers as last reported by presence, this one live); without a broker, this process alone.
   */
  instanceView(): InstanceView {
    if (this.cluster !== null) return this.cluster.instanceView();
    const self = this.localNode();
    return { id: this.instanceId, nodes: [self], ...aggregateReports([self]), maxStalenessMs: 0, stale: false };
  }

  // This process as a node of the cluster view would show it, from its live counters.
  private localNode(): NodeView {
    return {
      node: this.hub.nodeId,
      instance: this.instanceId,
      role: this.options.role,
      worker: this.extras.worker ?? null,
      ageMs: 0,
      stats: numericStats(this.snapshot()),
      rooms: Object.fromEntries(this.hub.roomSizes()),
      roomsTruncated: false,
    };
  }

  /** The broker's state: `none` without one. */
  get brokerStatus(): string {
    return this.cluster?.broker.status ?? 'none';
  }

  // A push refused because the broker is down (or just back, waiting for the other nodes).
  private brokerUnavailable(): PushError {
    this.stats.pushRejected += 1;
    return apiError.BROKER_UNAVAILABLE.notAccepted();
  }

  // Checks state and queue room, then the items (serialising values from library use): a push refused
  // for room costs no encoding.
  private admit(items: unknown): readonly string[] {
    if (this.state !== 'running') throw apiError.SHUTTING_DOWN.gateway();
    if (this.cluster !== null && !this.cluster.available) throw this.brokerUnavailable();
    const count = itemCount(items);
    if (count > this.options.maxPendingItems) {
      throw apiError.TOO_MANY_ITEMS.limit(this.options.maxPendingItems);
    }
    if (this.pendingItems + count > this.options.maxPendingItems) {
      this.stats.pushRejected += 1;
      throw apiError.QUEUE_FULL.full(this.pendingItems, this.options.maxPendingItems);
    }
    const serialized = acceptItems(items, this.options.maxItemDepth);
    this.stats.itemsAccepted += serialized.length;
    return serialized;
  }

  private get pendingItems(): number {
    return this.merger.pendingItems + this.dispatcher.pendingItems;
  }

  /**
   * This process's own counters and gauges, live (what `/metrics` exports and presence reports). `GET
   * /stats` sums the additive ones over the instance: see {@link instanceView}.
   */
  snapshot(): StatsSnapshot {
    const broker = this.cluster?.broker;
    const inFlight = this.cluster?.inFlightCounts;
    return {
      nodeId: this.hub.nodeId,
      pid: process.pid,
      role: this.options.role,
      worker: this.extras.worker ?? null,
      broker: this.brokerStatus,
      brokerSubscriptions: this.cluster?.broker.subscriptionCount ?? 0,
      pushesInFlight: inFlight === undefined ? 0 : inFlight.returning + inFlight.publishing,
      pushesNotReturned: inFlight?.lost ?? 0,
      ...(broker instanceof IpcBroker && broker.relayChannels !== null ? { relayChannels: broker.relayChannels } : {}),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      onlineConnections: this.hub.size,
      pendingAuthConnections: this.hub.awaitingAuthCount,
      roomCount: this.hub.roomCount,
      dispatchPending: this.dispatcher.pendingFrames,
      mergerPending: this.merger.pendingItems,
      pendingItems: this.pendingItems,
      ...this.stats,
    };
  }

  /**
   * Graceful shutdown: stops accepting connections and pushes (503), waits until every push accepted
   * here is delivered (in a cluster: has come back from the broker), closes every client with 1001 and
   * waits for them, all within `shutdownTimeout`, then cuts the rest and closes the push API, which
   * answers until then (503 `SHUTTING_DOWN`, `Connection: close`). Idempotent; resolves when
   * everything is closed.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * The first half of {@link close}: refuses new connections and pushes, and resolves once every push
   * accepted here has come back from the broker to be delivered (at most `shutdownTimeout`); clients
   * stay connected, and the push API keeps answering (503). The workers' primary has every worker drain
   * before any closes its clients, so a push accepted by one reaches the others' clients too. Idempotent.
   * In a cluster it ends by publishing this node's shutdown barrier and resolves with this node's id
   * (null when no barrier could be published): see {@link awaitBarriers}.
   */
  drain(): Promise<string | null> {
    this.draining ??= this.stopAccepting().then(async () => {
      const cluster = this.cluster;
      if (cluster === null || this.state === 'stopped') return null;
      let published = false;
      await settlesWithin(
        cluster.publishBarrier().then((ok) => {
          published = ok;
        }),
        Math.max(0, this.shutdownDeadline - Date.now()),
      );
      return published ? this.hub.nodeId : null;
    });
    return this.draining;
  }

  /**
   * Between {@link drain} and {@link close} with `--workers` over a broker: waits (within what is left
   * of `shutdownTimeout`) until the shutdown barrier of every node in `nodes` — the workers that drained —
   * has come through this node's subscription. A broker delivers one publisher's messages in order, so
   * every push the other workers accepted has then reached this node, to be delivered before its clients
   * are closed. Resolves false when the deadline passed first.
   */
  async awaitBarriers(nodes: readonly string[]): Promise<boolean> {
    if (this.cluster === null || nodes.length === 0) return true;
    const done = await settlesWithin(this.cluster.barriersFrom(nodes), Math.max(0, this.shutdownDeadline - Date.now()));
    if (!done) this.log.warn({ nodes }, "shutdown deadline passed before every worker's pushes had come through the broker");
    return done;
  }

  private async stopAccepting(): Promise<void> {
    // A drain during listen() waits for the ports to be bound (or to fail).
    if (this.state === 'starting') await this.starting?.catch(() => undefined);
    const wasRunning = this.state === 'running' || this.state === 'starting';
    this.state = 'stopping';
    this.heartbeat.stop();
    if (this.statsStream !== null) clearInterval(this.statsStream);
    if (!wasRunning) {
      this.state = 'stopped';
      return;
    }
    this.shutdownDeadline = Date.now() + this.options.shutdownTimeout * 1000;
    this.wsPortClosed = this.wsListener.stopAccepting();
    // Requests keep being answered (pushes 503) until the end, each closing its connection: a
    // keep-alive connection cut now could reset a request its client has already sent.
    this.api.drain();
    if (this.cluster === null) return;
    if (!(await settlesWithin(this.cluster.settled(), this.shutdownDeadline - Date.now()))) {
      this.log.warn(this.cluster.inFlightCounts, 'shutdown deadline passed with pushes accepted here still on their way back from the broker');
    }
  }

  private async shutdown(): Promise<void> {
    await this.drain();
    if (this.state === 'stopped') return;
    // Everything accepted is in the merger or the dispatcher: out to the sockets, ahead of the close frames.
    this.merger.flushAll();
    this.dispatcher.drain();
    const connections = [...this.hub.all(), ...this.hub.awaitingAuth()];
    this.log.info({ connections: connections.length }, 'shutting down: closing clients with 1001');
    for (const conn of connections) conn.close(CloseCode.GOING_AWAY, 'server shutting down');
    const allClosed = Promise.all(connections.map((conn) => conn.closed));
    // The clients get what is left of shutdownTimeout, and at least a moment to answer the close.
    const wait = Math.max(this.shutdownDeadline - Date.now(), Math.min(1000, this.options.shutdownTimeout * 1000));
    if (!(await settlesWithin(allClosed, wait))) {
      const left = connections.filter((conn) => !conn.isClosed);
      this.log.warn({ deadlineMs: this.options.shutdownTimeout * 1000 }, 'shutdown deadline passed: cutting the clients that did not close');
      for (const conn of left) conn.terminate();
    }
    // Requests still in flight on the API get their answer (503 for pushes) before its sockets are cut.
    await settlesWithin(this.api.close(), 1000);
    this.wsListener.destroy();
    this.api.destroy();
    await settlesWithin(this.wsPortClosed ?? Promise.resolve(), 1000);
    this.state = 'stopped';
    await this.cluster?.stop().catch(() => undefined);
    this.log.info('stopped');
  }

  /**
   * Sockets `address` holds against `maxConnectionsPerIp` on the WebSocket port: connections (until
   * their socket is gone) and handshakes under way; 0 when the limit is off.
   */
  connectionsFrom(address: string): number {
    return this.wsListener.connectionsFrom(address);
  }

  private recipientsOf(target: PushTarget): Iterable<Connection> {
    switch (target.kind) {
      case 'all':
        return this.hub.all();
      case 'room':
        return this.hub.members(target.room) ?? [];
      case 'conn':
        // A connection that closed after its push was accepted still counts it, as dropped.
        return [target.conn];
      case 'user':
        return this.hub.userConnections(target.user) ?? [];
    }
  }

  // The dashboard's sample: the numbers of GET /stats (this process, its instance, the cluster), summed by the same rule.
  private streamStats(): void {
    if (this.hub.members(STATS_ROOM) === undefined) return;
    const view = this.clusterView();
    const instance = this.instanceView();
    const item = {
      time: Date.now(),
      node: numericStats(this.snapshot()),
      nodeId: this.hub.nodeId,
      worker: this.extras.worker ?? null,
      broker: this.brokerStatus,
      instance: {
        id: instance.id,
        nodes: instance.nodes.length,
        total: instance.total,
        roomCount: instance.roomCount,
        roomCountExact: instance.roomCountExact,
        maxStalenessMs: instance.maxStalenessMs,
        stale: instance.stale,
      },
      cluster:
        view === null
          ? null
          : {
              nodes: view.nodes.map(({ node, instance, role, worker, ageMs, stats }) => ({ node, instance, role, worker, ageMs, stats })),
              total: view.total,
              roomCount: view.roomCount,
              roomCountExact: view.roomCountExact,
              maxStalenessMs: view.maxStalenessMs,
              stale: view.stale,
            },
    };
    this.merger.add(`r:${STATS_ROOM}`, { kind: 'room', room: STATS_ROOM }, [JSON.stringify(item)]);
  }

  private servePage(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.pages?.serve(req, res)) return true;
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/healthz') {
      sendJson(res, this.isRunning ? 200 : 503, { ok: this.isRunning });
      return true;
    }
    return false;
  }
}

const ALL: PushTarget = { kind: 'all' };

function numericStats(snapshot: StatsSnapshot): Record<string, number> {
  const numbers: Record<string, number> = {};
  for (const [key, value] of Object.entries(snapshot)) if (typeof value === 'number') numbers[key] = value;
  return numbers;
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
