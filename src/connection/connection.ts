import type { Socket } from 'node:net';
import { type RawData, WebSocket } from 'ws';
import type { ConnectionAuth } from '../auth/jwt.js';
import { CloseCode } from '../protocol/codes.js';
import type { PreparedFrame } from '../protocol/encode.js';
import { ConnectionClosedError, InboundQueue } from './inbound-queue.js';

/** A message from the client: a string for a text frame, a Buffer for a binary frame. */
export type IncomingMessage = string | Buffer;

/**
 * What `send` did. It never throws and never blocks: `'closed'` means the connection was already
 * closing or closed, `'slow'` means the outgoing queue was full, so the client was disconnected with
 * {@link CloseCode.TRY_AGAIN_LATER} and the message dropped (and counted by the owner).
 */
export type SendResult = 'sent' | 'closed' | 'slow';

/** How a connection ended. */
export interface CloseInfo {
  code: number;
  reason: string;
  /** `'server'` when this side called {@link Connection.close} (or a limit did), `'client'` otherwise. */
  by: 'server' | 'client';
}

/** Limits shared by many connections; one object, referenced by each. */
export interface ConnectionLimits {
  /** Outgoing bytes that may wait in a connection's socket before it counts as a slow consumer. Default 1 MiB. */
  maxQueueBytes: number;
  /** Received messages held for a reader before the socket is paused (backpressure). Default 64. */
  maxInboundMessages: number;
  /** Messages a client may send per second (burst of the same size); over it, close 1008. 0 = unlimited. */
  maxClientRate: number;
}

/** Receives a connection's events when the owner handles messages itself rather than reading them. */
export interface ConnectionHandler {
  onMessage(conn: Connection, message: IncomingMessage): void;
  /** Called once, as soon as the connection starts closing (by either side). */
  onClose(conn: Connection, info: CloseInfo): void;
  /** A write was refused because the client fell behind; called before the slow-consumer close. */
  onSlow?(conn: Connection): void;
}

export const defaultConnectionLimits: Readonly<ConnectionLimits> = Object.freeze({
  maxQueueBytes: 1024 * 1024,
  maxInboundMessages: 64,
  maxClientRate: 0,
});

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

const kConnection = Symbol('pushgate.connection');
type TaggedSocket = WebSocket & { [kConnection]: Connection; _socket: Socket };

/**
 * One client: the seeds' `Connection` (in/out channels, close channel, read and write loops) in Node
 * terms. The socket's own writable buffer is the out queue, bounded in bytes by `maxQueueBytes`;
 * received messages go to a handler or to a bounded in queue read by {@link readMessage} or
 * `for await`. Every method may be called at any time: after close, `send` reports `'closed'` and
 * `close` does nothing.
 *
 * The event listeners are module functions shared by all connections (no closures per connection),
 * and optional state (rooms, in queue, the `closed` promise) is created only when used.
 */
export class Connection {
  /** Unique id, addressable with `POST /push/conn`. */
  readonly id: string;
  /** The authenticated user, once authentication sets it; `undefined` for anonymous clients. */
  userId: string | undefined = undefined;
  /** Authentication state (rooms allowed, expiry) when the gateway requires tokens; null otherwise. */
  auth: ConnectionAuth | null = null;
  /** Rooms this connection is in, owned by the hub; `null` until the first join. */
  rooms: Set<string> | null = null;
  /** `Date.now()` of the last frame received (message, ping or pong), read by the heartbeat sweep. */
  lastSeen: number;
  /** Frames waiting for this connection's next write; owned by the dispatcher. */
  outbox: PreparedFrame | PreparedFrame[] | null = null;

  private readonly ws: TaggedSocket;
  private readonly limits: ConnectionLimits;
  private readonly handler: ConnectionHandler | null;
  private state = OPEN;
  private tokens: number;
  private tokensAt: number;
  private inbound: InboundQueue<IncomingMessage> | null = null;
  private closeInfo: CloseInfo | null = null;
  private closedPromise: Promise<CloseInfo> | null = null;
  private resolveClosed: ((info: CloseInfo) => void) | null = null;

