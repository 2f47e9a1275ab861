/**
 * The presence query one node asks the others (the `presence` operation of the connection API's node
 * queries, src/cluster/query-envelope.ts) and each node's answer, with their wire checks. Nothing
 * here knows the cluster: the envelope imports it.
 */

/**
 * Who holds `room` on a node. `list`: send the members themselves, unless this node has more than `max`
 * of them (then counts only, as for `list: false`), so that an answer is bounded whatever the room's size.
 */
export interface PresenceAsk {
  op: 'presence';
  room: string;
  list: boolean;
  max: number;
}

/** One connection in a room: its id and its user (null for an anonymous connection). */
export interface PresenceMember {
  conn: string;
  user: string | null;
  /** What the connection told of its user in the room (JSON text), when it did. */
  info?: string;
}

/**
 * A node's part of a room's presence: how many of its connections are in the room and how many distinct
 * users they belong to, the members when asked for and at most `max`, and the node's join/leave sequence
 * number when it answered (changes it announced later have higher numbers: see src/presence/join-leave.ts).
 */
export interface PresenceAnswer {
  op: 'presence';
  count: number;
  userCount: number;
  members?: PresenceMember[];
  seq: number;
}

/** The answer of a node that holds nobody (an API node, a node that does not know the room). */
export function emptyPresence(): PresenceAnswer {
  return { op: 'presence', count: 0, userCount: 0, members: [], seq: 0 };
}

/** What a node needs to know of one of its connections to answer for it. */
export interface PresenceHolder {
  readonly id: string;
  readonly userId?: string | undefined;
  readonly isOpen: boolean;
  /** What it told of its user per room (JSON text), when it did (a Pusher presence member's user_info). */
  readonly presenceInfo?: ReadonlyMap<string, string> | null;
}

/** A node's answer from its own members of the room (`members`: the hub's set, or none) and its sequence number. */
export function localPresence(members: Iterable<PresenceHolder> | undefined, ask: PresenceAsk, seq: number): PresenceAnswer {
  const listed: PresenceMember[] = [];
  const users = new Set<string>();
  let count = 0;
  for (const conn of members ?? []) {
    // A connection closing is leaving: it is not counted.
    if (!conn.isOpen) continue;
    count += 1;
    if (conn.userId !== undefined) users.add(conn.userId);
    if (ask.list && listed.length < ask.max) {
      const info = conn.presenceInfo?.get(ask.room);
      listed.push(info === undefined ? { conn: conn.id, user: conn.userId ?? null } : { conn: conn.id, user: conn.userId ?? null, info });
    }
  }
  const answer: PresenceAnswer = { op: 'presence', count, userCount: users.size, seq };
  if (ask.list && count <= ask.max) answer.members = listed;
  return answer;
}

/** A presence ask as decoded from the wire, or null when it is not one. */
export function presenceAskOf(value: Record<string, unknown>): PresenceAsk | null {
  const { room, list, max } = value;
  if (typeof room !== 'string' || room === '' || typeof list !== 'boolean' || !isCount(max)) return null;
  return { op: 'presence', room, list, max };
}

/** A presence answer as decoded from the wire, or null when it is not one. */
export function presenceAnswerOf(value: Record<string, unknown>): PresenceAnswer | null {
  const { count, userCount, members, seq } = value;
  if (!isCount(count) || !isCount(userCount) || !isCount(seq)) return null;
  const answer: PresenceAnswer = { op: 'presence', count, userCount, seq };
  if (members === undefined) return answer;
  if (!Array.isArray(members)) return null;
  const listed: PresenceMember[] = [];
  for (const member of members) {
    if (member === null || typeof member !== 'object') return null;
    const { conn, user, info } = member as Record<string, unknown>;
    if (typeof conn !== 'string' || conn === '' || !(user === null || typeof user === 'string')) return null;
    if (info !== undefined && typeof info !== 'string') return null;
    listed.push(info === undefined ? { conn, user } : { conn, user, info });
  }
  answer.members = listed;
  return answer;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
