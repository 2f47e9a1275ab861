import type { Logger } from 'pino';
import { type Broker, type BrokerStatus, BrokerUnavailableError } from '../broker/broker.js';
import { type HistoryRules, NO_HISTORY } from '../history/history-policy.js';
import type { HistoryPage, HistoryQuery, HistoryStore, StreamPosition } from '../history/history-store.js';
import type { PresenceChange } from '../presence/presence-change.js';
import { emptyPresence } from '../presence/presence-query.js';
import { type Aggregate, aggregateReports } from '../stats/aggregate.js';
import { ALL_CHANNEL, nodeChannel, nodeOfConnection, PRESENCE_CHANNEL, roomChannel, userChannel } from './channels.js';
import type { Presence, PushEnvelope } from './envelope.js';
import { InFlight } from './in-flight.js';
import type { LinkMessage } from './link-message.js';
import { type Gathered, NodeQueries } from './node-query.js';
import type { ConnectionQuery, NodeQuery, QueryAnswer } from './query-envelope.js';
import type { OccupancyChange } from './room-occupancy.js';

/** Rooms reported per node in presence, the largest first: bounds the message whatever the room count. */
export const PRESENCE_ROOM_LIMIT = 1000;

/** Presence intervals of silence after which a node is taken as gone. */
const GONE_AFTER_INTERVALS = 3;
/** At most one warning about pushes that arrived too late per this many ms. */
const EXPIRED_LOG_EVERY_MS = 10000;

/** The link's clocks: presence, and the deadline every published push carries. */
export interface ClusterTiming {
  /** Milliseconds between presence reports. */
  presenceIntervalMs: number;
  /** How long the broker may take to take a publish (`--broker-timeout`): past it the publisher answers 503. */
  publishTimeoutMs: number;
  /** Time between the broker's liveness probes (`--broker-probe-interval`): a hang is noticed within timeout + this. */
  probeIntervalMs: number;
  /** Tolerated clock difference between nodes plus delivery lag (`--broker-clock-skew`). */
  clockSkewMs: number;
}

const DEFAULT_TIMING: ClusterTiming = { presenceIntervalMs: 1000, publishTimeoutMs: 2000, probeIntervalMs: 1000, clockSkewMs: 500 };

/** What the link needs from the node it serves. */
export interface ClusterHost {
  readonly nodeId: string;
  /** The instance this node belongs to (the workers of one primary share it; a single process: its node id). */
  readonly instance: string;
  readonly role: string;
  readonly worker: number | null;
  /** Delivers a push received from the broker to this node's own clients. */
  deliver(push: PushEnvelope): void;
  /** Counts a push received after its deadline and dropped (its publisher answered 503). */
  expired(push: PushEnvelope): void;
  /** This node's counters, for presence. */
  stats(): Record<string, number>;
  /** Rooms with members here and their sizes. */
  rooms(): Iterable<[string, number]>;
  /** Users with connections here. */
  users(): Iterable<string>;
  /** Whether a room has members here (its channel is subscribed). */
  holdsRoom(room: string): boolean;
  /** Whether a user has connections here (its channel is subscribed). */
  holdsUser(user: string): boolean;
  /** Whether this node holds connections (a pure API node does not subscribe to pushes). */
  readonly holdsConnections: boolean;
  /**
   * Answers another node's connection query about this node's own connections (closing them when
   * asked). Without it, this node answers as one that holds none.
   */
  answer?(ask: ConnectionQuery): QueryAnswer;
  /** A join or leave of a room with join/leave events, received on the room's channel (src/presence). */
  presenceChange?(change: PresenceChange): void;
  /** Another node was taken as gone: silent for 3 presence intervals while this node's view is current. */
  nodeGone?(node: string): void;
  /** A room some node (this one included) began or ceased to hold, read from the presence channel. */
  occupancy?(change: OccupancyChange): void;
  /** A node's presence report (this one's included): the rooms it holds, all of them unless `truncated`. */
  reported?(node: string, rooms: string[], truncated: boolean): void;
}

/** The answer of a node that holds no connections. */
function answerOfNone(ask: ConnectionQuery): QueryAnswer {
  switch (ask.op) {
    case 'conn':
    case 'close-conn':
      return { op: ask.op, lookup: { state: 'unknown' } };
    case 'user':
      return { op: 'user', connections: [] };
    case 'close-user':
      return { op: 'close-user', closed: 0 };
    case 'presence':
      return emptyPresence();
  }
}

