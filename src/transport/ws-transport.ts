import type { Socket } from 'node:net';
import { type RawData, WebSocket } from 'ws';
import { CloseCode } from '../protocol/codes.js';
import { deflateCompressor, type FrameCompressor } from '../protocol/deflate-frame.js';
import { frameMessage } from '../protocol/prepared-frame.js';
import type { Transport, TransportSink } from './transport.js';

const kSink = Symbol('pushgate.sink');
/** What ws keeps of a negotiated permessage-deflate: its accepted parameters. */
interface DeflateExtension {
  params: { server_max_window_bits?: number; client_no_context_takeover?: boolean } | null;
  /** ws's zlib inflater for the client's messages, made at the first compressed one (dropped after each: onWsInflatedMessage). */
  _inflate: { close(): void } | null;
}
type TaggedSocket = WebSocket & { [kSink]: TransportSink; _socket: Socket; _extensions?: Record<string, DeflateExtension | undefined> };

/**
 * A `ws` WebSocket as a {@link Transport}. Data frames are framed here (`ws`'s own `Sender.frame`, the
 * bytes `ws.send` would write) and written straight to the socket, pre-framed ones likewise: one write
 * path for every data byte, so nothing can overtake anything. `ws` keeps pings, pongs and close frames,
 * which it writes synchronously too: its sender queues only behind a message it compresses or a Blob,
 * and `ws.send` is never called, so even with permessage-deflate negotiated it never queues. The only
 * module that touches `ws`'s private `_socket` and `_extensions`.
 *
 * With permessage-deflate negotiated (always with `server_no_context_takeover`), {@link compressor}
 * tells the dispatcher to send this client the batch's frames compressed once for all such clients;
 * `send` keeps writing uncompressed frames (RSV1 clear is always valid).
 *
 * Its listeners are module functions shared by every socket, which finds its sink through a tag: no
 * closure per connection.
 */
export class WsTransport implements Transport {
  private readonly ws: TaggedSocket;
  /** The compressor for the negotiated permessage-deflate window; null without the extension. */
  readonly compressor: FrameCompressor | null;

  constructor(ws: WebSocket) {
    this.ws = ws as TaggedSocket;
    this.compressor = negotiatedCompressor(this.ws);
  }

  attach(sink: TransportSink): boolean {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) {
      // ws will not emit 'close' again for a socket that is already gone.
      ws.removeAllListeners();
      if (ws.readyState === WebSocket.CLOSING) ws.terminate();
      return false;
    }
    ws[kSink] = sink;
    ws.on('message', this.compressor === null ? onWsMessage : onWsInflatedMessage);
    ws.on('pong', onWsPong);
    ws.on('ping', onWsAlive);
    ws.on('close', onWsClose);
    ws.on('error', onWsError);
    return true;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  get queuedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get remoteAddress(): string | undefined {
    return this.ws._socket?.remoteAddress;
  }

  send(data: string | Buffer): void {
    const binary = typeof data !== 'string';
    const parts = frameMessage(binary ? data : Buffer.from(data), binary);
    if (parts.length === 1) this.ws._socket.write(parts[0]);
    else this.writeParts(parts);
  }

  probe(): void {
    // ws writes a ping synchronously (its sender never queues: see above): after every byte written before it.
    this.ws.ping();
  }

  write(bytes: Buffer): void {
    this.ws._socket.write(bytes);
  }

  writeMany(frames: readonly { readonly bytes: Buffer }[]): void {
    const socket = this.ws._socket;
    socket.cork();
    for (const frame of frames) socket.write(frame.bytes);
    socket.uncork();
  }

  private writeParts(parts: readonly Buffer[]): void {
    const socket = this.ws._socket;
    socket.cork();
    for (const part of parts) socket.write(part);
    socket.uncork();
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  get isPaused(): boolean {
    return this.ws.isPaused;
  }

  detach(): void {
    this.ws.removeAllListeners();
  }
}

// permessage-deflate as ws negotiated it: the window the client allows the server (15 unless it asked
// for less); null when not negotiated, or for a window zlib cannot honour (8).
function negotiatedCompressor(ws: TaggedSocket): FrameCompressor | null {
  const params = ws._extensions?.['permessage-deflate']?.params;
  if (params == null) return null;
  return deflateCompressor(params.server_max_window_bits ?? 15);
}

function onWsMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  (this as TaggedSocket)[kSink].transportMessage(buffer, isBinary);
}

// A message on a connection that negotiated permessage-deflate. The server always asks
// client_no_context_takeover, so no message needs the inflater's state: drop it (ws makes another at
// the next compressed message), rather than keep ~7 KB of zlib state per connection for clients that
// compress every message (browsers do) but send one now and then. ws emits the message once the
// inflater is idle (one message at a time per connection).
function onWsInflatedMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const deflate = (this as TaggedSocket)._extensions?.['permessage-deflate'];
  if (deflate?._inflate != null && deflate.params?.client_no_context_takeover === true) {
    deflate._inflate.close();
    deflate._inflate = null;
  }
  onWsMessage.call(this, data, isBinary);
}

function onWsAlive(this: WebSocket): void {
  (this as TaggedSocket)[kSink].transportAlive();
}

function onWsPong(this: WebSocket): void {
  (this as TaggedSocket)[kSink].transportPong();
}

function onWsClose(this: WebSocket, code: number, reason: Buffer): void {
  (this as TaggedSocket)[kSink].transportClosed(code, reason.toString());
}

// ws answers a protocol error itself, with a close frame carrying the status below; the connection
// records that status as its own close so owners and stats see why it ended.
const protocolErrorStatus: Record<string, number> = {
  WS_ERR_INVALID_UTF8: CloseCode.INVALID_PAYLOAD,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCode.MESSAGE_TOO_BIG,
};

function onWsError(this: WebSocket, error: Error & { code?: string }): void {
  (this as TaggedSocket)[kSink].transportError(protocolErrorStatus[error.code ?? ''] ?? 1002, error.message);
}
