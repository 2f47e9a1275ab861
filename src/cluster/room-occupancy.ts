/**
 * A room this node began or ceased to hold (its first member here joined, its last one left), as the
 * node publishes it on the presence channel, so that every node sees every node's changes in one order.
 */
export interface OccupancyChange {
  node: string;
  room: string;
  held: boolean;
}

/** A node's presence report, as far as the followed rooms go. */
interface Report {
  node: string;
  listed: ReadonlySet<string>;
  truncated: boolean;
}

/** What cluster-wide occupancy needs of the node. */
export interface OccupancyParts {
  nodeId: string;
  /** Whether `room`'s occupancy is followed (the others are not published). */
  watches(room: string): boolean;
  /** Whether other nodes may hold rooms too (a shared broker): a gateway alone decides at once. */
  shared(): boolean;
  /** Publishes a change on the presence channel; rejects when the broker does not take it. */
  publish(change: OccupancyChange): Promise<void>;
  /** Whether this node's view of the cluster is current (every node's report is in). */
  viewCurrent(): boolean;
  /** The nodes this node knows as alive now, itself included. */
  liveNodes(): Iterable<string>;
  /** The room got its first member in the cluster. */
  occupied(room: string): void;
  /** The room's last member in the cluster left. */
  vacated(room: string): void;
}

/**
 * Which nodes hold which followed rooms, over the cluster, and the moments a room becomes occupied (its
 * first holder) and vacated (its last holder gone): Pusher's `channel_occupied` and `channel_vacated`.
 *
 * Each node publishes its own changes (a room's first member here, its last here) on the presence
 * channel, which every node reads in the same order, its own changes included. A node decides for its
 * own changes only, as it reads them back: a room it began to hold that no other node held at that point
 * of the stream is occupied; one it ceased to hold that no other node holds is vacated. Every node reads
 * the same stream, so two nodes never both announce one transition, and a room taken and left on two
 * nodes at once comes out as the stream ordered it (vacated then occupied, or neither).
 *
 * A node learns what the others held before it started from their presence reports (on the same
 * channel, so each is in order with its sender's changes): until its view is first current (every live
 * node has reported) it keeps what it reads, then takes each other node's holding of a room before it
 * started from that node's first word on it, and replays the rest in order, deciding its own changes
 * where they stand, so that a room others already held is not announced again. A report cut to its
 * node's largest rooms says nothing of the rooms it left out. A node taken as gone leaves its rooms: those it held
 * alone are vacated, announced by the live node of the lowest id.
 *
 * Without a shared broker (a gateway alone), changes are decided at once.
 */
export class RoomOccupancy {
  /** Per followed room, the nodes holding it as of the stream read so far. */
  private readonly holders = new Map<string, Set<string>>();
  /**
   * The stream as read before this node's view was first current (changes, own ones included, and the
   * others' reports, in order), replayed once it is: null after that.
   */
  private early: Array<{ change: OccupancyChange } | { report: Report }> | null = [];

  constructor(private readonly parts: OccupancyParts) {}

  /** Rooms with at least one holder known. */
  get roomCount(): number {
    return this.holders.size;
  }

  /** Whether `node` holds `room` as far as this node knows. */
  holds(node: string, room: string): boolean {
    return this.holders.get(room)?.has(node) === true;
  }

  /** A room got its first member here (`held`) or lost its last one (the hub's room listener). */
  localChanged(room: string, held: boolean): void {
    if (!this.parts.watches(room)) return;
    const change: OccupancyChange = { node: this.parts.nodeId, room, held };
    if (!this.parts.shared()) {
      // After the hub's other listeners: the room's last member leaves (member_removed) before it is vacated.
      queueMicrotask(() => this.decide(change));
      return;
    }
    // A change the broker did not take is decided on what this node knows: better than none.
    this.parts.publish(change).catch(() => this.decide(change));
  }

