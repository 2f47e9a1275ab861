import { type ClientOptions, WebSocket } from 'ws';
import { withTimeout } from './wait.js';

/**
 * Awaits a handshake that should be refused; resolves with its HTTP status and JSON body. A handshake
 * that is accepted instead fails the test (and its client is closed).
 */
export async function refusal(open: Promise<TestClient>): Promise<{ status: number; body: any }> {
  const error = await open.then(
    (client) => {
      client.close();
      return null;
    },
    (e: { status?: number; body?: string }) => e,
  );
  if (error === null) throw new Error('the handshake was accepted');
  return { status: error.status ?? 0, body: JSON.parse(error.body || '{}') };
}

/** A server frame as the client parsed it. */
export interface Frame {
  type: string;
  id?: string | number;
  data?: any;
}

/**
 * A real `ws` client that records every frame it receives, so tests can await the next one (with a
 * bounded wait) instead of sleeping.
 */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly texts: string[] = [];
  private read = 0;
  private waiter: (() => void) | null = null;
  private nextId = 1;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? `<binary ${(data as Buffer).length}>` : data.toString();
      this.texts.push(text);
      let frame: Frame;
      try {
        frame = JSON.parse(text);
      } catch {
        frame = { type: '<text>', data: text };
      }
      this.frames.push(frame);
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.waiter?.();
      });
    });
    ws.on('error', () => {});
  }

  /** Opens a connection (offering `protocols`, if given); rejects with the HTTP status when the handshake is refused. */
  static open(url: string, options: ClientOptions = {}, protocols?: string | string[]): Promise<TestClient> {
    const ws = protocols === undefined ? new WebSocket(url, options) : new WebSocket(url, protocols, options);
    return withTimeout(
      new Promise<TestClient>((resolve, reject) => {
        ws.once('open', () => resolve(new TestClient(ws)));
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => reject(Object.assign(new Error(`handshake refused: ${res.statusCode}`), { status: res.statusCode, body })));
        });
        ws.once('error', reject);
      }),
      5000,
      `connection to ${url}`,
    );
  }

  /** Sends an object as JSON text, or a string/Buffer as is. */
  send(message: unknown): void {
    this.ws.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message));
  }

  /** The next frame not yet returned by `next`. */
  async next(ms = 3000): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (this.read >= this.frames.length) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('connection closed while waiting for a frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${ms} ms`);
      await withTimeout(new Promise<void>((resolve) => (this.waiter = resolve)), left, 'the next frame').catch((error) => {
        if (this.read >= this.frames.length) throw error;
      });
      this.waiter = null;
    }
    return this.frames[this.read++];
  }

  /** The next frame of `type`, skipping others. */
  async nextOfType(type: string, ms = 3000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const frame = await this.next(Math.max(1, deadline - Date.now()));
      if (frame.type === type) return frame;
    }
  }

  /**
   * Sends a request with a fresh id and resolves with the frame answering it (ACK, PONG or ERROR).
   * Other frames that arrive meanwhile (pushes) stay unread for `next`.
   */
  async request(type: string, data: unknown = {}, ms = 3000): Promise<Frame> {
    const id = this.nextId++;
    this.send({ type, id, data });
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.frames.findIndex((frame, i) => i >= this.read && frame.id === id);
      if (index !== -1) return this.frames.splice(index, 1)[0];
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`connection closed while waiting for the answer to ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no answer to ${type} within ${ms} ms`);
      await withTimeout(new Promise<void>((resolve) => (this.waiter = resolve)), left, `the answer to ${type}`).catch(() => undefined);
      this.waiter = null;
    }
  }

  /** This connection's id, learnt from an ACK. */
  async connId(): Promise<string> {
    const ack = await this.request('JOIN', { room: 'whoami' });
    await this.request('LEAVE', { room: 'whoami' });
    return ack.data.conn;
  }

  /** Resolves with the close code and reason, failing after `ms`. */
  waitClosed(ms = 3000): Promise<{ code: number; reason: string }> {
    return withTimeout(this.closed, ms, 'the connection to close');
  }

  /** Stops reading from the socket, as a client that cannot keep up: the server's writes back up. */
  pauseReading(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  /** Reads again after {@link pauseReading}. */
  resumeReading(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
