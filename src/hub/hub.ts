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
  /** Authenticated user id → that user's connections here. */
  private readonly users = new Map<string, Set<Connection>>();
  private sequence = 0;
  /** Told when a room gets its first member and loses its last (the cluster subscribes per room). */
  onRoomChange: ((room: string, open: boolean) => void) | null = null;
  /** Told when a user gets a first connection here and loses the last (the cluster subscribes per user). */
  onUserChange: ((user: string, open: boolean) => void) | null = null;

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

  /** Users with at least one connection here. */
  get userCount(): number {
    return this.users.size;
  }

  /** Adds a connection (indexed under its `userId` when it has one). */
  add(conn: Connection): void {
    this.connections.set(conn.id, conn);
    if (conn.userId !== undefined) this.addUserConnection(conn.userId, conn);
  }

  /**
   * Sets the user of a connection (after a late AUTH), moving it in the user index. A connection that
   * is no longer in the hub only gets its field set.
   */
  setUser(conn: Connection, userId: string | undefined): void {
    if (conn.userId === userId) return;
    const indexed = this.connections.get(conn.id) === conn;
    if (indexed && conn.userId !== undefined) this.dropUserConnection(conn.userId, conn);
    conn.userId = userId;
    if (indexed && userId !== undefined) this.addUserConnection(userId, conn);
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
    if (conn.userId !== undefined) this.dropUserConnection(conn.userId, conn);
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

  private addUserConnection(userId: string, conn: Connection): void {
    let connections = this.users.get(userId);
    if (connections === undefined) {
      connections = new Set();
      this.users.set(userId, connections);
      this.onUserChange?.(userId, true);
    }
    connections.add(conn);
  }

  private dropUserConnection(userId: string, conn: Connection): void {
    const connections = this.users.get(userId);
    if (connections === undefined || !connections.delete(conn)) return;
    if (connections.size === 0) {
      this.users.delete(userId);
      this.onUserChange?.(userId, false);
    }
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
