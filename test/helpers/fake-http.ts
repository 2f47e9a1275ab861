import type { Server } from 'node:http';
import { Duplex } from 'node:stream';

/** An HTTP answer as read off the wire. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Hands `request` (raw HTTP/1.1 bytes) to an HTTP server through an in-memory socket, without a port:
 * a duplex stream stands in for the connection, and everything the server writes back is parsed as
 * one answer. The request should say `Connection: close`; resolves when the server ends the connection.
 */
export function exchange(server: Server, request: string): Promise<RawAnswer> {
  const written: Buffer[] = [];
  let done!: () => void;
  const ended = new Promise<void>((resolve) => (done = resolve));
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(Buffer.from(chunk));
      callback();
    },
    final(callback) {
      done();
      callback();
    },
    destroy(error, callback) {
      done();
      callback(error);
    },
  });
  Object.assign(socket, { remoteAddress: '127.0.0.1', remotePort: 50000, setTimeout: () => socket, setNoDelay: () => socket, setKeepAlive: () => socket });
  server.emit('connection', socket);
  socket.push(request);
  return ended.then(() => parseAnswer(Buffer.concat(written).toString('latin1')));
}

function parseAnswer(text: string): RawAnswer {
  const split = text.indexOf('\r\n\r\n');
  if (split === -1) throw new Error(`no complete answer: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const raw = text.slice(split + 4);
  const body = headers['transfer-encoding'] === 'chunked' ? unchunk(raw) : raw;
  return { status: Number(statusLine!.split(' ')[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8') };
}

/** The payload of a chunked body: `<hex size>\r\n<data>\r\n`…`0\r\n\r\n`. */
function unchunk(raw: string): string {
  let out = '';
  let at = 0;
  // Bounded by the text: each chunk moves on by at least its size line.
  while (at < raw.length) {
    const eol = raw.indexOf('\r\n', at);
    const size = parseInt(raw.slice(at, eol), 16);
    if (!(size > 0)) break;
    out += raw.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
  return out;
}

/** A raw request: `method path`, headers, and a body with its Content-Length; always `Connection: close`. */
export function rawRequest(method: string, path: string, headers: Record<string, string> = {}, body = ''): string {
  const all = { host: 'api.test', connection: 'close', ...(body === '' ? {} : { 'content-length': String(Buffer.byteLength(body)) }), ...headers };
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(all)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n${body}`;
}
