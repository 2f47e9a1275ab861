import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { isLoopback } from '../api/api-key.js';
import type { OriginPolicy } from '../auth/origin.js';
import { type GatewayOptions, OptionError, optionSpec } from '../config/options.js';
import { hostPort } from '../server/http-lifecycle.js';
import { type StatsAccess, statsAccess } from './client-handler.js';

// What the start-up line says of the dashboard stream, and how to open it.
const STATS_ACCESS_LINES: Record<StatsAccess, string> = {
  public: 'public: any client may read node ids, pids and counters (--public-stats)',
  key: 'needs the API key: open /dashboard#key=<API key> (or start with --public-stats to make it public)',
  closed: 'closed: start with --public-stats to open it to anyone, or set --api-key and open /dashboard#key=<API key>',
};

/**
 * Refuses to start (an `OptionError` naming the option) where the options cannot work together: a push
 * API off loopback without a key, or a role of a split deployment without a broker the roles share.
 */
export function checkStartable(options: Readonly<GatewayOptions>, hasOwnBroker: boolean): void {
  if (options.role !== 'gateway' && options.apiKey === '' && !isLoopback(options.apiHost)) {
    throw new OptionError(
      optionSpec('apiKey') ?? 'apiKey',
      `the push API would listen on ${options.apiHost} without a key: set --api-key (PUSHGATE_API_KEY), or listen on a loopback address`,
    );
  }
  if (!hasOwnBroker && options.broker === 'memory' && options.role !== 'both') {
    throw new OptionError(
      optionSpec('broker') ?? 'broker',
      `role ${options.role} needs a broker shared with the other role (redis://… or nats://…), not memory`,
    );
  }
}

/** What a gateway that has just started says of itself, besides its options. */
export interface StartupFacts {
  ws: AddressInfo | null;
  api: AddressInfo | null;
  originPolicy: OriginPolicy;
  statsRoom: string;
  /** `redis`, `nats`, … when other nodes share the broker; null for a gateway alone. */
  sharedBroker: string | null;
  nodeId: string;
}

/** Logs who may connect, who may read the dashboard stream, and where the gateway listens. */
export function logStartup(log: Logger, options: Readonly<GatewayOptions>, facts: StartupFacts): void {
  if (facts.originPolicy.allowsAll) {
    log.warn('allowedOrigins is "*": pages on ANY site may open WebSockets here (cross-site WebSocket hijacking); list your origins instead');
  } else {
    const port = facts.ws?.port ?? options.port;
    const scheme = options.tlsCert === '' ? 'http' : 'https';
    const own = facts.originPolicy.ownHostnames.map((name) => `${scheme}://${name}:${port}`).join(', ');
    log.info(
      options.allowedOrigins.length === 0
        ? `allowed origins: same origin only (${own}); other sites and names need --allowed-origins`
        : `allowed origins: ${options.allowedOrigins.join(', ')}`,
    );
  }
  if (options.role !== 'api') log.info(`dashboard stream (${facts.statsRoom}): ${STATS_ACCESS_LINES[statsAccess(options.publicStats, options.apiKey !== '')]}`);
  const where = (address: AddressInfo | null): string => (address === null ? 'none' : hostPort(address));
  const broker = facts.sharedBroker === null ? '' : ` broker=${facts.sharedBroker} node=${facts.nodeId}`;
  const wsTls = options.tlsCert !== '';
  const apiTls = options.apiTlsCert !== '' || wsTls;
  if (wsTls || apiTls || options.apiH2c) {
    const api = apiTls ? 'https (HTTP/2 and HTTP/1.1)' : options.apiH2c ? 'h2c (HTTP/2 without TLS)' : 'http';
    log.info(`TLS: the WebSocket port serves ${wsTls ? 'wss:// and https://' : 'ws:// and http://'}, the push API ${api}; SIGHUP reloads the certificates`);
  }
  log.info(`listening ws=${where(facts.ws)} api=${where(facts.api)}${broker}`);
}
