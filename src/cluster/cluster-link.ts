import type { Logger } from 'pino';
import { BrokerUnavailableError, type Broker, type BrokerStatus } from '../broker/broker.js';
import { ALL_CHANNEL, nodeChannel, nodeOfConnection, PRESENCE_CHANNEL, roomChannel, userChannel } from './channels.js';
import { decodePushEnvelope, encodePushEnvelope, type Presence, type PushEnvelope } from './envelope.js';
import { InFlight } from './in-flight.js';

/** Rooms reported per node in presence, the largest first: bounds the message whatever the room count. */
export const PRESENCE_ROOM_LIMIT = 1000;

/** What the link needs from the node it serves. */
export interface ClusterHost {
  readonly nodeId: string;
  readonly role: string;
  readonly worker: number | null;
  /** Delivers a push received from the broker to this node's own clients. */
  deliver(push: PushEnvelope): void;
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
}

/** One node as last reported: its presence, and how old that report is (ms). */
export type NodeView = Pick<Presence, 'node' | 'role' | 'worker' | 'stats' | 'rooms' | 'roomsTruncated'> & { ageMs: number };

function nodeView({ node, role, worker, stats, rooms, roomsTruncated }: Presence, ageMs: number): NodeView {
  return { node, role, worker, ageMs, stats, rooms, roomsTruncated };
}

/** The cluster as seen from one node. */
export interface ClusterView {
  nodes: NodeView[];
  /** Sums of every node's numeric stats. */
  total: Record<string, number>;
  /** Members per room over all nodes (rooms beyond a node's report limit are missing). */
  rooms: Record<string, number>;
  /** How old the oldest report is: counts are at most this stale (bounded by 3 presence intervals). */
  maxStalenessMs: number;
}