  /**
   * Wraps an open `ws` WebSocket. With a `handler`, messages go to `handler.onMessage`; without one,
   * they queue for {@link readMessage} and async iteration.
   */
  constructor(ws: WebSocket, id: string, limits: ConnectionLimits = defaultConnectionLimits, handler: ConnectionHandler | null = null) {
    this.ws = ws as TaggedSocket;
    this.id = id;
    this.limits = limits;
    this.handler = handler;
    this.lastSeen = Date.now();
    this.tokens = Math.max(1, limits.maxClientRate);
    this.tokensAt = this.lastSeen;
    this.ws[kConnection] = this;
    ws.on('message', onWsMessage);
    ws.on('pong', onWsAlive);
    ws.on('ping', onWsAlive);
    ws.on('close', onWsClose);
    ws.on('error', onWsError);
    if (ws.readyState !== WebSocket.OPEN) {
      // ws will not emit 'close' again for a socket that is already gone: settle now.
      this.finish({ code: 1006, reason: 'socket was not open', by: 'client' });
      this.state = CLOSED;
      ws.removeAllListeners();
      if (ws.readyState === WebSocket.CLOSING) ws.terminate();
    }
  }

  /** `true` until the connection starts closing. */
  get isOpen(): boolean {
    return this.state === OPEN;
  }

  /** `true` once the socket is gone (after the closing handshake or a cut). */
  get isClosed(): boolean {
    return this.state === CLOSED;
  }

  /** Bytes written but not yet taken by the kernel: the out queue's current length. */
  get queuedBytes(): number {
    return this.ws.bufferedAmount;
  }

  /** The remote address, for logs. */
  get remoteAddress(): string | undefined {
    return this.ws._socket?.remoteAddress;
  }

  /** Resolves once the socket is fully closed; never rejects. */
  get closed(): Promise<CloseInfo> {
    if (this.closedPromise === null) {
      if (this.state === CLOSED && this.closeInfo !== null) {
        this.closedPromise = Promise.resolve(this.closeInfo);
      } else {
        this.closedPromise = new Promise((resolve) => {
          this.resolveClosed = resolve;
        });
      }
    }
    return this.closedPromise;
  }

  /** Sends a text (string) or binary (Buffer) message. Never throws; see {@link SendResult}. */
  send(data: string | Buffer): SendResult {
    if (this.state !== OPEN) return 'closed';
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const admitted = this.admit(size);
    if (admitted !== 'sent') return admitted;
    this.ws.send(data, { binary: typeof data !== 'string' });
    return 'sent';
  }

  /**
   * Writes a frame prepared once for many recipients: the same bytes go to every socket, with no
   * per-recipient encoding or framing. Same guarantees as {@link send}.
   */
  sendPrepared(frame: PreparedFrame): SendResult {
    if (this.state !== OPEN) return 'closed';
    const admitted = this.admit(frame.bytes.length);
    if (admitted !== 'sent') return admitted;
    // ws frames synchronously when permessage-deflate is off (the gateway never enables it), so its
    // sender holds no queue that these bytes could overtake.
    this.ws._socket.write(frame.bytes);
    return 'sent';
  }

  /**
   * Writes several prepared frames in one go (one corked write: a single syscall), in order. All are
   * written or, when the client is too slow for them, none.
   */
  sendPreparedBatch(frames: readonly PreparedFrame[]): SendResult {
    if (this.state !== OPEN) return 'closed';
    let size = 0;
    for (const frame of frames) size += frame.bytes.length;
    const admitted = this.admit(size);
    if (admitted !== 'sent') return admitted;
    const socket = this.ws._socket;
    socket.cork();
    for (const frame of frames) socket.write(frame.bytes);
    socket.uncork();
    return 'sent';
  }

  // Whether `size` more bytes may be written now: 'sent' yes, else why not (and the connection is over).
  private admit(size: number): SendResult {
    if (this.ws.readyState !== WebSocket.OPEN) {
      // The client's close frame arrived (ws answered it); the socket lingers until TCP closes. Nothing
      // written now would be read: the connection is over for its owner already.
      this.finish({ code: 1000, reason: 'closed by the client', by: 'client' });
      return 'closed';
    }
    const queued = this.ws.bufferedAmount;
    // An empty queue always takes one message, however large, so a big push is never refused outright.
    if (queued === 0 || queued + size <= this.limits.maxQueueBytes) return 'sent';
    this.handler?.onSlow?.(this);
    this.close(CloseCode.TRY_AGAIN_LATER, 'slow consumer');
    return 'slow';
  }

  /**
   * Reads the next message (the seeds' `ReadMessage`). Rejects with {@link ConnectionClosedError} once
   * the connection is closed and the queue is empty. Only for connections without a handler.
   */
  readMessage(): Promise<IncomingMessage> {
    if (this.handler !== null) return Promise.reject(new Error('this connection delivers its messages to a handler'));
    return this.inboundQueue().next();
  }

