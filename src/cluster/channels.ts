/**
 * Broker channel names. Only `[A-Za-z0-9_.-]`, valid for Redis and as NATS subjects: room names are
 * base64url-encoded (user ids too), so a room may hold any character the room rules allow.
 */
const PREFIX = 'pushgate';

/** Pushes to every connection on every node. */
export const ALL_CHANNEL = `${PREFIX}.all`;
/** Every node's periodic presence (counts) message. */
export const PRESENCE_CHANNEL = `${PREFIX}.presence`;

/** Pushes to one room; only nodes with members subscribe. */
export function roomChannel(room: string): string {
  return `${PREFIX}.room.${Buffer.from(room, 'utf8').toString('base64url')}`;
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
