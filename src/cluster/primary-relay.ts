import { stampPush } from '../history/history-frame.js';
import { MemoryStreams } from '../history/memory-streams.js';
import type { IpcBrokerMessage } from './ipc-broker.js';

/** What the relay needs of a worker: node:cluster's `Worker` has it. */
export interface RelayWorker {
  isConnected(): boolean;
  send(message: IpcBrokerMessage, handle: undefined, done: (error: Error | null) => void): unknown;
}

/**
 * The broker of `--workers N` without an external one, held by the primary: which worker subscribes
 * to which channel, and the relay of each publish to the workers subscribed. A channel is kept only
 * while some worker subscribes to it (room channels come and go with their members: a relay that kept
 * an empty entry per channel would grow with every room ever used), and a worker's subscriptions go
 * with it when it exits.
 */
export class PrimaryRelay<W extends RelayWorker = RelayWorker> {
  private readonly subscribers = new Map<string, Set<W>>();
  /** The workers' room streams: the primary is the one place their offsets are assigned. */
  readonly streams = new MemoryStreams();
  /** Each worker's channels, so that a worker that exits is taken out of its own channels only. */
  private readonly channelsOf = new Map<W, Set<string>>();
  /**
   * Messages a worker could not be sent: its channel still said connected but its pipe had closed
   * (it is exiting; its clients go with it). Counted rather than thrown: node:child_process emits an
   * unhandled `error` for a failed send without a callback, which would end the primary.
   */
  undeliverable = 0;
  private readonly sent = (error: Error | null): void => {
    if (error !== null) this.undeliverable++;
  };

  /** Channels with at least one subscribed worker. */
  get channelCount(): number {
    return this.subscribers.size;
  }

  /** Workers with at least one subscription. */
  get workerCount(): number {
    return this.channelsOf.size;
  }

  /** Handles one broker message from `worker`: a subscribe, an unsubscribe or a publish. */
  handle(worker: W, message: IpcBrokerMessage): void {
    switch (message.pushgate) {
      case 'sub':
        this.subscribe(worker, message.channel);
        this.ack(worker, message.id);
        return;
      case 'unsub':
        this.unsubscribe(worker, message.channel);
        return;
      case 'pub':
        this.publish(worker, message.id, message.channel, message.payload);
        return;
      case 'hpub': {
        // Appended and relayed in this one synchronous step: no other publish comes between them.
        const { first, epoch } = this.streams.append(message.room, message.policy, message.items);
        const payload = message.payload;
        this.relay(message.channel, stampPush(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), first, epoch));
        this.send(worker, { pushgate: 'ack', id: message.id, channels: this.subscribers.size, position: { offset: first + message.items.length - 1, epoch } });
        return;
      }
      case 'hread':
        this.send(worker, {
          pushgate: 'ack',
          id: message.id,
          channels: this.subscribers.size,
          page: this.streams.read(message.room, message.policy, message.query),
        });
        return;
      default:
    }
  }

  subscribe(worker: W, channel: string): void {
    addTo(this.subscribers, channel, worker);
    addTo(this.channelsOf, worker, channel);
  }

  unsubscribe(worker: W, channel: string): void {
    deleteFrom(this.subscribers, channel, worker);
    deleteFrom(this.channelsOf, worker, channel);
  }

  /**
   * Sends the payload to every worker subscribed to `channel` (the publisher included, when it is),
   * then acknowledges to the publisher: IPC keeps order per worker, so a worker that hears the ack
   * has been sent the message first.
   */
  publish(worker: W, id: number, channel: string, payload: Uint8Array): void {
    this.relay(channel, payload);
    this.ack(worker, id);
  }

  private relay(channel: string, payload: Uint8Array): void {
    for (const target of this.subscribers.get(channel) ?? []) {
      this.send(target, { pushgate: 'msg', channel, payload });
    }
  }

  /** Answers a worker's request; the ack carries the relay's channel count (for `GET /stats`). */
  private ack(worker: W, id: number): void {
    this.send(worker, { pushgate: 'ack', id, channels: this.subscribers.size });
  }

  private send(worker: W, message: IpcBrokerMessage): void {
    if (worker.isConnected()) worker.send(message, undefined, this.sent);
    else this.undeliverable++;
  }

  /** A worker exited: its subscriptions go with it. */
  workerGone(worker: W): void {
    const channels = this.channelsOf.get(worker);
    if (channels === undefined) return;
    this.channelsOf.delete(worker);
    for (const channel of channels) deleteFrom(this.subscribers, channel, worker);
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(value);
}

/** Removes `value` under `key`, and the key itself with its last value. */
function deleteFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined || !set.delete(value)) return;
  if (set.size === 0) map.delete(key);
}
