import type { Transport, TransportSink } from '../../src/transport/transport.js';

/**
 * A transport without a socket, for unit tests of connections and what drives them: it records every
 * write (one entry per call, holding the very Buffers written), reports the queue length the test
 * sets, and lets the test play the client (messages, pings, a close).
 */
export class FakeTransport implements Transport {
  sink: TransportSink | null = null;
  /** Each write call: the buffers it wrote, in order (`send` records the message itself). */
  readonly writes: Buffer[][] = [];
  /** Messages given to `send`, unframed. */
  readonly sent: Array<string | Buffer> = [];
  /** What `queuedBytes` reports: set it to play a client that stopped reading. */
  queued = 0;
  /** The close the connection asked for, if any (only the first is kept; `closeCalls` counts them all). */
  closedWith: { code: number; reason: string } | null = null;
  closeCalls = 0;
  terminated = false;
  detached = false;
  paused = false;
  /** Probes (pings) sent. */
  probes = 0;
  private open: boolean;

  constructor(open = true) {
    this.open = open;
  }

  attach(sink: TransportSink): boolean {
    if (!this.open) return false;
    this.sink = sink;
    return true;
  }

  get isOpen(): boolean {
    return this.open;
  }

  get queuedBytes(): number {
    return this.queued;
  }

  get remoteAddress(): string | undefined {
    return '192.0.2.1';
  }

  get isPaused(): boolean {
    return this.paused;
  }

  send(data: string | Buffer): void {
    this.sent.push(data);
  }

  write(bytes: Buffer): void {
    this.writes.push([bytes]);
  }

  probe(): void {
    this.probes += 1;
  }

  writeMany(frames: readonly { readonly bytes: Buffer }[]): void {
    this.writes.push(frames.map((frame) => frame.bytes));
  }

  close(code: number, reason: string): void {
    this.closeCalls += 1;
    this.closedWith ??= { code, reason };
    this.open = false;
  }

  terminate(): void {
    this.terminated = true;
    this.open = false;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  detach(): void {
    this.detached = true;
    this.sink = null;
  }

  /** The client sends a text message. */
  receive(text: string): void {
    this.sink?.transportMessage(Buffer.from(text), false);
  }

  /** The client's close frame arrived (ws answers it): writes are no longer read. */
  peerClosing(): void {
    this.open = false;
  }

  /** The socket is gone (after the closing handshake, or cut). */
  gone(code = 1005, reason = ''): void {
    this.open = false;
    this.sink?.transportClosed(code, reason);
  }

  /** The payloads of every frame written, as text (unmasked server frames of any length). */
  payloads(): string[] {
    return this.writes.flat().map(framePayload);
  }
}

/** The payload of one unmasked WebSocket frame, as text. */
export function framePayload(bytes: Buffer): string {
  const length = bytes[1]! & 0x7f;
  return bytes.subarray(length === 126 ? 4 : length === 127 ? 10 : 2).toString();
}
