import { createConnection, createServer, type Server } from 'node:net';

/** A server frame's header as seen on the wire. */
export interface WireFrame {
  opcode: number;
  rsv1: boolean;
  length: number;
}

/**
 * A TCP relay between clients and a server on loopback that parses what the server sends (after the
 * HTTP response that upgrades the connection) into frame headers, per client connection: tests see
 * whether frames went out compressed (RSV1) and how many bytes they took, which no client API shows.
 */
export class WireTap {
  /**
   * Per relayed connection, in accept order: the server's frames and the bytes it sent after the
   * handshake, and the client's frames.
   */
  readonly connections: Array<{ frames: WireFrame[]; bytes: number; response: string; clientFrames: WireFrame[] }> = [];
  private readonly server: Server;

  private constructor(
    server: Server,
    readonly port: number,
  ) {
    this.server = server;
  }

  static async relay(targetPort: number): Promise<WireTap> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const tap = new WireTap(server, typeof address === 'object' && address !== null ? address.port : 0);
    server.on('connection', (client) => {
      const record = { frames: [] as WireFrame[], bytes: 0, response: '', clientFrames: [] as WireFrame[] };
      tap.connections.push(record);
      const upstream = createConnection(targetPort, '127.0.0.1');
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream);
      let request: Buffer = Buffer.alloc(0);
      let requestDone = false;
      client.on('data', (chunk: Buffer) => {
        request = Buffer.concat([request, chunk]);
        if (!requestDone) {
          const end = request.indexOf('\r\n\r\n');
          if (end === -1) return;
          request = request.subarray(end + 4);
          requestDone = true;
        }
        request = parseFrames(request, record.clientFrames);
      });
      let head: Buffer = Buffer.alloc(0);
      let handshake = true;
      upstream.on('data', (chunk: Buffer) => {
        client.write(chunk);
        head = Buffer.concat([head, chunk]);
        if (handshake) {
          const end = head.indexOf('\r\n\r\n');
          if (end === -1) return;
          record.response = head.subarray(0, end).toString('latin1');
          head = head.subarray(end + 4);
          handshake = false;
        }
        record.bytes += handshake ? 0 : chunk.length;
        head = parseFrames(head, record.frames);
      });
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    return tap;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// Takes every whole frame (masked or not) off the front of `buffer`; returns the rest.
function parseFrames(buffer: Buffer, frames: WireFrame[]): Buffer {
  let at = 0;
  for (;;) {
    if (buffer.length - at < 2) break;
    const length7 = buffer[at + 1] & 0x7f;
    const mask = (buffer[at + 1] & 0x80) !== 0 ? 4 : 0;
    const header = (length7 < 126 ? 2 : length7 === 126 ? 4 : 10) + mask;
    if (buffer.length - at < header) break;
    const length = length7 < 126 ? length7 : length7 === 126 ? buffer.readUInt16BE(at + 2) : Number(buffer.readBigUInt64BE(at + 2));
    if (buffer.length - at < header + length) break;
    frames.push({ opcode: buffer[at] & 0x0f, rsv1: (buffer[at] & 0x40) !== 0, length });
    at += header + length;
  }
  return buffer.subarray(at);
}
