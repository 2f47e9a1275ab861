import { stampPush } from '../history/history-frame.js';
import type { HistoryStore, WithHistory } from '../history/history-store.js';
import { MemoryHistory } from '../history/memory-history.js';
import { MemoryStreams } from '../history/memory-streams.js';
import { BrokerBase, BrokerUnavailableError, type MessageHandler } from './broker.js';

// Buses by name, shared by every MemoryBroker of the process that names the same one.
const buses = new Map<string, Map<string, Set<MemoryBroker>>>();
// Room streams by bus name: every gateway on a bus sees the same offsets, as over Redis.
const busStreams = new Map<string, MemoryStreams>();

/**
 * The embedded broker: delivers within one process, to every MemoryBroker on the same bus (`memory://`
 * is the default bus; `memory://NAME` another). Messages are delivered asynchronously (next microtask
 * batch), in publish order per channel, as a network broker would.
 */
export class MemoryBroker extends BrokerBase implements WithHistory {
  readonly kind = 'memory';
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly bus: Map<string, Set<MemoryBroker>>;
  private store: HistoryStore | null = null;

  constructor(private readonly busName = '') {
    super();
    let bus = buses.get(busName);
    if (bus === undefined) {
      bus = new Map();
      buses.set(busName, bus);
    }
    this.bus = bus;
  }

  /** The bus's room streams, shared by every broker on it (the append and the publish are one synchronous step). */
  history(): HistoryStore {
    if (this.store === null) {
      let streams = busStreams.get(this.busName);
      if (streams === undefined) busStreams.set(this.busName, (streams = new MemoryStreams()));
      this.store = new MemoryHistory<Buffer>(
        streams,
        (channel, payload) => this.publish(channel, payload),
        stampPush,
        () => this.status === 'up',
        () => new BrokerUnavailableError(`the memory broker is ${this.status}`),
      );
    }
    return this.store;
  }

  get subscriptionCount(): number {
    return this.handlers.size;
  }

  async connect(): Promise<void> {
    if (this.status === 'closed') throw new BrokerUnavailableError('the memory broker was closed');
    this.setStatus('up');
  }

  async publish(channel: string, payload: Buffer): Promise<void> {
    if (this.status !== 'up') throw new BrokerUnavailableError(`the memory broker is ${this.status}`);
    const subscribers = this.bus.get(channel);
    if (subscribers === undefined) return;
    for (const broker of subscribers) {
      queueMicrotask(() => broker.handlers.get(channel)?.(payload, channel));
    }
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<void> {
    this.handlers.set(channel, handler);
    let subscribers = this.bus.get(channel);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.bus.set(channel, subscribers);
    }
    subscribers.add(this);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.handlers.delete(channel);
    const subscribers = this.bus.get(channel);
    if (subscribers === undefined) return;
    subscribers.delete(this);
    if (subscribers.size === 0) this.bus.delete(channel);
  }

  async close(): Promise<void> {
    for (const channel of [...this.handlers.keys()]) await this.unsubscribe(channel);
    this.setStatus('closed');
  }
}
