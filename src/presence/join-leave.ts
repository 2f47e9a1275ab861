import { lowestNode } from '../cluster/room-occupancy.js';
import type { PresenceEventBody } from '../protocol/client-protocol.js';
import type { PresenceChange } from './presence-change.js';
import { localPresence, type PresenceAnswer, type PresenceAsk, type PresenceHolder } from './presence-query.js';
import type { PresenceRules } from './presence-rules.js';
import type { PresenceGathering } from './presence-service.js';
import { applyChange, connectionsOf, countOf, difference, entryOf, type Holders, type Member, RoomReplica } from './room-replica.js';

/** Nodes remembered as gone (so that their return is noticed): the oldest are forgotten past this. */
const GONE_KEPT = 1000;

/** What join/leave events need of the node: its members, its broker link, its delivery. */
export interface JoinLeaveParts<C extends PresenceHolder> {
  nodeId: string;
  rules: PresenceRules;
  /** This node's members of a room (none: undefined). */
  members(room: string): ReadonlySet<C> | undefined;
  /** Publishes a change on its room's channel; rejects when the broker does not take it. */
  publish(change: PresenceChange): Promise<void>;
  /** Settles once this node's subscription to the room's channel is in place; null when it is. */
  ready(room: string): Promise<void> | null;
  /** The other nodes' answers to a presence ask (none for a gateway alone); rejects while the broker is down. */
  gather(ask: PresenceAsk): Promise<PresenceGathering>;
  /** Whether `node` reported within 3 presence intervals. */
  knows(node: string): boolean;
  /** Whether this node's view of the cluster is current (a node missing from it is gone). */
  viewCurrent(): boolean;
  /** Whether the broker takes publishes now (after an outage: once the other nodes are back). */
  available(): boolean;
  /** Members of the room on the other nodes, as their presence reports last said. */
  reported(room: string): number;
  /** Queues a PRESENCE_EVENT for `recipients` (members of `room` here), behind what the room received before it. */
  send(room: string, event: PresenceEventBody, recipients: readonly C[]): void;
  /**
   * A user's first connection in the room over the cluster (`added`), or its last one gone: told once in
   * the cluster, by the node that holds the connection (for a node taken as gone, by the holder of the
   * lowest id). Pusher's member_added and member_removed webhooks.
   */
  member?(room: string, user: string, added: boolean): void;
}

/**
 * Join/leave events for the rooms `--join-leave` names. Each join or leave of a connection here is
 * published, with this node's sequence number, on the room's broker channel, so that it reaches every
 * node with members in the order of the room's pushes; every node (this one included) keeps a copy of
 * the room's presence (src/presence/room-replica.ts), loaded from the nodes' answers when the room gets
 * its first member here and followed change by change after that, and tells its members what changed:
 * `join` and `leave` per connection; to a connection whose own join comes through, `state` (the whole
 * presence as of that point of the stream, itself included) instead of its own join; `overflow` when
 * the room holds more than `presenceMax` connections (no events then, until it is back under it).
 *
 * A change the load's answers already include is skipped by its sequence number (each node's answer
 * carries the number of its last published change). When another node is taken as gone (silent for 3
 * presence intervals), its connections are announced as left. After a broker outage, and when a node
 * taken as gone reports again, every copy is loaded again and members are told the difference.
 */
