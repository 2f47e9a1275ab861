import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ClusterView } from '../cluster/cluster-link.js';
import { PROTOCOLS, type Protocol, type ProtocolView, protocolView } from './protocol-view.js';
import type { Stats, StatsSnapshot } from './stats.js';

type NumericKey = { [K in keyof StatsSnapshot]-?: StatsSnapshot[K] extends number ? K : never }[keyof StatsSnapshot];

const counters: ReadonlyArray<[keyof Stats, string, string]> = [
  ['sendMessageTotal', 'pushgate_frames_sent_total', 'Frames written to client sockets'],
  ['sendMessageFail', 'pushgate_frames_failed_total', 'Frames not written: client gone or too slow'],
  ['pushAllTotal', 'pushgate_push_all_requests_total', 'Accepted pushes to all'],
  ['pushRoomTotal', 'pushgate_push_room_requests_total', 'Accepted pushes to a room'],
  ['pushConnTotal', 'pushgate_push_conn_requests_total', 'Accepted pushes to a connection'],
  ['pushUserTotal', 'pushgate_push_user_requests_total', 'Accepted pushes to a user'],
  ['pushRejected', 'pushgate_push_rejected_total', 'Pushes refused with 503 (queues full, broker unavailable)'],
  ['pushesTimedOut', 'pushgate_pushes_timed_out_total', 'Pushes refused (503) because the broker did not confirm them within brokerTimeout'],
  ['pushesOverloaded', 'pushgate_pushes_overloaded_total', 'Pushes refused (503 OVERLOADED) because delivery was behind the latency budget'],
  ['pushesExpired', 'pushgate_pushes_expired_total', 'Pushes received after their publish deadline and dropped (their publisher answered 503)'],
  ['itemsAccepted', 'pushgate_items_accepted_total', 'Items accepted for delivery'],
  ['itemsDelivered', 'pushgate_items_delivered_total', 'Items written to clients (per recipient)'],
  ['itemsDropped', 'pushgate_items_dropped_total', 'Items addressed to a client but not written'],
  ['batchesFlushed', 'pushgate_batches_flushed_total', 'PUSH frames built by the merger'],
  ['connectionsTotal', 'pushgate_connections_total', 'Connections accepted'],
  ['handshakesRefused', 'pushgate_handshakes_refused_total', 'Handshakes refused (origin, path, shutdown, per-address limit, token)'],
  ['handshakesAborted', 'pushgate_handshakes_aborted_total', 'Handshakes whose client went away before they were answered'],
  ['slowConsumerDisconnects', 'pushgate_slow_consumer_disconnects_total', 'Connections closed as slow consumers (1013)'],
  ['heartbeatDisconnects', 'pushgate_heartbeat_disconnects_total', 'Connections closed by the heartbeat (4000)'],
  ['protocolDisconnects', 'pushgate_protocol_disconnects_total', 'Connections closed for bad input (1003/1007/1008/1009)'],
  ['errorFrames', 'pushgate_error_frames_total', 'ERROR frames sent'],
  ['requestsTotal', 'pushgate_client_requests_total', 'Client requests handled'],
  ['apiRequestsAborted', 'pushgate_api_requests_aborted_total', 'Push API requests cut before they were complete (client gone or too slow)'],
  ['apiConnectionsDropped', 'pushgate_api_connections_dropped_total', 'Push API connections dropped over apiMaxConnections'],
  ['clientPublishes', 'pushgate_client_publishes_total', 'Items clients published to rooms (PUBLISH accepted)'],
  ['recoveriesAsked', 'pushgate_recoveries_total', 'JOINs of a room with history that asked to recover from an offset'],
  ['recoveriesFailed', 'pushgate_recoveries_failed_total', 'Recoveries answered recovered: false (other epoch, trimmed or expired)'],
  ['itemsReplayed', 'pushgate_items_replayed_total', 'Items replayed to recovering clients'],
  ['historyReadsFailed', 'pushgate_history_reads_failed_total', 'JOINs of a room with history refused because its history could not be read'],
  ['disconnectsNotified', 'pushgate_disconnects_notified_total', 'Closed connections the disconnect hook took'],
  ['disconnectsDropped', 'pushgate_disconnects_dropped_total', 'Closed connections never notified to the disconnect hook (queue full, or every try failed)'],
  ['presenceQueries', 'pushgate_presence_queries_total', 'Room presence answered (GET /presence, GET /presence/stats, PRESENCE frames)'],
  ['presenceEvents', 'pushgate_presence_events_total', 'PRESENCE_EVENT frames queued for clients (per recipient)'],
  ['pusherConnections', 'pushgate_pusher_connections_total', 'Pusher Channels connections accepted'],
  ['sseConnections', 'pushgate_sse_connections_total', 'Server-Sent Events streams accepted (GET /sse)'],
  ['pusherEvents', 'pushgate_pusher_events_total', 'Pusher events accepted through the Pusher HTTP API (one per channel)'],
  ['pusherClientEvents', 'pushgate_pusher_client_events_total', 'Pusher client events relayed'],
  ['pusherSubscriptionsRefused', 'pushgate_pusher_subscriptions_refused_total', 'Pusher subscriptions refused (pusher:subscription_error)'],
  ['pusherSignins', 'pushgate_pusher_signins_total', 'Pusher pusher:signin messages accepted'],
  ['pusherSigninsRefused', 'pushgate_pusher_signins_refused_total', 'Pusher pusher:signin messages refused'],
  ['pusherApiRequests', 'pushgate_pusher_api_requests_total', 'Pusher HTTP API requests answered'],
  ['pusherApiRefused', 'pushgate_pusher_api_refused_total', 'Pusher HTTP API requests answered with a 4xx or 5xx status'],
  ['pusherUserEvents', 'pushgate_pusher_user_events_total', 'Pusher events sent to users (#server-to-user-<id>)'],
  ['pusherTerminations', 'pushgate_pusher_terminations_total', 'Pusher connections closed by terminate_connections'],
  ['webhookEvents', 'pushgate_webhook_events_total', 'Pusher webhook events queued'],
  ['webhookEventsDelivered', 'pushgate_webhook_events_delivered_total', 'Pusher webhook events in a POST that succeeded'],
  ['webhookPosts', 'pushgate_webhook_posts_total', 'Pusher webhook POSTs made, retries included'],
  ['webhookRetries', 'pushgate_webhook_retries_total', 'Pusher webhook POSTs tried again after a failure'],
  ['webhookFailures', 'pushgate_webhook_failures_total', 'Pusher webhook batches given up after every try failed'],
  ['webhookEventsDropped', 'pushgate_webhook_events_dropped_total', 'Pusher webhook events never posted (queue full, or their batch given up)'],
];

