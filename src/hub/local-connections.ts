import type { Connection } from '../connection/connection.js';
import type { Hub } from './hub.js';
import type { ClosedConnection } from './recently-closed.js';

/** A connection as the connection API describes it (`GET /connections/:id`), in its JSON form. */
export interface ConnectionInfo {
  conn: string;
  /** The node that holds it. */
  node: string;
  /** Its authenticated user (the token's `sub`), or null. */
  user: string | null;
  /** The client's address as the socket saw it, or null once it is gone. */
  address: string | null;
  /** The client protocol it speaks (`go-push`). */
  protocol: string;
  /** Every room it is in, in the order it joined them. */
  rooms: string[];
  /** When it was made (ISO 8601). */
  connectedAt: string;
  /** When its last frame arrived (ISO 8601). */
  lastSeenAt: string;
}

/** The close codes a backend may close a connection with: the application range, 4000 to 4999. */
export function isBackendCloseCode(code: unknown): code is number {
  return Number.isInteger(code) && (code as number) >= 4000 && (code as number) <= 4999;
}

/** The longest close reason a WebSocket close frame carries, in bytes of UTF-8. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** What a node knows of a connection id: online, closed lately (with how), or nothing. */
export type ConnectionLookup = { state: 'open'; info: ConnectionInfo } | { state: 'closed'; closed: ClosedConnection } | { state: 'unknown' };

/**
 * This node's own answers to the connection API: its online connections described, looked up by id
 * or user, and closed on request. Connections awaiting AUTH are not online, so they are not found.
 */
export class LocalConnections {
  constructor(private readonly hub: Pick<Hub, 'nodeId' | 'get' | 'roomsOf' | 'userConnections' | 'recentlyClosed'>) {}

  describe(conn: Connection): ConnectionInfo {
    return {
      conn: conn.id,
      node: this.hub.nodeId,
      user: conn.userId ?? null,
      address: conn.remoteAddress ?? null,
      protocol: conn.protocol.name,
      rooms: [...(this.hub.roomsOf(conn) ?? [])],
      connectedAt: new Date(conn.openedAt).toISOString(),
      lastSeenAt: new Date(conn.lastSeen).toISOString(),
    };
  }

  lookup(id: string): ConnectionLookup {
    const conn = this.hub.get(id);
    if (conn?.isOpen) return { state: 'open', info: this.describe(conn) };
    const closed = this.hub.recentlyClosed.get(id);
    return closed === undefined ? { state: 'unknown' } : { state: 'closed', closed };
  }

  /**
   * Closes an online connection with `code` and `reason` (the client receives both); answers what was
   * known of it before: `open` when it has now been closed, else why nothing was done.
   */
  close(id: string, code: number, reason: string): ConnectionLookup {
    const found = this.lookup(id);
    if (found.state === 'open') this.hub.get(id)?.close(code, reason);
    return found;
  }

  /** The user's online connections here, oldest first. */
  ofUser(user: string): ConnectionInfo[] {
    return [...(this.hub.userConnections(user) ?? [])].filter((conn) => conn.isOpen).map((conn) => this.describe(conn));
  }

  /** Closes every online connection of the user here; answers how many were closed. */
  closeUser(user: string, code: number, reason: string): number {
    // A copy: each close takes the connection out of the user's set at once.
    const open = [...(this.hub.userConnections(user) ?? [])].filter((conn) => conn.isOpen);
    for (const conn of open) conn.close(code, reason);
    return open.length;
  }
}
