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
export class CodecBroker<P> extends ForwardingBroker<P, Buffer> {
  constructor(
    inner: Broker<Buffer>,
    private readonly codec: Codec<P>,
  ) {
    super(inner);
  }

  publish(channel: string, message: P): Promise<void> {
    return this.inner.publish(channel, this.codec.encode(message));
  }

  subscribe(channel: string, handler: MessageHandler<P>): Promise<void> {
    return this.inner.subscribe(channel, (payload, name) => handler(this.codec.decode(payload), name));
  }
}
