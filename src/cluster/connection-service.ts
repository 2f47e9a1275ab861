import { type ConnectionInfo, isBackendCloseCode, MAX_CLOSE_REASON_BYTES } from '../hub/local-connections.js';
import { CloseCode } from '../protocol/codes.js';
import { apiError } from '../protocol/errors.js';

export type { ConnectionInfo } from '../hub/local-connections.js';

/** How the connection API closes a connection: an application close code (4000–4999) and a reason (≤ 123 bytes). */
export interface CloseRequest {
  code: number;
  reason: string;
}

/** The close the connection API sends when the backend names none: 4003, "disconnected by the backend". */
export const DEFAULT_CLOSE: Readonly<CloseRequest> = Object.freeze({ code: CloseCode.DISCONNECTED, reason: 'disconnected by the backend' });

/** A close request as given (the API's body, a library call), checked: 400 `INVALID_BODY` for a code outside 4000–4999 or a reason over 123 bytes. */
export function checkedClose(code: unknown, reason: unknown): CloseRequest {
  if (!isBackendCloseCode(code)) throw apiError.INVALID_BODY.closeCode();
  if (typeof reason !== 'string' || Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) throw apiError.INVALID_BODY.closeReason(MAX_CLOSE_REASON_BYTES);
  return { code, reason };
}

/**
 * An answer gathered from every node. `partial` is true when it may miss some: a node of this node's
 * view did not answer within the broker timeout (`unanswered` names them), or the view was not current
 * (this node may not know every node). Asking again is safe, closing included.
 */
export interface Gathering {
  partial: boolean;
  unanswered: string[];
}

/** A user's online connections on every node. */
export interface UserConnections extends Gathering {
  user: string;
  connections: ConnectionInfo[];
}

/** How many connections a close ended. */
export interface ClosedCount extends Gathering {
  closed: number;
}

/** Members of one room over the cluster, as the nodes last reported them (this node's own, live). */
export interface RoomCount {
  room: string;
  members: number;
  /** False when a node's report was cut to its largest rooms without this one: it may have members there. */
  exact: boolean;
}

/** `GET /rooms`: the largest rooms first. */
export interface RoomList {
  rooms: Array<{ room: string; members: number }>;
  /** Rooms that match (before `limit`). */
  total: number;
  /** False when a node's report was cut to its largest rooms: `total` and counts are then lower bounds. */
  exact: boolean;
}

/** Rooms listed by default, and at most. */
export const DEFAULT_ROOM_LIMIT = 100;
export const MAX_ROOM_LIMIT = 10000;

/**
 * The connection API (as AWS API Gateway's `@connections` or Centrifugo's server API), cluster-wide:
 * connections looked up and closed on whichever node holds them, a user's on every node, rooms and
 * their members. Each call rejects with a `PushError` saying why it cannot answer (404, 410, 503, …).
 */
export interface ConnectionService {
  /** The connection, online on any node; 404 `CONN_NOT_FOUND`, 410 `CONN_GONE` (closed recently), 503. */
  connection(id: string): Promise<ConnectionInfo>;
  /** Closes the connection with `close` (default {@link DEFAULT_CLOSE}); resolves with 1; 404, 410, 503 as {@link connection}. */
  closeConnection(id: string, close?: CloseRequest): Promise<number>;
  /** The user's online connections on every node (none: an empty list). */
  userConnections(user: string): Promise<UserConnections>;
  /** Closes every connection of the user on every node. */
  closeUserConnections(user: string, close?: CloseRequest): Promise<ClosedCount>;
  /** The cluster's rooms, the largest first (then by name), `limit` of them, those starting with `prefix`. */
  rooms(options?: { limit?: number; prefix?: string }): RoomList;
  /** Members of one room (0 when nobody is in it). */
  room(name: string): RoomCount;
}