/** One node as last reported: its presence, and how old that report is (ms). */
export type NodeView = Pick<Presence, 'node' | 'role' | 'worker' | 'stats' | 'rooms' | 'roomsTruncated'> & { instance: string; ageMs: number };

function nodeView({ node, role, worker, instance, stats, rooms, roomsTruncated }: Presence, ageMs: number): NodeView {
  // Older nodes send no instance: each is an instance of its own.
  return { node, instance: typeof instance === 'string' ? instance : node, role, worker, ageMs, stats, rooms, roomsTruncated };
}

/**
 * Nodes taken as one whole (see {@link aggregateReports}): their additive stats summed (`total`), their
 * distinct rooms counted, members per room summed; per-process stats stay in each node's `stats`.
 */
export interface NodeGroup extends Aggregate {
  nodes: NodeView[];
  /**
   * How old the oldest report is: counts are at most this stale (bounded by 3 presence intervals while
   * the view is current; while `stale`, also how long ago this node last heard its own report back).
   */
  maxStalenessMs: number;
  /**
   * True while this node cannot tell who is in the cluster: its broker is down, its own report has not
   * come back within 3 presence intervals, or it (re)connected less than 3 intervals ago. Nodes are then
   * kept with their last report (and its age) rather than dropped as gone.
   */
  stale: boolean;
}

/** The cluster as seen from one node. */
export type ClusterView = NodeGroup;

/** This node's instance (the workers of its primary, or itself alone): its id and its nodes as one whole. */
export interface InstanceView extends NodeGroup {
  id: string;
}

/** Nodes in a stable order: by instance, then worker number, then id. */
function byInstanceAndWorker(a: NodeView, b: NodeView): number {
  return a.instance.localeCompare(b.instance) || (a.worker ?? 0) - (b.worker ?? 0) || a.node.localeCompare(b.node);
}

/**
 * Joins a node to the others through a broker. Pushes are published, never delivered locally
 * directly: every node, the publisher included, receives each push once from its subscription, so
 * order per channel is the broker's order and no node gets a push twice. Room channels are subscribed
 * on a room's first member here and dropped with its last, so room traffic only reaches nodes that
 * need it; user channels likewise, while a node holds a connection of the user. Every node publishes its counts every `presenceIntervalMs` for cluster-wide stats.
 *
 * Every push carries a deadline: its publish time plus the broker timeout plus the tolerated clock skew.
 * A publish the broker did not confirm within its timeout was answered 503 ("not accepted; retry"), yet
 * a stalled broker that resumes still delivers it; receivers drop what arrives after the deadline, so
 * the retry is not a duplicate.
 *
 * Each push is tagged with this node's id and a sequence number; one published to a channel this node
 * subscribes to is in flight (see {@link InFlight}) until it comes back, so that a shutdown can wait
 * for every push accepted here to reach this node's own clients ({@link settled}).
 */
export class ClusterLink {
  private readonly peers = new Map<string, { presence: Presence; at: number }>();
  private readonly subscribing = new Map<string, Promise<void>>();
  private awaiting = new Set<string>();
  private cached: { view: ClusterView; at: number } | null = null;
  private othersCache: { nodes: Array<{ presence: Presence; at: number }>; at: number } | null = null;
  private recoveredAt = 0;
  /** When this node's latest report that came back to it was sent (its own clock): the view's freshness. */
  private ownEchoSentAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly presenceIntervalMs: number;
  /** Silence after which a node is taken as gone: 3 presence intervals. */
  private readonly goneAfterMs: number;
  private readonly timing: ClusterTiming;
  private expiredUnlogged = 0;
  private expiredLoggedAt = 0;
  private readonly inFlight = new InFlight();
  /** Nodes whose shutdown barrier came through here, and who waits for which. */
  private readonly barriers = new Set<string>();
  private barrierWaiters: Array<{ nodes: readonly string[]; resolve: () => void }> = [];
  private sequence = 0;
  /** This node's connection queries to the others, waiting for their replies. */
  private readonly queries: NodeQueries;
  /** Where rooms matching `historyRules` keep their streams (null: no room does). */
  private history: HistoryStore<LinkMessage> | null = null;
  private historyRules: HistoryRules = NO_HISTORY;
  /** Broker messages that could not be decoded (counted, never fatal). */
  malformed = 0;
  /** Queries of other nodes that reached this one after their deadline, dropped unanswered. */
  queriesExpired = 0;

