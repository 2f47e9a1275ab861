import type { PushEnvelope } from '../cluster/envelope.js';
import type { Connection } from '../connection/connection.js';
import type { Hub } from '../hub/hub.js';
import { DeliveryPace } from '../merger/delivery-pace.js';
import { Dispatcher } from '../merger/dispatcher.js';
import { eventLoopTime, MergeWindow } from '../merger/merge-window.js';
import { Merger, type PushTarget } from '../merger/merger.js';
import { type Deliverable, PushBatch, type StreamStamp } from '../merger/push-batch.js';
import type { Stats } from '../stats/stats.js';

const ALL: PushTarget = { kind: 'all' };

/** One hold of a connection on a room (see NodeDelivery.hold): only its own release ends it. */
export type HoldToken = object;

interface Hold {
  /** The batches flushed while held, and the room's other frames (presence events) in their place among them (null once released). */
  kept: Deliverable[] | null;
  /** Once released: the offset the client has up to (its replay's last), items up to which are cut. */
  after: StreamStamp | null;
}

/** How pushes are merged (`--max-batch-items`, `--max-batch-delay`) and the latency budget (`--max-latency`). */
export interface MergeLimits {
  maxBatchItems: number;
  maxBatchDelay: number;
  maxLatency: number;
}

/**
 * A node's receiving end: a push that came back from the broker is merged with the others for its
 * target, each batch is encoded and framed once per client protocol among its recipients, and the
 * dispatcher writes each of the target's connections here the frame of its protocol. Owns the merger and the dispatcher, and counts what they deliver and drop.
 */
export class NodeDelivery {
  private readonly merger: Merger;
  private readonly dispatcher: Dispatcher;
  private readonly pace: DeliveryPace;
  private readonly window: MergeWindow;
  /**
   * Connections joining a room with history, per room: held out of its frames until their replay is
   * through (`kept`: the batches flushed meanwhile, sent after the replay), then fenced (`after`: items
   * up to this offset, which the replay had, are cut from what still reaches them). See {@link hold}.
   */
  private readonly holds = new Map<string, Map<Connection, Hold>>();

  constructor(
    private readonly hub: Hub,
    private readonly stats: Stats,
    limits: MergeLimits,
  ) {
    this.dispatcher = new Dispatcher({
      sent: (frame) => {
        stats.sendMessageTotal += 1;
        stats.itemsDelivered += frame.items;
      },
      failed: (frame) => {
        stats.sendMessageFail += 1;
        stats.itemsDropped += frame.items;
      },
    });
    this.pace = new DeliveryPace({ budgetMs: limits.maxLatency }, this.dispatcher, () => hub.size);
    // With a budget, sample how far behind the clients are: a probe every 20 ms among those written to;
    // an answer slower than an eighth of the budget shows how fast a client behind reads.
    if (limits.maxLatency > 0) this.dispatcher.watchClients(20, Math.max(5, limits.maxLatency / 8));
    this.window = new MergeWindow(limits.maxLatency, { loopTime: eventLoopTime, clientLagMs: () => this.dispatcher.clientLagMs() });
    this.merger = new Merger(
      limits.maxBatchItems,
      limits.maxBatchDelay,
      (batch, target) => {
        stats.batchesFlushed += 1;
        const held = target.kind === 'room' ? this.holds.get(target.room) : undefined;
        this.dispatcher.enqueue(batch, held === undefined ? this.recipientsOf(target, batch.except) : this.unheld(batch, target, held));
      },
      this.window,
    );
  }

