import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { OriginPolicy } from '../auth/origin.js';
import { hostPort } from '../server/http-lifecycle.js';
import { type StatsAccess, statsAccess } from './client-handler.js';

// What the start-up line says of the dashboard stream, and how to open it.
const STATS_ACCESS_LINES: Record<StatsAccess, string> = {
  public: 'public: any client may read node ids, pids and counters (--public-stats)',
  key: 'needs the API key: open /dashboard#key=<API key> (or start with --public-stats to make it public)',
  closed: 'closed: start with --public-stats to open it to anyone, or set --api-key and open /dashboard#key=<API key>',
};

/** What a gateway that has just started says of itself. */
export interface StartupFacts {
  ws: AddressInfo | null;
  api: AddressInfo | null;
  port: number;
  originPolicy: OriginPolicy;
  allowedOrigins: readonly string[];
  statsRoom: string;
  publicStats: boolean;
  hasApiKey: boolean;
  servesConnections: boolean;
  /** `redis`, `nats`, … when other nodes share the broker; null for a gateway alone. */
  sharedBroker: string | null;
  nodeId: string;
}

/** Logs who may connect, who may read the dashboard stream, and where the gateway listens. */
export function logStartup(log: Logger, facts: StartupFacts): void {
  if (facts.originPolicy.allowsAll) {
    log.warn('allowedOrigins is "*": pages on ANY site may open WebSockets here (cross-site WebSocket hijacking); list your origins instead');
  } else {
    const port = facts.ws?.port ?? facts.port;
    const own = facts.originPolicy.ownHostnames.map((name) => `http://${name}:${port}`).join(', ');
    log.info(
      facts.allowedOrigins.length === 0
        ? `allowed origins: same origin only (${own}); other sites and names need --allowed-origins`
        : `allowed origins: ${facts.allowedOrigins.join(', ')}`,
    );
  }
  if (facts.servesConnections) log.info(`dashboard stream (${facts.statsRoom}): ${STATS_ACCESS_LINES[statsAccess(facts.publicStats, facts.hasApiKey)]}`);
  const where = (address: AddressInfo | null): string => (address === null ? 'none' : hostPort(address));
  const broker = facts.sharedBroker === null ? '' : ` broker=${facts.sharedBroker} node=${facts.nodeId}`;
  log.info(`listening ws=${where(facts.ws)} api=${where(facts.api)}${broker}`);
}
