import type { Logger } from 'pino';
import type { GatewayOptions } from '../config/options.js';
import type { Broker } from './broker.js';
import { type Codec, CodecBroker } from './codec-broker.js';
import { DEFAULT_LIVENESS, type LivenessTiming } from './liveness.js';
import { LocalBroker } from './local-broker.js';
import { MemoryBroker } from './memory-broker.js';

/** The liveness bounds `--broker-timeout` and `--broker-probe-interval` give. */
export function brokerLiveness(options: Pick<GatewayOptions, 'brokerTimeout' | 'brokerProbeInterval'>): LivenessTiming {
  return { timeoutMs: options.brokerTimeout, probeIntervalMs: options.brokerProbeInterval };
}

/**
 * The broker of messages `P` for a `--broker` URL. Plain `memory` (a gateway alone) is the
 * {@link LocalBroker}, which hands messages over as they are; every other one carries bytes, through
 * `codec`: `memory://NAME` is an in-process bus shared by every gateway of the process that names it
 * (for tests and embedding), Redis and NATS clients are loaded only when used.
 */
export async function createBroker<P>(url: string, codec: Codec<P>, log: Logger, liveness: LivenessTiming = DEFAULT_LIVENESS): Promise<Broker<P>> {
  if (url === 'memory') return new LocalBroker<P>();
  return new CodecBroker(await createByteBroker(url, log, liveness), codec);
}

/** The broker of bytes for a `--broker` URL other than plain `memory`. */
export async function createByteBroker(url: string, log: Logger, liveness: LivenessTiming = DEFAULT_LIVENESS): Promise<Broker> {
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
