import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ApiBackend } from '../api/api-backend.js';
import { ApiServer } from '../api/api-server.js';
import { readBody } from '../api/body.js';
import type { Broker } from '../broker/broker.js';
import { ClusterConnections } from '../cluster/cluster-connections.js';
import type { ClusterLink, ClusterView, InstanceView } from '../cluster/cluster-link.js';
import type { ConnectionService } from '../cluster/connection-service.js';
import { MAX_ROOM_LIMIT } from '../cluster/connection-service.js';
import { IpcBroker } from '../cluster/ipc-broker.js';
import { RoomOccupancy } from '../cluster/room-occupancy.js';
import { type GatewayOptions, resolveOptions } from '../config/options.js';
import type { Connection } from '../connection/connection.js';
import type { HistoryPage, HistoryQuery } from '../history/history-store.js';
import { GatewayHooks, hookClientSettings, hooksConfigured } from '../hooks/gateway-hooks.js';
import { batchHooks } from '../hooks/hook-batching.js';
import { PublishGate } from '../hooks/publish-gate.js';
import { Heartbeat } from '../hub/heartbeat.js';
import { Hub } from '../hub/hub.js';
import { LocalConnections } from '../hub/local-connections.js';
import { silentLogger } from '../log.js';
import type { JoinLeave } from '../presence/join-leave.js';
import { nodePresence } from '../presence/node-presence.js';
import { PresenceRules } from '../presence/presence-rules.js';
import type { PresenceApi } from '../presence/presence-service.js';
import { BrokerPushService } from '../push/broker-push-service.js';
import { NodeDelivery } from '../push/node-delivery.js';
import type { PushResult, PushService } from '../push/push-service.js';
import { resolvePusherApps } from '../pusher/apps.js';
import { PusherApi } from '../pusher/pusher-api.js';
import { PusherEndpoint } from '../pusher/pusher-endpoint.js';
import { DEFAULT_ACTIVITY_TIMEOUT_SECONDS } from '../pusher/pusher-frames.js';
import { isPresenceRoom, parsePusherRoom, parsePusherUser } from '../pusher/pusher-rooms.js';
import type { PusherWebhookEvent } from '../pusher/pusher-webhooks.js';
import { isReservedChannel } from '../pusher/signatures.js';
import { type PusherWebhookDelivery, pusherWebhookDelivery } from '../pusher/webhook-delivery.js';
import type { TlsCredentials, TlsReload } from '../server/tls.js';
import type { WsListener } from '../server/ws-listener.js';
import { createMetricsRegistry } from '../stats/metrics.js';
import { NodeStats, numericStats } from '../stats/node-stats.js';
import { Stats, type StatsSnapshot } from '../stats/stats.js';
import { Pages } from '../web/pages.js';
import { StatsStream } from '../web/stats-stream.js';
import { ClientAdmission, tlsCredentials } from './client-admission.js';
import { type ClientHandler, STATS_ROOM } from './client-handler.js';
import { linkNode } from './node-link.js';
import { settlesWithin } from './settles-within.js';
import { Shutdown } from './shutdown.js';
import { checkStartable, logStartup } from './startup.js';

export { MAX_USER_ID_LENGTH } from '../push/broker-push-service.js';
export type { PushResult } from '../push/push-service.js';
export { WEBSOCKET_PATHS } from './client-admission.js';
export { STATS_ROOM };

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

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * One gateway process, composed of its parts and run through its life: clients admitted on the
 * WebSocket port into the hub, pushes taken by the push service (from the push API or a library call),
 * published through the broker link, received back by the node's delivery (merger, dispatcher) and
 * written to the clients. `new Gateway(options)` then `listen()`; `close()` shuts down gracefully.
 *
 * @example
 * const gateway = new Gateway({ port: 0, apiPort: 0 });
 * const { ws, api } = await gateway.listen();
 * gateway.pushRoom('news', [{ title: 'hello' }]);
 * await gateway.close();
 */
export class Gateway implements ApiBackend, PushService {
  /** The options in force, defaults filled in and checked. */
  readonly options: Readonly<GatewayOptions>;
  readonly stats = new Stats();
  readonly hub: Hub;
  readonly log: Logger;
  /** Prometheus registry of this gateway (served at `GET /metrics`). */
  readonly metrics: Registry;
  /** The instance this process belongs to (see {@link GatewayExtras.instance}). */
  readonly instanceId: string;
  /**
   * The connection API (also served on the push API port): connections looked up and closed on
   * whichever node holds them, users' connections on every node, rooms and their members.
   */
  readonly connections: ConnectionService;
  /** Room presence over the cluster (`GET /presence`, PRESENCE frames). */
  readonly presence: PresenceApi;

