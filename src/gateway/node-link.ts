import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import { CodecBroker } from '../broker/codec-broker.js';
import { brokerLiveness, createBroker } from '../broker/create-broker.js';
import { LocalBroker } from '../broker/local-broker.js';
import { answerQuery } from '../cluster/cluster-connections.js';
import { ClusterLink } from '../cluster/cluster-link.js';
import { type LinkMessage, linkCodec, stampLinkMessage } from '../cluster/link-message.js';
import type { OccupancyChange, RoomOccupancy } from '../cluster/room-occupancy.js';
import type { GatewayOptions } from '../config/options.js';
import type { Connection } from '../connection/connection.js';
import { HistoryRules, parseHistoryRule } from '../history/history-policy.js';
import { type HistoryStore, hasHistory } from '../history/history-store.js';
import type { Hub } from '../hub/hub.js';
import type { LocalConnections } from '../hub/local-connections.js';
import type { JoinLeave } from '../presence/join-leave.js';
import type { NodeDelivery } from '../push/node-delivery.js';
import type { Stats } from '../stats/stats.js';
import type { ClientHandler } from './client-handler.js';
import { JoinRecovery } from './join-recovery.js';

/** The parts of a gateway node its broker link is wired to. */
export interface NodeLinkParts {
  options: Readonly<GatewayOptions>;
  log: Logger;
  hub: Hub;
  handler: ClientHandler;
  delivery: NodeDelivery;
  stats: Stats;
  /** This node's connections, as other nodes' connection queries find and close them. */
  connections: LocalConnections;
  /** The broker of bytes to use instead of the one `options.broker` names (the workers' IPC relay). */
  broker: Broker | undefined;
  instance: string;
  worker: number | null;
  /** This node's numeric counters, for its presence reports. */
  counters(): Record<string, number>;
  /** Room presence: this node's answers to presence queries, and its join/leave events. */
  presence: JoinLeave<Connection>;
  /** Which followed rooms are occupied over the cluster; null when none is followed. */
  occupancy: RoomOccupancy | null;
}

/**
 * Connects a node to its broker — the local one for a gateway alone, Redis, NATS or the workers' relay
 * otherwise, the same link in every case — and wires it: rooms and users subscribed as they come and
 * go here, JOIN and AUTH acknowledged once their subscription is in place, what comes back handed to
 * the node's delivery, other nodes' connection queries answered from its own connections.
 */
// The history store beside the node's broker: in this process for a gateway alone, else the broker's own.
function historyOf(broker: Broker<LinkMessage>): HistoryStore<LinkMessage> {
  if (broker instanceof LocalBroker) return broker.historyWith(stampLinkMessage);
  if (!hasHistory<LinkMessage>(broker)) throw new TypeError(`--history: the ${broker.kind} broker keeps no history`);
  return broker.history();
}

export async function linkNode(parts: NodeLinkParts): Promise<ClusterLink> {
  const { options, log, hub, handler, delivery, stats } = parts;
  const broker: Broker<LinkMessage> =
    parts.broker === undefined ? await createBroker(options.broker, linkCodec, log, brokerLiveness(options)) : new CodecBroker(parts.broker, linkCodec);
  const link = new ClusterLink(
    broker,
    {
      nodeId: hub.nodeId,
      instance: parts.instance,
      role: options.role,
      worker: parts.worker,
      holdsConnections: options.role !== 'api',
      deliver: (push) => delivery.receive(push),
      expired: () => {
        stats.pushesExpired += 1;
      },
      stats: parts.counters,
      rooms: () => hub.roomSizes(),
      users: () => hub.userIds(),
      holdsRoom: (room) => hub.members(room) !== undefined,
      holdsUser: (user) => hub.userConnections(user) !== undefined,
      answer: (ask) => (ask.op === 'presence' ? parts.presence.answer(ask) : answerQuery(parts.connections, ask)),
      presenceChange: (change) => parts.presence.received(change),
      nodeGone: (node) => {
        parts.presence.nodeGone(node);
        parts.occupancy?.nodeGone(node);
      },
      ...(parts.occupancy === null
        ? {}
        : {
            occupancy: (change: OccupancyChange) => parts.occupancy?.received(change),
            reported: (node: string, rooms: string[], truncated: boolean) => parts.occupancy?.reported(node, rooms, truncated),
          }),
    },
    log,
    {
      presenceIntervalMs: options.presenceInterval * 1000,
      publishTimeoutMs: options.brokerTimeout,
      probeIntervalMs: options.brokerProbeInterval,
      clockSkewMs: options.brokerClockSkew,
    },
  );
  const rules = new HistoryRules(options.history.map(parseHistoryRule));
  if (rules.enabled) {
    link.useHistory(historyOf(broker), rules);
    handler.streams = new JoinRecovery(
      {
        keeps: (room) => link.keepsHistory(room),
        read: (room, query) => link.readHistory(room, query) ?? Promise.reject(new TypeError(`room ${room} keeps no history`)),
      },
      delivery,
      stats,
      options.maxBatchItems,
      (conn, room) => hub.roomsOf(conn)?.has(room) === true,
      (conn, id, room, error) => handler.refuseJoin(conn, id, room, error),
    );
  }
  hub.onRoomChange = (room, open) => {
    if (open) link.roomOpened(room);
    else link.roomClosed(room);
    parts.occupancy?.localChanged(room, open);
  };
  hub.onMembership = (conn, room, joined) => {
    parts.presence.changed(conn, room, joined);
    if (!joined) delivery.left(conn, room);
  };
  broker.onStatus((status) => {
    if (status === 'up') parts.presence.brokerBack();
  });
  handler.roomReady = (room) => link.roomReady(room);
  hub.onUserChange = (user, open) => (open ? link.userOpened(user) : link.userClosed(user));
  handler.userReady = (user) => link.userReady(user);
  return link;
}
