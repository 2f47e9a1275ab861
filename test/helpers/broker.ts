import { after, before } from 'node:test';
import type { Broker } from '../../src/broker/broker.js';
import { waitFor, withTimeout } from './wait.js';

/** How long `after` waits for every broker a block made to close before giving up on them. */
export const CLOSE_MS = 10000;

/** A broker implementation: `new Class(url, options)`. */
export type BrokerClass<B extends Broker, O> = new (url: string, options?: O) => B;

/** Brokers a describe block makes; `after` closes them, whatever the tests did. */
export interface Brokers<B extends Broker, O> {
  /** A new broker (not connected), closed after the block. */
  make(url: string, options?: O): B;
}

/** Everything a subscription handler receives, in arrival order, with bounded waits for more. */
export class Inbox {
  readonly messages: Array<{ payload: Buffer; channel: string }> = [];
  readonly handler = (payload: Buffer, channel: string): void => {
    this.messages.push({ payload, channel });
  };

  /** The payloads received on `channel`, in order. */
  of(channel: string): Buffer[] {
    return this.messages.filter((m) => m.channel === channel).map((m) => m.payload);
  }

  /** The channels the handler was given, in the order of their first message. */
  channels(): string[] {
    return [...new Set(this.messages.map((m) => m.channel))];
  }

  texts(): string[] {
    return this.messages.map((m) => m.payload.toString());
  }

  async waitForCount(n: number, ms = 5000): Promise<void> {
    await waitFor(() => this.messages.length >= n, ms, `${n} messages (have ${this.messages.length})`);
  }

  async waitForText(text: string, ms = 5000): Promise<void> {
    await waitFor(() => this.texts().includes(text), ms, `message "${text}" (have ${JSON.stringify(this.texts().slice(-5))})`);
  }
}

function brokerPool<B extends Broker, O>(Class: BrokerClass<B, O>): Brokers<B, O> & { closeAll(ms: number): Promise<void> } {
  const made: B[] = [];
  return {
    make(url, options) {
      const broker = new Class(url, options);
      made.push(broker);
      return broker;
    },
    async closeAll(ms) {
      await withTimeout(Promise.all(made.map((b) => b.close())), ms, `the ${made.length} broker(s) to close`);
    },
  };
}

/** For a describe block with no server: brokers closed (bounded) in `after`. */
export function useBrokers<B extends Broker, O>(Class: BrokerClass<B, O>, closeMs = CLOSE_MS): Brokers<B, O> {
  const pool = brokerPool(Class);
  after(() => pool.closeAll(closeMs));
  return { make: pool.make };
}

/**
 * For a describe block against a server the test starts: `start()` runs in `before`; `after` closes
 * every broker made through the result (bounded by `closeMs`), then stops the server even if that failed.
 */
export function useBrokerService<S extends { stop(): Promise<void> }, B extends Broker, O>(
  start: () => Promise<S>,
  Class: BrokerClass<B, O>,
  closeMs = CLOSE_MS,
): Brokers<B, O> & { readonly service: S } {
  let service: S | undefined;
  const pool = brokerPool(Class);
  before(async () => {
    service = await start();
  });
  after(async () => {
    try {
      await pool.closeAll(closeMs);
    } finally {
      await service?.stop();
    }
  });
  return {
    make: pool.make,
    get service(): S {
      if (service === undefined) throw new Error('the service did not start (see the before hook)');
      return service;
    },
  };
}
