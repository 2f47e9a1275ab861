import { newEpoch } from './history-frame.js';
import type { HistoryPolicy } from './history-policy.js';
import type { HistoryPage, HistoryQuery } from './history-store.js';

/** How long a stream's epoch and top outlive its last append (its items go after the policy's TTL). */
export const STREAM_META_TTL_MS = 3_600_000;

interface Stream {
  epoch: string;
  top: number;
  /** Items held, oldest first, from `start` on (the ones before it are trimmed and await compaction). */
  offsets: number[];
  items: string[];
  at: number[];
  start: number;
  touchedAt: number;
}

/**
 * Room streams held in this process's memory: the store of a gateway alone (`--broker memory`), of the
 * in-process bus (`memory://NAME`) and of the primary of `--workers` (one place assigns the offsets of
 * every worker's pushes). Epochs are new with every process: a restart loses the history, and the
 * clients are told so by the new epoch.
 */
export class MemoryStreams {
  private readonly streams = new Map<string, Stream>();
  private sweptAt = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Streams held (rooms appended to or read within {@link STREAM_META_TTL_MS}). */
  get size(): number {
    return this.streams.size;
  }

  /** Appends `items` to `room`'s stream; returns the offset of the first and the epoch. */
  append(room: string, policy: HistoryPolicy, items: readonly string[]): { first: number; epoch: string } {
    const now = this.now();
    const stream = this.stream(room, now);
    const first = stream.top + 1;
    for (const item of items) {
      stream.top += 1;
      stream.offsets.push(stream.top);
      stream.items.push(item);
      stream.at.push(now);
    }
    this.trim(stream, policy, now);
    this.sweep(now);
    return { first, epoch: stream.epoch };
  }

  /** Reads `room`'s stream (creating it, with a new epoch, when there is none). */
  read(room: string, policy: HistoryPolicy, query: HistoryQuery): HistoryPage {
    const now = this.now();
    const stream = this.stream(room, now);
    this.trim(stream, policy, now);
    const held = stream.offsets.length - stream.start;
    const first = held === 0 ? stream.top + 1 : stream.offsets[stream.start];
    const entries: HistoryPage['entries'] = [];
    const limit = Math.max(1, query.limit);
    if (query.reverse) {
      const before = query.since ?? Infinity;
      for (let i = stream.offsets.length - 1; i >= stream.start && entries.length < limit; i--) {
        if (stream.offsets[i] < before) entries.push({ offset: stream.offsets[i], item: stream.items[i] });
      }
    } else {
      const after = query.since ?? 0;
      // Offsets are contiguous from `first`: the index of the one after `after` is computed, not searched.
      let i = stream.start + Math.max(0, after + 1 - first);
      for (; i < stream.offsets.length && entries.length < limit; i++) entries.push({ offset: stream.offsets[i], item: stream.items[i] });
    }
    return { epoch: stream.epoch, top: stream.top, first, entries };
  }

  /** Forgets every stream (a restart of the store, as tests simulate one). */
  clear(): void {
    this.streams.clear();
  }

  private stream(room: string, now: number): Stream {
    let stream = this.streams.get(room);
    if (stream === undefined) {
      stream = { epoch: newEpoch(), top: 0, offsets: [], items: [], at: [], start: 0, touchedAt: now };
      this.streams.set(room, stream);
    }
    stream.touchedAt = now;
    return stream;
  }

  private trim(stream: Stream, policy: HistoryPolicy, now: number): void {
    const oldest = now - policy.ttlMs;
    const keepFrom = stream.offsets.length - policy.size;
    while (stream.start < stream.offsets.length && (stream.start < keepFrom || stream.at[stream.start] < oldest)) stream.start += 1;
    // Compact once the trimmed head is as long as what is held: amortised O(1) an item.
    if (stream.start > 64 && stream.start * 2 >= stream.offsets.length) {
      stream.offsets = stream.offsets.slice(stream.start);
      stream.items = stream.items.slice(stream.start);
      stream.at = stream.at.slice(stream.start);
      stream.start = 0;
    }
  }

  // Streams untouched for the meta TTL go (their epoch with them: a client of theirs is told it cannot recover).
  private sweep(now: number): void {
    if (now - this.sweptAt < 60_000) return;
    this.sweptAt = now;
    for (const [room, stream] of this.streams) if (now - stream.touchedAt > STREAM_META_TTL_MS) this.streams.delete(room);
  }
}