  constructor(
    readonly broker: Broker<LinkMessage>,
    private readonly host: ClusterHost,
    private readonly log: Logger,
    timing: Partial<ClusterTiming> = {},
  ) {
    this.timing = { ...DEFAULT_TIMING, ...timing };
    this.presenceIntervalMs = this.timing.presenceIntervalMs;
    this.goneAfterMs = GONE_AFTER_INTERVALS * this.presenceIntervalMs;
    this.queries = new NodeQueries(host.nodeId, (query) =>
      this.broker.publish(query.to === null ? ALL_CHANNEL : nodeChannel(query.to), { type: 'query', query }),
    );
    broker.onStatus((status: BrokerStatus, error?: Error) => {
      // Core pub/sub does not replay: what was on its way back will not come.
      if (status === 'down' || status === 'closed') this.inFlight.clear();
      if (status === 'down') {
        log.warn({ err: error }, `broker ${broker.kind} unavailable: serving local clients, refusing pushes (503) until it is back`);
        // The nodes that must be back (resubscribed) before this one accepts pushes again: those alive when
        // the outage began, which a hang lets this node notice only up to timeout + probe interval later.
        const since = Date.now() - this.goneAfterMs - this.timing.publishTimeoutMs - this.timing.probeIntervalMs;
        this.awaiting = new Set(
          [...this.peers].filter(([node, { presence, at }]) => node !== host.nodeId && presence.role !== 'api' && at >= since).map(([node]) => node),
        );
      } else if (status === 'up') {
        log.info(`broker ${broker.kind} connected`);
        this.recoveredAt = Date.now();
        // Tell the others at once that this node's subscriptions are in place again.
        void this.announce();
      }
    });
  }

  /**
   * `true` while pushes can be published. After an outage, only once every gateway node known before it
   * has reported back (its subscriptions restored), or 3 presence intervals have passed: a push
   * published while a node is still reconnecting would be lost for its clients.
   */
  get available(): boolean {
    if (this.broker.status !== 'up') return false;
    if (this.awaiting.size === 0) return true;
    if (Date.now() - this.recoveredAt > this.goneAfterMs) {
      this.awaiting.clear();
      return true;
    }
    return false;
  }

  /**
   * Rooms matching `rules` keep their recent pushes in `store`: their pushes are appended and published
   * in one step by the store, and come back stamped with their position.
   */
  useHistory(store: HistoryStore<LinkMessage>, rules: HistoryRules): void {
    this.history = store;
    this.historyRules = rules;
  }

  /** Whether `room` keeps history. */
  keepsHistory(room: string): boolean {
    return this.history !== null && this.historyRules.policyOf(room) !== null;
  }

  /**
   * Reads `room`'s stream; null when the room keeps no history. Rejects with BrokerUnavailableError
   * when the store cannot be reached.
   */
  readHistory(room: string, query: HistoryQuery): Promise<HistoryPage> | null {
    const policy = this.history === null ? null : this.historyRules.policyOf(room);
    if (policy === null || this.history === null) return null;
    if (this.broker.status !== 'up') return Promise.reject(new BrokerUnavailableError());
    return this.history.read(room, policy, query);
  }

  /** Connects and subscribes to what this node needs. */
  async start(): Promise<void> {
    await this.broker.connect();
    const onPush = (message: LinkMessage): void => this.receive(message);
    // The node's own channel: pushes to its connections, and queries to it and replies to its own
    // (an API node has no connections, but asks the others about theirs).
    await this.broker.subscribe(nodeChannel(this.host.nodeId), onPush);
    if (this.host.holdsConnections) {
      await this.broker.subscribe(ALL_CHANNEL, onPush);
      for (const [room] of this.host.rooms()) await this.broker.subscribe(roomChannel(room), onPush);
      for (const user of this.host.users()) await this.broker.subscribe(userChannel(user), onPush);
    }
    await this.broker.subscribe(PRESENCE_CHANNEL, (message) => {
      if (message.type === 'presence') this.onPresence(message.presence);
      else if (message.type === 'occupancy') this.host.occupancy?.(message.change);
      else this.malformed += 1;
    });
    this.timer = setInterval(() => {
      // Silent nodes leave on every tick, not only when the view is asked for (see ClusterHost.nodeGone).
      this.sweepGone();
      void this.announce();
    }, this.presenceIntervalMs);
    this.timer.unref();
    await this.announce();
  }

