/**
 * The gateway's counters: plain numbers bumped on the hot path, read by `GET /stats` and `GET /metrics`.
 * Names of go-push's own counters are kept so its dashboards and scripts still read them.
 */
export class Stats {
  /** Frames written to client sockets (go-push's `sendMessageTotal`). */
  sendMessageTotal = 0;
  /** Frames that could not be written: the client had gone or was too slow (go-push's `sendMessageFail`). */
  sendMessageFail = 0;
  /** Accepted push requests, by target (go-push's `pushAllTotal`/`pushRoomTotal`, plus connections). */
  pushAllTotal = 0;
  pushRoomTotal = 0;
  pushConnTotal = 0;
  /** Accepted pushes to a user's connections (`POST /push/user`). */
  pushUserTotal = 0;
  /** Push requests refused with 503 because the queues were full. */
  pushRejected = 0;
  /** Items accepted for delivery. */
  itemsAccepted = 0;
  /** Items written to clients (one per item per recipient). */
  itemsDelivered = 0;
  /** Items that were addressed to a client but not written (its connection closed or was too slow). */
  itemsDropped = 0;
  /**
   * Pushes received from the broker after their publish deadline (plus `brokerClockSkew`) and dropped:
   * their publisher had answered 503 (not accepted), so delivering them would duplicate a retry.
   */
  pushesExpired = 0;
  /**
   * Pushes refused with 503 because the broker did not confirm them within `brokerTimeout` (a hang): the
   * broker may still forward them when it resumes, and the nodes then drop them (`pushesExpired`).
   */
  pushesTimedOut = 0;
  /** Pushes refused with 503 `OVERLOADED`: delivery was behind the latency budget (`maxLatency`). */
  pushesOverloaded = 0;
  /** PUSH frames built by the merger (each encoded and framed once). */
  batchesFlushed = 0;
  /** Connections accepted since start. */
  connectionsTotal = 0;
  /** Handshakes refused (origin, path, shutdown, per-address limit, token). */
  handshakesRefused = 0;
  /** Handshakes whose client went away before they were answered (e.g. while its token was checked). */
  handshakesAborted = 0;
  /** Connections closed because they fell behind (1013). */
  slowConsumerDisconnects = 0;
  /** Connections closed by the heartbeat sweep (4000). */
  heartbeatDisconnects = 0;
  /** Connections closed for their input (1003, 1007, 1008, 1009 and other protocol errors). */
  protocolDisconnects = 0;
  /** ERROR frames sent to clients. */
  errorFrames = 0;
  /** Client requests handled (PING, JOIN, LEAVE). */
  requestsTotal = 0;
  /**
   * Push API requests cut before they were complete: the client went away mid-request, or its
   * headers or body missed `apiHeadersTimeout` / `apiRequestTimeout`.
   */
  apiRequestsAborted = 0;
  /** Push API connections dropped at once because `apiMaxConnections` were open. */
  apiConnectionsDropped = 0;
  /** Calls made to the backends' hooks (connect, subscribe, RPC, publish, disconnect). */
  hookCalls = 0;
  /** Hook calls that got no usable answer: timeouts, backends down or failing (5xx, breaker open), bad answers. */
  hookFailures = 0;
  /** Items clients published to rooms (PUBLISH accepted). */
  clientPublishes = 0;
  /** JOINs of a room with history that asked to recover from an offset. */
  recoveriesAsked = 0;
  /** Of those, the ones answered `recovered: false` (other epoch, trimmed or expired): the client must reload. */
  recoveriesFailed = 0;
  /** Items replayed to recovering clients. */
  itemsReplayed = 0;
  /** JOINs of a room with history refused because its history could not be read (broker down). */
  historyReadsFailed = 0;
  /** Closed connections the disconnect hook took. */
  disconnectsNotified = 0;
  /** Closed connections never notified: the disconnect queue was full, or their batch failed every try. */
  disconnectsDropped = 0;
  /** Room presence asked of this node: `GET /presence`, `GET /presence/stats` and PRESENCE frames it answered. */
  presenceQueries = 0;
  /** PRESENCE_EVENT frames queued for this node's clients (one per recipient: joins, leaves, states, overflows). */
  presenceEvents = 0;
  /** Pusher Channels connections accepted (`/app/<key>`; also in `connectionsTotal`). */
  pusherConnections = 0;
  /** Server-Sent Events streams accepted (`GET /sse`; also in `connectionsTotal`). */
  sseConnections = 0;
  /** Pusher events accepted through the Pusher HTTP API, one per channel. */
  pusherEvents = 0;
  /** Pusher client events (`client-*`) relayed. */
  pusherClientEvents = 0;
  /** Pusher subscriptions refused (`pusher:subscription_error`). */
  pusherSubscriptionsRefused = 0;
  /** Pusher connections open now (a gauge: up when one opens, down when it closes; also in `onlineConnections`). */
  pusherOpen = 0;
  /** Pusher `pusher:signin` messages accepted (the connection is then its user's). */
  pusherSignins = 0;
  /** Pusher `pusher:signin` messages refused (bad signature, bad user data). */
  pusherSigninsRefused = 0;
  /** Pusher HTTP API requests answered, whatever the answer. */
  pusherApiRequests = 0;
  /** Pusher HTTP API requests answered with a 4xx or 5xx status (also in `pusherApiRequests`). */
  pusherApiRefused = 0;
  /** Pusher events sent to users (`#server-to-user-<id>`), one per user. */
  pusherUserEvents = 0;
  /** Pusher connections closed by `terminate_connections`. */
  pusherTerminations = 0;
  /** Pusher webhook events queued to be posted. */
  webhookEvents = 0;
  /** Pusher webhook events in a POST that succeeded (answered 2xx). */
  webhookEventsDelivered = 0;
  /** Pusher webhook POSTs made, retries included (`webhookEventsDelivered` counts what they delivered). */
  webhookPosts = 0;
  /** Pusher webhook POSTs tried again after a failure. */
  webhookRetries = 0;
  /** Pusher webhook batches given up after every try failed. */
  webhookFailures = 0;
  /** Pusher webhook events never posted: the queue was full, or their batch was given up. */
  webhookEventsDropped = 0;
  /** Pusher webhook events waiting to be posted now (a gauge). */
  webhookQueued = 0;
}

