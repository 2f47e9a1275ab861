import type { GatewayOptions } from '../config/options.js';
import { DEFAULT_BATCHES_IN_FLIGHT, HookBatcher } from './hook-batcher.js';
import type { HookCaller, HookClient } from './hook-client.js';

/**
 * How a hook client is called under `--hook-batch`: through a {@link HookBatcher} merging the calls made
 * close together (`--hook-batch-max`, `--hook-batch-delay`); without it, directly.
 */
export function batchHooks(
  options: Pick<GatewayOptions, 'hookBatch' | 'hookBatchMax' | 'hookBatchDelay' | 'hookConcurrency'>,
): (client: HookClient) => HookCaller {
  if (!options.hookBatch) return (client) => client;
  // More batches in flight than the client may send at once would only queue inside the client.
  const maxInFlight = Math.min(DEFAULT_BATCHES_IN_FLIGHT, options.hookConcurrency);
  return (client) => new HookBatcher(client, { maxCalls: options.hookBatchMax, delayMs: options.hookBatchDelay, maxInFlight });
}
