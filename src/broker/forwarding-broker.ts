import type { Broker, BrokerStatus, MessageHandler } from './broker.js';

/**
 * A broker in front of another: everything but publish and subscribe goes to `inner` as it is, so a
 * wrapper says only what it changes about messages (their encoding, their timing).
 */
export abstract class ForwardingBroker<P, I = P> implements Broker<P> {
  constructor(readonly inner: Broker<I>) {}

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

  abstract publish(channel: string, payload: P): Promise<void>;
  abstract subscribe(channel: string, handler: MessageHandler<P>): Promise<void>;

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