export class JoinLeave<C extends PresenceHolder> {
  private seq = 0;
  private readonly replicas = new Map<string, RoomReplica>();
  /** Per room, what waits for this node's subscription to the room's channel. */
  private readonly waiting = new Map<string, Array<() => void>>();
  private readonly gone = new Set<string>();
  private resync = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly parts: JoinLeaveParts<C>) {}

  /** Rooms whose presence this node keeps a copy of. */
  get roomCount(): number {
    return this.replicas.size;
  }

  /** This node's own answer to a presence query, with the number of its last published change. */
  answer(ask: PresenceAsk): PresenceAnswer {
    return localPresence(this.parts.members(ask.room), ask, this.seq);
  }

  /** A connection here joined or left `room` (the hub's membership listener). */
  changed(conn: C, room: string, joined: boolean): void {
    if (!this.parts.rules.announces(room)) return;
    const info = conn.presenceInfo?.get(room);
    const change = {
      room,
      event: joined ? ('join' as const) : ('leave' as const),
      conn: conn.id,
      user: conn.userId ?? null,
      ...(info === undefined ? {} : { info }),
      origin: this.parts.nodeId,
    };
    if (joined && !this.replicas.has(room)) this.open(room);
    this.afterReady(room, () => this.publishNow(change));
    if (joined) return;
    const replica = this.replicas.get(room);
    replica?.overflowTold.delete(conn.id);
    // Its last member here is gone: nothing to tell anyone here any more.
    if (this.parts.members(room) === undefined) {
      this.replicas.delete(room);
      // This leave will not be read back here (the copy is gone): whether it was the user's last is decided now.
      if (replica?.state === 'ready' && change.user !== null) {
        const held = replica.holders.get(this.parts.nodeId)?.has(conn.id) === true;
        if (held && connectionsOf(replica.holders, change.user) === 1) this.parts.member?.(room, change.user, false);
      }
    }
  }

  /** A change published by some node (this one included), received on the room's channel. */
  received(change: PresenceChange): void {
    const replica = this.replicas.get(change.room);
    if (replica === undefined) return;
    switch (replica.state) {
      case 'loading':
        replica.buffered.push(change);
        // A load is bounded by the broker timeout; should changes pile up meanwhile, the next load covers them.
        if (replica.buffered.length > 2 * this.parts.rules.max + 64) {
          replica.buffered = [];
          replica.reloadWanted = true;
        }
        return;
      case 'overflow': {
        if (change.origin !== this.parts.nodeId || change.event !== 'join') return;
        const conn = this.member(change.room, change.conn);
        if (conn !== undefined) this.tellOverflow(change.room, replica, [conn]);
        return;
      }
      case 'ready':
        this.apply(change.room, replica, change);
    }
  }

  /** `node` was taken as gone: its connections leave every room here. */
  nodeGone(node: string): void {
    this.gone.delete(node);
    this.gone.add(node);
    if (this.gone.size > GONE_KEPT) this.gone.delete(this.gone.values().next().value as string);
    for (const [room, replica] of this.replicas) {
      if (replica.state !== 'ready') continue;
      const conns = replica.holders.get(node);
      if (conns === undefined) continue;
      replica.holders.delete(node);
      const members = this.synced(room, replica.holders);
      // Every holder of the room reads this alike: the lowest of them tells of the users gone.
      const announcer = lowestNode(replica.holders.keys()) === this.parts.nodeId;
      const gone = new Set<string>();
      for (const [conn, member] of conns) {
        const sole = member.user === null || connectionsOf(replica.holders, member.user) === 0;
        if (sole && member.user !== null) gone.add(member.user);
        this.tell(room, { room, event: 'leave', ...entryOf(conn, member, node), sole }, members);
      }
      if (announcer) for (const user of gone) this.parts.member?.(room, user, false);
    }
  }

  /** The broker is back after an outage: changes may have been lost meanwhile, so every copy is loaded again. */
  brokerBack(): void {
    this.resync = true;
  }

  /** Starts the periodic look (every presence interval) at nodes that came back and rooms back under the bound. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look: reloads after an outage or a node's return, and reloads rooms that seem back under the bound. */
  tick(): void {
    for (const node of this.gone) {
      if (!this.parts.knows(node)) continue;
      this.gone.delete(node);
      this.resync = true;
    }
    const resync = this.resync && this.parts.available();
    if (resync) this.resync = false;
    for (const [room, replica] of this.replicas) {
      if (resync && replica.state !== 'overflow') this.reload(room, replica);
      else if (replica.state === 'overflow' && this.estimate(room) <= this.parts.rules.max) this.reload(room, replica);
    }
  }

  private open(room: string): void {
    const replica = new RoomReplica();
    this.replicas.set(room, replica);
    this.afterReady(room, () => void this.load(room, replica));
  }

  private reload(room: string, replica: RoomReplica): void {
    if (replica.state === 'loading') {
      replica.reloadWanted = true;
      return;
    }
    // Members were told of the copy as it stands: the load tells them what differs.
    replica.told = replica.state === 'ready' ? replica.holders : null;
    replica.state = 'loading';
    void this.load(room, replica);
  }

  // Runs `action` once this node's subscription to the room's channel is in place, in call order.
  private afterReady(room: string, action: () => void): void {
    const waiting = this.waiting.get(room);
    if (waiting !== undefined) {
      waiting.push(action);
      return;
    }
    const ready = this.parts.ready(room);
    if (ready === null) {
      action();
      return;
    }
    const actions = [action];
    this.waiting.set(room, actions);
    void ready.then(() => {
      this.waiting.delete(room);
      for (const run of actions) run();
    });
  }

  private publishNow(change: Omit<PresenceChange, 'seq'>): void {
    this.seq += 1;
    // A change the broker did not take is lost for the others: they load again once it is back.
    this.parts.publish({ ...change, seq: this.seq }).catch(() => {
      this.resync = true;
    });
  }

  private async load(room: string, replica: RoomReplica): Promise<void> {
    const ask: PresenceAsk = { op: 'presence', room, list: true, max: this.parts.rules.max };
    let gathering: PresenceGathering;
    try {
      gathering = await this.parts.gather(ask);
    } catch {
      // The broker is down: what was known of the others stands until it is back (then this loads again).
      gathering = { answers: new Map(), partial: true, unanswered: [...(replica.told?.keys() ?? [])] };
      this.resync = true;
    }
    if (this.replicas.get(room) !== replica) return;
    this.loaded(room, replica, ask, gathering);
    if (replica.reloadWanted && this.replicas.get(room) === replica) {
      replica.reloadWanted = false;
      this.reload(room, replica);
    }
  }

  private loaded(room: string, replica: RoomReplica, ask: PresenceAsk, gathering: PresenceGathering): void {
    const { nodeId, max } = { nodeId: this.parts.nodeId, max: this.parts.rules.max };
    const holders: Holders = new Map();
    const seen = new Map<string, number>();
    let over = false;
    let total = 0;
    const take = (node: string, answer: PresenceAnswer): void => {
      total += answer.count;
      seen.set(node, answer.seq);
      if (answer.members === undefined) over = true;
      else if (answer.members.length > 0)
        holders.set(node, new Map(answer.members.map(({ conn, user, info }): [string, Member] => [conn, info === undefined ? { user } : { user, info }])));
    };
    for (const [node, answer] of gathering.answers) if (node !== nodeId && this.alive(node)) take(node, answer);
    for (const node of gathering.unanswered) {
      const known = replica.told?.get(node);
      if (known !== undefined && this.alive(node)) holders.set(node, new Map(known));
    }
    take(nodeId, this.answer(ask));
    for (const change of replica.buffered) {
      const last = seen.get(change.origin);
      if ((last !== undefined && change.seq <= last) || !this.alive(change.origin)) continue;
      applyChange(holders, change);
    }
    replica.buffered = [];
    if (over || countOf(holders) > max) {
      this.overflow(room, replica, Math.max(total, countOf(holders)));
      return;
    }
    const told = replica.told;
    replica.holders = holders;
    replica.state = 'ready';
    replica.partial = gathering.partial;
    replica.told = null;
    replica.overflowTold.clear();
    const members = this.synced(room, holders);
    if (told === null) {
      for (const conn of members) this.tellState(room, replica, conn);
      this.firstMembers(room, holders);
      return;
    }
    // A reload: members who were told of the room before hear what changed since; new ones get its state.
    const before = told.get(nodeId);
    const stayed = members.filter((conn) => before?.has(conn.id) === true);
    const { joined, left } = difference(told, holders);
    for (const entry of left) this.tell(room, { room, event: 'leave', ...entry }, stayed);
    for (const entry of joined) this.tell(room, { room, event: 'join', ...entry }, stayed);
    for (const conn of members) if (before?.has(conn.id) !== true) this.tellState(room, replica, conn);
  }

  // The room's first copy here: users whose connections the load found here only (their joins came
  // before it, so they are not read back) are told of as added, by this node.
  private firstMembers(room: string, holders: Holders): void {
    if (this.parts.member === undefined) return;
    const own = holders.get(this.parts.nodeId);
    if (own === undefined) return;
    const here = new Map<string, number>();
    for (const { user } of own.values()) if (user !== null) here.set(user, (here.get(user) ?? 0) + 1);
    for (const [user, count] of here) if (connectionsOf(holders, user) === count) this.parts.member(room, user, true);
  }

  private apply(room: string, replica: RoomReplica, change: PresenceChange): void {
    // A node taken as gone has been announced as left; should it come back, it is loaded again (tick).
    if (!this.alive(change.origin)) return;
    if (!applyChange(replica.holders, change)) return;
    if (replica.count > this.parts.rules.max) {
      this.overflow(room, replica, replica.count);
      return;
    }
    const { conn, user, origin } = change;
    const members = this.synced(room, replica.holders).filter((member) => member.id !== conn);
    // Applied already: a join is its user's only connection when it is the one now held, a leave when none is left.
    const sole = user === null || connectionsOf(replica.holders, user) === (change.event === 'join' ? 1 : 0);
    const entry = entryOf(conn, change.info === undefined ? { user } : { user, info: change.info }, origin);
    this.tell(room, { room, event: change.event, ...entry, sole }, members);
    if (origin === this.parts.nodeId && sole && user !== null) this.parts.member?.(room, user, change.event === 'join');
    if (origin === this.parts.nodeId && change.event === 'join') {
      const joiner = this.member(room, conn);
      if (joiner !== undefined) this.tellState(room, replica, joiner);
    }
  }

  private overflow(room: string, replica: RoomReplica, count: number): void {
    replica.state = 'overflow';
    replica.holders = new Map();
    replica.buffered = [];
    replica.told = null;
    const members = [...(this.parts.members(room) ?? [])].filter((conn) => conn.isOpen);
    this.tellOverflow(room, replica, members, count);
  }

  private tellOverflow(room: string, replica: RoomReplica, members: readonly C[], count = this.estimate(room)): void {
    const untold = members.filter((conn) => !replica.overflowTold.has(conn.id));
    for (const conn of untold) replica.overflowTold.add(conn.id);
    this.tell(room, { room, event: 'overflow', count }, untold);
  }

  private tellState(room: string, replica: RoomReplica, conn: C): void {
    this.tell(room, { room, event: 'state', connections: replica.entries(), partial: replica.partial }, [conn]);
  }

  private tell(room: string, event: PresenceEventBody, recipients: readonly C[]): void {
    if (recipients.length > 0) this.parts.send(room, event, recipients);
  }

  // This node's members that the copy holds (their own join has come through): those told of changes.
  private synced(room: string, holders: Holders): C[] {
    const own = holders.get(this.parts.nodeId);
    if (own === undefined) return [];
    return [...(this.parts.members(room) ?? [])].filter((conn) => conn.isOpen && own.has(conn.id));
  }

  private member(room: string, id: string): C | undefined {
    for (const conn of this.parts.members(room) ?? []) if (conn.id === id && conn.isOpen) return conn;
    return undefined;
  }

  // A node is alive when it reported lately, or when this node cannot tell (its view is not current).
  private alive(node: string): boolean {
    return node === this.parts.nodeId || this.parts.knows(node) || !this.parts.viewCurrent();
  }

  private estimate(room: string): number {
    let here = 0;
    for (const conn of this.parts.members(room) ?? []) if (conn.isOpen) here += 1;
    return here + this.parts.reported(room);
  }
}
