/** Where one message of a room's JetStream history sits, and which offsets it holds (no payload). */
export interface IndexedMessage {
  seq: number;
  first: number;
  /** Its last item's offset; for a void message or an epoch marker, the offset before `first`. */
  last: number;
  count: number;
  epoch: string;
  /** Server time it was stored, ms since the epoch. */
  at: number;
  void: boolean;
}

/** Messages indexed per room: enough for a client away a few seconds while its room is busy. */
export const INDEXED_PER_ROOM = 128;
/** Rooms indexed at most (the index is emptied when full, as the store's other per-room caches are). */
export const INDEXED_ROOMS = 10_000;

/**
 * The recent messages of each room as this node's live consumer saw them go by, so that a recovery
 * read knows the stream sequence of every message it must return and fetches them all at once, instead
 * of searching the stream one direct get at a time.
 *
 * The live consumer sees every message of the stream in sequence order, without gaps (it is the
 * library's ordered consumer), so a room's entries here are consecutive messages of that room. The
 * store empties the index whenever that could stop being true (the stream replaced, the connection lost).
 */
export class RoomIndex {
  private readonly rooms = new Map<string, IndexedMessage[]>();

  /** The live consumer saw `m` on `subject` (messages come in sequence order). */
  add(subject: string, m: IndexedMessage): void {
    let ring = this.rooms.get(subject);
    if (ring === undefined) {
      if (this.rooms.size >= INDEXED_ROOMS) this.rooms.clear();
      ring = [];
      this.rooms.set(subject, ring);
    }
    if (ring.length > 0 && ring[ring.length - 1].seq >= m.seq) return;
    if (ring.length >= INDEXED_PER_ROOM) ring.shift();
    ring.push(m);
  }

  /**
   * The room's indexed messages of `epoch` from the one holding offset `from` up to stream sequence
   * `upTo`, in order, and the stream sequence a read goes on from after them (messages the live
   * consumer has not shown yet); null when the index does not reach back to `from` (the read must
   * search the stream instead).
   */
  from(subject: string, epoch: string, from: number, upTo: number): { messages: IndexedMessage[]; next: number } | null {
    const ring = this.rooms.get(subject);
    if (ring === undefined || ring.length === 0) return null;
    // The oldest indexed message must start at or before `from`, in this epoch: else older ones may hold it.
    const oldest = ring[0];
    if (oldest.epoch !== epoch || oldest.first > from || oldest.seq > upTo) return null;
    let lo = 0;
    let hi = ring.length;
    // The first message whose last offset reaches `from` (offsets only grow along the ring within an epoch).
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = ring[mid];
      if (m.epoch === epoch && m.last < from) lo = mid + 1;
      else hi = mid;
    }
    let next = oldest.seq + 1;
    for (let i = 0; i < ring.length && ring[i].seq <= upTo; i++) next = ring[i].seq + 1;
    const messages: IndexedMessage[] = [];
    for (let i = lo; i < ring.length && ring[i].seq <= upTo; i++) {
      if (ring[i].epoch !== epoch) return null;
      messages.push(ring[i]);
    }
    return { messages, next };
  }

  clear(): void {
    this.rooms.clear();
  }
}
