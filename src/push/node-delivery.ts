import type { PushEnvelope } from '../cluster/envelope.js';
import type { Connection } from '../connection/connection.js';
import type { Hub } from '../hub/hub.js';
import { DeliveryPace } from '../merger/delivery-pace.js';
import { Dispatcher } from '../merger/dispatcher.js';
import { eventLoopTime, MergeWindow } from '../merger/merge-window.js';
import { Merger, type PushTarget } from '../merger/merger.js';
import type { Stats } from '../stats/stats.js';

const ALL: PushTarget = { kind: 'all' };

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
        this.dispatcher.enqueue(batch, this.recipientsOf(target));
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
}