  private readonly admission: ClientAdmission;
  /** This node's join/leave events and its answers to presence queries. */
  private readonly joinLeave: JoinLeave<Connection>;
  /** The backends' hooks; null when none is configured (or for an API-only process). */
  private readonly hooks: GatewayHooks | null;
  private readonly handler: ClientHandler;
  private readonly delivery: NodeDelivery;
  private readonly pushes: PushService;
  /** Pusher's HTTP API, on both ports; null without Pusher apps. */
  readonly pusherApi: PusherApi | null = null;
  /** The push API port's certificate (`--api-tls-cert`, else `--tls-cert`); null for plain HTTP. */
  readonly apiTls: TlsCredentials | null;
  /** The Pusher apps' webhooks; null when no app has one (or for an API-only process). */
  private readonly pusherWebhooks: PusherWebhookDelivery | null = null;
  /** Which Pusher channels are occupied over the cluster (channel_occupied, channel_vacated); null without webhooks. */
  private readonly occupancy: RoomOccupancy | null = null;
  /** Tells the webhooks of a presence channel's member added or removed; null without webhooks. */
  private memberWebhook: ((room: string, user: string, added: boolean) => void) | null = null;
  /** This node's own connections, as the connection API describes and closes them. */
  private readonly localConnections: LocalConnections;
  private readonly nodeStats: NodeStats;
  private readonly statsStream: StatsStream;
  private readonly heartbeat: Heartbeat;
  private readonly wsListener: WsListener;
  private readonly api: ApiServer;
  private state: State = 'new';
  private closing: Promise<void> | null = null;
  private draining: Promise<string | null> | null = null;
  /** The graceful shutdown under way, from its start. */
  private ending: Shutdown | null = null;
  private starting: Promise<unknown> | null = null;
  /** The node's link to its broker (the local one for a gateway alone); set by {@link listen}. */
  private cluster: ClusterLink | null = null;
  private readonly extras: GatewayExtras;
  private pages: Pages | null = null;

