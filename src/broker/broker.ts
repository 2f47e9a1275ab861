/**
 * How gateway processes reach each other: publish/subscribe on named channels through an existing
 * engine (Redis, NATS), or in memory within one process. The interface is small on purpose: the
 * cluster logic (src/cluster) is written once on top of it, each implementation only says how to
 * publish and subscribe.
 */

import { ErrorCode } from '../protocol/codes.js';

/** `connecting` until first connected; `up` while usable; `down` while reconnecting or not answering; `closed` after close(). */
export type BrokerStatus = 'connecting' | 'up' | 'down' | 'closed';

/** Receives the payload of a message published on a subscribed channel. */
export type MessageHandler<P = Buffer> = (payload: P, channel: string) => void;

/**
 * A broker connection. Channel names are made of `[A-Za-z0-9_.-]` only (the cluster layer ensures it).
 * `P` is what it carries: bytes for the engines other processes reach (Redis, NATS, the workers' IPC);
 * the messages themselves for the in-process `LocalBroker`, which hands them over as they are.
 */
export interface Broker<P = Buffer> {
  /** `memory`, `redis`, `redis-cluster`, `nats`, `ipc`. */
  readonly kind: string;
  readonly status: BrokerStatus;
  /**
   * Whether other processes can subscribe through it. False only for the broker of a gateway alone
   * (`--broker memory`): that process is then the whole cluster, and knows so from the start.
   */
  readonly shared: boolean;
  /**
   * Channels subscribed now (one per channel, whatever the engine keeps): unsubscribing a channel
   * drops its entry, so the count follows what is in use, not what ever was.
   */
  readonly subscriptionCount: number;
  /** Connects; resolves once usable. Rejects when the first connection cannot be made within its timeout. */
  connect(): Promise<void>;
  /**
   * Publishes; resolves once the broker has taken the message, so it will reach every subscription
   * that exists now. Rejects with {@link BrokerUnavailableError} while the broker is down, or when it
   * does not confirm within its timeout (then the broker is down too, until a liveness probe is
   * answered): the caller must answer "not accepted" rather than assume delivery. A message whose
   * confirmation timed out may still be delivered when the broker resumes; the cluster layer stamps
   * every message with a deadline for that reason.
   */
  publish(channel: string, payload: P): Promise<void>;
  /**
   * Subscribes `handler` to `channel` (one handler per channel; subscribing again replaces it).
   * Subscriptions survive reconnections: the implementation re-establishes them.
   */
  subscribe(channel: string, handler: MessageHandler<P>): Promise<void>;
  /** Drops the subscription; a no-op for a channel not subscribed. */
  unsubscribe(channel: string): Promise<void>;
  /** Called on every status change, with the error that caused a `down`. */
  onStatus(listener: (status: BrokerStatus, error?: Error) => void): void;
  /** Closes the connection(s); pending publishes reject. Idempotent. */
  close(): Promise<void>;
}

/** A publish that could not be taken because the broker is unreachable (the push API answers it as `BROKER_UNAVAILABLE`). */
export class BrokerUnavailableError extends Error {
  readonly code = ErrorCode.BROKER_UNAVAILABLE;
  constructor(message = 'the broker is unavailable') {
    super(message);
    this.name = 'BrokerUnavailableError';
  }
}

/** Base class with the status bookkeeping every implementation needs. */
export abstract class BrokerBase<P = Buffer> implements Broker<P> {
  abstract readonly kind: string;
  readonly shared: boolean = true;
  private current: BrokerStatus = 'connecting';
  private readonly listeners: Array<(status: BrokerStatus, error?: Error) => void> = [];

  get status(): BrokerStatus {
    return this.current;
  }

  onStatus(listener: (status: BrokerStatus, error?: Error) => void): void {
    this.listeners.push(listener);
  }

  /** Records a status change and tells the listeners (only on an actual change). */
  protected setStatus(status: BrokerStatus, error?: Error): void {
    if (status === this.current) return;
    this.current = status;
    for (const listener of this.listeners) listener(status, error);
  }

  abstract readonly subscriptionCount: number;
  abstract connect(): Promise<void>;
  abstract publish(channel: string, payload: P): Promise<void>;
  abstract subscribe(channel: string, handler: MessageHandler<P>): Promise<void>;
  abstract unsubscribe(channel: string): Promise<void>;
  abstract close(): Promise<void>;
}
