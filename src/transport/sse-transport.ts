import type { ServerResponse } from 'node:http';
import { CloseCode } from '../protocol/codes.js';
import { closeEvent, SSE_PING, sseEvent } from '../protocol/sse-protocol.js';
import type { Transport, TransportSink } from './transport.js';

/** The close a stream reports when its client went (an EventSource closed, a tab navigated away, a cut). */
export const SSE_CLIENT_GONE = { code: CloseCode.GOING_AWAY, reason: 'the client closed the stream' } as const;

/**
 * A Server-Sent Events response as a {@link Transport}: the connection writes events (the SSE protocol's
 * prepared frames, src/protocol/sse-protocol.ts) to the HTTP response, whose `writableLength` (its own
 * buffer and the socket's) is the out queue. The client's requests do not come on this response but as
 * HTTP requests of their own (src/gateway/sse-endpoint.ts), each handed over with {@link deliver}.
 *
 * - `close(code, reason)` writes a last `close` event (`{"code","reason"}`) and ends the response; the
 *   socket then closes (the stream is answered with `Connection: close`). `terminate` destroys it.
 * - `probe` writes a `: ping` comment and reports the pong once the kernel took it (with everything
 *   written before it); {@link heartbeat} writes the same comment and reports a sign of life likewise.
 * - There is nothing to read: `pause` and `resume` do nothing.
 * - The response's `close` event (whoever ended it) is reported once, as the close the server started,
 *   or {@link SSE_CLIENT_GONE}.
 */
export class SseTransport implements Transport {
  private sink: TransportSink | null = null;
  private ending = false;
  private reported = false;
  /** The close the server started (its code and reason are what the connection reports). */
  private closeWith: { code: number; reason: string } | null = null;
  private readonly onClose = (): void => this.closed();

  constructor(private readonly res: ServerResponse) {}

  attach(sink: TransportSink): boolean {
    if (!this.isOpen) {
      if (!this.res.destroyed) this.res.destroy();
      return false;
    }
    this.sink = sink;
    this.res.once('close', this.onClose);
    return true;
  }

  get isOpen(): boolean {
    const res = this.res;
    return !this.ending && !res.destroyed && !res.writableEnded;
  }

  get queuedBytes(): number {
    return this.res.writableLength;
  }

  get remoteAddress(): string | undefined {
    return this.res.socket?.remoteAddress ?? this.res.req?.socket?.remoteAddress;
  }

  /** Writes a message as an unnamed event (`message`, EventSource's `onmessage`); a Buffer as UTF-8 text. */
  send(data: string | Buffer): void {
    this.write(Buffer.from(sseEvent('message', typeof data === 'string' ? data : data.toString('utf8'))));
  }

  write(bytes: Buffer): void {
    if (bytes.length > 0 && this.isOpen) this.res.write(bytes);
  }

  writeMany(frames: readonly { readonly bytes: Buffer }[]): void {
    if (!this.isOpen) return;
    const res = this.res;
    res.cork();
    for (const frame of frames) if (frame.bytes.length > 0) res.write(frame.bytes);
    res.uncork();
  }

  probe(): void {
    if (!this.isOpen) return;
    this.res.write(SSE_PING, (error) => {
      if (error == null) this.sink?.transportPong();
    });
  }

  /** Writes the keep-alive comment; once the kernel took it, the client counts as alive. */
  heartbeat(): void {
    if (!this.isOpen) return;
    this.res.write(SSE_PING, (error) => {
      if (error == null) this.sink?.transportAlive();
    });
  }

  /**
   * A request of the client that came as an HTTP request (`text`: a go-push JSON message): reported as a
   * message of this stream, so the connection's rate limit and liveness count it like a frame.
   */
  deliver(text: string): void {
    if (this.sink !== null && this.isOpen) this.sink.transportMessage(Buffer.from(text), false);
  }

  close(code: number, reason: string): void {
    if (!this.isOpen) return;
    this.ending = true;
    this.closeWith = { code, reason };
    this.res.end(closeEvent(code, reason));
  }

  terminate(): void {
    this.ending = true;
    this.res.destroy();
  }

  pause(): void {}

  resume(): void {}

  get isPaused(): boolean {
    return false;
  }

  detach(): void {
    this.res.off('close', this.onClose);
    this.sink = null;
  }

  private closed(): void {
    if (this.reported) return;
    this.reported = true;
    this.ending = true;
    const { code, reason } = this.closeWith ?? SSE_CLIENT_GONE;
    this.sink?.transportClosed(code, reason);
  }
}
