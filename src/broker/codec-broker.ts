import { CodecHistory } from '../history/codec-history.js';
import { type HistoryStore, hasHistory, type WithHistory } from '../history/history-store.js';
import type { Broker, MessageHandler } from './broker.js';
import { ForwardingBroker } from './forwarding-broker.js';

/** Turns messages into bytes for a broker that carries bytes, and back. */
export interface Codec<P> {
  encode(message: P): Buffer;
  /** Never throws: what cannot be decoded comes back as a value of `P` that says so. */
  decode(payload: Buffer): P;
}

/**
 * A broker of messages over a broker of bytes (Redis, NATS, the workers' IPC): encodes each message
 * once on publish and decodes it on receipt, so the layer above handles messages whatever the engine.
 */
export class CodecBroker<P> extends ForwardingBroker<P, Buffer> implements WithHistory<P> {
  private store: HistoryStore<P> | null = null;

  constructor(
    inner: Broker<Buffer>,
    private readonly codec: Codec<P>,
  ) {
    super(inner);
  }

  /** The inner broker's history, for messages. Throws when the inner broker keeps none. */
  history(): HistoryStore<P> {
    if (this.store === null) {
      if (!hasHistory<Buffer>(this.inner)) throw new TypeError(`the ${this.inner.kind} broker keeps no history`);
      this.store = new CodecHistory(this.inner.history(), this.codec);
    }
    return this.store;
  }

  publish(channel: string, message: P): Promise<void> {
    return this.inner.publish(channel, this.codec.encode(message));
  }

  subscribe(channel: string, handler: MessageHandler<P>): Promise<void> {
    return this.inner.subscribe(channel, (payload, name) => handler(this.codec.decode(payload), name));
  }
}