  /**
   * @param options any subset of {@link GatewayOptions}; the rest are the embedded defaults. Throws an
   *   `OptionError` naming a bad option.
   * @param log where to log; silent by default.
   */
  constructor(options: Partial<GatewayOptions> = {}, log: Logger = silentLogger(), extras: GatewayExtras = {}) {
    this.options = Object.freeze(resolveOptions(options));
    this.log = log;
    this.extras = extras;
    this.hub = new Hub(this.options.maxRooms);
    this.instanceId = extras.instance ?? this.hub.nodeId;
    // Hooks are called by the node that holds the connection: an API-only process calls none.
    this.hooks =
      this.options.role !== 'api' && hooksConfigured(this.options) ? new GatewayHooks(this.options, log, this.stats, batchHooks(this.options)) : null;
    this.admission = new ClientAdmission({
      hooks: this.hooks,
      options: this.options,
      hub: this.hub,
      stats: this.stats,
      log,
      accepting: () => this.state === 'running' || this.state === 'starting',
      serve: (req, res) => {
        const pusher = this.pusherApi;
        const path = (req.url ?? '/').split('?', 1)[0];
        if (pusher !== null && PusherApi.handles(path)) {
          void pusher.serve(req, res);
          return true;
        }
        return this.pages?.serve(req, res) ?? false;
      },
    });
    this.wsListener = this.admission.listener;
    this.handler = this.admission.handler;
    this.delivery = new NodeDelivery(this.hub, this.stats, this.options);
    this.handler.probed = (conn, rttMs) => this.delivery.probeAnswered(conn, rttMs);
    this.handler.hooks = {
      subscribe: this.hooks?.subscribe ?? null,
      rpc: this.hooks?.rpc ?? null,
      // Without a publish hook the token's publish claim may still allow a room.
      publish: this.hooks?.publish ?? new PublishGate(null),
      disconnects: this.hooks?.disconnects ?? null,
      pushRoom: (room, items) =>
        this.pushRoom(room, items).then((result) => {
          this.stats.clientPublishes += items.length;
          return result;
        }),
    };
    this.localConnections = new LocalConnections(this.hub);
    this.connections = new ClusterConnections({
      nodeId: this.hub.nodeId,
      local: this.localConnections,
      link: () => this.link,
      rooms: () => this.hub.roomSizes(),
    });
    const presence = nodePresence({
      nodeId: this.hub.nodeId,
      rules: new PresenceRules(this.options.presenceMax, this.options.joinLeave, [STATS_ROOM], this.options.pusherApps.length > 0 ? isPresenceRoom : null),
      hub: this.hub,
      delivery: this.delivery,
      stats: this.stats,
      link: () => this.link,
      member: (room, user, added) => this.memberWebhook?.(room, user, added),
    });
    this.joinLeave = presence.events;
    this.presence = presence.service;
    this.handler.presence = (room) => presence.service.presence(room);
    const pushes = new BrokerPushService(this.hub, () => this.link, this.stats, this.options, {
      accepting: () => this.state === 'running',
      pendingItems: () => this.delivery.pendingItems,
      overload: () => this.delivery.overload(),
    });
    this.pushes = pushes;
    if (this.options.pusherApps.length > 0) {
      const apps = resolvePusherApps(this.options.pusherApps, this.options.pusherClientEvents);
      // Webhooks tell of connections: the processes that hold them send them.
      if (this.options.role !== 'api') {
        this.pusherWebhooks = pusherWebhookDelivery(apps, hookClientSettings(this.options), log, this.stats);
        const webhooks = this.pusherWebhooks?.webhooks;
        if (webhooks !== undefined) {
          const tell = (room: string, event: (channel: string) => PusherWebhookEvent): void => {
            const found = parsePusherRoom(room);
            const app = found === null ? undefined : apps.byId(found.appId);
            if (found !== null && app !== undefined) webhooks.emit(app, event(found.channel));
          };
          this.memberWebhook = (room, user, added) => {
            const found = parsePusherRoom(room);
            const id = found === null ? null : parsePusherUser(found.appId, user);
            if (id !== null) tell(room, (channel) => ({ name: added ? 'member_added' : 'member_removed', channel, user_id: id }));
          };
          this.occupancy = new RoomOccupancy({
            nodeId: this.hub.nodeId,
            watches: (room) => {
              const found = parsePusherRoom(room);
              return found !== null && !isReservedChannel(found.channel) && webhooks.takes(apps.byId(found.appId), 'channel_occupied', 'channel_vacated');
            },
            shared: () => this.link.broker.shared,
            publish: (change) => this.link.publishOccupancy(change),
            viewCurrent: () => this.link.viewCurrent,
            liveNodes: () => this.link.liveNodes(),
            occupied: (room) => tell(room, (channel) => ({ name: 'channel_occupied', channel })),
            vacated: (room) => tell(room, (channel) => ({ name: 'channel_vacated', channel })),
          });
        }
      }
      const publish = (room: string, items: readonly string[], except?: string) => pushes.pushRoomTexts(room, items, except);
      this.pusherApi = new PusherApi({
        apps,
        stats: this.stats,
        maxBodyBytes: this.options.maxBodySize,
        publish,
        rooms: (prefix) => this.connections.rooms({ prefix, limit: MAX_ROOM_LIMIT }),
        presence: (room) => presence.service.serverRoom(room),
        closeUser: (user, close) => this.connections.closeUserConnections(user, close),
        readBody: (req, limit) => readBody(req, limit),
      });
      // The endpoint holds connections: an API-only process has none.
      if (this.options.role !== 'api') {
        this.admission.pusher = new PusherEndpoint({
          apps,
          hub: this.hub,
          stats: this.stats,
          log,
          limits: this.admission.limits,
          roomReady: (room) => this.link.roomReady(room),
          publish,
          activityTimeout: DEFAULT_ACTIVITY_TIMEOUT_SECONDS,
          presence: (room) => presence.service.serverRoom(room),
          roomSize: (room) => (this.hub.members(room)?.size ?? 0) + this.link.otherRoomMembers(room),
          webhook: (app, event) => this.pusherWebhooks?.webhooks.emit(app, event),
        });
      }
    }
    const relay = extras.broker instanceof IpcBroker ? extras.broker : null;
    this.nodeStats = new NodeStats(
      this.stats,
      this.hub,
      this.delivery,
      () => this.cluster,
      { role: this.options.role, worker: extras.worker ?? null },
      () => relay?.relayChannels ?? null,
    );
    this.statsStream = new StatsStream(
      STATS_ROOM,
      this.hub,
      this.nodeStats,
      (room, items) => this.delivery.local(room, items),
      1000,
      () => this.hooksView(),
    );
    // With authentication on, the sweep also enforces AUTH deadlines and token expiry, at least every second.
    this.heartbeat = new Heartbeat(
      this.hub,
      this.options.heartbeatInterval * 1000,
      (count) => {
        this.stats.heartbeatDisconnects += count;
        log.debug({ count }, 'heartbeat timeout');
      },
      this.admission.authenticates ? 1000 : null,
      (counts) => log.debug(counts, 'authentication sweep'),
    );
    this.metrics = createMetricsRegistry(
      () => this.snapshot(),
      () => this.clusterView(),
    );
    // Each worker or node serves its own /metrics: a label tells them apart in one Prometheus.
    this.metrics.setDefaultLabels({ node: this.hub.nodeId });
    if (this.hooks !== null) {
      this.metrics.registerMetric(this.hooks.stats.calls);
      this.metrics.registerMetric(this.hooks.stats.duration);
    }
    const { apiTlsCert, apiTlsKey, tlsCert, tlsKey } = this.options;
    this.apiTls =
      apiTlsCert !== ''
        ? tlsCredentials('apiTlsCert', { cert: apiTlsCert, key: apiTlsKey })
        : tlsCert !== ''
          ? (this.admission.tls ?? tlsCredentials('tlsCert', { cert: tlsCert, key: tlsKey }))
          : null;
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

  /** Whether this process is one of the workers of `--workers`. */
  get isWorker(): boolean {
    return this.extras.worker !== undefined;
  }

  /**
   * Connects the broker link (the local broker for a gateway alone), then binds the WebSocket port and
   * the push API port as the role asks; resolves with the bound addresses.
   */
  async listen(): Promise<GatewayAddresses> {
    if (this.state !== 'new') throw new Error('listen() may be called once');
    this.state = 'starting';
    const starting = this.start();
    this.starting = starting;
    const addresses = await starting.catch(async (error: unknown) => {
      // Release whichever port did bind, so a failed start leaves nothing behind.
      this.state = 'stopped';
      void this.wsListener.stopAccepting();
      this.wsListener.destroy();
      void this.api.close();
      await this.cluster?.stop().catch(() => undefined);
      throw error;
    });
    if (this.closing !== null || this.draining !== null) return addresses; // close() or drain() was called meanwhile: it takes over from here
    this.state = 'running';
    this.heartbeat.start();
    if (this.servesConnections) this.statsStream.start();
    const { broker } = this.link;
    const facts = { originPolicy: this.admission.originPolicy, statsRoom: STATS_ROOM, nodeId: this.hub.nodeId };
    logStartup(this.log, this.options, { ...addresses, ...facts, sharedBroker: broker.shared ? broker.kind : null });
    return addresses;
  }

  private async start(): Promise<GatewayAddresses> {
    checkStartable(this.options, this.extras.broker !== undefined);
    const { options, log, hub, handler, delivery, stats, extras } = this;
    const counters = () => numericStats(this.snapshot());
    this.cluster = await linkNode({
      options,
      log,
      hub,
      handler,
      delivery,
      stats,
      connections: this.localConnections,
      broker: extras.broker,
      instance: this.instanceId,
      worker: extras.worker ?? null,
      counters,
      presence: this.joinLeave,
      occupancy: this.occupancy,
    });
    await this.cluster.start();
    this.joinLeave.start(options.presenceInterval * 1000);
    let ws: AddressInfo | null = null;
    if (this.servesConnections) {
      this.pages = new Pages(log, () => this.isRunning);
      ws = await this.admission.listen();
    }
    const api = this.servesApi ? await this.api.listen(options.apiPort, options.apiHost) : null;
    return { ws, api };
  }

  private get link(): ClusterLink {
    if (this.cluster === null) throw new Error('the gateway has not started');
    return this.cluster;
  }

  // The push service's calls, for library users (see PushService for what each answers).

  /** Pushes items to every connection (on every node, in a cluster); pushes made in one event-loop turn share frames. */
  pushAll(items: unknown): Promise<PushResult> {
    return this.pushes.pushAll(items);
  }

  /** Pushes items to the members of `room`. */
  pushRoom(room: string, items: unknown): Promise<PushResult> {
    return this.pushes.pushRoom(room, items);
  }

  /** Pushes items to one connection by id, on whichever node holds it (404 when none does). */
  pushConn(id: string, items: unknown): Promise<PushResult> {
    return this.pushes.pushConn(id, items);
  }

  /** Pushes items to every connection of an authenticated user (the token's `sub`). */
  pushUser(user: string, items: unknown): Promise<PushResult> {
    return this.pushes.pushUser(user, items);
  }

  /** This process's own counters and gauges, live (what `/metrics` exports and presence reports). */
  snapshot(): StatsSnapshot {
    this.stats.webhookQueued = this.pusherWebhooks?.webhooks.queued ?? 0;
    return this.nodeStats.snapshot();
  }

  /**
   * Reads both ports' certificates again (SIGHUP) and gives them to new handshakes; connections open
   * keep theirs. A port whose files do not make a valid certificate keeps the one it has, and says why.
   */
  reloadTls(): Array<{ port: 'ws' | 'api'; result: TlsReload }> {
    const reloads: Array<{ port: 'ws' | 'api'; result: TlsReload }> = [];
    const ws = this.admission.tls;
    if (ws !== null) reloads.push({ port: 'ws', result: ws.reload() });
    if (this.apiTls !== null && this.apiTls !== ws) reloads.push({ port: 'api', result: this.apiTls.reload() });
    for (const { port, result } of reloads) {
      if (result.ok) this.log.info({ port, cert: port === 'ws' ? ws?.files.cert : this.apiTls?.files.cert }, 'TLS certificate reloaded');
      else this.log.error({ port, error: result.error }, 'TLS certificate not reloaded: the one in use stays');
    }
    return reloads;
  }

  /** The hooks' counters and breakers (`GET /stats`'s `hooks`); null when no hook is configured. */
  hooksView(): ReturnType<GatewayHooks['view']> | null {
    return this.hooks?.view() ?? null;
  }

  /** A room's stream (`GET /history`); null when the room keeps no history (or the node has not started). */
  history(room: string, query: HistoryQuery): Promise<HistoryPage> | null {
    return this.cluster === null ? null : this.cluster.readHistory(room, query);
  }

  /** The cluster as reported by every live node; null for a gateway alone. */
  clusterView(): ClusterView | null {
    return this.nodeStats.clusterView();
  }

  /** This process's instance as one whole (see {@link NodeStats.instanceView}). */
  instanceView(): InstanceView {
    return this.nodeStats.instanceView();
  }

  /** The broker's state: `none` for a gateway alone. */
  get brokerStatus(): string {
    return this.nodeStats.brokerStatus;
  }

  /**
   * Graceful shutdown: stops accepting connections and pushes (503), waits until every push accepted
   * here is delivered (has come back from the broker), closes every client with 1001 and waits for
   * them, all within `shutdownTimeout`, then cuts the rest and closes the push API, which answers until
   * then (503 `SHUTTING_DOWN`, `Connection: close`). Idempotent; resolves when everything is closed.
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
   * It ends by publishing this node's shutdown barrier and resolves with this node's id (null when no
   * barrier could be published): see {@link awaitBarriers}.
   */
  drain(): Promise<string | null> {
    this.draining ??= this.stopAccepting().then(() => this.ending?.barrier() ?? null);
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
    if (this.ending === null || nodes.length === 0) return true;
    return this.ending.barriersFrom(nodes);
  }

  private async stopAccepting(): Promise<void> {
    // A drain during listen() waits for the ports to be bound (or to fail).
    if (this.state === 'starting') await this.starting?.catch(() => undefined);
    const wasRunning = this.state === 'running' || this.state === 'starting';
    this.state = 'stopping';
    this.heartbeat.stop();
    this.statsStream.stop();
    if (!wasRunning) {
      this.state = 'stopped';
      return;
    }
    const { shutdownTimeout } = this.options;
    const [log, hub, delivery, wsListener, api, link] = [this.log, this.hub, this.delivery, this.wsListener, this.api, this.link];
    this.ending = new Shutdown({ shutdownTimeout, log, hub, delivery, wsListener, api, link });
    await this.ending.pushesReturned();
  }

  private async shutdown(): Promise<void> {
    await this.drain();
    if (this.ending === null || this.state === 'stopped') return;
    await this.ending.closeClients();
    // The clients' closes are queued for the disconnect hook by now: post them, within a bound.
    await settlesWithin(
      this.hooks?.close().catch((error: unknown) => this.log.warn({ err: error }, 'closing the hooks failed')) ?? Promise.resolve(),
      this.options.shutdownTimeout * 1000,
    );
    // The closes' webhooks (vacated channels, members removed) are queued by now: post them too.
    await this.pusherWebhooks
      ?.close(this.options.shutdownTimeout * 1000)
      .catch((error: unknown) => this.log.warn({ err: error }, 'closing the Pusher webhooks failed'));
    this.state = 'stopped';
    this.joinLeave.stop();
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
}
