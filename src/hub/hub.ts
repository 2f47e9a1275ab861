import { randomBytes } from 'node:crypto';
import type { Connection } from '../connection/connection.js';
import { ConnectionIndex } from './connection-index.js';
import { RecentlyClosed } from './recently-closed.js';

/** What a join did. */
export type JoinResult = 'joined' | 'already-joined' | 'too-many-rooms';

/**
 * The connections of one gateway process and their rooms, Socket.IO's adapter in pushgate terms:
 * room → members and connection → rooms (its `rooms` and `sids` maps), and user → connections beside
 * them. The only owner of membership: nothing else records or changes who is in which room, and a
 * connection's `userId` is set here only ({@link setUser}), as the user index is keyed by it.
 *
 * Connections that still have to authenticate (AUTH as their first message) are kept apart, in
 * {@link awaitingAuth}: no push reaches them, {@link get} does not find them and {@link size} does not
 * count them, until {@link promote} moves them in once their AUTH succeeds.
 */
export class Hub {
  /** This process's id, the prefix of every connection id it hands out. */
  readonly nodeId: string;
  /** Online connections: the ones pushes reach. */
  private readonly connections = new Map<string, Connection>();
  /** Connections waiting for their AUTH: swept for deadlines and closed at shutdown, never pushed to. */
  private readonly unauthenticated = new Set<Connection>();
  /** Room → its members here. */
  private readonly rooms = new ConnectionIndex();
  /** Connection → the rooms it is in; only connections in at least one room have an entry. */
  private readonly roomsByConn = new Map<Connection, Set<string>>();
  /** Authenticated user id → that user's connections here. */
  private readonly users = new ConnectionIndex();
  private sequence = 0;
  /** Told of every join and leave of every connection (closes included), once membership has changed. */
  private membership: ((conn: Connection, room: string, joined: boolean) => void) | null = null;

  /**
   * @param recentlyClosed where {@link remove} records how each connection ended (the connection API's
   *   410), bounded in count and age.
   */
  constructor(
    readonly maxRooms: number,
    nodeId: string = randomBytes(4).toString('hex'),
    readonly recentlyClosed: RecentlyClosed = new RecentlyClosed(),
  ) {
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

  /**
   * Told of each connection's joins and leaves (a close leaves every room), after the change: room
   * presence announces them (src/presence). Connections awaiting AUTH are in no room, so never told of.
   */
  set onMembership(listener: ((conn: Connection, room: string, joined: boolean) => void) | null) {
    this.membership = listener;
  }

  /** A new connection id, unique across processes: `<nodeId>-<sequence>`. */
  nextId(): string {
    this.sequence += 1;
    return `${this.nodeId}-${this.sequence.toString(36)}`;
  }

  /** Connections online (those awaiting AUTH excepted). */
  get size(): number {
    return this.connections.size;
  }

  /** Connections that have not sent their AUTH yet. */
  get awaitingAuthCount(): number {
    return this.unauthenticated.size;
  }

  /** Rooms with at least one member. */
  get roomCount(): number {
    return this.rooms.size;
  }

  /** Users with at least one connection here. */
  get userCount(): number {
    return this.users.size;
  }

  /** Adds an online connection (indexed under its `userId` when it has one). */
  add(conn: Connection): void {
    this.connections.set(conn.id, conn);
    if (conn.userId !== undefined) this.users.add(conn.userId, conn);
  }

  /** Adds a connection that must authenticate first: held apart until {@link promote}. */
  addAwaitingAuth(conn: Connection): void {
    this.unauthenticated.add(conn);
  }

  /**
   * Makes a connection awaiting AUTH an online one (indexed under its `userId`), once it has
   * authenticated. Does nothing for a connection that is not awaiting AUTH (already online, or gone).
   */
  promote(conn: Connection): void {
    if (!this.unauthenticated.delete(conn)) return;
    this.add(conn);
  }

  /**
   * Sets the user of a connection (after a late AUTH), moving it in the user index. A connection that
   * is not online (gone, or still awaiting AUTH) only gets its field set.
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

  /**
   * Removes a connection (online or awaiting AUTH) and takes it out of every room. An online one that is
   * closing (the client handler removes each as it starts to close) is recorded in {@link recentlyClosed}.
   */
  remove(conn: Connection): void {
    if (this.unauthenticated.delete(conn)) return; // never indexed: no rooms, no user, never online
    if (this.connections.get(conn.id) === conn) {
      // Only a connection that was online is recorded: one that never authenticated was never found
      // (404), and a flood of them must not push real closes out of the record.
      const ended = conn.closedWith;
      // (A connection-like object of a test or embedding without the field counts as not closing.)
      if (ended) {
        const { code, reason, by } = ended;
        this.recentlyClosed.record({ conn: conn.id, node: this.nodeId, user: conn.userId ?? null, code, reason, by });
      }
      this.connections.delete(conn.id);
      if (conn.userId !== undefined) this.users.delete(conn.userId, conn);
    }
    // Keyed by the connection itself: its membership goes even if a newer connection reused its id.
    const rooms = this.roomsByConn.get(conn);
    if (rooms === undefined) return;
    this.roomsByConn.delete(conn);
    for (const room of rooms) {
      this.rooms.delete(room, conn);
      this.membership?.(conn, room, false);
    }
  }

  /** The online connection with this id (one awaiting AUTH is not online yet). */
  get(id: string): Connection | undefined {
    return this.connections.get(id);
  }

  /** Every online connection, in the order they came online: the recipients of a push to all. */
  all(): IterableIterator<Connection> {
    return this.connections.values();
  }

  /** Every connection awaiting AUTH. */
  awaitingAuth(): IterableIterator<Connection> {
    return this.unauthenticated.values();
  }

  /** Every room with members here, and how many. */
  roomSizes(): IterableIterator<[string, number]> {
    return this.rooms.sizes();
  }

  /** Members of a room (none if the room is empty). */
  members(room: string): ReadonlySet<Connection> | undefined {
    return this.rooms.get(room);
  }

  /** The rooms a connection is in here (none: undefined). */
  roomsOf(conn: Connection): ReadonlySet<string> | undefined {
    return this.roomsByConn.get(conn);
  }

  /** Puts a connection in a room, unless it is there already or in `maxRooms` rooms. */
  join(conn: Connection, room: string): JoinResult {
    let rooms = this.roomsByConn.get(conn);
    if (rooms?.has(room)) return 'already-joined';
    if ((rooms?.size ?? 0) >= this.maxRooms) return 'too-many-rooms';
    if (rooms === undefined) this.roomsByConn.set(conn, (rooms = new Set()));
    rooms.add(room);
    this.rooms.add(room, conn);
    this.membership?.(conn, room, true);
    return 'joined';
  }

  /** Returns whether the connection was in the room. */
  leave(conn: Connection, room: string): boolean {
    const rooms = this.roomsByConn.get(conn);
    if (rooms === undefined || !rooms.delete(room)) return false;
    if (rooms.size === 0) this.roomsByConn.delete(conn);
    this.rooms.delete(room, conn);
    this.membership?.(conn, room, false);
    return true;
  }
}
