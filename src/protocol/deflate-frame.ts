import { constants, deflateRawSync } from 'node:zlib';
import type { PreparedFrame } from './client-protocol.js';

// permessage-deflate (RFC 7692) for frames prepared once for many connections. The server always
// negotiates `server_no_context_takeover`: each message it sends is compressed on its own, so one
// compressed payload is valid on every connection that negotiated the extension (with the same
// window, or a larger one), and is compressed once per batch, not once per recipient.

/**
 * Payloads shorter than this go uncompressed even to connections that negotiated deflate (a frame with
 * RSV1 clear is always valid): below it the deflate block's own bytes eat the gain (a 64-byte PUSH
 * compresses to about as many bytes), and each compression costs ~15 µs of zlib set-up.
 */
export const DEFLATE_MIN_PAYLOAD = 64;

const FIN = 0x80;
const RSV1 = 0x40;
/** An empty stored block: what a sync flush ends with, and what RFC 7692 §7.2.1 takes off the message. */
const TAIL_LENGTH = 4;

/**
 * How a connection's server messages may be compressed: by the window size its permessage-deflate
 * negotiation allows. Connections with the same window share one compressor object, so a batch
 * compresses once per distinct compressor among its recipients (in practice: once).
 */
export interface FrameCompressor {
  /** The LZ77 window (`server_max_window_bits`), 9 to 15. */
  readonly windowBits: number;
  /**
   * The compressed counterpart of `frame`: a new frame with RSV1 set, the same opcode and `items`, or
   * `frame` itself when compressing would not pay (a short payload, or no gain).
   */
  compress(frame: PreparedFrame): PreparedFrame;
}

const compressors = new Map<number, FrameCompressor>();

/**
 * The shared compressor for a negotiated `server_max_window_bits` (absent: 15). Null for 8, which zlib's
 * raw deflate cannot honour (it uses 9): such a connection gets uncompressed frames, which are valid.
 */
export function deflateCompressor(windowBits = 15): FrameCompressor | null {
  if (!Number.isInteger(windowBits) || windowBits < 9 || windowBits > 15) return null;
  let compressor = compressors.get(windowBits);
  if (compressor === undefined) {
    compressor = { windowBits, compress: (frame) => deflateFrame(frame, windowBits) };
    compressors.set(windowBits, compressor);
  }
  return compressor;
}

/**
 * Compresses one prepared, unmasked, final WebSocket frame (as `Sender.frame` builds it): its payload
 * deflated with a fresh context (zlib's raw deflate, sync flush, the trailing 0x00 0x00 0xff 0xff
 * taken off per RFC 7692 §7.2.1), framed again with RSV1 set. Returns `frame` itself when the payload
 * is shorter than {@link DEFLATE_MIN_PAYLOAD} or would not shrink, and for control frames (never
 * compressed) and fragments.
 */
export function deflateFrame(frame: PreparedFrame, windowBits = 15): PreparedFrame {
  const bytes = frame.bytes;
  const first = bytes[0];
  // Only final, uncompressed text or binary frames, unmasked.
  if ((first & 0xf0) !== FIN || (first & 0x0f) === 0 || (first & 0x0f) > 2 || (bytes[1] & 0x80) !== 0) return frame;
  const length7 = bytes[1] & 0x7f;
  const headerLength = length7 < 126 ? 2 : length7 === 126 ? 4 : 10;
  const payloadLength = bytes.length - headerLength;
  if (payloadLength < DEFLATE_MIN_PAYLOAD) return frame;
  const deflated = deflateRawSync(bytes.subarray(headerLength), { windowBits, finishFlush: constants.Z_SYNC_FLUSH });
  const compressedLength = deflated.length - TAIL_LENGTH;
  if (compressedLength >= payloadLength) return frame;
  return { bytes: frameCompressed(deflated.subarray(0, compressedLength), first & 0x0f), items: frame.items, remaining: 0 };
}

/** One unmasked final frame with RSV1 set around an already compressed payload, in one buffer. */
export function frameCompressed(payload: Buffer, opcode: number): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const out = Buffer.allocUnsafe(headerLength + length);
  out[0] = FIN | RSV1 | opcode;
  if (headerLength === 2) out[1] = length;
  else if (headerLength === 4) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    out.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(out, headerLength);
  return out;
}
