/**
 * Room streams: the recent items of rooms matching `--history`, each with an offset (monotonic and
 * contiguous per room: 1, 2, 3, …) and the stream's epoch (changes whenever the stream's history was
 * lost: a restarted in-memory store, a flushed or failed-over Redis, a recreated JetStream stream, or
 * a stream that expired whole). A client that saw offset N of epoch E can get exactly what followed.
 *
 * A store appends and publishes in one step: an item is in history if and only if it went out live on
 * the room's channel, so no client can find in history what was never delivered, or miss in history
 * what was.
 */

import type { HistoryPolicy } from './history-policy.js';

/** Where a room's stream stands: the offset of an item (or the last one), and the stream's epoch. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** One item of a stream: its offset and its JSON text, as accepted at the API. */
export interface HistoryEntry {
  offset: number;
  item: string;
}

/** What to read of a stream. */
export interface HistoryQuery {
  /**
   * Items after this offset (exclusive); undefined: from the oldest held (or, reversed, from the newest).
   * With `reverse`, items before this offset (exclusive), newest first.
   */
  since?: number;
  /** At most this many items (≥ 1). */
  limit: number;
  /** Newest first. */
  reverse: boolean;
}

/** A read of a stream. */
export interface HistoryPage {
  /** The stream's epoch now (a new one when the stream did not exist: it is created by the read). */
  epoch: string;
  /** The offset of the last item ever appended in this epoch (0 when none). */
  top: number;
  /**
   * The oldest offset still held (top + 1 when nothing is held): items below it were trimmed (size) or
   * expired (TTL). Whether a client at offset N can recover is `N + 1 >= first` (same epoch).
   */
  first: number;
  /** The items asked for, in offset order (newest first with `reverse`), each at most `policy.ttlMs` old. */
  entries: HistoryEntry[];
}

/**
 * Where room streams live. Implementations: in memory (one process, or the primary of `--workers`),
 * Redis Streams (`--broker redis://`), NATS JetStream (`--broker nats://`).
 */
export interface HistoryStore<P = Buffer> {
  /** `memory`, `ipc`, `redis`, `jetstream`. */
  readonly kind: string;
  /**
   * Appends `items` (JSON texts) to `room`'s stream, trimmed to `policy`, and publishes on `channel`
   * the push `payload` stamped with the position of its first item (see history-frame.ts), as one
   * step. Resolves with the position of the LAST item; item i of n has offset `last - (n - 1 - i)`.
   * Rejects with BrokerUnavailableError when the step could not be taken (then nothing was appended
   * and nothing published), including when it could not be confirmed within the broker timeout.
   * `deadline` (ms since the epoch): a store that can tell (Redis, by its own clock inside the script)
   * takes no step after it, since the publisher has answered 503 by then. `P` is what the broker
   * carries: bytes (stamped with history-frame.ts), or for the in-process broker the message itself.
   */
  append(room: string, policy: HistoryPolicy, items: readonly string[], channel: string, payload: P, deadline?: number): Promise<StreamPosition>;
  /** Reads `room`'s stream. Rejects with BrokerUnavailableError when the store cannot be reached. */
  read(room: string, policy: HistoryPolicy, query: HistoryQuery): Promise<HistoryPage>;
  /** Releases what the store holds of its own (not the broker's connection). Idempotent. */
  close(): Promise<void>;
}

/** A broker that keeps room streams beside its channels (every broker of pushgate but Redis Cluster). */
export interface WithHistory<P = Buffer> {
  /** The broker's history store (one per broker, made on first call). Throws when this broker cannot keep history, saying why. */
  history(): HistoryStore<P>;
}

/** Whether `broker` can keep history. */
export function hasHistory<P>(broker: object): broker is WithHistory<P> {
  return typeof (broker as Partial<WithHistory<P>>).history === 'function';
}
