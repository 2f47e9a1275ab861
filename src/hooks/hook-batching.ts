import type { GatewayOptions } from '../config/options.js';
import { HookBatcher } from './hook-batcher.js';
import type { HookCaller, HookClient } from './hook-client.js';

/**
 * How a hook client is called under `--hook-batch`: through a {@link HookBatcher} merging the calls made
 * close together (`--hook-batch-max`, `--hook-batch-delay`); without it, directly.
 */
export function batchHooks(options: Pick<GatewayOptions, 'hookBatch' | 'hookBatchMax' | 'hookBatchDelay'>): (client: HookClient) => HookCaller {
  if (!options.hookBatch) return (client) => client;
  return (client) => new HookBatcher(client, { maxCalls: options.hookBatchMax, delayMs: options.hookBatchDelay });
}
