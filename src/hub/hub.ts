import { randomBytes } from 'node:crypto';
import type { Connection } from '../connection/connection.js';
import { ConnectionIndex } from './connection-index.js';

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
  /** Room → its members here. */
  private readonly rooms = new ConnectionIndex();
  /** Authenticated user id → that user's connections here. */
  private readonly users = new ConnectionIndex();
  private sequence = 0;

  constructor(readonly maxRooms: number, nodeId: string = randomBytes(4).toString('hex')) {
    this.nodeId = nodeId;
  }

  /** Told when a room gets its first member here and loses its last (the cluster subscribes per room). */
  set onRoomChange(listener: ((room: string, open: boolean) => void) | null) {
    this.rooms.onChange = listener;
  }

  /** Told when a user gets a first connection here and loses the last (the cluster subscribes per user). */
  set onUserChange(listener: ((user: string, open: boolean) => void) | null) {
    this.users.onChange = listener;
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

  /** Users with at least one connection here. */
  get userCount(): number {
    return this.users.size;
  }

  /** Adds a connection (indexed under its `userId` when it has one). */
  add(conn: Connection): void {
    this.connections.set(conn.id, conn);
    if (conn.userId !== undefined) this.users.add(conn.userId, conn);
  }

  /**
   * Sets the user of a connection (after a late AUTH), moving it in the user index. A connection that
   * is no longer in the hub only gets its field set.
   */
  setUser(conn: Connection, userId: string | undefined): void {
    if (conn.userId === userId) return;
    const indexed = this.connections.get(conn.id) === conn;
    if (indexed && conn.userId !== undefined) this.users.delete(conn.userId, conn);
    conn.userId = userId;
    if (indexed && userId !== undefined) this.users.add(userId, conn);
  }

  /** The connections of a user here (none: undefined). */
  userConnections(userId: string): ReadonlySet<Connection> | undefined {
    return this.users.get(userId);
  }

  /** Every user with connections here. */
  userIds(): IterableIterator<string> {
    return this.users.keys();
  }

  /** Removes a connection and takes it out of every room. */
  remove(conn: Connection): void {
    if (this.connections.get(conn.id) !== conn) return;
    this.connections.delete(conn.id);
    if (conn.userId !== undefined) this.users.delete(conn.userId, conn);
    if (conn.rooms !== null) {
      for (const room of conn.rooms) this.rooms.delete(room, conn);
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
  roomSizes(): IterableIterator<[string, number]> {
    return this.rooms.sizes();
  }

  /** Members of a room (none if the room is empty). */
  members(room: string): ReadonlySet<Connection> | undefined {
    return this.rooms.get(room);
  }

  join(conn: Connection, room: string): JoinResult {
    if (conn.rooms?.has(room)) return 'already-joined';
    if ((conn.rooms?.size ?? 0) >= this.maxRooms) return 'too-many-rooms';
    (conn.rooms ??= new Set()).add(room);
    this.rooms.add(room, conn);
    return 'joined';
  }

  /** Returns whether the connection was in the room. */
  leave(conn: Connection, room: string): boolean {
    if (conn.rooms === null || !conn.rooms.delete(room)) return false;
    if (conn.rooms.size === 0) conn.rooms = null;
    this.rooms.delete(room, conn);
    return true;
  }
}