  /** Iterates over received messages until the connection closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<IncomingMessage, void, undefined> {
    for (;;) {
      try {
        yield await this.readMessage();
      } catch (error) {
        if (error instanceof ConnectionClosedError) return;
        throw error;
      }
    }
  }

  /**
   * Starts the closing handshake with `code` and `reason`. Idempotent: only the first call counts.
   * The handler's `onClose` runs at once (rooms and timers are released now); {@link closed} resolves
   * when the socket is gone, at the latest after the server's close timeout.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (!isSendableCloseCode(code)) throw new TypeError(`close code ${code} cannot be sent; use 1000-1014 (not 1004-1006) or 3000-4999, or terminate()`);
    if (this.state !== OPEN) return;
    const fitted = fitCloseReason(reason);
    this.finish({ code, reason: fitted, by: 'server' });
    this.ws.close(code, fitted);
  }

  /** Destroys the socket at once, without a closing handshake (e.g. when a shutdown deadline passes). */
  terminate(): void {
    if (this.state === OPEN) this.finish({ code: 1006, reason: 'terminated', by: 'server' });
    this.ws.terminate();
  }

  private inboundQueue(): InboundQueue<IncomingMessage> {
    if (this.inbound === null) {
      this.inbound = new InboundQueue((length) => {
        if (length < this.limits.maxInboundMessages && this.ws.isPaused) this.ws.resume();
      });
      if (this.state !== OPEN) this.inbound.end();
    }
    return this.inbound;
  }

  /** @internal */
  receive(data: RawData, isBinary: boolean): void {
    if (this.state !== OPEN) return;
    const now = Date.now();
    this.lastSeen = now;
    if (this.limits.maxClientRate > 0 && !this.takeToken(now)) {
      this.close(CloseCode.POLICY_VIOLATION, 'message rate limit exceeded');
      return;
    }
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const message: IncomingMessage = isBinary ? buffer : buffer.toString('utf8');
    if (this.handler !== null) {
      this.handler.onMessage(this, message);
      return;
    }
    const queue = this.inboundQueue();
    queue.push(message);
    if (queue.length >= this.limits.maxInboundMessages) this.ws.pause();
  }

  // A token bucket refilled lazily from the clock: no timer per connection.
  private takeToken(now: number): boolean {
    const rate = this.limits.maxClientRate;
    // A burst of at least one message, so rates below 1/s still let a message through.
    this.tokens = Math.min(Math.max(1, rate), this.tokens + ((now - this.tokensAt) * rate) / 1000);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** @internal */
  socketClosed(code: number, reason: Buffer): void {
    if (this.state === OPEN) this.finish({ code, reason: reason.toString(), by: 'client' });
    this.state = CLOSED;
    const info = this.closeInfo as CloseInfo;
    this.resolveClosed?.(info);
    this.resolveClosed = null;
    // Drop the references a closed connection would otherwise keep alive.
    this.ws.removeAllListeners();
  }

  /** @internal */
  protocolError(code: number, reason: string): void {
    if (this.state === OPEN) this.finish({ code, reason, by: 'server' });
  }

  private finish(info: CloseInfo): void {
    this.state = CLOSING;
    this.closeInfo = info;
    this.inbound?.end();
    this.handler?.onClose(this, info);
  }
}

// RFC 6455 7.4: 1004-1006 and 1015 are reserved and never sent; 3000-4999 are for applications.
function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

// A close frame's reason may hold 123 bytes; ws throws on longer ones, so cut at a character boundary.
function fitCloseReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let cut = reason.slice(0, 123);
  while (Buffer.byteLength(cut) > 123) cut = cut.slice(0, -1);
  return cut;
}

function onWsMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as TaggedSocket)[kConnection].receive(data, isBinary);
}

function onWsAlive(this: WebSocket): void {
  (this as TaggedSocket)[kConnection].lastSeen = Date.now();
}

function onWsClose(this: WebSocket, code: number, reason: Buffer): void {
  (this as TaggedSocket)[kConnection].socketClosed(code, reason);
}

// ws answers a protocol error itself, with a close frame carrying the status below; the connection
// records that status as its own close so owners and stats see why it ended.
const protocolErrorStatus: Record<string, number> = {
  WS_ERR_INVALID_UTF8: CloseCode.INVALID_PAYLOAD,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCode.MESSAGE_TOO_BIG,
};

function onWsError(this: WebSocket, error: Error & { code?: string }): void {
  (this as TaggedSocket)[kConnection].protocolError(protocolErrorStatus[error.code ?? ''] ?? 1002, error.message);
}
