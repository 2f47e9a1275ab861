import { Sender } from 'ws';

/**
 * A server message serialised and WebSocket-framed once, ready to be written as the same bytes to any
 * number of sockets.
 */
export interface PreparedFrame {
  /** Header and payload of one unmasked, final text frame. */
  readonly bytes: Buffer;
  /** How many pushed items the frame carries (0 for control answers). */
  readonly items: number;
  /** Recipients it has yet to be written to (or fail for); kept by the dispatcher, 0 for frames it never saw. */
  remaining: number;
}

const TEXT = 0x01;
const BINARY = 0x02;
const textOptions = { fin: true, opcode: TEXT, mask: false, readOnly: false, rsv1: false };
const binaryOptions = { fin: true, opcode: BINARY, mask: false, readOnly: false, rsv1: false };

/**
 * Frames one whole message as a server does (unmasked, uncompressed): the header and the payload, as
 * `ws` would write them itself.
 */
export function frameMessage(data: Buffer, binary: boolean): Buffer[] {
  return Sender.frame(data, binary ? binaryOptions : textOptions);
}

/** Serialises `text` once and frames it as one unmasked text frame. */
export function prepareFrame(text: string, items = 0): PreparedFrame {
  const parts = frameMessage(Buffer.from(text), false);
  return { bytes: parts.length === 1 ? parts[0] : Buffer.concat(parts), items, remaining: 0 };
}
