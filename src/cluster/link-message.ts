import type { Codec } from '../broker/codec-broker.js';
import { readStamp, stampPush } from '../history/history-frame.js';
import { decodePresenceChange, encodePresenceChange, type PresenceChange } from '../presence/presence-change.js';
import { decodeBarrier, decodePushEnvelope, encodeBarrier, encodePushEnvelope, type Presence, type PushEnvelope } from './envelope.js';
import { decodeQueryMessage, encodeQuery, encodeReply, type NodeQuery, type NodeReply } from './query-envelope.js';
import type { OccupancyChange } from './room-occupancy.js';

/**
 * What nodes send each other through the broker: pushes (with their deadline), shutdown barriers,
 * presence reports, and the connection API's queries and replies (src/cluster/query-envelope.ts). Through the local broker these objects are handed over as they are; through a
 * broker of bytes, {@link linkCodec} encodes and decodes them.
 */
export type LinkMessage =
  | { type: 'push'; push: PushEnvelope; expiresAt: number | null }
  | { type: 'barrier'; node: string }
  | { type: 'presence'; presence: Presence }
  | { type: 'query'; query: NodeQuery }
  | { type: 'reply'; reply: NodeReply }
  /** A join or leave of a room with join/leave events, on the room's channel (src/presence/presence-change.ts). */
  | { type: 'presence-change'; change: PresenceChange }
  /** A room a node began or ceased to hold, on the presence channel (src/cluster/room-occupancy.ts). */
  | { type: 'occupancy'; change: OccupancyChange }
  /** Bytes that were none of the above (counted and dropped by the receiver). */
  | { type: 'malformed' };

const MALFORMED: LinkMessage = { type: 'malformed' };

/** A push message stamped with its position, for the in-process broker (which carries messages, not bytes). */
export function stampLinkMessage(message: LinkMessage, first: number, epoch: string): LinkMessage {
  if (message.type !== 'push' || message.push.kind !== 'room') return message;
  return { ...message, push: { ...message.push, position: { first, epoch } } };
}

/**
 * The wire form of {@link LinkMessage}s: the envelopes of src/cluster/envelope.ts and
 * src/cluster/query-envelope.ts, presence as JSON. Pushes are tried first: they are nearly all the traffic.
 */
export const linkCodec: Codec<LinkMessage> = {
  encode(message) {
    switch (message.type) {
      case 'push': {
        const bytes = encodePushEnvelope(message.push, message.expiresAt ?? undefined);
        const position = message.push.kind === 'room' ? message.push.position : undefined;
        return position === undefined ? bytes : stampPush(bytes, position.first, position.epoch);
      }
      case 'barrier':
        return encodeBarrier(message.node);
      case 'presence':
        return Buffer.from(JSON.stringify(message.presence));
      case 'query':
        return encodeQuery(message.query);
      case 'reply':
        return encodeReply(message.reply);
      case 'presence-change':
        return encodePresenceChange(message.change);
      case 'occupancy':
        return encodeOccupancy(message.change);
      case 'malformed':
        throw new TypeError('a malformed message is never sent');
    }
  },
  decode(payload) {
    // A push to a room with history comes stamped with its position (src/history/history-frame.ts).
    const stamp = readStamp(payload);
    if (stamp !== null) {
      const stamped = decodePushEnvelope(stamp.body);
      if (stamped === null || stamped.push.kind !== 'room') return MALFORMED;
      stamped.push.position = { first: stamp.first, epoch: stamp.epoch };
      return { type: 'push', push: stamped.push, expiresAt: stamped.expiresAt };
    }
    const received = decodePushEnvelope(payload);
    if (received !== null) return { type: 'push', push: received.push, expiresAt: received.expiresAt };
    const barrier = decodeBarrier(payload);
    if (barrier !== null) return { type: 'barrier', node: barrier };
    const query = decodeQueryMessage(payload);
    if (query !== null) return query;
    const change = decodePresenceChange(payload);
    if (change !== null) return { type: 'presence-change', change };
    const occupancy = decodeOccupancy(payload);
    if (occupancy !== null) return { type: 'occupancy', change: occupancy };
    const presence = decodePresence(payload);
    return presence === null ? MALFORMED : { type: 'presence', presence };
  },
};

function decodePresence(payload: Buffer): Presence | null {
  try {
    const presence = JSON.parse(payload.toString('utf8')) as Presence | null;
    return presence !== null && typeof presence === 'object' && presence.v === 1 && typeof presence.node === 'string' ? presence : null;
  } catch {
    return null;
  }
}

const OCCUPANCY = 'occupancy';

// No top-level `v`+`node` pair as a presence report has, so older nodes count it as malformed and drop it.
function encodeOccupancy({ node, room, held }: OccupancyChange): Buffer {
  return Buffer.from(JSON.stringify({ kind: OCCUPANCY, origin: node, room, held }));
}

function decodeOccupancy(payload: Buffer): OccupancyChange | null {
  if (!payload.includes(OCCUPANCY)) return null;
  try {
    const value = JSON.parse(payload.toString('utf8')) as Record<string, unknown> | null;
    if (value === null || typeof value !== 'object' || value.kind !== OCCUPANCY) return null;
    const { origin, room, held } = value;
    return typeof origin === 'string' && origin !== '' && typeof room === 'string' && room !== '' && typeof held === 'boolean'
      ? { node: origin, room, held }
      : null;
  } catch {
    return null;
  }
}