/**
 * Joins a node to the others through a broker. Pushes are published, never delivered locally
 * directly: every node, the publisher included, receives each push once from its subscription, so
 * order per channel is the broker's order and no node gets a push twice. Room channels are subscribed
 * on a room's first member here and dropped with its last, so room traffic only reaches nodes that
 * need it; user channels likewise, while a node holds a connection of the user. Every node publishes its counts every `presenceIntervalMs` for cluster-wide stats.
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
  private recoveredAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new InFlight();
  private sequence = 0;
  /** Broker messages that could not be decoded (counted, never fatal). */
  malformed = 0;

  constructor(
    readonly broker: Broker,
    private readonly host: ClusterHost,
    private readonly log: Logger,
    private readonly presenceIntervalMs = 1000,
  ) {
    broker.onStatus((status: BrokerStatus, error?: Error) => {
      // Core pub/sub does not replay: what was on its way back will not come.
      if (status === 'down' || status === 'closed') this.inFlight.clear();
      if (status === 'down') {
        log.warn({ err: error }, `broker ${broker.kind} unavailable: serving local clients, refusing pushes (503) until it is back`);
        // The nodes that must be back (resubscribed) before this one accepts pushes again.
        this.awaiting = new Set([...this.peers].filter(([node, { presence, at }]) => node !== host.nodeId && presence.role !== 'api' && this.fresh(at)).map(([node]) => node));
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
    if (Date.now() - this.recoveredAt > 3 * this.presenceIntervalMs) {
      this.awaiting.clear();
      return true;
    }
    return false;
  }

  /** Connects and subscribes to what this node needs. */
  async start(): Promise<void> {
    await this.broker.connect();
    const onPush = (payload: Buffer): void => this.receive(payload);
    if (this.host.holdsConnections) {
      await this.broker.subscribe(ALL_CHANNEL, onPush);
      await this.broker.subscribe(nodeChannel(this.host.nodeId), onPush);
      for (const [room] of this.host.rooms()) await this.broker.subscribe(roomChannel(room), onPush);
      for (const user of this.host.users()) await this.broker.subscribe(userChannel(user), onPush);
    }
    await this.broker.subscribe(PRESENCE_CHANNEL, (payload) => this.onPresence(payload));
    this.timer = setInterval(() => void this.announce(), this.presenceIntervalMs);
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
    const subscribed = this.broker.subscribe(channel, (payload) => this.receive(payload)).catch((error: unknown) => {
      this.log.warn({ err: error, ...what }, 'subscription failed; it is restored when the broker is back');
    }).finally(() => {
      if (this.subscribing.get(channel) === subscribed) this.subscribing.delete(channel);
    });
    this.subscribing.set(channel, subscribed);
  }

  /**
   * Publishes a push, tagged with this node's id and sequence; rejects with BrokerUnavailableError
   * when it cannot be accepted. A push to a channel subscribed here is in flight until it comes back.
   */
  publish(push: PushEnvelope): Promise<void> {
    if (!this.available) return Promise.reject(new BrokerUnavailableError());
    const channel = push.kind === 'all' ? ALL_CHANNEL
      : push.kind === 'room' ? roomChannel(push.room)
        : push.kind === 'user' ? userChannel(push.user)
          : nodeChannel(nodeOfConnection(push.conn) ?? '');
    const seq = ++this.sequence;
    // Tracked before publishing: the push may come back before the broker's answer does.
    this.inFlight.started(seq, this.subscribedHere(push, channel) ? channel : null);
    return this.broker.publish(channel, encodePushEnvelope({ ...push, origin: { node: this.host.nodeId, seq } })).then(
      () => this.inFlight.published(seq, true),
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

  /** Whether a node is alive (reported within 3 intervals). */
  knowsNode(node: string): boolean {
    return node === this.host.nodeId || this.fresh(this.peers.get(node)?.at);
  }

  /**
   * The cluster as last reported by every live node (this one included). Computed at most every 50 ms:
   * each accepted push asks it for its recipient count.
   */
  view(): ClusterView {
    const now = Date.now();
    if (this.cached !== null && now - this.cached.at < 50) return this.cached.view;
    const view = this.computeView(now);
    this.cached = { view, at: now };
    return view;
  }

  private computeView(now: number): ClusterView {
    const nodes: NodeView[] = [];
    for (const [node, { presence, at }] of this.peers) {
      if (!this.fresh(at)) {
        this.peers.delete(node);
        continue;
      }
      if (node === this.host.nodeId) continue;
      nodes.push(nodeView(presence, now - at));
    }
    nodes.unshift(nodeView(this.presence(), 0));
    nodes.sort((a, b) => (a.worker ?? 0) - (b.worker ?? 0) || a.node.localeCompare(b.node));
    const total: Record<string, number> = {};
    const rooms: Record<string, number> = {};
    for (const view of nodes) {
      for (const [key, value] of Object.entries(view.stats)) total[key] = (total[key] ?? 0) + value;
      for (const [room, count] of Object.entries(view.rooms)) rooms[room] = (rooms[room] ?? 0) + count;
    }
    return { nodes, total, rooms, maxStalenessMs: Math.max(0, ...nodes.map((n) => n.ageMs)) };
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.broker.close();
  }

  private fresh(at: number | undefined): boolean {
    return at !== undefined && Date.now() - at <= 3 * this.presenceIntervalMs;
  }

  private receive(payload: Buffer): void {
    const push = decodePushEnvelope(payload);
    if (push === null) {
      this.malformed += 1;
      return;
    }
    this.host.deliver(push);
    if (push.origin !== undefined && push.origin.node === this.host.nodeId) this.inFlight.returned(push.origin.seq);
  }

  private presence(): Presence {
    const all = [...this.host.rooms()];
    const largest = all.length > PRESENCE_ROOM_LIMIT ? all.sort((a, b) => b[1] - a[1]).slice(0, PRESENCE_ROOM_LIMIT) : all;
    return {
      v: 1,
      node: this.host.nodeId,
      role: this.host.role,
      worker: this.host.worker,
      intervalMs: this.presenceIntervalMs,
      stats: this.host.stats(),
      rooms: Object.fromEntries(largest),
      roomsTruncated: largest.length < all.length,
    };
  }

  private async announce(): Promise<void> {
    if (!this.available) return;
    await this.broker.publish(PRESENCE_CHANNEL, Buffer.from(JSON.stringify(this.presence()))).catch(() => undefined);
  }

  private onPresence(payload: Buffer): void {
    try {
      const presence = JSON.parse(payload.toString('utf8')) as Presence;
      if (presence.v !== 1 || typeof presence.node !== 'string') throw new Error('not a presence message');
      const at = Date.now();
      this.peers.set(presence.node, { presence, at });
      if (at >= this.recoveredAt) this.awaiting.delete(presence.node);
    } catch {
      this.malformed += 1;
    }
  }
}
