import { BrokerUnavailableError } from '../broker/broker.js';
import type { ConnectionInfo, ConnectionLookup, LocalConnections } from '../hub/local-connections.js';
import { emptyPresence } from '../presence/presence-query.js';
import { apiError, withDetails } from '../protocol/errors.js';
import { roomNameProblem } from '../protocol/room-name.js';
import { MAX_USER_ID_LENGTH } from '../push/broker-push-service.js';
import { nodeOfConnection } from './channels.js';
import type { ClusterLink } from './cluster-link.js';
import {
  type ClosedCount,
  type CloseRequest,
  type ConnectionService,
  checkedClose,
  DEFAULT_CLOSE,
  DEFAULT_ROOM_LIMIT,
  type Gathering,
  MAX_ROOM_LIMIT,
  type RoomCount,
  type RoomList,
  type UserConnections,
} from './connection-service.js';
import type { ConnectionQuery, QueryAnswer } from './query-envelope.js';

/** This node's answer to a connection query about its own connections (closing them when asked). */
export function answerQuery(local: LocalConnections, ask: ConnectionQuery): QueryAnswer {
  switch (ask.op) {
    case 'conn':
      return { op: 'conn', lookup: local.lookup(ask.conn) };
    case 'close-conn':
      return { op: 'close-conn', lookup: local.close(ask.conn, ask.code, ask.reason) };
    case 'user':
      return { op: 'user', connections: local.ofUser(ask.user) };
    case 'close-user':
      return { op: 'close-user', closed: local.closeUser(ask.user, ask.code, ask.reason) };
    case 'presence':
      // A room's presence is answered by src/presence (the node's link sends it there): not from here.
      return emptyPresence();
  }
}

/** What the connection API needs of the node it serves. */
export interface ClusterConnectionsParts {
  nodeId: string;
  /** This node's own connections. */
  local: LocalConnections;
  /** The node's broker link (there once the node has started). */
  link: () => ClusterLink;
  /** This node's rooms and their members, live. */
  rooms: () => Iterable<[string, number]>;
}

/**
 * The connection API of one node, cluster-wide. A connection id names its node (`<nodeId>-<seq>`):
 * this node answers for its own connections at once and asks the node that holds any other through
 * the broker, waiting at most the broker timeout for its reply (503 `BROKER_UNAVAILABLE` without
 * one: retry). A user's connections may be on any node: one query to every node that holds
 * connections, their replies gathered within the same timeout; the answer says `partial` when a node
 * of this node's view did not reply, or the view was not current. Rooms come from the nodes' presence
 * reports (this node's own rooms live), as `GET /stats?scope=cluster` counts them.
 */
export class ClusterConnections implements ConnectionService {
  constructor(private readonly parts: ClusterConnectionsParts) {}

  async connection(id: string): Promise<ConnectionInfo> {
    return this.found(id, await this.lookup(id, { op: 'conn', conn: id }));
  }

  async closeConnection(id: string, close: CloseRequest = DEFAULT_CLOSE): Promise<number> {
    checkedClose(close.code, close.reason);
    this.found(id, await this.lookup(id, { op: 'close-conn', conn: id, code: close.code, reason: close.reason }));
    return 1;
  }

  async userConnections(user: string): Promise<UserConnections> {
    checkUser(user);
    const ask: ConnectionQuery = { op: 'user', user };
    const asking = this.gather(ask);
    const here = this.parts.local.ofUser(user);
    const { answers, ...gathering } = await asking;
    const connections = here.concat(...answers.map((answer) => (answer.op === 'user' ? answer.connections : [])));
    connections.sort((a, b) => compare(a.connectedAt, b.connectedAt) || compare(a.conn, b.conn));
    return { user, connections, ...gathering };
  }

  async closeUserConnections(user: string, close: CloseRequest = DEFAULT_CLOSE): Promise<ClosedCount> {
    checkUser(user);
    checkedClose(close.code, close.reason);
    const { code, reason } = close;
    // While the broker is down (or refuses the query) the whole request is refused: nothing is closed
    // here before the query has gone out.
    const { answers, ...gathering } = await this.gather({ op: 'close-user', user, code, reason });
    const here = this.parts.local.closeUser(user, code, reason);
    let closed = here;
    for (const answer of answers) if (answer.op === 'close-user') closed += answer.closed;
    return { closed, ...gathering };
  }

  rooms(options: { limit?: number; prefix?: string } = {}): RoomList {
    const limit = Math.max(0, Math.min(MAX_ROOM_LIMIT, Math.floor(options.limit ?? DEFAULT_ROOM_LIMIT)));
    const prefix = options.prefix ?? '';
    const { members, truncated, largestCount } = this.roomMembers();
    const rooms: Array<{ room: string; members: number }> = [];
    for (const [room, count] of members) if (count > 0 && room.startsWith(prefix)) rooms.push({ room, members: count });
    rooms.sort((a, b) => b.members - a.members || compare(a.room, b.room));
    // A node that reported its largest rooms only has at least as many as it counted (as roomCount does).
    const total = prefix === '' ? Math.max(rooms.length, largestCount) : rooms.length;
    return { rooms: rooms.slice(0, limit), total, exact: !truncated };
  }