  /** A room got its first member here: subscribes to it. */
  roomOpened(room: string): void {
    this.subscribeTo(roomChannel(room), { room });
  }

  /**
   * Resolves once this node's subscription to `room` is in place (at once when it already was), so a
   * JOIN is acknowledged only when pushes published afterwards will arrive.
   */
  roomReady(room: string): Promise<void> | null {
    return this.subscribing.get(roomChannel(room)) ?? null;
  }

  /** A room lost its last member here. */
  roomClosed(room: string): void {
    const channel = roomChannel(room);
    this.inFlight.channelClosed(channel);
    this.broker.unsubscribe(channel).catch(() => undefined);
  }

  /** A user got a first connection here: subscribes to the user's channel. */
  userOpened(user: string): void {
    this.subscribeTo(userChannel(user), { user });
  }

  /** Resolves once this node's subscription to `user` is in place (null when it already was). */
  userReady(user: string): Promise<void> | null {
    return this.subscribing.get(userChannel(user)) ?? null;
  }

  /** A user's last connection here closed. */
  userClosed(user: string): void {
    const channel = userChannel(user);
    this.inFlight.channelClosed(channel);
    this.broker.unsubscribe(channel).catch(() => undefined);
  }

  private subscribeTo(channel: string, what: Record<string, string>): void {
    const subscribed = this.broker
      .subscribe(channel, (message) => this.receive(message))
      .catch((error: unknown) => {
        this.log.warn({ err: error, ...what }, 'subscription failed; it is restored when the broker is back');
      })
      .finally(() => {
        if (this.subscribing.get(channel) === subscribed) this.subscribing.delete(channel);
      });
    this.subscribing.set(channel, subscribed);
  }

  /**
   * Publishes a push, tagged with this node's id and sequence; rejects with BrokerUnavailableError
   * when it cannot be accepted, at the latest after the broker's timeout. It carries its deadline: that
   * timeout plus the tolerated clock skew. A push to a channel subscribed here is in flight until it
   * comes back.
   */
  publish(push: PushEnvelope): Promise<StreamPosition | null> {
    if (!this.available) return Promise.reject(new BrokerUnavailableError());
    const channel =
      push.kind === 'all'
        ? ALL_CHANNEL
        : push.kind === 'room'
          ? roomChannel(push.room)
          : push.kind === 'user'
            ? userChannel(push.user)
            : nodeChannel(nodeOfConnection(push.conn) ?? '');
    const expiresAt = Date.now() + this.timing.publishTimeoutMs + this.timing.clockSkewMs;
    const seq = ++this.sequence;
    // Tracked before publishing: the push may come back before the broker's answer does.
    this.inFlight.started(seq, this.subscribedHere(push, channel) ? channel : null);
    const message: LinkMessage = { type: 'push', push: { ...push, origin: { node: this.host.nodeId, seq } }, expiresAt };
    const policy = push.kind === 'room' && this.history !== null ? this.historyRules.policyOf(push.room) : null;
    const published: Promise<StreamPosition | null> =
      policy === null || this.history === null || push.kind !== 'room'
        ? this.broker.publish(channel, message).then(() => null)
        : this.history.append(push.room, policy, push.items, channel, message, expiresAt);
    return published.then(
      (position) => {
        this.inFlight.published(seq, true);
        return position;
      },
      (error: unknown) => {
        this.inFlight.published(seq, false);
        throw error;
      },
    );
  }

  /**
   * Resolves once every push published here has been taken by the broker, and every one published to
   * a channel this node subscribes to has come back (and was handed to {@link ClusterHost.deliver}).
   */
  settled(): Promise<void> {
    return this.inFlight.whenSettled();
  }

  /** Pushes published here not back yet, and publishes not yet answered by the broker. */
  get inFlightCounts(): { returning: number; publishing: number; lost: number } {
    return { returning: this.inFlight.size, publishing: this.inFlight.pendingPublishes, lost: this.inFlight.lost };
  }

  // Whether a push on `channel` will come back to this node: it subscribes, and the subscription is in place.
  private subscribedHere(push: PushEnvelope, channel: string): boolean {
    if (!this.host.holdsConnections || this.subscribing.has(channel)) return false;
    switch (push.kind) {
      case 'all':
        return true;
      case 'conn':
        return nodeOfConnection(push.conn) === this.host.nodeId;
      case 'room':
        return this.host.holdsRoom(push.room);
      case 'user':
        return this.host.holdsUser(push.user);
    }
  }

