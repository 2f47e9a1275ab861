import type { ClientProtocol, PreparedFrame, StreamStamp } from '../protocol/client-protocol.js';
import type { FrameCompressor } from '../protocol/deflate-frame.js';

export type { StreamStamp };

/** Something the dispatcher can deliver: the frame each recipient's protocol reads it as. */
export interface Deliverable {
  /**
   * The frame for recipients speaking `protocol`; the same object for every such recipient. With a
   * `compressor` (the recipient negotiated permessage-deflate), it may be a compressed one, again the
   * same for every recipient with that protocol and compressor; a deliverable may ignore it (an
   * uncompressed frame is valid on every connection).
   */
  frameFor(protocol: ClientProtocol, compressor?: FrameCompressor | null): PreparedFrame;
}

/**
 * A flushed batch of items for one target, encoded lazily once per protocol among its recipients:
 * the first protocol asked gets a field (with one protocol in use, that is all: no map, no allocation
 * per recipient), any other one an entry of a small map. Compressed frames (for permessage-deflate
 * recipients) are made likewise, once per (protocol, compressor), from the plain frame.
 */
export class PushBatch implements Deliverable {
  private protocol: ClientProtocol | null = null;
  private frame: PreparedFrame | null = null;
  private others: Map<ClientProtocol, PreparedFrame> | null = null;
  private zProtocol: ClientProtocol | null = null;
  private zCompressor: FrameCompressor | null = null;
  private zFrame: PreparedFrame | null = null;
  private zOthers: Map<ClientProtocol, Map<FrameCompressor, PreparedFrame>> | null = null;

  /**
   * @param items the batch's JSON texts, in push order.
   * @param room the room named in the PUSH (undefined for pushes to all, a connection or a user).
   * @param stamp for a room with history: its last item's offset and the epoch.
   * @param except the id of a connection of the room that must not get it (the sender of a client event).
   */
  constructor(
    readonly items: readonly string[],
    readonly room: string | undefined,
    readonly stamp?: StreamStamp,
    readonly except?: string,
  ) {}

  frameFor(protocol: ClientProtocol, compressor?: FrameCompressor | null): PreparedFrame {
    if (compressor != null) return this.compressedFor(protocol, compressor);
    if (protocol === this.protocol) return this.frame as PreparedFrame;
    if (this.protocol === null) {
      this.protocol = protocol;
      return (this.frame = protocol.push(this.items, this.room, this.stamp));
    }
    const others = (this.others ??= new Map());
    let frame = others.get(protocol);
    if (frame === undefined) others.set(protocol, (frame = protocol.push(this.items, this.room, this.stamp)));
    return frame;
  }

  // The compressed frame: the plain one, encoded once as above, deflated once per compressor.
  private compressedFor(protocol: ClientProtocol, compressor: FrameCompressor): PreparedFrame {
    if (protocol === this.zProtocol && compressor === this.zCompressor) return this.zFrame as PreparedFrame;
    if (this.zProtocol === null) {
      this.zProtocol = protocol;
      this.zCompressor = compressor;
      return (this.zFrame = compressor.compress(this.frameFor(protocol)));
    }
    const byProtocol = (this.zOthers ??= new Map());
    let byCompressor = byProtocol.get(protocol);
    if (byCompressor === undefined) byProtocol.set(protocol, (byCompressor = new Map()));
    let frame = byCompressor.get(compressor);
    if (frame === undefined) byCompressor.set(compressor, (frame = compressor.compress(this.frameFor(protocol))));
    return frame;
  }

  /** Whether one of its frames is still to be written to some recipient. */
  get inFlight(): boolean {
    if (this.frame !== null && this.frame.remaining > 0) return true;
    if (this.others !== null) for (const frame of this.others.values()) if (frame.remaining > 0) return true;
    if (this.zFrame !== null && this.zFrame.remaining > 0) return true;
    if (this.zOthers !== null) for (const frames of this.zOthers.values()) for (const frame of frames.values()) if (frame.remaining > 0) return true;
    return false;
  }

  /** How many protocols it was encoded for so far (compressed variants not counted). */
  get encodings(): number {
    return (this.frame === null ? 0 : 1) + (this.others?.size ?? 0);
  }
}