  room(name: string): RoomCount {
    const problem = roomNameProblem(name);
    if (problem !== null) throw apiError.INVALID_ROOM.problem(problem);
    let members = 0;
    let exact = true;
    for (const [room, count] of this.parts.rooms()) if (room === name) members += count;
    for (const node of this.otherReports()) {
      const count = Object.hasOwn(node.rooms, name) ? node.rooms[name] : undefined;
      if (typeof count === 'number' && Number.isFinite(count)) members += count;
      else if (node.roomsTruncated) exact = false;
    }
    return { room: name, members, exact };
  }

  // Members per room: this node's live, the others' as last reported.
  private roomMembers(): { members: Map<string, number>; truncated: boolean; largestCount: number } {
    const members = new Map<string, number>(this.parts.rooms());
    let truncated = false;
    let largestCount = members.size;
    for (const node of this.otherReports()) {
      for (const [room, count] of Object.entries(node.rooms)) {
        if (typeof count === 'number' && Number.isFinite(count)) members.set(room, (members.get(room) ?? 0) + count);
      }
      truncated ||= node.roomsTruncated;
      const own = node.stats.roomCount;
      if (typeof own === 'number' && Number.isFinite(own)) largestCount = Math.max(largestCount, own);
    }
    return { members, truncated, largestCount };
  }

  // The other nodes' latest reports (none for a gateway alone).
  private otherReports() {
    return (this.parts.link().clusterView()?.nodes ?? []).filter((node) => node.node !== this.parts.nodeId);
  }

  /** What the node that holds the connection knows of it: this one, or the one its id names, asked. */
  private async lookup(id: string, ask: ConnectionQuery): Promise<ConnectionLookup> {
    const node = nodeOfConnection(id);
    if (node === this.parts.nodeId) return lookupOf(answerQuery(this.parts.local, ask));
    if (node === null) return { state: 'unknown' };
    const link = this.parts.link();
    // The broker first: while it is down, nothing can be said of other nodes.
    this.reachable();
    if (!link.knowsNode(node)) {
      // A node missing from a view that is not current may be alive: no proof the connection is not.
      if (!link.viewCurrent) throw apiError.BROKER_UNAVAILABLE.viewNotCurrent(node, id);
      return { state: 'unknown' };
    }
    const answer = await link.ask(node, ask).catch(rethrowUnavailable);
    if (answer === null) throw apiError.BROKER_UNAVAILABLE.noReply(node, link.queryTimeoutMs);
    return lookupOf(answer);
  }

  /** The connection when it is online; else the 410 or 404 that says why not. */
  private found(id: string, lookup: ConnectionLookup): ConnectionInfo {
    if (lookup.state === 'open') return lookup.info;
    if (lookup.state === 'unknown') throw apiError.CONN_NOT_FOUND.unknown(id);
    const { conn, node, closedAt, code, reason, by } = lookup.closed;
    // `code` is the error's own member: the close code is `closeCode`.
    throw withDetails(apiError.CONN_GONE.closed(id), { conn, node, closedAt, closeCode: code, reason, by });
  }

  // A 503 while a shared broker is down: no other node can be asked.
  private reachable(): void {
    const { broker } = this.parts.link();
    if (broker.shared && broker.status !== 'up') throw apiError.BROKER_UNAVAILABLE.unreachable();
  }

  /** Every other node's answer that came within the broker timeout. */
  private async gather(ask: ConnectionQuery): Promise<Gathering & { answers: QueryAnswer[] }> {
    const link = this.parts.link();
    if (!link.broker.shared) return { answers: [], partial: false, unanswered: [] };
    this.reachable();
    const current = link.viewCurrent;
    const { answers, missing } = await link.askAll(ask).catch(rethrowUnavailable);
    return { answers: [...answers.values()], partial: missing.length > 0 || !current, unanswered: missing.sort() };
  }
}

function lookupOf(answer: QueryAnswer): ConnectionLookup {
  return answer.op === 'conn' || answer.op === 'close-conn' ? answer.lookup : { state: 'unknown' };
}

// A query the broker did not take is answered as a push it did not take would be.
function rethrowUnavailable(error: unknown): never {
  if (error instanceof BrokerUnavailableError) throw apiError.BROKER_UNAVAILABLE.unreachable();
  throw error;
}

function checkUser(user: string): void {
  if (user === '' || user.length > MAX_USER_ID_LENGTH) throw apiError.INVALID_BODY.userLength(MAX_USER_ID_LENGTH);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
