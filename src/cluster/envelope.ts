import { outline } from '../protocol/json-text.js';

/**
 * What travels between nodes. Pushes carry their items as the JSON texts accepted at the API, joined
 * once, and the receiving node takes each item's text back out as it is: nothing is re-encoded on the
 * way, so an item arrives byte for byte, at any depth. Presence carries a node's counts.
 */

/** A push as published on the broker. */
export type PushEnvelope =
  | { kind: 'all'; items: readonly string[] }
  | { kind: 'room'; room: string; items: readonly string[] }
  | { kind: 'conn'; conn: string; items: readonly string[] }
  | { kind: 'user'; user: string; items: readonly string[] };

/** Serialises a push; `items` are JSON texts. */
export function encodePushEnvelope(push: PushEnvelope): Buffer {
  const target = push.kind === 'room' ? `,"room":${JSON.stringify(push.room)}`
    : push.kind === 'conn' ? `,"conn":${JSON.stringify(push.conn)}`
      : push.kind === 'user' ? `,"user":${JSON.stringify(push.user)}` : '';
  return Buffer.from(`{"v":1,"kind":"${push.kind}"${target},"items":[${push.items.join(',')}]}`);
}

/**
 * Parses a push; returns null for anything malformed (counted and dropped by the caller). `JSON.parse`
 * validates the payload; the items' texts are then cut out of it, not re-serialised.
 */
export function decodePushEnvelope(payload: Buffer): PushEnvelope | null {
  const text = payload.toString('utf8');
  let value: { v?: unknown; kind?: unknown; room?: unknown; conn?: unknown; user?: unknown; items?: unknown };
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object' || value.v !== 1 || !Array.isArray(value.items)) return null;
  // The last `items` member is the one JSON.parse kept (the encoder writes one).
  const member = outline(text).members.filter((m) => m.name === 'items').pop();
  if (member === undefined) return null;
  const items = member.elements.map((span) => text.slice(span.start, span.end));
  if (value.kind === 'all') return { kind: 'all', items };
  if (value.kind === 'room' && typeof value.room === 'string') return { kind: 'room', room: value.room, items };
  if (value.kind === 'conn' && typeof value.conn === 'string') return { kind: 'conn', conn: value.conn, items };
  if (value.kind === 'user' && typeof value.user === 'string') return { kind: 'user', user: value.user, items };
  return null;
}

/** A node's periodic report of itself. */
export interface Presence {
  v: 1;
  node: string;
  /** `gateway`, `api` or `both`. */
  role: string;
  /** Worker number on its machine, when run with --workers. */
  worker: number | null;
  /** Milliseconds between reports: a node silent for 3 of them is gone. */
  intervalMs: number;
  /** Its counters (this node's `GET /stats`), numbers only. */
  stats: Record<string, number>;
  /** Members per room, for at most `PRESENCE_ROOM_LIMIT` rooms (the largest). */
  rooms: Record<string, number>;
  /** True when the node has more rooms than the report carries. */
  roomsTruncated: boolean;
}
