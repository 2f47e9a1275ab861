/**
 * A join or a leave of a room with join/leave events, as the node that holds the connection publishes
 * it on the room's broker channel (so it is ordered with the room's pushes and reaches every node with
 * members), and its wire form. Nothing here knows the cluster: the link's codec imports it.
 */
export interface PresenceChange {
  room: string;
  event: 'join' | 'leave';
  conn: string;
  user: string | null;
  /** What the connection told of its user in the room (JSON text), when it did. */
  info?: string;
  /** The node that holds the connection and published the change. */
  origin: string;
  /** The origin's sequence number, increasing over all its changes (see src/presence/join-leave.ts). */
  seq: number;
}

const KIND = 'presence-change';

// Neither a push (no `items`), a barrier, a query nor presence (no top-level `node`) to the decoders of
// older nodes, which count such messages as malformed and drop them.
export function encodePresenceChange(change: PresenceChange): Buffer {
  const { room, event, conn, user, info, origin, seq } = change;
  return Buffer.from(JSON.stringify({ v: 1, kind: KIND, room, event, conn, user, info, origin, seq }));
}

/** A change decoded, or null for a payload that is none (or is one, malformed). */
export function decodePresenceChange(payload: Buffer): PresenceChange | null {
  // Presence reports, queries and replies also reach this decoder: most are told apart without parsing.
  if (!payload.includes(KIND)) return null;
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const { v, kind, room, event, conn, user, info, origin, seq } = value as Record<string, unknown>;
  if (v !== 1 || kind !== KIND || (event !== 'join' && event !== 'leave')) return null;
  if (!isText(room) || !isText(conn) || !isText(origin) || !(user === null || typeof user === 'string')) return null;
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) return null;
  if (info !== undefined && typeof info !== 'string') return null;
  return info === undefined ? { room, event, conn, user, origin, seq: seq as number } : { room, event, conn, user, info, origin, seq: seq as number };
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}
