import type { Logger } from 'pino';
import type { GatewayOptions } from '../config/options.js';
import type { Broker } from './broker.js';
import { DEFAULT_LIVENESS, type LivenessTiming } from './liveness.js';
import { MemoryBroker } from './memory-broker.js';

/** The liveness bounds `--broker-timeout` and `--broker-probe-interval` give. */
export function brokerLiveness(options: Pick<GatewayOptions, 'brokerTimeout' | 'brokerProbeInterval'>): LivenessTiming {
  return { timeoutMs: options.brokerTimeout, probeIntervalMs: options.brokerProbeInterval };
}

/**
 * The broker for a `--broker` URL, or null for plain `memory` (one process, no cluster: pushes go
 * straight to the local merger). `memory://NAME` is an in-process bus shared by every gateway of the
 * process (for tests and embedding); Redis and NATS clients are loaded only when used.
 */
export async function createBroker(url: string, log: Logger, liveness: LivenessTiming = DEFAULT_LIVENESS): Promise<Broker | null> {
  if (url === 'memory') return null;
  if (url.startsWith('memory://')) return new MemoryBroker(url.slice('memory://'.length));
  const logOutage = (message: string, error?: Error): void => log.warn({ err: error }, message);
  if (url.startsWith('redis://') || url.startsWith('rediss://')) {
    const { RedisBroker } = await import('./redis-broker.js');
    return new RedisBroker(url, { log: logOutage, liveness });
  }
  if (url.startsWith('nats://')) {
    const { NatsBroker } = await import('./nats-broker.js');
    return new NatsBroker(url, { log: logOutage, liveness });
  }
  throw new TypeError(`unsupported broker URL "${url}"`);
}