/** A point-in-time view of one gateway process (`GET /stats` combines those of its instance: see {@link STAT_KINDS}). */
export interface StatsSnapshot extends Omit<Stats, never> {
  /** Connections online: those that pushes reach (the ones awaiting AUTH are not among them). */
  onlineConnections: number;
  /** Connections accepted without a token that have not sent a valid AUTH yet: they receive no push. */
  pendingAuthConnections: number;
  roomCount: number;
  /** Frames waiting to be written to all their recipients. */
  dispatchPending: number;
  /** Items waiting in open batches. */
  mergerPending: number;
  /** Items waiting in open batches or in undelivered frames (compared with `maxPendingItems`). */
  pendingItems: number;
  /** One write pass over every connection as the recent write cost predicts it (ms). */
  writePassMs: number;
  /** The merge window now: the least time between two frames to one target, wider under load (ms). */
  mergeWindowMs: number;
  /** How long the oldest accepted item not yet written has waited (ms). */
  deliveryLagMs: number;
  nodeId: string;
  pid: number;
  role: string;
  worker: number | null;
  /** The broker's state (`none`, `up`, `down`, …). */
  broker: string;
  /** Broker channels this node subscribes to now (0 without a broker). */
  brokerSubscriptions: number;
  /** In a cluster: pushes accepted here not yet taken by the broker, or not yet back to be delivered to this node's clients. */
  pushesInFlight: number;
  /** In a cluster: pushes published here to a channel subscribed here that never came back (30 s): lost for this node's clients. */
  pushesNotReturned: number;
  /** In a cluster: connection-API queries from other nodes that arrived after their deadline and were dropped. */
  queriesExpired: number;
  /** In a cluster: replies to this node's connection-API queries that came too late (or matched none) and were ignored. */
  queryRepliesDropped: number;
  /** Workers without an external broker: channels the primary relays for all of them, as of its last answer. */
  relayChannels?: number;
  uptimeSeconds: number;
}

