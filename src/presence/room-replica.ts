import type { PresenceEntry } from '../protocol/client-protocol.js';
import type { PresenceChange } from './presence-change.js';

/** Connections of a room per node: node → connection → user (null: anonymous). */
export type Holders = Map<string, Map<string, string | null>>;

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
    for (const [node, conns] of this.holders) for (const [conn, user] of conns) entries.push({ conn, user, node });
    return entries.sort((a, b) => compare(a.node, b.node) || compare(a.conn, b.conn));
  }
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
    if (conns?.has(change.conn) === true && conns.get(change.conn) === change.user) return false;
    if (conns === undefined) holders.set(change.origin, (conns = new Map()));
    conns.set(change.conn, change.user);
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
    for (const [conn, user] of conns) {
      if (was?.has(conn) !== true) joined.push({ conn, user, node });
      else if (was.get(conn) !== user) {
        left.push({ conn, user: was.get(conn) ?? null, node });
        joined.push({ conn, user, node });
      }
    }
  }
  for (const [node, conns] of before) {
    const now = after.get(node);
    for (const [conn, user] of conns) if (now?.has(conn) !== true) left.push({ conn, user, node });
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
