import type { PresenceEntry } from '../protocol/client-protocol.js';
import type { PresenceChange } from './presence-change.js';

/** A connection in a room: its user (null: anonymous) and what it told of the user there (JSON text). */
export interface Member {
  user: string | null;
  info?: string;
}

/** Connections of a room per node: node → connection → member. */
export type Holders = Map<string, Map<string, Member>>;

/** A presence entry of `conn` on `node`. */
export function entryOf(conn: string, member: Member, node: string): PresenceEntry {
  return member.info === undefined ? { conn, user: member.user, node } : { conn, user: member.user, node, info: member.info };
}

/**
 * One node's copy of a room's presence, for a room with join/leave events that has members here:
 * every node's connections in the room, as loaded from their answers and kept up to date by the
 * changes they publish. `loading` while the nodes are asked (changes received meanwhile wait in
 * `buffered`), `ready` once it is followed change by change, `overflow` while the room holds more
 * than `presenceMax` connections (nothing is kept then).
 */
export class RoomReplica {
  state: 'loading' | 'ready' | 'overflow' = 'loading';
  holders: Holders = new Map();
  /** Changes received while loading, applied once the answers are in (those they already include skipped). */
  buffered: PresenceChange[] = [];
  /** Whether some node did not answer the last load, or this node's view was not current then. */
  partial = false;
  /** The holders this node's members were last told of (a reload tells them what changed since). */
  told: Holders | null = null;
  /** Local connections told of an overflow, not to be told twice. */
  readonly overflowTold = new Set<string>();
  /** Another load is wanted once this one is through. */
  reloadWanted = false;

  /** Connections in the room, over every node. */
  get count(): number {
    return countOf(this.holders);
  }

  /** Every connection in the room, sorted by node then id. */
  entries(): PresenceEntry[] {
    const entries: PresenceEntry[] = [];
    for (const [node, conns] of this.holders) for (const [conn, member] of conns) entries.push(entryOf(conn, member, node));
    return entries.sort((a, b) => compare(a.node, b.node) || compare(a.conn, b.conn));
  }
}

/** How many connections of `user` the room holds, over every node. */
export function connectionsOf(holders: Holders, user: string): number {
  let count = 0;
  for (const conns of holders.values()) for (const member of conns.values()) if (member.user === user) count += 1;
  return count;
}

/** Connections in `holders`, over every node. */
export function countOf(holders: Holders): number {
  let count = 0;
  for (const conns of holders.values()) count += conns.size;
  return count;
}

/**
 * Applies one change to `holders`; answers whether it changed them (a join of a connection already
 * there with the same user, or a leave of one that is not, changes nothing: a change may be seen twice
 * around a load).
 */
export function applyChange(holders: Holders, change: PresenceChange): boolean {
  let conns = holders.get(change.origin);
  if (change.event === 'join') {
    const known = conns?.get(change.conn);
    if (known !== undefined && known.user === change.user && known.info === change.info) return false;
    if (conns === undefined) holders.set(change.origin, (conns = new Map()));
    conns.set(change.conn, change.info === undefined ? { user: change.user } : { user: change.user, info: change.info });
    return true;
  }
  if (conns === undefined || !conns.delete(change.conn)) return false;
  if (conns.size === 0) holders.delete(change.origin);
  return true;
}

/** What changed from `before` to `after`: the connections that joined and those that left, each as an entry. */
export function difference(before: Holders, after: Holders): { joined: PresenceEntry[]; left: PresenceEntry[] } {
  const joined: PresenceEntry[] = [];
  const left: PresenceEntry[] = [];
  for (const [node, conns] of after) {
    const was = before.get(node);
    for (const [conn, member] of conns) {
      const old = was?.get(conn);
      if (old === undefined) joined.push(entryOf(conn, member, node));
      else if (old.user !== member.user || old.info !== member.info) {
        left.push(entryOf(conn, old, node));
        joined.push(entryOf(conn, member, node));
      }
    }
  }
  for (const [node, conns] of before) {
    const now = after.get(node);
    for (const [conn, member] of conns) if (now?.has(conn) !== true) left.push(entryOf(conn, member, node));
  }
  return { joined, left };
}

/** A deep copy (the connection maps are copied too). */
export function copyHolders(holders: Holders): Holders {
  return new Map([...holders].map(([node, conns]) => [node, new Map(conns)]));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
