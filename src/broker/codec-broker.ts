import type { Broker, BrokerStatus, MessageHandler } from './broker.js';

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
export class CodecBroker<P> implements Broker<P> {
  constructor(
    readonly inner: Broker<Buffer>,
    private readonly codec: Codec<P>,
  ) {}

  get kind(): string {
    return this.inner.kind;
  }

  get status(): BrokerStatus {
    return this.inner.status;
  }

  get shared(): boolean {
    return this.inner.shared;
  }

  get subscriptionCount(): number {
    return this.inner.subscriptionCount;
  }

  connect(): Promise<void> {
    return this.inner.connect();
  }

  publish(channel: string, message: P): Promise<void> {
    return this.inner.publish(channel, this.codec.encode(message));
  }

  subscribe(channel: string, handler: MessageHandler<P>): Promise<void> {
    return this.inner.subscribe(channel, (payload, name) => handler(this.codec.decode(payload), name));
  }

  unsubscribe(channel: string): Promise<void> {
    return this.inner.unsubscribe(channel);
  }

  onStatus(listener: (status: BrokerStatus, error?: Error) => void): void {
    this.inner.onStatus(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
