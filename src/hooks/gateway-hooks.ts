import type { Logger } from 'pino';
import { Agent } from 'undici';
import type { GatewayOptions } from '../config/options.js';
import type { Stats } from '../stats/stats.js';
import type { BreakerState } from './circuit-breaker.js';
import { ConnectHook } from './connect-hook.js';
import { DisconnectNotifier } from './disconnect-notifier.js';
import { type HookCaller, HookClient, type HookClientSettings } from './hook-client.js';
import { HookStats } from './hook-stats.js';
import { PublishGate } from './publish-gate.js';
import { RpcRelay } from './rpc-relay.js';
import { SubscribeGate } from './subscribe-gate.js';

/** The options the hooks are made from. */
export type HookOptions = Pick<
  GatewayOptions,
  | 'connectHook'
  | 'subscribeHook'
  | 'rpcHook'
  | 'rpcRoutes'
  | 'publishHook'
  | 'disconnectHook'
  | 'hookHeaders'
  | 'hookSecret'
  | 'hookTimeout'
  | 'hookConcurrency'
  | 'hookMaxAnswer'
  | 'hookBreakerFailures'
  | 'hookBreakerCooldown'
  | 'hookBatch'
  | 'hookBatchMax'
  | 'hookBatchDelay'
  | 'maxRpcInFlight'
  | 'disconnectBatchSize'
  | 'disconnectBatchDelay'
  | 'disconnectQueue'
  | 'maxRooms'
>;

/** How every hook call is made, from the `--hook-*` options. */
export function hookClientSettings(options: HookOptions): HookClientSettings {
  return {
    timeoutMs: options.hookTimeout,
    concurrency: options.hookConcurrency,
    maxAnswerBytes: options.hookMaxAnswer,
    breakerFailures: options.hookBreakerFailures,
    breakerCooldownMs: options.hookBreakerCooldown,
    secret: options.hookSecret,
  };
}

/** Whether any hook is configured. */
export function hooksConfigured(options: HookOptions): boolean {
  return (
    [options.connectHook, options.subscribeHook, options.rpcHook, options.publishHook, options.disconnectHook].some((url) => url !== '') ||
    options.rpcRoutes.length > 0
  );
}

/**
 * A node's calls to its backends: one keep-alive undici dispatcher for every hook, one {@link HookClient}
 * per URL (its own concurrency limit and circuit breaker), and what each hook does with its answers.
 * A hook is called by the node that holds the connection. Null members are hooks not configured.
 */
export class GatewayHooks {
  readonly stats: HookStats;
  readonly connect: ConnectHook | null;
  readonly subscribe: SubscribeGate | null;
  /** Always there: without a publish hook the token's `publish` claim may still allow a room. */
  readonly publish: PublishGate;
  readonly rpc: RpcRelay;
  readonly disconnects: DisconnectNotifier | null;
  private readonly dispatcher: Agent;
  private readonly clients: HookClient[] = [];

  constructor(options: HookOptions, log: Logger, counters: Stats, batch: (client: HookClient) => HookCaller = (client) => client) {
    this.stats = new HookStats(counters);
    this.dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: options.hookConcurrency, pipelining: 1 });
    const settings = hookClientSettings(options);
    const client = (hook: string, url: string, chosen = settings): HookClient => {
      const made = new HookClient(hook, url, chosen, this.dispatcher, this.stats);
      this.clients.push(made);
      return made;
    };
    // A batch's answer holds up to hookBatchMax answers: its bound is theirs together.
    const batchSettings = { ...settings, maxAnswerBytes: options.hookMaxAnswer * options.hookBatchMax };
    // RPC, subscribe and publish calls may be merged into batches (`--hook-batch`); connect and disconnect never are.
    const batched = (hook: string, url: string): HookCaller => (options.hookBatch ? batch(client(hook, url, batchSettings)) : client(hook, url));
    this.connect = options.connectHook === '' ? null : new ConnectHook(client('connect', options.connectHook), options.hookHeaders, options.maxRooms);
    this.subscribe = options.subscribeHook === '' ? null : new SubscribeGate(batched('subscribe', options.subscribeHook));
    this.publish = new PublishGate(options.publishHook === '' ? null : batched('publish', options.publishHook));
    // One caller per URL, however many methods are routed to it: one concurrency limit, one breaker.
    const byUrl = new Map<string, HookCaller>();
    const rpcCaller = (url: string): HookCaller => {
      let caller = byUrl.get(url);
      if (caller === undefined) {
        caller = batched('rpc', url);
        byUrl.set(url, caller);
      }
      return caller;
    };
    const fallback = options.rpcHook === '' ? null : rpcCaller(options.rpcHook);
    const routes = new Map<string, HookCaller>();
    for (const entry of options.rpcRoutes) {
      const at = entry.indexOf('=');
      routes.set(entry.slice(0, at), rpcCaller(entry.slice(at + 1)));
    }
    this.rpc = new RpcRelay((method) => routes.get(method) ?? fallback, options.maxRpcInFlight);
    this.disconnects =
      options.disconnectHook === ''
        ? null
        : new DisconnectNotifier(
            client('disconnect', options.disconnectHook),
            { batchSize: options.disconnectBatchSize, delayMs: options.disconnectBatchDelay, maxQueued: options.disconnectQueue, tries: 3, retryDelayMs: 500 },
            log,
            counters,
          );
  }

  /** `GET /stats`'s `hooks`: each hook's counters, each URL's breaker, the disconnects waiting. */
  view(): { calls: Record<string, unknown>; breakers: ReturnType<GatewayHooks['breakers']>; disconnectsQueued: number } {
    return { calls: this.stats.snapshot(), breakers: this.breakers(), disconnectsQueued: this.disconnects?.queued ?? 0 };
  }

  /** Each hook URL's breaker, as `/stats` shows them (`rpc` routes by URL). */
  breakers(): Array<{ hook: string; url: string; state: BreakerState }> {
    return this.clients.map((client) => ({ hook: client.hook, url: client.url, state: client.breakerState }));
  }

  /** Posts the disconnects still waiting, then closes the dispatcher's connections. */
  async close(): Promise<void> {
    await this.disconnects?.flush();
    await this.dispatcher.close();
  }
}
