import { BrokerBase, BrokerUnavailableError, type MessageHandler } from '../broker/broker.js';
import { DEFAULT_LIVENESS, LivenessProbe, type LivenessTiming, NoAnswerError } from '../broker/liveness.js';
import type { HistoryPolicy } from '../history/history-policy.js';
import type { HistoryPage, HistoryQuery, HistoryStore, StreamPosition, WithHistory } from '../history/history-store.js';

/** Messages between a worker's IpcBroker and the primary's relay. */
export type IpcBrokerMessage =
  | { pushgate: 'sub'; id: number; channel: string }
  | { pushgate: 'unsub'; channel: string }
  | { pushgate: 'pub'; id: number; channel: string; payload: Uint8Array }
  /** A push to a room with history: the primary appends it to the room's stream and relays it stamped, in one step. */
  | { pushgate: 'hpub'; id: number; room: string; policy: HistoryPolicy; items: string[]; channel: string; payload: Uint8Array }
  | { pushgate: 'hread'; id: number; room: string; policy: HistoryPolicy; query: HistoryQuery }
  /** `position`: the answer to an `hpub`; `page`: to an `hread`. */
  | { pushgate: 'ack'; id: number; channels: number; position?: StreamPosition; page?: HistoryPage }
  | { pushgate: 'msg'; channel: string; payload: Uint8Array };

type Ack = Extract<IpcBrokerMessage, { pushgate: 'ack' }>;

const brokerMessageKinds = new Set(['sub', 'unsub', 'pub', 'hpub', 'hread', 'ack', 'msg']);

/** Published on by the liveness probe: nobody subscribes, the primary only acknowledges it. */
const PROBE_CHANNEL = 'pushgate.probe';

export function isIpcBrokerMessage(message: unknown): message is IpcBrokerMessage {
  return typeof message === 'object' && message !== null && brokerMessageKinds.has((message as { pushgate?: string }).pushgate ?? '');
}

/**
 * The broker of workers on one machine without an external broker: publishes go over the worker's
 * IPC channel to the primary, which relays them to every worker subscribed (see `PrimaryRelay`).
 * Publishing resolves when the primary has relayed the message; subscribing, once the primary has the
 * subscription (so a JOIN is acknowledged only when pushes published by any worker afterwards arrive).
 * A primary that stops answering (stopped, blocked) is noticed as the other brokers are: a request, or a
 * probe publish every `probeIntervalMs`, not acknowledged within `timeoutMs` turns the broker `down`
 * until a probe is acknowledged again.
 */
export class IpcBroker extends BrokerBase implements WithHistory {
  readonly kind = 'ipc';
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly pending = new Map<number, { resolve: (ack: Ack) => void; reject: (error: Error) => void }>();
  private store: HistoryStore | null = null;
  private nextId = 0;
  private readonly probe: LivenessProbe;
  /** Channels the primary relays (every worker's), as of its last acknowledgement; null before one. */
  relayChannels: number | null = null;

  constructor(
    private readonly channel: NodeJS.Process = process,
    private readonly liveness: LivenessTiming = DEFAULT_LIVENESS,
  ) {
    super();
    this.probe = new LivenessProbe(
      liveness,
      () => this.request(PROBE_CHANNEL, (id) => ({ pushgate: 'pub', id, channel: PROBE_CHANNEL, payload: Buffer.alloc(0) })),
      (error) => {
        if (error !== null) this.noAnswer(error);
        else if (this.status === 'down' && this.channel.connected) this.setStatus('up');
      },
    );
    channel.on('message', (message: unknown) => {
      if (!isIpcBrokerMessage(message)) return;
      if (message.pushgate === 'msg') {
        const { payload } = message;
        this.handlers.get(message.channel)?.(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), message.channel);
      } else if (message.pushgate === 'ack') {
        this.relayChannels = message.channels;
        this.pending.get(message.id)?.resolve(message);
        this.pending.delete(message.id);
      }
    });
    channel.on('disconnect', () => {
      this.probe.stop();
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
    this.probe.start();
  }

  publish(channel: string, payload: Buffer): Promise<void> {
    if (this.status !== 'up') return Promise.reject(new BrokerUnavailableError());
    return this.request(channel, (id) => ({ pushgate: 'pub', id, channel, payload })).then(() => undefined);
  }

  /**
   * The room streams the primary keeps for all its workers (one place assigns every offset): an
   * append is relayed by the primary in the same step, stamped.
   */
  history(): HistoryStore {
    this.store ??= {
      kind: 'ipc',
      append: (room, policy, items, channel, payload) => {
        if (this.status !== 'up') return Promise.reject(new BrokerUnavailableError());
        return this.request(channel, (id) => ({ pushgate: 'hpub', id, room, policy, items: [...items], channel, payload })).then((ack) => {
          if (ack.position === undefined) throw new BrokerUnavailableError('the primary keeps no history (an older primary)');
          return ack.position;
        });
      },
      read: (room, policy, query) => {
        if (this.status !== 'up') return Promise.reject(new BrokerUnavailableError());
        return this.request(PROBE_CHANNEL, (id) => ({ pushgate: 'hread', id, room, policy, query })).then((ack) => {
          if (ack.page === undefined) throw new BrokerUnavailableError('the primary keeps no history (an older primary)');
          return ack.page;
        });
      },
      close: async () => {},
    };
    return this.store;
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<void> {
    const known = this.handlers.has(channel);
    this.handlers.set(channel, handler);
    if (!known) await this.request(channel, (id) => ({ pushgate: 'sub', id, channel }));
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.handlers.delete(channel)) return;
    this.send({ pushgate: 'unsub', channel });
  }

  async close(): Promise<void> {
    this.probe.stop();
    this.setStatus('closed');
  }

  /**
   * Sends a message the primary acknowledges; resolves on its ack, rejects when the primary is gone or
   * has not answered within the timeout (which also turns the broker `down`).
   */
  private request(channel: string, message: (id: number) => IpcBrokerMessage): Promise<Ack> {
    if (!this.channel.connected) return Promise.reject(new BrokerUnavailableError('the primary process is gone'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        const error = new NoAnswerError(`${channel === PROBE_CHANNEL ? 'probe' : 'request'} on ${channel}`, this.liveness.timeoutMs);
        this.noAnswer(error);
        reject(error);
      }, this.liveness.timeoutMs);
      this.pending.set(id, {
        resolve: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.send(message(id));
    });
  }

  /** The primary did not acknowledge in time: `down` until a probe is acknowledged. */
  private noAnswer(error: Error): void {
    if (this.status === 'up') this.setStatus('down', error);
  }

  private send(message: IpcBrokerMessage): void {
    if (this.channel.connected) this.channel.send?.(message);
  }
}