const gauges: ReadonlyArray<[NumericKey, string, string]> = [
  ['onlineConnections', 'pushgate_online_connections', 'Connections online (those awaiting AUTH excepted)'],
  ['pendingAuthConnections', 'pushgate_pending_auth_connections', 'Connections awaiting their AUTH message (they receive no push)'],
  ['roomCount', 'pushgate_rooms', 'Rooms with at least one member'],
  ['dispatchPending', 'pushgate_dispatch_pending_frames', 'Frames waiting to be written'],
  ['mergerPending', 'pushgate_merger_pending_items', 'Items waiting in open batches'],
  ['pendingItems', 'pushgate_pending_items', 'Items waiting for merge or delivery'],
  ['writePassMs', 'pushgate_write_pass_ms', 'One write pass over every connection, as the recent write cost predicts it (ms)'],
  ['mergeWindowMs', 'pushgate_merge_window_ms', 'The merge window: the least time between two frames to one target, wider under load (ms)'],
  ['deliveryLagMs', 'pushgate_delivery_lag_ms', 'Age of the oldest accepted item not yet written (ms)'],
  ['brokerSubscriptions', 'pushgate_broker_subscriptions', 'Broker channels this node subscribes to'],
  ['pushesInFlight', 'pushgate_pushes_in_flight', 'Pushes accepted here not yet back from the broker'],
  ['queriesExpired', 'pushgate_cluster_queries_expired', 'Connection-API queries from other nodes dropped because they arrived after their deadline'],
  ['queryRepliesDropped', 'pushgate_cluster_query_replies_dropped', 'Replies to connection-API queries ignored: too late, or matching no query'],
  ['pusherOpen', 'pushgate_pusher_open_connections', 'Pusher Channels connections open (also in pushgate_online_connections)'],
  ['webhookQueued', 'pushgate_webhook_queued_events', 'Pusher webhook events waiting to be posted'],
];

