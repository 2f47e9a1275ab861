import { outline } from '../protocol/json-text.js';

/**
 * What travels between nodes. Pushes carry their items as the JSON texts accepted at the API, joined
 * once, and the receiving node takes each item's text back out as it is: nothing is re-encoded on the
 * way, so an item arrives byte for byte, at any depth. Presence carries a node's counts.
 */

/** Who published a push: the node's id and its own sequence number, so the node knows it when it comes back. */
export interface PushOrigin {
  node: string;
  seq: number;
}

/** Where a push to a room with history stands in its stream: the offset of its first item, and the epoch. */
export interface PushPosition {
  first: number;
  epoch: string;
}

/**
 * A push as published on the broker; `origin` is set on what nodes publish (absent from older nodes'
 * pushes); `position` on a push to a room with history, as its store stamped it (src/history).
 */
export type PushEnvelope = (
  | { kind: 'all'; items: readonly string[] }
  /** `except`: a connection of the room that must not get these items (the sender of a client event; Pusher's `socket_id`). */
  | { kind: 'room'; room: string; items: readonly string[]; position?: PushPosition; except?: string }
  | { kind: 'conn'; conn: string; items: readonly string[] }
  | { kind: 'user'; user: string; items: readonly string[] }
) & { origin?: PushOrigin };

/**
 * Serialises a push; `items` are JSON texts. `expiresAt` (ms since the epoch, the publisher's clock):
 * the time after which no node may deliver it, because its publisher has answered 503 by then.
 */
export function encodePushEnvelope(push: PushEnvelope, expiresAt?: number): Buffer {
  const target =
    push.kind === 'room'
      ? `,"room":${JSON.stringify(push.room)}${push.except === undefined ? '' : `,"except":${JSON.stringify(push.except)}`}`
      : push.kind === 'conn'
        ? `,"conn":${JSON.stringify(push.conn)}`
        : push.kind === 'user'
          ? `,"user":${JSON.stringify(push.user)}`
          : '';
  const origin = push.origin === undefined ? '' : `,"origin":${JSON.stringify(push.origin.node)},"seq":${push.origin.seq}`;
  const expiry = expiresAt === undefined ? '' : `,"exp":${Math.ceil(expiresAt)}`;
  return Buffer.from(`{"v":1,"kind":"${push.kind}"${target}${origin}${expiry},"items":[${push.items.join(',')}]}`);
}

/** A push as received, with its deadline (null when its publisher set none). */
export interface ReceivedPush {
  push: PushEnvelope;
  expiresAt: number | null;
}

/**
 * Parses a push; returns null for anything malformed (counted and dropped by the caller). `JSON.parse`
 * validates the payload; the items' texts are then cut out of it, not re-serialised.
 */
export function decodePushEnvelope(payload: Buffer): ReceivedPush | null {
  const text = payload.toString('utf8');
  let value: {
    v?: unknown;
    kind?: unknown;
    room?: unknown;
    except?: unknown;
    conn?: unknown;
    user?: unknown;
    origin?: unknown;
    seq?: unknown;
    exp?: unknown;
    items?: unknown;
  };
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object' || value.v !== 1 || !Array.isArray(value.items)) return null;
  if (value.exp !== undefined && !Number.isFinite(value.exp)) return null;
  const expiresAt = typeof value.exp === 'number' ? value.exp : null;
  // The last `items` member is the one JSON.parse kept (the encoder writes one).
  const member = outline(text)
    .members.filter((m) => m.name === 'items')
    .pop();
  if (member === undefined) return null;
  const items = member.elements.map((span) => text.slice(span.start, span.end));
  const push: PushEnvelope | null =
    value.kind === 'all'
      ? { kind: 'all', items }
      : value.kind === 'room' && typeof value.room === 'string'
        ? { kind: 'room', room: value.room, items }
        : value.kind === 'conn' && typeof value.conn === 'string'
          ? { kind: 'conn', conn: value.conn, items }
          : value.kind === 'user' && typeof value.user === 'string'
            ? { kind: 'user', user: value.user, items }
            : null;
  if (push === null) return null;
  if (push.kind === 'room' && typeof value.except === 'string') push.except = value.except;
  if (typeof value.origin === 'string' && Number.isSafeInteger(value.seq)) push.origin = { node: value.origin, seq: value.seq as number };
  return { push, expiresAt };
}

/** A node's periodic report of itself. */
export interface Presence {
  v: 1;
  node: string;
  /** `gateway`, `api` or `both`. */
  role: string;
  /** Worker number on its machine, when run with --workers. */
  worker: number | null;
  /**
   * The instance it belongs to: the id the workers of one primary share (a single process's own node
   * id). Absent from older nodes: such a node is an instance of its own.
   */
  instance?: string;
  /** Milliseconds between reports: a node silent for 3 of them is gone. */
  intervalMs: number;
  /** When the report was sent (ms since the epoch, the sender's clock); absent from older nodes. */
  sentAt?: number;
  /** Its counters (this node's `GET /stats`), numbers only. */
  stats: Record<string, number>;
  /** Members per room, for at most `PRESENCE_ROOM_LIMIT` rooms (the largest). */
  rooms: Record<string, number>;
  /** True when the node has more rooms than the report carries. */
  roomsTruncated: boolean;
}

/**
 * A node's shutdown barrier, published on the channel every gateway node subscribes to once all of the
 * node's own pushes have been taken by the broker: a broker delivers one publisher's messages to a
 * subscriber in publish order, so a node that has seen another's barrier has seen every push it published
 * before (to any channel that node subscribes to).
 */
export function encodeBarrier(node: string): Buffer {
  return Buffer.from(`{"v":1,"kind":"barrier","origin":${JSON.stringify(node)}}`);
}

/** The node of a barrier message, or null when the payload is not one. */
export function decodeBarrier(payload: Buffer): string | null {
  try {
    const value = JSON.parse(payload.toString('utf8')) as { v?: unknown; kind?: unknown; origin?: unknown } | null;
    return value !== null && value.v === 1 && value.kind === 'barrier' && typeof value.origin === 'string' ? value.origin : null;
  } catch {
    return null;
  }
}
