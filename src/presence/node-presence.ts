import { roomChannel } from '../cluster/channels.js';
import type { ClusterLink } from '../cluster/cluster-link.js';
import type { Connection } from '../connection/connection.js';
import type { Hub } from '../hub/hub.js';
import type { NodeDelivery } from '../push/node-delivery.js';
import type { Stats } from '../stats/stats.js';
import { JoinLeave } from './join-leave.js';
import { PresenceFrame } from './presence-frame.js';
import type { PresenceRules } from './presence-rules.js';
import { gatherPresence, PresenceService } from './presence-service.js';

/** What a node's room presence is built from. */
export interface NodePresenceParts {
  nodeId: string;
  rules: PresenceRules;
  hub: Pick<Hub, 'members'>;
  delivery: Pick<NodeDelivery, 'roomFrame'>;
  stats: Pick<Stats, 'presenceQueries' | 'presenceEvents'>;
  /** The node's broker link (there once the node has started). */
  link: () => ClusterLink;
  /** A user's first connection in a room over the cluster, or its last gone (see JoinLeaveParts.member). */
  member?(room: string, user: string, added: boolean): void;
}

/**
 * A node's room presence, wired to its hub, delivery and broker link: its join/leave events (and its
 * own answers to the other nodes' presence queries) and the cluster-wide answers of the API and of
 * PRESENCE frames.
 */
export function nodePresence(parts: NodePresenceParts): { events: JoinLeave<Connection>; service: PresenceService } {
  const { nodeId, rules, hub, delivery, stats, link } = parts;
  const gather = gatherPresence(link);
  const events = new JoinLeave<Connection>({
    nodeId,
    rules,
    members: (room) => hub.members(room),
    publish: (change) => link().broker.publish(roomChannel(change.room), { type: 'presence-change', change }),
    ready: (room) => link().roomReady(room),
    gather,
    knows: (node) => link().knowsNode(node),
    viewCurrent: () => link().viewCurrent,
    available: () => link().available,
    reported: (room) => link().otherRoomMembers(room),
    send: (room, event, recipients) => {
      stats.presenceEvents += recipients.length;
      delivery.roomFrame(room, new PresenceFrame(event), recipients);
    },
    ...(parts.member === undefined ? {} : { member: parts.member }),
  });
  const service = new PresenceService({
    nodeId,
    max: rules.max,
    local: (ask) => events.answer(ask),
    gather,
    reported: (room) => link().otherRoomMembers(room),
    counted: () => {
      stats.presenceQueries += 1;
    },
  });
  return { events, service };
}
