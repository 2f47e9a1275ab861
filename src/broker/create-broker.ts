import type { Logger } from 'pino';
import type { Broker } from './broker.js';
import { MemoryBroker } from './memory-broker.js';

/**
 * The broker for a `--broker` URL, or null for plain `memory` (one process, no cluster: pushes go
 * straight to the local merger). `memory://NAME` is an in-process bus shared by every gateway of the
 * process (for tests and embedding); Redis and NATS clients are loaded only when used.
 */
export async function createBroker(url: string, log: Logger): Promise<Broker | null> {
  if (url === 'memory') return null;
  if (url.startsWith('memory://')) return new MemoryBroker(url.slice('memory://'.length));
  const logOutage = (message: string, error?: Error): void => log.warn({ err: error }, message);
  if (url.startsWith('redis://') || url.startsWith('rediss://')) {
    const { RedisBroker } = await import('./redis-broker.js');
    return new RedisBroker(url, { log: logOutage });
  }
  if (url.startsWith('nats://')) {
    const { NatsBroker } = await import('./nats-broker.js');
    return new NatsBroker(url, { log: logOutage });
  }
  throw new TypeError(`unsupported broker URL "${url}"`);
}