  /** A push for this node's clients, from the broker (whichever it is). */
  receive(envelope: PushEnvelope): void {
    switch (envelope.kind) {
      case 'all':
        this.merger.add('*', ALL, envelope.items);
        return;
      case 'room':
        // A node receives only rooms it has members in; the last one may have just left.
        if (this.hub.members(envelope.room) !== undefined) {
          this.merger.add(`r:${envelope.room}`, { kind: 'room', room: envelope.room }, envelope.items, envelope.position, envelope.except);
        }
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

  /**
   * Holds `conn` out of `room`'s frames (it is a member already): the batches flushed for the room
   * from now on are kept for it instead, until {@link release}. A connection joining a room with
   * history is held while the room's stream is read, so that what it is sent is the replay, then
   * what followed it, once each and in order.
   */
  hold(conn: Connection, room: string): HoldToken {
    let held = this.holds.get(room);
    if (held === undefined) this.holds.set(room, (held = new Map()));
    const hold: Hold = { kept: [], after: null };
    held.set(conn, hold);
    return hold;
  }

  /**
   * Ends the hold of `conn` on `room`: of the batches kept for it, the items after `after` (the last
   * offset its replay went to) are queued for it, behind what it was sent meanwhile; null drops them
   * (the JOIN failed). Every later batch of the room reaches it as any member.
   */
  release(conn: Connection, room: string, after: StreamStamp | null, token: HoldToken): void {
    const held = this.holds.get(room);
    const hold = held?.get(conn);
    // A newer hold of the same connection and room (LEAVE, then JOIN again) is not this one's to end.
    if (held === undefined || hold === undefined || hold !== token || hold.kept === null) return;
    const kept = hold.kept;
    hold.kept = null;
    hold.after = after;
    if (after === null || !conn.isOpen) {
      this.unhold(held, conn, room);
      return;
    }
    for (const frame of kept) {
      if (!(frame instanceof PushBatch)) this.sendTo(conn, frame);
      else if (held.get(conn) === hold) this.pass(held, conn, room, hold, frame);
      else this.sendTo(conn, frame);
    }
  }

  // A batch for a released (fenced) connection: what it has not had yet is queued for it; the fence
  // goes with the first batch past it (or of another epoch). Pushes that reached the store before its
  // read can still be on their way to this node, or in the merger's open batch: the fence cuts them.
  private pass(held: Map<Connection, Hold>, conn: Connection, room: string, hold: Hold, batch: PushBatch): void {
    const after = hold.after as StreamStamp;
    const stamp = batch.stamp;
    const skip = stamp === undefined || stamp.epoch !== after.epoch ? 0 : after.offset - (stamp.offset - batch.items.length);
    if (skip < batch.items.length) {
      this.sendTo(conn, skip <= 0 ? batch : new PushBatch(batch.items.slice(skip), batch.room, stamp));
      this.unhold(held, conn, room);
    }
  }

  private unhold(held: Map<Connection, Hold>, conn: Connection, room: string): void {
    held.delete(conn);
    if (held.size === 0) this.holds.delete(room);
  }

  /**
   * `conn` left `room` (or closed): its hold or fence there goes, rather than wait for the room's next
   * batch, which a quiet room may never get.
   */
  left(conn: Connection, room: string): void {
    const held = this.holds.get(room);
    if (held?.has(conn) === true) this.unhold(held, conn, room);
  }

  /** Queues a frame for one connection, behind whatever it was queued before (a replay, an ACK that must follow it). */
  sendTo(conn: Connection, deliverable: Deliverable): void {
    this.dispatcher.enqueue(deliverable, [conn]);
  }

  /**
   * Queues `deliverable` for `recipients`, members of `room`, behind every item received for the room
   * before it (its open batch is flushed first): a frame about the room (a presence event) keeps its
   * place in the room's stream.
   */
  roomFrame(room: string, deliverable: Deliverable, recipients: Iterable<Connection>): void {
    this.merger.flush(`r:${room}`);
    const held = this.holds.get(room);
    if (held === undefined) {
      this.dispatcher.enqueue(deliverable, recipients);
      return;
    }
    // A connection held for its replay gets the frame after the replay, in its place among the batches kept.
    const now: Connection[] = [];
    for (const conn of recipients) {
      const kept = held.get(conn)?.kept;
      if (kept !== undefined && kept !== null) kept.push(deliverable);
      else now.push(conn);
    }
    this.dispatcher.enqueue(deliverable, now);
  }

  /** Connections held out of some room's frames now (see {@link hold}). */
  get heldCount(): number {
    let count = 0;
    for (const held of this.holds.values()) count += held.size;
    return count;
  }

  // The members of a room some of whom are held or fenced: those get the batch kept, or what they
  // have not had of it; the others are its recipients.
  private unheld(batch: PushBatch, target: PushTarget, held: Map<Connection, Hold>): Connection[] {
    const room = (target as { room: string }).room;
    const recipients: Connection[] = [];
    for (const conn of this.recipientsOf(target, batch.except)) {
      const hold = held.get(conn);
      if (hold === undefined) recipients.push(conn);
      else if (hold.kept !== null) hold.kept.push(batch);
      else this.pass(held, conn, room, hold, batch);
    }
    // Fences of connections gone meanwhile (closed, or left the room) would wait for a batch forever.
    for (const [conn, hold] of held) if (hold.kept === null && (!conn.isOpen || this.hub.roomsOf(conn)?.has(room) !== true)) this.unhold(held, conn, room);
    return recipients;
  }

  /** Items for this node's members of `room` that come from the node itself, not the broker (the dashboard's samples). */
  local(room: string, items: readonly string[]): void {
    this.merger.add(`r:${room}`, { kind: 'room', room }, items);
  }

  /**
   * Why delivery cannot take more now (the latency budget is overrun: see DeliveryPace), or null: the
   * push service answers 503 `OVERLOADED` while it is not null.
   */
  overload(): { lagMs: number; budgetMs: number } | null {
    // Asked for every push: without a budget, not even the merger's oldest batch is looked at.
    if (!this.pace.enabled) return null;
    const behind = this.pace.overload(this.merger.oldestAgeMs());
    return behind === null ? null : { ...behind, budgetMs: this.pace.budgetMs };
  }

  /** The merge window now (ms): the least time between two frames to one target (see MergeWindow). */
  get mergeWindowMs(): number {
    return this.window.windowMs();
  }

  /** A write pass over every connection, as the recent write cost predicts it (ms). */
  get writePassMs(): number {
    return this.pace.passMs();
  }

  /** How far behind delivery is (ms): the oldest accepted item not yet written, or the clients by their probes. */
  get deliveryLagMs(): number {
    return Math.max(this.merger.oldestAgeMs(), this.dispatcher.lagMs(), this.dispatcher.clientLagMs());
  }

  /** A client answered its probe after `rttMs`. */
  probeAnswered(conn: Connection, rttMs: number): void {
    this.dispatcher.probeAnswered(conn, rttMs);
  }

  /** Items accepted and not yet written to (or failed for) every recipient. */
  get pendingItems(): number {
    return this.merger.pendingItems + this.dispatcher.pendingItems;
  }

  /** Items waiting in open batches (go-push's `mergerPending`). */
  get mergerPending(): number {
    return this.merger.pendingItems;
  }

  /** Frames not yet written to every recipient (go-push's `dispatchPending`). */
  get dispatchPending(): number {
    return this.dispatcher.pendingFrames;
  }

  /** Everything received goes out to the sockets now (a shutdown, ahead of the close frames). */
  flush(): void {
    this.merger.flushAll();
    this.dispatcher.drain();
  }

  // `except`: a batch's connection left out (its pushes' sender); only such batches pay for a copy.
  private recipientsOf(target: PushTarget, except?: string): Iterable<Connection> {
    switch (target.kind) {
      case 'all':
        return this.hub.all();
      case 'room': {
        const members = this.hub.members(target.room) ?? [];
        return except === undefined ? members : [...members].filter((conn) => conn.id !== except);
      }
      case 'conn':
        // A connection that closed after its push was accepted still counts it, as dropped.
        return [target.conn];
      case 'user':
        return this.hub.userConnections(target.user) ?? [];
    }
  }
}
