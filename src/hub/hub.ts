import { randomBytes } from 'node:crypto';
import type { Connection } from '../connection/connection.js';

/** What a join did. */
export type JoinResult = 'joined' | 'already-joined' | 'too-many-rooms';

/**
 * The connections of one gateway process and their rooms: two indexes, room → members and
 * connection → rooms (the latter held by each connection). The only place that changes either.
 */
export class Hub {
  /** This process's id, the prefix of every connection id it hands out. */
  readonly nodeId: string;
  private readonly connections = new Map<string, Connection>();
  private readonly rooms = new Map<string, Set<Connection>>();
  private sequence = 0;
  /** Told when a room gets its first member and loses its last (the cluster subscribes per room). */
  onRoomChange: ((room: string, open: boolean) => void) | null = null;

  constructor(readonly maxRooms: number, nodeId: string = randomBytes(4).toString('hex')) {
    this.nodeId = nodeId;
  }

  /** A new connection id, unique across processes: `<nodeId>-<sequence>`. */
  nextId(): string {
    this.sequence += 1;
    return `${this.nodeId}-${this.sequence.toString(36)}`;
  }

  /** Connections online. */
  get size(): number {
    return this.connections.size;
  }

  /** Rooms with at least one member. */
  get roomCount(): number {
    return this.rooms.size;
  }

  add(conn: Connection): void {
    this.connections.set(conn.id, conn);
  }

  /** Removes a connection and takes it out of every room. */
  remove(conn: Connection): void {
    if (this.connections.get(conn.id) !== conn) return;
    this.connections.delete(conn.id);
    if (conn.rooms !== null) {
      for (const room of conn.rooms) this.dropMember(room, conn);
      conn.rooms = null;
    }
  }

  get(id: string): Connection | undefined {
    return this.connections.get(id);
  }

  /** Every connection, in the order they connected. */
  all(): IterableIterator<Connection> {
    return this.connections.values();
  }

  /** Every room with members here, and how many. */
  *roomSizes(): IterableIterator<[string, number]> {
    for (const [room, members] of this.rooms) yield [room, members.size];
  }

  /** Members of a room (none if the room is empty). */
  members(room: string): ReadonlySet<Connection> | undefined {
    return this.rooms.get(room);
  }

  join(conn: Connection, room: string): JoinResult {
    if (conn.rooms?.has(room)) return 'already-joined';
    if ((conn.rooms?.size ?? 0) >= this.maxRooms) return 'too-many-rooms';
    (conn.rooms ??= new Set()).add(room);
    let members = this.rooms.get(room);
    if (members === undefined) {
      members = new Set();
      this.rooms.set(room, members);
      this.onRoomChange?.(room, true);
    }
    members.add(conn);
    return 'joined';
  }

  /** Returns whether the connection was in the room. */
  leave(conn: Connection, room: string): boolean {
    if (conn.rooms === null || !conn.rooms.delete(room)) return false;
    if (conn.rooms.size === 0) conn.rooms = null;
    this.dropMember(room, conn);
    return true;
  }

  private dropMember(room: string, conn: Connection): void {
    const members = this.rooms.get(room);
    if (members === undefined) return;
    members.delete(conn);
    if (members.size === 0) {
      this.rooms.delete(room);
      this.onRoomChange?.(room, false);
    }
  }
}
