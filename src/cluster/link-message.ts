import type { Codec } from '../broker/codec-broker.js';
import { decodeBarrier, decodePushEnvelope, encodeBarrier, encodePushEnvelope, type Presence, type PushEnvelope } from './envelope.js';

/**
 * What nodes send each other through the broker: pushes (with their deadline), shutdown barriers and
 * presence reports. Through the local broker these objects are handed over as they are; through a
 * broker of bytes, {@link linkCodec} encodes and decodes them.
 */
export type LinkMessage =
  | { type: 'push'; push: PushEnvelope; expiresAt: number | null }
  | { type: 'barrier'; node: string }
  | { type: 'presence'; presence: Presence }
  /** Bytes that were none of the above (counted and dropped by the receiver). */
  | { type: 'malformed' };

const MALFORMED: LinkMessage = { type: 'malformed' };

/** The wire form of {@link LinkMessage}s: the envelopes of src/cluster/envelope.ts, presence as JSON. */
export const linkCodec: Codec<LinkMessage> = {
  encode(message) {
    switch (message.type) {
      case 'push':
        return encodePushEnvelope(message.push, message.expiresAt ?? undefined);
      case 'barrier':
        return encodeBarrier(message.node);
      case 'presence':
        return Buffer.from(JSON.stringify(message.presence));
      case 'malformed':
        throw new TypeError('a malformed message is never sent');
    }
  },
  decode(payload) {
    const received = decodePushEnvelope(payload);
    if (received !== null) return { type: 'push', push: received.push, expiresAt: received.expiresAt };
    const barrier = decodeBarrier(payload);
    if (barrier !== null) return { type: 'barrier', node: barrier };
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
