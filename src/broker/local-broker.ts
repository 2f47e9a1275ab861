import type { HistoryStore } from '../history/history-store.js';
import { MemoryHistory, type Stamp } from '../history/memory-history.js';
import { MemoryStreams } from '../history/memory-streams.js';
import { BrokerBase, BrokerUnavailableError, type MessageHandler } from './broker.js';

/**
 * The broker of a gateway alone (`--broker memory`, the default): only this process subscribes, and a
 * publish hands the message itself to the subscribed handler at once, in the publisher's turn — no
 * encoding, no copy, no hop through the event loop (centrifuge's MemoryBroker does the same). Pushes
 * therefore take the one path every broker gives them (published, received, merged), and those made in
 * one event-loop turn still share frames.
 */
export class LocalBroker<P> extends BrokerBase<P> {
  readonly kind = 'memory';
  override readonly shared = false;
  private readonly handlers = new Map<string, MessageHandler<P>>();
  private store: HistoryStore<P> | null = null;

  /**
   * The room streams of this process, stamping each message with `stamp` (the local broker carries
   * messages, not bytes: the caller says how a message holds its position).
   */
  historyWith(stamp: Stamp<P>): HistoryStore<P> {
    this.store ??= new MemoryHistory<P>(
      new MemoryStreams(),
      (channel, payload) => this.publish(channel, payload),
      stamp,
      () => this.status === 'up',
      () => new BrokerUnavailableError(`the local broker is ${this.status}`),
    );
    return this.store;
  }

  get subscriptionCount(): number {
    return this.handlers.size;
  }

  async connect(): Promise<void> {
    if (this.status === 'closed') throw new BrokerUnavailableError('the local broker was closed');
    this.setStatus('up');
  }

  publish(channel: string, payload: P): Promise<void> {
    if (this.status !== 'up') return Promise.reject(new BrokerUnavailableError(`the local broker is ${this.status}`));
    this.handlers.get(channel)?.(payload, channel);
    return Promise.resolve();
  }

  async subscribe(channel: string, handler: MessageHandler<P>): Promise<void> {
    this.handlers.set(channel, handler);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.handlers.delete(channel);
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.setStatus('closed');
  }
}
