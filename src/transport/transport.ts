import type { FrameCompressor } from '../protocol/deflate-frame.js';

/**
 * What a transport reports to the one connection it carries. Implemented by `Connection`; a transport
 * calls these from its own events, never re-entrantly from a method the connection called (except
 * {@link Transport.attach}, see there).
 */
export interface TransportSink {
  /** One whole message from the client: text (`isBinary` false, UTF-8 bytes) or binary. */
  transportMessage(data: Buffer, isBinary: boolean): void;
  /** The client showed it is alive without a message (a ping, or a pong not answering a probe). */
  transportAlive(): void;
  /** The client answered a {@link Transport.probe}: it has read everything written before it. */
  transportPong(): void;
  /** The socket is gone; `code` and `reason` are the close frame's (1006 for a cut). Reported once. */
  transportClosed(code: number, reason: string): void;
  /** The client broke the wire protocol; the transport closes with `code` itself, `transportClosed` follows. */
  transportError(code: number, reason: string): void;
}

/**
 * One client's byte stream, as a connection sees it: it writes whole, already framed messages, asks
 * how much is still queued (backpressure), closes, and is told what the client does through a
 * {@link TransportSink}. The `ws` WebSocket is one (src/transport/ws-transport.ts); hub, merger and
 * dispatcher never see a transport, only connections.
 */
export interface Transport {
  /**
   * Binds the sink and starts reporting to it. Returns false when the transport was no longer open:
   * it then reports nothing, ever, and has released what it held.
   */
  attach(sink: TransportSink): boolean;
  /** Whether writes can still reach the client (false once either side started closing). */
  readonly isOpen: boolean;
  /** Bytes written but not yet taken by the kernel: the out queue's length. */
  readonly queuedBytes: number;
  /** The remote address, for logs. */
  readonly remoteAddress: string | undefined;
  /**
   * How frames may be compressed for this client when it negotiated permessage-deflate (WebSocket
   * only); absent or null: every frame goes as it is prepared.
   */
  readonly compressor?: FrameCompressor | null;
  /** Frames and writes one message (a string as text, a Buffer as binary). */
  send(data: string | Buffer): void;
  /** Writes one pre-framed message. */
  write(bytes: Buffer): void;
  /** Writes several pre-framed messages, in order, in one go (one syscall). */
  writeMany(frames: readonly { readonly bytes: Buffer }[]): void;
  /**
   * Sends a probe the client answers once it has read everything written before it (a WebSocket ping),
   * reported by {@link TransportSink.transportPong}: the round trip is how far behind the client is.
   */
  probe(): void;
  /** Starts the closing handshake (`reason` at most 123 bytes). */
  close(code: number, reason: string): void;
  /** Destroys the socket at once. */
  terminate(): void;
  /** Stops reading from the client (backpressure on its messages) until {@link resume}. */
  pause(): void;
  resume(): void;
  readonly isPaused: boolean;
  /** Stops reporting and drops references to the sink (after `transportClosed`). */
  detach(): void;
}
