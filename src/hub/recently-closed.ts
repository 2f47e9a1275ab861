/** How a connection that closed on this node ended: what the connection API answers with its 410. */
export interface ClosedConnection {
  conn: string;
  /** The node that held it. */
  node: string;
  /** Its authenticated user, or null. */
  user: string | null;
  /** When it started closing (ISO 8601). */
  closedAt: string;
  /** The close code sent or received. */
  code: number;
  reason: string;
  /** `server` when this side closed it (a limit, the connection API, a shutdown), `client` otherwise. */
  by: 'client' | 'server';
}

/** Closed connections kept at most: the oldest go first past it. */
export const RECENTLY_CLOSED_LIMIT = 10000;
/** How long a closed connection is kept (ms): 5 minutes. */
export const RECENTLY_CLOSED_MS = 5 * 60 * 1000;

interface Entry {
  closed: Omit<ClosedConnection, 'closedAt'>;
  at: number;
}

/**
 * The connections that closed on this node lately, by id, so that the connection API can tell a
 * connection that has gone (410, with how it ended) from one it never knew (404). Bounded both ways:
 * at most `limit` entries (the oldest dropped first) and none older than `maxAgeMs`, whichever is
 * smaller; its memory follows the close rate, never the connections ever made. The one owner of that
 * record: the hub writes into it as it removes a connection.
 */
export class RecentlyClosed {
  /** In close order (a Map keeps insertion order): the oldest first, so pruning looks at the head only. */
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly limit: number = RECENTLY_CLOSED_LIMIT,
    readonly maxAgeMs: number = RECENTLY_CLOSED_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Connections kept now (expired ones are pruned as records are added or read). */
  get size(): number {
    return this.entries.size;
  }

  /** Records a connection that closed now; a later record of the same id replaces the earlier one. */
  record(closed: Omit<ClosedConnection, 'closedAt'>): void {
    const at = this.now();
    this.entries.delete(closed.conn);
    this.entries.set(closed.conn, { closed, at });
    this.prune(at);
  }

  /** How the connection ended, if it closed here within the retention; undefined otherwise. */
  get(conn: string): ClosedConnection | undefined {
    const now = this.now();
    this.prune(now);
    const entry = this.entries.get(conn);
    // An entry older than the retention that the head-only pruning has not reached (a clock set back).
    if (entry === undefined || now - entry.at > this.maxAgeMs) return undefined;
    return { ...entry.closed, closedAt: new Date(entry.at).toISOString() };
  }

  private prune(now: number): void {
    for (const [conn, entry] of this.entries) {
      if (this.entries.size <= this.limit && now - entry.at <= this.maxAgeMs) return;
      this.entries.delete(conn);
    }
  }
}
