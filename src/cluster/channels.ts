/**
 * Broker channel names. Only `[A-Za-z0-9_.-]`, valid for Redis and as NATS subjects: room names are
 * base64url-encoded (user ids too), so a room may hold any character the room rules allow.
 */
const PREFIX = 'pushgate';

/** Pushes to every connection on every node. */
export const ALL_CHANNEL = `${PREFIX}.all`;
/** Every node's periodic presence (counts) message. */
export const PRESENCE_CHANNEL = `${PREFIX}.presence`;

// Every push names its room's channel: the names of the rooms in use are kept rather than encoded each
// time (a bounded cache, emptied when full, so that rooms that come and go cannot grow it).
const ROOM_CHANNELS_KEPT = 10000;
const roomChannels = new Map<string, string>();

/** Pushes to one room; only nodes with members subscribe. */
export function roomChannel(room: string): string {
  let channel = roomChannels.get(room);
  if (channel === undefined) {
    if (roomChannels.size >= ROOM_CHANNELS_KEPT) roomChannels.clear();
    channel = `${PREFIX}.room.${Buffer.from(room, 'utf8').toString('base64url')}`;
    roomChannels.set(room, channel);
  }
  return channel;
}

/** Pushes to one user's connections; only nodes holding a connection of that user subscribe. */
export function userChannel(user: string): string {
  return `${PREFIX}.user.${Buffer.from(user, 'utf8').toString('base64url')}`;
}

/** Messages for one node (pushes to its connections). */
export function nodeChannel(nodeId: string): string {
  return `${PREFIX}.node.${nodeId}`;
}

/** The node that holds a connection: ids are `<nodeId>-<sequence>`. */
export function nodeOfConnection(connId: string): string | null {
  const dash = connId.lastIndexOf('-');
  return dash > 0 ? connId.slice(0, dash) : null;
}
