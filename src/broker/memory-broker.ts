import { BrokerBase, BrokerUnavailableError, type MessageHandler } from './broker.js';

// Buses by name, shared by every MemoryBroker of the process that names the same one.
const buses = new Map<string, Map<string, Set<MemoryBroker>>>();

/**
 * The embedded broker: delivers within one process, to every MemoryBroker on the same bus (`memory://`
 * is the default bus; `memory://NAME` another). Messages are delivered asynchronously (next microtask
 * batch), in publish order per channel, as a network broker would.
 */
export class MemoryBroker extends BrokerBase {
  readonly kind = 'memory';
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly bus: Map<string, Set<MemoryBroker>>;

  constructor(busName = '') {
    super();
    let bus = buses.get(busName);
    if (bus === undefined) {
      bus = new Map();
      buses.set(busName, bus);
    }
    this.bus = bus;
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