  /**
   * Publishes this node's shutdown barrier (see `encodeBarrier`) once every publish made here has
   * settled; resolves true when the broker took it. Only a node that holds connections publishes one.
   */
  async publishBarrier(): Promise<boolean> {
    if (!this.host.holdsConnections || this.broker.status !== 'up') return false;
    await this.inFlight.whenSettled();
    return this.broker.publish(ALL_CHANNEL, { type: 'barrier', node: this.host.nodeId }).then(
      () => true,
      () => false,
    );
  }

  /** Resolves once the barrier of every node in `nodes` has come through this node's subscription. */
  barriersFrom(nodes: readonly string[]): Promise<void> {
    const missing = nodes.filter((node) => !this.barriers.has(node));
    if (missing.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.barrierWaiters.push({ nodes: missing, resolve }));
  }

  private barrierSeen(node: string): void {
    this.barriers.add(node);
    this.barrierWaiters = this.barrierWaiters.filter((waiter) => {
      if (!waiter.nodes.every((n) => this.barriers.has(n))) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Publishes a room this node began or ceased to hold on the presence channel (see src/cluster/room-occupancy.ts). */
  publishOccupancy(change: OccupancyChange): Promise<void> {
    return this.broker.publish(PRESENCE_CHANNEL, { type: 'occupancy', change }).then(() => undefined);
  }

  /** The nodes alive now (reported within 3 intervals), this one included. */
  liveNodes(): string[] {
    const nodes = [this.host.nodeId];
    for (const [node, { at }] of this.peers) if (node !== this.host.nodeId && this.fresh(at)) nodes.push(node);
    return nodes;
  }

  /** Whether a node is alive (reported within 3 intervals). */
  knowsNode(node: string): boolean {
    return node === this.host.nodeId || this.fresh(this.peers.get(node)?.at);
  }

  /**
   * Whether this node's view of the cluster is current, so that a node missing from it is really gone:
   * the broker is up, this node's own latest report came back within 3 presence intervals (sent after
   * the last (re)connection), and it has listened for 3 intervals since then (a live node reports
   * every interval). See {@link ClusterView.stale}.
   */
  get viewCurrent(): boolean {
    if (this.broker.status !== 'up') return false;
    // Nobody else can subscribe through it: this node is the whole cluster, and knows so from the start.
    if (!this.broker.shared) return true;
    const now = Date.now();
    if (now - this.recoveredAt <= this.goneAfterMs) return false;
    return this.ownEchoSentAt >= this.recoveredAt && now - this.ownEchoSentAt <= this.goneAfterMs;
  }

  /**
   * The cluster as last reported by every live node (this one included). Computed at most every 50 ms:
   * each accepted push asks it for its recipient count.
   */
  view(): ClusterView {
    const now = Date.now();
    if (this.cached === null || now - this.cached.at >= 50) this.cached = { view: this.computeView(now), at: now };
    return this.cached.view;
  }

  /** The cluster for reports (`GET /stats`, metrics, the dashboard): null for a gateway alone, whose instance is all there is. */
  clusterView(): ClusterView | null {
    return this.broker.shared ? this.view() : null;
  }

  /** The broker's state for reports: `none` for the local broker of a gateway alone. */
  get brokerStatus(): string {
    return this.broker.shared ? this.broker.status : 'none';
  }

  /** Channels subscribed on a broker other processes share (0 for the local one). */
  get brokerSubscriptions(): number {
    return this.broker.shared ? this.broker.subscriptionCount : 0;
  }

  /**
   * Connections on the other nodes, as last reported: with this node's own live count, the recipients
   * of a push to all (0 for a gateway alone).
   */
  otherConnections(): number {
    let total = 0;
    for (const { presence } of this.others()) total += presence.stats.onlineConnections ?? 0;
    return total;
  }

  /** Members of `room` on the other nodes, as last reported (0 for a gateway alone). */
  otherRoomMembers(room: string): number {
    let total = 0;
    for (const { presence } of this.others()) total += presence.rooms[room] ?? 0;
    return total;
  }

  // The other nodes' latest reports, as the view keeps them; read for every push, so refreshed at most
  // every 50 ms, and without this node's own report (which would list all its rooms each time).
  private others(): Array<{ presence: Presence; at: number }> {
    const now = Date.now();
    if (this.othersCache === null || now - this.othersCache.at >= 50) {
      const keep = !this.viewCurrent;
      const nodes = [...this.peers].filter(([node, { at }]) => node !== this.host.nodeId && (keep || this.fresh(at))).map(([, peer]) => peer);
      this.othersCache = { nodes, at: now };
    }
    return this.othersCache.nodes;
  }

  // Takes the nodes silent for 3 intervals out of the view, unless this node is cut off itself.
  private sweepGone(): void {
    if (!this.viewCurrent) return;
    for (const [node, { at }] of this.peers) {
      if (this.fresh(at)) continue;
      this.peers.delete(node);
      if (node !== this.host.nodeId) this.host.nodeGone?.(node);
    }
  }

  private computeView(now: number): ClusterView {
    const stale = !this.viewCurrent;
    const nodes: NodeView[] = [];
    for (const [node, { presence, at }] of this.peers) {
      // A silent node is gone only when this node would have heard it: not while it is cut off itself.
      if (!this.fresh(at) && !stale) {
        this.peers.delete(node);
        if (node !== this.host.nodeId) this.host.nodeGone?.(node);
        continue;
      }
      if (node === this.host.nodeId) continue;
      nodes.push(nodeView(presence, now - at));
    }
    nodes.push(nodeView(this.presence(), 0));
    return this.group(nodes, stale, now);
  }

  /**
   * This node's instance: the nodes of the view that share its instance id (the other workers of its
   * primary, each as last reported, at most 3 presence intervals old while the view is current), and
   * this node itself with its live counters. Not cached: `GET /stats` answers with this node's counts
   * of the moment.
   */
  instanceView(): InstanceView {
    const now = Date.now();
    const view = this.view();
    const peers = view.nodes.filter((n) => n.instance === this.host.instance && n.node !== this.host.nodeId);
    // A node alone is live, whatever the broker's state: nothing in its counts is anyone's report.
    const group = this.group([...peers, nodeView(this.presence(Infinity), 0)], view.stale && peers.length > 0, now);
    return { id: this.host.instance, ...group };
  }

  private group(nodes: NodeView[], stale: boolean, now: number): NodeGroup {
    nodes.sort(byInstanceAndWorker);
    const unheard = stale && this.ownEchoSentAt > 0 ? now - this.ownEchoSentAt : 0;
    return { nodes, ...aggregateReports(nodes), maxStalenessMs: Math.max(0, unheard, ...nodes.map((n) => n.ageMs)), stale };
  }

  /**
   * Asks `node` about its connections through the broker and resolves with its answer, or null when it
   * gave none within the broker timeout (`--broker-timeout`). Rejects (BrokerUnavailableError) when the
   * broker does not take the query.
   */
  async ask(node: string, ask: ConnectionQuery): Promise<QueryAnswer | null> {
    if (this.broker.status !== 'up') throw new BrokerUnavailableError();
    const gathered = await this.queries.ask(node, [node], ask, this.timing.publishTimeoutMs, this.timing.clockSkewMs);
    return gathered.answers.get(node) ?? null;
  }

  /**
   * Asks every other node that holds connections (one query on the channel of pushes to all) and
   * gathers their answers: it waits for the nodes of this node's view that hold connections, at most
   * the broker timeout; `missing` names those that did not answer by then. Rejects
   * (BrokerUnavailableError) when the broker does not take the query.
   */
  async askAll(ask: ConnectionQuery): Promise<Gathered> {
    if (this.broker.status !== 'up') throw new BrokerUnavailableError();
    const awaited = this.view()
      .nodes.filter((n) => n.role !== 'api')
      .map((n) => n.node);
    return this.queries.ask(null, awaited, ask, this.timing.publishTimeoutMs, this.timing.clockSkewMs);
  }

  /** How long a connection query waits for its replies: the broker timeout. */
  get queryTimeoutMs(): number {
    return this.timing.publishTimeoutMs;
  }

  /** Replies to this node's queries that came after their timeout, or did not fit them (counted, dropped). */
  get queryRepliesDropped(): { late: number; mismatched: number } {
    return { late: this.queries.late, mismatched: this.queries.mismatched };
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.queries.clear();
    await this.broker.close();
  }

  private fresh(at: number | undefined): boolean {
    return at !== undefined && Date.now() - at <= this.goneAfterMs;
  }

  private receive(message: LinkMessage): void {
    if (message.type !== 'push') {
      if (message.type === 'barrier') this.barrierSeen(message.node);
      else if (message.type === 'query') this.onQuery(message.query);
      else if (message.type === 'reply') this.queries.replied(message.reply);
      else if (message.type === 'presence-change') this.host.presenceChange?.(message.change);
      else this.malformed += 1;
      return;
    }
    const received = message;
    // A push stamped by its history store is delivered however late: it is in the room's history, and
    // live delivery and history must agree (a store that can check the deadline, Redis, took no step past it).
    const stamped = received.push.kind === 'room' && received.push.position !== undefined;
    if (!stamped && received.expiresAt !== null && Date.now() > received.expiresAt) {
      this.host.expired(received.push);
      this.logExpired();
    } else {
      this.host.deliver(received.push);
    }
    const origin = received.push.origin;
    if (origin !== undefined && origin.node === this.host.nodeId) this.inFlight.returned(origin.seq);
  }

  /**
   * Another node's query: answered (on the asker's channel) unless it is this node's own (a query to
   * every node comes back to its sender, which answers for itself), for another node, or past its
   * deadline — its asker has answered without this node by then, and a close it asked for must not
   * happen after that.
   */
  private onQuery(query: NodeQuery): void {
    if (query.from === this.host.nodeId || (query.to !== null && query.to !== this.host.nodeId)) return;
    if (Date.now() > query.expiresAt) {
      this.queriesExpired += 1;
      return;
    }
    const answer = this.host.answer?.(query.ask) ?? answerOfNone(query.ask);
    const reply = { id: query.id, from: this.host.nodeId, to: query.from, answer };
    // A reply the broker refuses is one the asker does without: it answers on its timeout.
    this.broker.publish(nodeChannel(query.from), { type: 'reply', reply }).catch(() => undefined);
  }

  // Late pushes are expected right after a broker stall; outside one, they mean clocks that disagree.
  private logExpired(): void {
    this.expiredUnlogged += 1;
    const now = Date.now();
    if (now - this.expiredLoggedAt < EXPIRED_LOG_EVERY_MS) return;
    this.log.warn(
      { dropped: this.expiredUnlogged },
      `dropped pushes that arrived after their deadline (their publisher answered 503): expected after a broker stall; otherwise the nodes' clocks differ by more than --broker-clock-skew (${this.timing.clockSkewMs} ms), or this node reads from the broker that late`,
    );
    this.expiredUnlogged = 0;
    this.expiredLoggedAt = now;
  }

  // This node's report; its own instance view takes every room (`limit` Infinity), live.
  private presence(limit = PRESENCE_ROOM_LIMIT): Presence {
    const all = [...this.host.rooms()];
    const largest = all.length > limit ? all.sort((a, b) => b[1] - a[1]).slice(0, limit) : all;
    return {
      v: 1,
      node: this.host.nodeId,
      role: this.host.role,
      worker: this.host.worker,
      instance: this.host.instance,
      intervalMs: this.presenceIntervalMs,
      sentAt: Date.now(),
      stats: this.host.stats(),
      rooms: Object.fromEntries(largest),
      roomsTruncated: largest.length < all.length,
    };
  }

  private async announce(): Promise<void> {
    // Only the broker's state matters: a node back from an outage announces itself at once, so that the
    // others (waiting for it, see `available`) take pushes again without waiting for their timeout.
    if (this.broker.status !== 'up') return;
    await this.broker.publish(PRESENCE_CHANNEL, { type: 'presence', presence: this.presence() }).catch(() => undefined);
  }

  private onPresence(presence: Presence): void {
    const at = Date.now();
    const sentAt = typeof presence.sentAt === 'number' ? presence.sentAt : null;
    // A report a stalled broker held back is old news: it says nothing of the sender now (clocks may
    // differ by the tolerated skew).
    if (sentAt !== null && at - sentAt > this.goneAfterMs + this.timing.clockSkewMs) return;
    this.peers.set(presence.node, { presence, at });
    this.host.reported?.(presence.node, Object.keys(presence.rooms ?? {}), presence.roomsTruncated === true);
    // Back (resubscribed) only if sent after this node's own return, give or take the skew.
    if (at >= this.recoveredAt && (sentAt === null || sentAt + this.timing.clockSkewMs >= this.recoveredAt)) this.awaiting.delete(presence.node);
    if (presence.node === this.host.nodeId && sentAt !== null) this.ownEchoSentAt = Math.max(this.ownEchoSentAt, sentAt);
  }
}
