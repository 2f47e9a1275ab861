import type { ConnectionAuth } from '../auth/jwt.js';
import type { ClientProtocol, PreparedFrame } from '../protocol/client-protocol.js';
import { CloseCode } from '../protocol/codes.js';
import type { FrameCompressor } from '../protocol/deflate-frame.js';
import type { Transport, TransportSink } from '../transport/transport.js';
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
  /** The client answered {@link Connection.probe} after `rttMs`: it had read everything written before. */
  onProbe?(conn: Connection, rttMs: number): void;
}

export const defaultConnectionLimits: Readonly<ConnectionLimits> = Object.freeze({
  maxQueueBytes: 1024 * 1024,
  maxInboundMessages: 64,
  maxClientRate: 0,
});

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

/**
 * One client: the seeds' `Connection` (in/out channels, close channel, read and write loops) in Node
 * terms, over a {@link Transport} (a `ws` WebSocket: see `connectionFromWebSocket`) and speaking one
 * {@link ClientProtocol}. The transport's own writable buffer is the out queue, bounded in bytes by
 * `maxQueueBytes`; received messages go to a handler or to a bounded in queue read by
 * {@link readMessage} or `for await`. Every method may be called at any time: after close, `send`
 * reports `'closed'` and `close` does nothing.
 *
 * Fields other modules may change each name their single owner; room membership is the hub's alone
 * (`Hub.roomsOf`). Optional state (in queue, the `closed` promise) is created only when used.
 */
export class Connection implements TransportSink {
  /** Unique id, addressable with `POST /push/conn`. */
  readonly id: string;
  /** `Date.now()` when the connection was made. */
  readonly openedAt: number;
  /** How this client's frames are decoded and its server messages encoded; fixed for its lifetime. */
  readonly protocol: ClientProtocol;
  /**
   * The authenticated user; `undefined` for anonymous clients. Owned by the hub, which indexes
   * connections by user: set it only through `Hub.setUser`.
   */
  userId: string | undefined = undefined;
  /**
   * Authentication state (rooms allowed, expiry) when the gateway requires tokens; null otherwise.
   * Owned by the gateway's client handler (which sets it at admission and on AUTH); the heartbeat
   * sweep reads it and marks `warnAt` once it has sent the expiry warning.
   */
  auth: ConnectionAuth | null = null;
  /**
   * What the connection told of its user per room it is in (JSON text): a Pusher presence member's
   * `user_info`, listed in the room's presence and its member events. Null until one is told.
   */
  presenceInfo: Map<string, string> | null = null;
  /** Frames waiting for this connection's next write. Owned by the dispatcher: nothing else reads or writes it. */
  outbox: PreparedFrame | PreparedFrame[] | null = null;
  /**
   * How prepared frames may be compressed for this client: set when its transport negotiated
   * permessage-deflate (with `server_no_context_takeover`, so a frame compressed once suits every such
   * client), null otherwise. Fixed for its lifetime; the dispatcher asks a batch for the frame of
   * (protocol, compressor).
   */
  readonly compressor: FrameCompressor | null;

  private readonly transport: Transport;
  private readonly limits: ConnectionLimits;
  private readonly handler: ConnectionHandler | null;
  private state = OPEN;
  private seenAt: number;
  /** When the probe out was sent (`Date.now()`), or -1 while none is out. */
  private probeSentAt = -1;
  private tokens: number;
  private tokensAt: number;
  private inbound: InboundQueue<IncomingMessage> | null = null;
  private closeInfo: CloseInfo | null = null;
  private closedPromise: Promise<CloseInfo> | null = null;
  private resolveClosed: ((info: CloseInfo) => void) | null = null;

  /**
   * Wraps an open transport. With a `handler`, messages go to `handler.onMessage`; without one, they
   * queue for {@link readMessage} and async iteration.
   */
  constructor(
    transport: Transport,
    id: string,
    protocol: ClientProtocol,
    limits: ConnectionLimits = defaultConnectionLimits,
    handler: ConnectionHandler | null = null,
  ) {
    this.transport = transport;
    this.id = id;
    this.protocol = protocol;
    this.limits = limits;
    this.handler = handler;
    this.seenAt = Date.now();
    this.openedAt = this.seenAt;
    this.tokens = Math.max(1, limits.maxClientRate);
    this.tokensAt = this.seenAt;
    this.compressor = transport.compressor ?? null;
    if (!transport.attach(this)) {
      // A transport already gone reports nothing more: settle now.
      this.finish({ code: 1006, reason: 'socket was not open', by: 'client' });
      this.state = CLOSED;
    }
  }

