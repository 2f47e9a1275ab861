import type { Registry } from 'prom-client';
import type { ClusterView, InstanceView } from '../cluster/cluster-link.js';
import type { ConnectionService } from '../cluster/connection-service.js';
import type { GatewayOptions } from '../config/options.js';
import type { HistoryPage, HistoryQuery } from '../history/history-store.js';
import type { PresenceApi } from '../presence/presence-service.js';
import type { PushService } from '../push/push-service.js';
import type { PusherApi } from '../pusher/pusher-api.js';
import type { TlsCredentials } from '../server/tls.js';
import type { Stats, StatsSnapshot } from '../stats/stats.js';

/**
 * What the push API needs of the node behind it: the push service, the numbers it reports and its
 * state. Declared here, by the API, so that it depends on this interface and not on the gateway
 * (which implements it).
 */
export interface ApiBackend extends PushService {
  readonly options: Readonly<
    Pick<GatewayOptions, 'apiKey' | 'maxBodySize' | 'maxBatchPushes' | 'apiRequestTimeout' | 'apiHeadersTimeout' | 'apiMaxConnections' | 'apiH2c'>
  >;
  /** The push API port's certificate (`--api-tls-cert`, else `--tls-cert`); null for plain HTTP. */
  readonly apiTls: TlsCredentials | null;
  /** The counters the API adds to (`apiRequestsAborted`, `apiConnectionsDropped`). */
  readonly stats: Pick<Stats, 'apiRequestsAborted' | 'apiConnectionsDropped'>;
  /** Served at `GET /metrics`. */
  readonly metrics: Pick<Registry, 'metrics' | 'contentType'>;
  /** Whether the node runs (false once it stops: `/healthz` 503). */
  readonly isRunning: boolean;
  /** The broker's state (`none` for a gateway alone). */
  readonly brokerStatus: string;
  /** Whether the node is one of the workers of `--workers` (`GET /stats` then lists them). */
  readonly isWorker: boolean;
  snapshot(): StatsSnapshot;
  /** The hooks' counters and breakers, shown as `hooks` in `GET /stats`; absent or null without hooks. */
  hooksView?(): unknown;
  instanceView(): InstanceView;
  clusterView(): ClusterView | null;
  /** Pusher's HTTP API (`/apps/<id>/…`, signed by Pusher's rules, not the API key); null without Pusher apps. */
  readonly pusherApi?: PusherApi | null;
  /** The connection API: connections, users' connections and rooms, cluster-wide. */
  readonly connections: ConnectionService;
  /** Room presence, cluster-wide (`GET /presence`, `GET /presence/stats`). */
  readonly presence: PresenceApi;
  /** Reads a room's stream (`GET /history`); null when the room keeps no history. Rejects with BrokerUnavailableError when it cannot be read. */
  history(room: string, query: HistoryQuery): Promise<HistoryPage> | null;
}
