import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { withTimeout } from '../helpers/wait.js';

/**
 * A WebSocket client written by hand over a raw TCP socket, for feeding the gateway bytes that no
 * well-behaved client library would send: unmasked frames, reserved bits and opcodes, lies about
 * lengths, broken fragmentation. It parses what the server answers (server frames are never masked).
 */

/** A frame the server sent. */
export interface ServerFrame {
  opcode: number;
  fin: boolean;
  payload: Buffer;
}

/** How a raw connection ended up after a case: the frames received and whether (and how) it closed. */
export interface RawOutcome {
  frames: ServerFrame[];
  /** The code of the server's close frame, if one arrived (1005 for a close frame without a code). */
  closeCode: number | undefined;
  /** Whether the TCP connection ended (FIN or reset) from the server's side. */
  ended: boolean;
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** Mask the payload (as clients must). Default true. */
  mask?: boolean;
  /** The RSV1-3 bits, 0..7. Default 0. */
  rsv?: number;
  /** A length to declare instead of the payload's (a lie: e.g. 2^62 with a few bytes of data). */
  declaredLength?: bigint;
}

/** Encodes one client frame. */
export function frame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const mask = spec.mask ?? true;
  const length = spec.declaredLength ?? BigInt(payload.length);
  const first = ((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0x0f);
  let header: Buffer;
  if (length < 126n) {
    header = Buffer.from([first, (mask ? 0x80 : 0) | Number(length)]);
  } else if (length < 65536n) {
    header = Buffer.alloc(4);
    header[0] = first;
    header[1] = (mask ? 0x80 : 0) | 126;
    header.writeUInt16BE(Number(length), 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = (mask ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(length, 2);
  }
  if (!mask) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([header, key, masked]);
}

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** A raw connection after a completed handshake. */
export class RawWs {
  readonly frames: ServerFrame[] = [];
  closeCode: number | undefined = undefined;
  ended = false;
  private buffer: Buffer = Buffer.alloc(0);
  private notify: (() => void) | null = null;

  private constructor(
    readonly socket: Socket,
    rest: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => {
      this.ended = true;
      this.notify?.();
    });
    socket.on('error', () => {});
    if (rest.length > 0) this.onData(rest);
  }

  /** Connects and performs the opening handshake (GET /connect with Upgrade), by hand. */
  static async open(port: number, path = '/connect'): Promise<RawWs> {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    const key = randomBytes(16).toString('base64');
    const rest = await withTimeout(
      new Promise<Buffer>((resolve, reject) => {
        let head = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          head = Buffer.concat([head, chunk]);
          const end = head.indexOf('\r\n\r\n');
          if (end === -1) return;
          socket.off('data', onData);
          const status = head.subarray(0, end).toString('latin1').split('\r\n', 1)[0];
          if (!/^HTTP\/1\.1 101 /.test(status)) reject(new Error(`handshake answered ${status}`));
          else resolve(head.subarray(end + 4));
        };
        socket.on('data', onData);
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('socket closed during the handshake')));
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      }),
      3000,
      'the raw WebSocket handshake',
    );
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    return new RawWs(socket, rest);
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Text payloads of the data frames received so far, parsed as JSON when possible. */
  get messages(): any[] {
    return this.frames
      .filter((f) => f.opcode === OP.TEXT)
      .map((f) => {
        try {
          return JSON.parse(f.payload.toString());
        } catch {
          return f.payload.toString();
        }
      });
  }

  /** Waits until `condition` holds or the socket ends, at most `ms`. */
  async until(condition: (ws: RawWs) => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition(this) && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await withTimeout(new Promise<void>((resolve) => (this.notify = resolve)), left, 'raw socket').catch(() => undefined);
      this.notify = null;
    }
  }

  outcome(): RawOutcome {
    return { frames: [...this.frames], closeCode: this.closeCode, ended: this.ended };
  }

  /** Ends the connection from this side at once. */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) break;
      const b0 = this.buffer[0];
      const b1 = this.buffer[1];
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) break;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) break;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (b1 & 0x80) offset += 4; // a server must not mask, but do not choke on it
      if (this.buffer.length < offset + length) break;
      const payload = this.buffer.subarray(offset, offset + length);
      const parsed: ServerFrame = { opcode: b0 & 0x0f, fin: (b0 & 0x80) !== 0, payload: Buffer.from(payload) };
      this.frames.push(parsed);
      if (parsed.opcode === OP.CLOSE && this.closeCode === undefined) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.buffer = this.buffer.subarray(offset + length);
    }
    this.notify?.();
  }
}