  /** `Date.now()` of the last frame received (message, ping or pong), read by the heartbeat sweep. */
  get lastSeen(): number {
    return this.seenAt;
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
    return this.transport.queuedBytes;
  }

  /** The remote address, for logs. */
  get remoteAddress(): string | undefined {
    return this.transport.remoteAddress;
  }

  /** How the connection ended (the first close, by either side), once it started closing; null while open. */
  get closedWith(): Readonly<CloseInfo> | null {
    return this.closeInfo;
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
    this.transport.send(data);
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
    this.transport.write(frame.bytes);
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
    this.transport.writeMany(frames);
    return 'sent';
  }

  // Whether `size` more bytes may be written now: 'sent' yes, else why not (and the connection is over).
  private admit(size: number): SendResult {
    if (!this.transport.isOpen) {
      // The client's close frame arrived (ws answered it); the socket lingers until TCP closes. Nothing
      // written now would be read: the connection is over for its owner already.
      this.finish({ code: 1000, reason: 'closed by the client', by: 'client' });
      return 'closed';
    }
    const queued = this.transport.queuedBytes;
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
    this.transport.close(code, fitted);
  }

  /** Destroys the socket at once, without a closing handshake (e.g. when a shutdown deadline passes). */
  terminate(): void {
    if (this.state === OPEN) this.finish({ code: 1006, reason: 'terminated', by: 'server' });
    this.transport.terminate();
  }

  private inboundQueue(): InboundQueue<IncomingMessage> {
    if (this.inbound === null) {
      this.inbound = new InboundQueue((length) => {
        if (length < this.limits.maxInboundMessages && this.transport.isPaused) this.transport.resume();
      });
      if (this.state !== OPEN) this.inbound.end();
    }
    return this.inbound;
  }

  /** @internal The transport's report of a message. */
  transportMessage(data: Buffer, isBinary: boolean): void {
    if (this.state !== OPEN) return;
    const now = Date.now();
    this.seenAt = now;
    if (this.limits.maxClientRate > 0 && !this.takeToken(now)) {
      this.close(CloseCode.POLICY_VIOLATION, 'message rate limit exceeded');
      return;
    }
    const message: IncomingMessage = isBinary ? data : data.toString('utf8');
    if (this.handler !== null) {
      this.handler.onMessage(this, message);
      return;
    }
    const queue = this.inboundQueue();
    queue.push(message);
    if (queue.length >= this.limits.maxInboundMessages) this.transport.pause();
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

  /** @internal The transport's report of a ping or pong. */
  transportAlive(): void {
    this.seenAt = Date.now();
  }

  /** @internal The transport's report of a pong: the answer to a probe, or a client's own. */
  transportPong(): void {
    const now = Date.now();
    this.seenAt = now;
    if (this.probeSentAt < 0) return;
    const rtt = now - this.probeSentAt;
    this.probeSentAt = -1;
    this.handler?.onProbe?.(this, rtt);
  }

  /**
   * Asks the client to answer once it has read everything written so far (a WebSocket ping); the
   * handler's `onProbe` hears the round trip. One probe at a time: returns false while one is out, or
   * once the connection is closing.
   */
  probe(): boolean {
    if (this.state !== OPEN || this.probeSentAt >= 0) return false;
    this.probeSentAt = Date.now();
    this.transport.probe();
    return true;
  }

  /** Milliseconds the probe out has waited for its answer (0 when none is out). */
  probeAgeMs(now = Date.now()): number {
    return this.probeSentAt < 0 ? 0 : now - this.probeSentAt;
  }

  /** @internal The transport's report that the socket is gone. */
  transportClosed(code: number, reason: string): void {
    if (this.state === OPEN) this.finish({ code, reason, by: 'client' });
    this.state = CLOSED;
    const info = this.closeInfo as CloseInfo;
    this.resolveClosed?.(info);
    this.resolveClosed = null;
    // Drop the references a closed connection would otherwise keep alive.
    this.transport.detach();
  }

  /** @internal The transport's report of a client breaking the wire protocol (it closes with `code` itself). */
  transportError(code: number, reason: string): void {
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
