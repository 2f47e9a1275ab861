import type { HistoryPolicy } from './history-policy.js';
import type { HistoryPage, HistoryQuery, HistoryStore, StreamPosition } from './history-store.js';

/** What the history needs of the broker's codec: the bytes of a message (the CodecBroker's Codec is one). */
interface Encoder<P> {
  encode(message: P): Buffer;
}

/**
 * History of messages `P` over a store of bytes (Redis, JetStream, the workers' primary): encodes each
 * message once, as the CodecBroker beside it does; the store stamps the bytes with their position.
 */
export class CodecHistory<P> implements HistoryStore<P> {
  constructor(
    private readonly inner: HistoryStore<Buffer>,
    private readonly codec: Encoder<P>,
  ) {}

  get kind(): string {
    return this.inner.kind;
  }

  append(room: string, policy: HistoryPolicy, items: readonly string[], channel: string, payload: P, deadline?: number): Promise<StreamPosition> {
    return this.inner.append(room, policy, items, channel, this.codec.encode(payload), deadline);
  }

  read(room: string, policy: HistoryPolicy, query: HistoryQuery): Promise<HistoryPage> {
    return this.inner.read(room, policy, query);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
