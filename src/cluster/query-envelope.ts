import { type ConnectionInfo, type ConnectionLookup, isBackendCloseCode } from '../hub/local-connections.js';
import type { ClosedConnection } from '../hub/recently-closed.js';
import { type PresenceAnswer, type PresenceAsk, presenceAnswerOf, presenceAskOf } from '../presence/presence-query.js';

/**
 * The connection API's requests between nodes and their replies, and their wire form. A query goes to
 * the node that holds a connection (its node channel) or to every node that holds connections (the
 * channel of pushes to all); each node that takes it replies on the asking node's own channel.
 */

/** What one node asks another (or all) about their connections. */
export type ConnectionQuery =
  | { op: 'conn'; conn: string }
  | { op: 'close-conn'; conn: string; code: number; reason: string }
  | { op: 'user'; user: string }
  | { op: 'close-user'; user: string; code: number; reason: string }
  /** Who of a room's members this node holds (src/presence/presence-query.ts). */
  | PresenceAsk;

/**
 * A node's answer: for `conn` and `close-conn`, what it knew of the connection (for `close-conn`,
 * before closing it: `open` means it closed it now); for `user`, its online connections of the user;
 * for `close-user`, how many of them it closed.
 */
export type QueryAnswer =
  | { op: 'conn' | 'close-conn'; lookup: ConnectionLookup }
  | { op: 'user'; connections: ConnectionInfo[] }
  | { op: 'close-user'; closed: number }
  | PresenceAnswer;

/** A query as published: who asks (`from`), whom (`to`: a node id, or null for every node), until when. */
export interface NodeQuery {
  /** The asking node's own sequence number: its reply carries it back. */
  id: number;
  from: string;
  to: string | null;
  /** Ms since the epoch (the asker's clock) after which no node may act on it: the asker has answered by then. */
  expiresAt: number;
  ask: ConnectionQuery;
}

/** A reply, published on the asking node's channel. */
export interface NodeReply {
  id: number;
  /** The node that answers. */
  from: string;
  /** The node that asked. */
  to: string;
  answer: QueryAnswer;
}

// Neither a push (no `items`), a barrier nor presence (no top-level `node`) to the decoders of older
// nodes, which count such messages as malformed and drop them.
export function encodeQuery(query: NodeQuery): Buffer {
  const { id, from, to, expiresAt, ask } = query;
  return Buffer.from(JSON.stringify({ v: 1, kind: 'query', id, from, to, exp: Math.ceil(expiresAt), ask }));
}

export function encodeReply(reply: NodeReply): Buffer {
  const { id, from, to, answer } = reply;
  return Buffer.from(JSON.stringify({ v: 1, kind: 'reply', id, from, to, answer }));
}

/** A query or a reply decoded, or null for a payload that is neither (or is one, malformed). */
export function decodeQueryMessage(payload: Buffer): { type: 'query'; query: NodeQuery } | { type: 'reply'; reply: NodeReply } | null {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return null;
  }
  if (!isObject(value) || value.v !== 1 || !Number.isSafeInteger(value.id) || !isText(value.from)) return null;
  const id = value.id as number;
  if (value.kind === 'query') {
    const ask = queryOf(value.ask);
    if (ask === null || !(value.to === null || isText(value.to)) || !Number.isFinite(value.exp)) return null;
    return { type: 'query', query: { id, from: value.from, to: value.to, expiresAt: value.exp as number, ask } };
  }
  if (value.kind === 'reply') {
    const answer = answerOf(value.answer);
    if (answer === null || !isText(value.to)) return null;
    return { type: 'reply', reply: { id, from: value.from, to: value.to, answer } };
  }
  return null;
}

function queryOf(value: unknown): ConnectionQuery | null {
  if (!isObject(value)) return null;
  switch (value.op) {
    case 'conn':
      return isText(value.conn) ? { op: 'conn', conn: value.conn } : null;
    case 'user':
      return isText(value.user) ? { op: 'user', user: value.user } : null;
    case 'close-conn':
      return isText(value.conn) && isBackendCloseCode(value.code) && typeof value.reason === 'string'
        ? { op: 'close-conn', conn: value.conn, code: value.code, reason: value.reason }
        : null;
    case 'close-user':
      return isText(value.user) && isBackendCloseCode(value.code) && typeof value.reason === 'string'
        ? { op: 'close-user', user: value.user, code: value.code, reason: value.reason }
        : null;
    case 'presence':
      return presenceAskOf(value);
    default:
      return null;
  }
}

function answerOf(value: unknown): QueryAnswer | null {
  if (!isObject(value)) return null;
  switch (value.op) {
    case 'conn':
    case 'close-conn': {
      const lookup = lookupOf(value.lookup);
      return lookup === null ? null : { op: value.op, lookup };
    }
    case 'user': {
      if (!Array.isArray(value.connections)) return null;
      const connections = value.connections.map(infoOf);
      return connections.every((c) => c !== null) ? { op: 'user', connections: connections as ConnectionInfo[] } : null;
    }
    case 'close-user':
      return Number.isSafeInteger(value.closed) && (value.closed as number) >= 0 ? { op: 'close-user', closed: value.closed as number } : null;
    case 'presence':
      return presenceAnswerOf(value);
    default:
      return null;
  }
}

function lookupOf(value: unknown): ConnectionLookup | null {
  if (!isObject(value)) return null;
  if (value.state === 'unknown') return { state: 'unknown' };
  if (value.state === 'open') {
    const info = infoOf(value.info);
    return info === null ? null : { state: 'open', info };
  }
  if (value.state === 'closed') {
    const closed = closedOf(value.closed);
    return closed === null ? null : { state: 'closed', closed };
  }
  return null;
}

function infoOf(value: unknown): ConnectionInfo | null {
  if (!isObject(value)) return null;
  const { conn, node, user, address, protocol, rooms, connectedAt, lastSeenAt } = value;
  if (!isText(conn) || !isText(node) || !isNullableString(user) || !isNullableString(address) || typeof protocol !== 'string') return null;
  if (!Array.isArray(rooms) || !rooms.every((room) => typeof room === 'string') || typeof connectedAt !== 'string' || typeof lastSeenAt !== 'string')
    return null;
  return { conn, node, user, address, protocol, rooms, connectedAt, lastSeenAt };
}

function closedOf(value: unknown): ClosedConnection | null {
  if (!isObject(value)) return null;
  const { conn, node, user, closedAt, code, reason, by } = value;
  if (!isText(conn) || !isText(node) || !isNullableString(user) || typeof closedAt !== 'string') return null;
  if (!Number.isSafeInteger(code) || typeof reason !== 'string' || (by !== 'client' && by !== 'server')) return null;
  return { conn, node, user, closedAt, code: code as number, reason, by };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function isNullableString(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}
