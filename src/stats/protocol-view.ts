import type { AdditiveStat } from './stats.js';

/** The stats a {@link protocolView} reads: a snapshot, or the additive totals of an instance or cluster. */
export type ProtocolStats = Readonly<Pick<Record<AdditiveStat, number>, ProtocolStat>>;

type ProtocolStat =
  | 'onlineConnections'
  | 'connectionsTotal'
  | 'pushAllTotal'
  | 'pushRoomTotal'
  | 'pushConnTotal'
  | 'pushUserTotal'
  | 'clientPublishes'
  | 'pusherOpen'
  | 'pusherConnections'
  | 'pusherEvents'
  | 'pusherClientEvents'
  | 'pusherUserEvents'
  | 'pusherSubscriptionsRefused'
  | 'pusherSignins'
  | 'pusherSigninsRefused'
  | 'pusherApiRequests'
  | 'pusherApiRefused'
  | 'pusherTerminations'
  | 'webhookEvents'
  | 'webhookQueued'
  | 'webhookEventsDelivered'
  | 'webhookPosts'
  | 'webhookRetries'
  | 'webhookFailures'
  | 'webhookEventsDropped';

/** The client protocols, as `/metrics` labels them and `GET /stats` keys them. */
export const PROTOCOLS = ['go-push', 'pusher'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** go-push's JSON protocol (`/connect`): what is left of the totals once Pusher's share is taken out. */
export interface GoPushView {
  /** Connections open now (online ones: those awaiting AUTH are not counted). */
  connections: number;
  /** Connections accepted since start. */
  connectionsTotal: number;
  /** Pushes accepted (all, room, connection, user), Pusher's events excepted. */
  pushes: number;
  /** Items clients published to rooms (PUBLISH accepted). */
  clientEvents: number;
}

/** Pusher Channels (`/app/<key>` and its HTTP API). */
export interface PusherView {
  /** Connections open now. */
  connections: number;
  /** Connections accepted since start. */
  connectionsTotal: number;
  /** Events accepted through the HTTP API, one per channel. */
  events: number;
  /** Events sent to users (`#server-to-user-<id>`). */
  userEvents: number;
  /** Client events (`client-*`) relayed. */
  clientEvents: number;
  subscriptionsRefused: number;
  signins: number;
  signinsRefused: number;
  /** HTTP API requests answered, and of those the ones answered 4xx/5xx. */
  apiRequests: number;
  apiRefused: number;
  /** Connections closed by `terminate_connections`. */
  terminations: number;
  webhooks: {
    /** Events queued since start, and waiting now. */
    events: number;
    queued: number;
    /** Events in a POST that succeeded. */
    delivered: number;
    /** POSTs that succeeded, retried, batches given up, events never posted. */
    posts: number;
    retries: number;
    failures: number;
    dropped: number;
  };
}

/** `GET /stats`'s `protocols`: the connections and events of each client protocol. */
export interface ProtocolView {
  'go-push': GoPushView;
  pusher: PusherView;
}

/**
 * The per-protocol view of some stats (one process's snapshot, or the totals of an instance or a
 * cluster: they combine the same way). Pusher's numbers are its own counters; go-push's are the
 * gateway's totals less Pusher's share (Pusher connections are in `onlineConnections` and
 * `connectionsTotal`; its API, user and client events are room or user pushes), never below 0. The
 * go-push pushes are a close count: a Pusher event the broker refused stays in them.
 */
export function protocolView(stats: ProtocolStats): ProtocolView {
  const n = (key: ProtocolStat): number => {
    const value = stats[key];
    return typeof value === 'number' && Number.isFinite(value) ? value : 0;
  };
  const pushes = n('pushAllTotal') + n('pushRoomTotal') + n('pushConnTotal') + n('pushUserTotal');
  const pusherPushes = n('pusherEvents') + n('pusherUserEvents') + n('pusherClientEvents');
  return {
    'go-push': {
      connections: Math.max(0, n('onlineConnections') - n('pusherOpen')),
      connectionsTotal: Math.max(0, n('connectionsTotal') - n('pusherConnections')),
      pushes: Math.max(0, pushes - pusherPushes),
      clientEvents: n('clientPublishes'),
    },
    pusher: {
      connections: n('pusherOpen'),
      connectionsTotal: n('pusherConnections'),
      events: n('pusherEvents'),
      userEvents: n('pusherUserEvents'),
      clientEvents: n('pusherClientEvents'),
      subscriptionsRefused: n('pusherSubscriptionsRefused'),
      signins: n('pusherSignins'),
      signinsRefused: n('pusherSigninsRefused'),
      apiRequests: n('pusherApiRequests'),
      apiRefused: n('pusherApiRefused'),
      terminations: n('pusherTerminations'),
      webhooks: {
        events: n('webhookEvents'),
        queued: n('webhookQueued'),
        delivered: n('webhookEventsDelivered'),
        posts: n('webhookPosts'),
        retries: n('webhookRetries'),
        failures: n('webhookFailures'),
        dropped: n('webhookEventsDropped'),
      },
    },
  };
}
