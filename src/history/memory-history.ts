import type { HistoryPolicy } from './history-policy.js';
import type { HistoryPage, HistoryQuery, HistoryStore, StreamPosition } from './history-store.js';
import type { MemoryStreams } from './memory-streams.js';

/** Publishes a message on a channel of the broker the store sits beside. */
export type Publish<P> = (channel: string, payload: P) => Promise<void>;
/** The message `payload` stamped with the position of its first item. */
export type Stamp<P> = (payload: P, first: number, epoch: string) => P;

/**
 * History in this process's memory, beside a broker of this process (the local broker of a gateway
 * alone, the in-process bus of `memory://NAME`): the append and the publish happen in one synchronous
 * step, so nothing can come between them. A publish the broker refuses (it is closed) is taken back
 * out of nothing: the broker is checked before the append.
 */
export class MemoryHistory<P> implements HistoryStore<P> {
  readonly kind = 'memory';

  constructor(
    private readonly streams: MemoryStreams,
    private readonly publish: Publish<P>,
    private readonly stamp: Stamp<P>,
    /** Whether the broker takes publishes now. */
    private readonly up: () => boolean,
    private readonly unavailable: () => Error,
  ) {}

  append(room: string, policy: HistoryPolicy, items: readonly string[], channel: string, payload: P): Promise<StreamPosition> {
    if (!this.up()) return Promise.reject(this.unavailable());
    const { first, epoch } = this.streams.append(room, policy, items);
    return this.publish(channel, this.stamp(payload, first, epoch)).then(() => ({ offset: first + items.length - 1, epoch }));
  }

  async read(room: string, policy: HistoryPolicy, query: HistoryQuery): Promise<HistoryPage> {
    if (!this.up()) throw this.unavailable();
    return this.streams.read(room, policy, query);
  }

  async close(): Promise<void> {}
}
