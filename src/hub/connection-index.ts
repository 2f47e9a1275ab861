import type { Connection } from '../connection/connection.js';

/**
 * Key → the connections under it (room members, a user's connections), which tells its owner when a
 * key gets its first connection and loses its last: the moments a cluster node subscribes and
 * unsubscribes. Empty keys are dropped, so the index holds only what is in use.
 */
export class ConnectionIndex {
  private readonly sets = new Map<string, Set<Connection>>();
  /** Told when a key opens (first connection) or closes (last one gone). */
  onChange: ((key: string, open: boolean) => void) | null = null;

  /** Keys with at least one connection. */
  get size(): number {
    return this.sets.size;
  }

  get(key: string): ReadonlySet<Connection> | undefined {
    return this.sets.get(key);
  }

  keys(): IterableIterator<string> {
    return this.sets.keys();
  }

  /** Every key and how many connections it has. */
  *sizes(): IterableIterator<[string, number]> {
    for (const [key, set] of this.sets) yield [key, set.size];
  }

  add(key: string, conn: Connection): void {
    let set = this.sets.get(key);
    if (set === undefined) {
      set = new Set();
      this.sets.set(key, set);
      this.onChange?.(key, true);
    }
    set.add(conn);
  }

  delete(key: string, conn: Connection): void {
    const set = this.sets.get(key);
    if (set === undefined || !set.delete(conn)) return;
    if (set.size === 0) {
      this.sets.delete(key);
      this.onChange?.(key, false);
    }
  }
}