/**
 * How a stat combines over processes (the workers of one instance, or the nodes of a cluster):
 * - `additive`: a counter or a gauge of things that each belong to one process (connections, Pusher
 *   connections open, frames, pushes accepted, items waiting, webhook events queued, broker
 *   subscriptions): the whole is the sum;
 * - `distinct-rooms`: `roomCount`: a room can have members in several processes, so the whole is the
 *   number of distinct room names, not the sum (see {@link aggregateReports});
 * - `per-process`: what describes one process (its id, pid, worker number, role, broker state, uptime;
 *   `relayChannels`, the primary's relay as last seen by that worker; its delivery's write pass, merge
 *   window and lag): never summed, reported per process.
 */
export type StatKind = 'additive' | 'distinct-rooms' | 'per-process';

/** Every field of a {@link StatsSnapshot} and how it combines over processes: declared once, here. */
export const STAT_KINDS = {
  sendMessageTotal: 'additive',
  sendMessageFail: 'additive',
  pushAllTotal: 'additive',
  pushRoomTotal: 'additive',
  pushConnTotal: 'additive',
  pushUserTotal: 'additive',
  pushRejected: 'additive',
  itemsAccepted: 'additive',
  itemsDelivered: 'additive',
  itemsDropped: 'additive',
  pushesExpired: 'additive',
  pushesTimedOut: 'additive',
  pushesOverloaded: 'additive',
  batchesFlushed: 'additive',
  connectionsTotal: 'additive',
  handshakesRefused: 'additive',
  handshakesAborted: 'additive',
  slowConsumerDisconnects: 'additive',
  heartbeatDisconnects: 'additive',
  protocolDisconnects: 'additive',
  errorFrames: 'additive',
  requestsTotal: 'additive',
  apiRequestsAborted: 'additive',
  apiConnectionsDropped: 'additive',
  hookCalls: 'additive',
  hookFailures: 'additive',
  clientPublishes: 'additive',
  recoveriesAsked: 'additive',
  recoveriesFailed: 'additive',
  itemsReplayed: 'additive',
  historyReadsFailed: 'additive',
  disconnectsNotified: 'additive',
  disconnectsDropped: 'additive',
  presenceQueries: 'additive',
  presenceEvents: 'additive',
  pusherConnections: 'additive',
  sseConnections: 'additive',
  pusherEvents: 'additive',
  pusherClientEvents: 'additive',
  pusherSubscriptionsRefused: 'additive',
  pusherOpen: 'additive',
  pusherSignins: 'additive',
  pusherSigninsRefused: 'additive',
  pusherApiRequests: 'additive',
  pusherApiRefused: 'additive',
  pusherUserEvents: 'additive',
  pusherTerminations: 'additive',
  webhookEvents: 'additive',
  webhookEventsDelivered: 'additive',
  webhookPosts: 'additive',
  webhookRetries: 'additive',
  webhookFailures: 'additive',
  webhookEventsDropped: 'additive',
  webhookQueued: 'additive',
  onlineConnections: 'additive',
  pendingAuthConnections: 'additive',
  dispatchPending: 'additive',
  mergerPending: 'additive',
  pendingItems: 'additive',
  brokerSubscriptions: 'additive',
  pushesInFlight: 'additive',
  pushesNotReturned: 'additive',
  queriesExpired: 'additive',
  queryRepliesDropped: 'additive',
  roomCount: 'distinct-rooms',
  nodeId: 'per-process',
  pid: 'per-process',
  role: 'per-process',
  worker: 'per-process',
  broker: 'per-process',
  relayChannels: 'per-process',
  uptimeSeconds: 'per-process',
  writePassMs: 'per-process',
  mergeWindowMs: 'per-process',
  deliveryLagMs: 'per-process',
} as const satisfies { readonly [K in keyof StatsSnapshot]-?: StatKind };

/** The stats whose whole is the sum over processes. */
export type AdditiveStat = { [K in keyof typeof STAT_KINDS]: (typeof STAT_KINDS)[K] extends 'additive' ? K : never }[keyof typeof STAT_KINDS];

/** The {@link AdditiveStat}s, in declaration order. */
export const ADDITIVE_STATS: readonly AdditiveStat[] = (Object.keys(STAT_KINDS) as (keyof typeof STAT_KINDS)[]).filter(
  (key): key is AdditiveStat => STAT_KINDS[key] === 'additive',
);