/** Per-protocol views of the snapshot, labelled `protocol` (go-push, pusher): see {@link protocolView}. */
const protocolGauges: ReadonlyArray<[string, string, (view: ProtocolView[Protocol]) => number]> = [
  ['pushgate_protocol_connections', 'Connections open, by client protocol (go-push: online connections less the Pusher ones)', (view) => view.connections],
];

const protocolCounters: ReadonlyArray<[string, string, (view: ProtocolView[Protocol]) => number]> = [
  ['pushgate_protocol_connections_accepted_total', 'Connections accepted, by client protocol', (view) => view.connectionsTotal],
  [
    'pushgate_protocol_client_events_total',
    'Messages clients sent to rooms, by client protocol (go-push PUBLISH accepted, Pusher client events relayed)',
    (view) => view.clientEvents,
  ],
];

/**
 * A Prometheus registry of its own (so several gateways can live in one process) whose metrics are read
 * from the stats at scrape time: the hot path only bumps plain numbers.
 */
export function createMetricsRegistry(snapshot: () => StatsSnapshot, cluster: () => ClusterView | null = () => null): Registry {
  const registry = new Registry();
  // Unprefixed process_* and nodejs_* names, so standard Node.js dashboards work unchanged.
  collectDefaultMetrics({ register: registry });
  // A snapshot is a handful of reads; each metric takes its own at scrape time.
  const read = snapshot;
  for (const [key, name, help] of counters) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read()[key] as number);
      },
    });
  }
  for (const [key, name, help] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read()[key]);
      },
    });
  }
  for (const [name, help, pick] of protocolGauges) {
    new Gauge({
      name,
      help,
      labelNames: ['protocol'],
      registers: [registry],
      collect() {
        const view = protocolView(read());
        for (const protocol of PROTOCOLS) this.set({ protocol }, pick(view[protocol]));
      },
    });
  }
  for (const [name, help, pick] of protocolCounters) {
    new Counter({
      name,
      help,
      labelNames: ['protocol'],
      registers: [registry],
      collect() {
        this.reset();
        const view = protocolView(read());
        for (const protocol of PROTOCOLS) this.inc({ protocol }, pick(view[protocol]));
      },
    });
  }
  new Gauge({
    name: 'pushgate_cluster_online_connections',
    help: 'Connections online per node of the cluster, as last reported',
    labelNames: ['node', 'worker'],
    registers: [registry],
    collect() {
      this.reset();
      for (const node of cluster()?.nodes ?? []) this.set({ node: node.node, worker: String(node.worker ?? '') }, node.stats.onlineConnections ?? 0);
    },
  });
  new Gauge({
    name: 'pushgate_cluster_nodes',
    help: 'Live nodes of the cluster (including this one; while the view is stale, as last reported)',
    registers: [registry],
    collect() {
      this.set(cluster()?.nodes.length ?? 1);
    },
  });
  new Gauge({
    name: 'pushgate_cluster_view_stale',
    help: '1 while this node cannot vouch for its view of the cluster (broker down or just back), else 0',
    registers: [registry],
    collect() {
      this.set(cluster()?.stale === true ? 1 : 0);
    },
  });
  return registry;
}
