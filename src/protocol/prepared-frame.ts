import { Sender } from 'ws';
import type { PreparedFrame } from './client-protocol.js';

// WebSocket framing of server messages, with ws's own frame builder.

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