  /** A change read from the presence channel (this node's own included), in the stream's order. */
  received(change: OccupancyChange): void {
    if (!this.parts.watches(change.room)) return;
    if (this.early !== null) {
      this.early.push({ change });
      this.flushWaiting();
      return;
    }
    if (change.node === this.parts.nodeId) this.decide(change);
    else this.apply(change);
  }

  /** A node's presence report: the followed rooms it holds (all of them unless `truncated`). */
  reported(node: string, rooms: Iterable<string>, truncated: boolean): void {
    if (node !== this.parts.nodeId) {
      const listed = new Set<string>();
      for (const room of rooms) if (this.parts.watches(room)) listed.add(room);
      const report: Report = { node, listed, truncated };
      if (this.early !== null) this.early.push({ report });
      else this.applyReport(report);
    }
    // Its own report back, or another's: the view may have become current meanwhile.
    this.flushWaiting();
  }

  /** `node` was taken as gone: its rooms are left; those it held alone are vacated (by the lowest live node). */
  nodeGone(node: string): void {
    if (node === this.parts.nodeId) return;
    const announcer = lowestNode(this.parts.liveNodes()) === this.parts.nodeId;
    for (const [room, nodes] of [...this.holders]) {
      if (!nodes.has(node)) continue;
      this.remove(room, node);
      if (!this.holders.has(room) && announcer) this.parts.vacated(room);
    }
  }

  /**
   * Once the view is first current, replays what was read before it: each other node's holding of a
   * room as it was when this node started is what its first word on the room says (a change to held
   * means it did not hold it before; a report, what it listed), and from there every item in order,
   * this node's own changes decided where they stand in the stream.
   */
  flushWaiting(): void {
    if (this.early === null || !this.parts.viewCurrent()) return;
    const early = this.early;
    this.early = null;
    const settled = new Set<string>();
    for (const item of early) {
      if ('change' in item) {
        const { node, room, held } = item.change;
        const key = `${node}\n${room}`;
        if (node !== this.parts.nodeId && !settled.has(key) && held) this.remove(room, node);
        else if (node !== this.parts.nodeId && !settled.has(key)) this.add(room, node);
        settled.add(key);
        continue;
      }
      const { node, listed, truncated } = item.report;
      for (const room of listed) {
        const key = `${node}\n${room}`;
        if (!settled.has(key)) this.add(room, node);
        settled.add(key);
      }
      if (truncated) continue;
      for (const [room] of this.holders) settled.add(`${node}\n${room}`);
    }
    for (const item of early) {
      if ('report' in item) this.applyReport(item.report);
      else if (item.change.node === this.parts.nodeId) this.decide(item.change);
      else this.apply(item.change);
    }
  }

  private applyReport({ node, listed, truncated }: Report): void {
    for (const room of listed) this.add(room, node);
    if (!truncated) for (const [room, nodes] of [...this.holders]) if (nodes.has(node) && !listed.has(room)) this.remove(room, node);
  }

  // Applies one of this node's own changes and announces what it made of the room over the cluster.
  private decide(change: OccupancyChange): void {
    const { room, node, held } = change;
    const others = [...(this.holders.get(room) ?? [])].filter((holder) => holder !== node).length;
    const had = this.holds(node, room);
    this.apply(change);
    if (others > 0 || had === held) return;
    if (held) this.parts.occupied(room);
    else this.parts.vacated(room);
  }

  private apply({ node, room, held }: OccupancyChange): void {
    if (held) this.add(room, node);
    else this.remove(room, node);
  }

  private add(room: string, node: string): void {
    let nodes = this.holders.get(room);
    if (nodes === undefined) this.holders.set(room, (nodes = new Set()));
    nodes.add(node);
  }

  private remove(room: string, node: string): void {
    const nodes = this.holders.get(room);
    if (nodes === undefined) return;
    nodes.delete(node);
    if (nodes.size === 0) this.holders.delete(room);
  }
}

/** The lowest of node ids (by code units): the one node that acts when all read the same and one must act. */
export function lowestNode(nodes: Iterable<string>): string | undefined {
  let first: string | undefined;
  for (const node of nodes) if (first === undefined || node < first) first = node;
  return first;
}
