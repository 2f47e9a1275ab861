import { BrokerBase, BrokerUnavailableError, type MessageHandler } from '../broker/broker.js';

/** Messages between a worker's IpcBroker and the primary's relay. */
export type IpcBrokerMessage =
  | { pushgate: 'sub'; id: number; channel: string }
  | { pushgate: 'unsub'; channel: string }
  | { pushgate: 'pub'; id: number; channel: string; payload: Uint8Array }
  | { pushgate: 'ack'; id: number; channels: number }
  | { pushgate: 'msg'; channel: string; payload: Uint8Array };

const brokerMessageKinds = new Set(['sub', 'unsub', 'pub', 'ack', 'msg']);

export function isIpcBrokerMessage(message: unknown): message is IpcBrokerMessage {
  return typeof message === 'object' && message !== null && brokerMessageKinds.has((message as { pushgate?: string }).pushgate ?? '');
}

/**
 * The broker of workers on one machine without an external broker: publishes go over the worker's
 * IPC channel to the primary, which relays them to every worker subscribed (see `PrimaryRelay`).
 * Publishing resolves when the primary has relayed the message; subscribing, once the primary has the
 * subscription (so a JOIN is acknowledged only when pushes published by any worker afterwards arrive).
 */
export class IpcBroker extends BrokerBase {
  readonly kind = 'ipc';
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private nextId = 0;
  /** Channels the primary relays (every worker's), as of its last acknowledgement; null before one. */
  relayChannels: number | null = null;

  constructor(private readonly channel: NodeJS.Process = process) {
    super();
    channel.on('message', (message: unknown) => {
      if (!isIpcBrokerMessage(message)) return;
      if (message.pushgate === 'msg') {
        const { payload } = message;
        this.handlers.get(message.channel)?.(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), message.channel);
      } else if (message.pushgate === 'ack') {
        this.relayChannels = message.channels;
        this.pending.get(message.id)?.resolve();
        this.pending.delete(message.id);
      }
    });
    channel.on('disconnect', () => {
      this.setStatus('down', new Error('the primary process is gone'));
      for (const { reject } of this.pending.values()) reject(new BrokerUnavailableError('the primary process is gone'));
      this.pending.clear();
    });
  }

  get subscriptionCount(): number {
    return this.handlers.size;
  }

  async connect(): Promise<void> {
    if (this.channel.send === undefined || !this.channel.connected) throw new BrokerUnavailableError('not a worker process: no IPC channel');
    this.setStatus('up');
  }

  publish(channel: string, payload: Buffer): Promise<void> {
    if (this.status !== 'up') return Promise.reject(new BrokerUnavailableError());
    return this.request((id) => ({ pushgate: 'pub', id, channel, payload }));
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<void> {
    const known = this.handlers.has(channel);
    this.handlers.set(channel, handler);
    if (!known) await this.request((id) => ({ pushgate: 'sub', id, channel }));
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.handlers.delete(channel)) return;
    this.send({ pushgate: 'unsub', channel });
  }

  async close(): Promise<void> {
    this.setStatus('closed');
  }

  /** Sends a message the primary acknowledges; resolves on its ack, rejects when the primary is gone. */
  private request(message: (id: number) => IpcBrokerMessage): Promise<void> {
    if (!this.channel.connected) return Promise.reject(new BrokerUnavailableError('the primary process is gone'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send(message(id));
    });
  }

  private send(message: IpcBrokerMessage): void {
    if (this.channel.connected) this.channel.send?.(message);
  }
}
