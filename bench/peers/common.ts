/**
 * What the benchmark's peer servers share: the command line, the listening sockets, the HTTP push API
 * (the same routes and answers as pushgate's, JSON bodies only) and the shutdown. Each peer only supplies
 * how it attaches to the WebSocket port's HTTP servers, pushes, counts and closes its clients.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { onShutdownSignal } from '../../src/cli/signals.js';
import { createLogger } from '../../src/log.js';
import { closeHttp, hostPort, listenHttp } from '../../src/server/http-lifecycle.js';
import { sendJson } from '../../src/server/http-reply.js';

/** What a peer does on behalf of the push API and the shutdown. */
export interface Peer {
  /** Sends `items` to every client; returns the number of clients addressed. */
  pushAll(items: unknown[]): number;
  /** Sends `items` to the clients in `room`; returns the number of clients addressed. */
  pushRoom(room: string, items: unknown[]): number;
  stats(): { onlineConnections: number; roomCount: number };
  /** Closes every client; resolves once they are gone (the caller bounds the wait). */
  close(): Promise<void>;
}

export interface PeerOptions {
  /** WebSocket listening addresses; the same port on each. */
  hosts: string[];
  port: number;
  apiHost: string;
  apiPort: number;
}

const USAGE = `options:
  --host <list>       comma-separated WebSocket listening addresses, same port on each (default 127.0.0.1)
  --port <port>       WebSocket port; 0 picks a free one (default 7777)
  --api-host <addr>   push API address (default 127.0.0.1)
  --api-port <port>   push API port; 0 picks a free one (default 7788)`;

/** Largest push API body, as pushgate's default `maxBodySize`. */
const MAX_BODY = 1024 * 1024;
/** How long a shutdown waits for clients to close before exiting anyway. */
const CLOSE_GRACE_MS = 2000;

class UsageError extends Error {}

function port(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value > 65535) throw new UsageError(`invalid ${flag}: must be an integer from 0 to 65535, got "${raw}"`);
  return value;
}

export function parsePeerArgs(args: string[]): PeerOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7777' },
      'api-host': { type: 'string', default: '127.0.0.1' },
      'api-port': { type: 'string', default: '7788' },
    },
  });
  const hosts = [
    ...new Set(
      values.host
        .split(',')
        .map((h) => h.trim())
        .filter((h) => h !== ''),
    ),
  ];
  if (hosts.length === 0) throw new UsageError('invalid --host: give at least one address');
  if (values['api-host'] === '') throw new UsageError('invalid --api-host: empty');
  return { hosts, port: port('--port', values.port), apiHost: values['api-host'], apiPort: port('--api-port', values['api-port']) };
}

/** A 400/404/413/415 answer of the push API. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
  if (type !== 'application/json') {
    return Promise.reject(new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json'));
  }
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) {
    return Promise.reject(new ApiError(413, 'BODY_TOO_LARGE', `the body is over ${MAX_BODY} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, 'BODY_TOO_LARGE', `the body is over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reject(new ApiError(400, 'INVALID_BODY', 'the body is not valid JSON'));
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return reject(new ApiError(400, 'INVALID_BODY', 'the body must be a JSON object'));
      }
      resolve(body as Record<string, unknown>);
    });
  });
}

function itemsOf(body: Record<string, unknown>): unknown[] {
  const items = body.items;
  if (!Array.isArray(items) || items.length === 0) throw new ApiError(400, 'INVALID_BODY', '"items" must be a non-empty array');
  return items;
}

function roomOf(body: Record<string, unknown>): string {
  const room = body.room;
  if (typeof room !== 'string') throw new ApiError(400, 'INVALID_BODY', '"room" must be a string');
  if (room === '') throw new ApiError(400, 'INVALID_ROOM', '"room" must not be empty');
  return room;
}

/** The push API: `POST /push/all`, `POST /push/room`, `GET /stats`, `GET /healthz`; 404 otherwise. */
export function createApiServer(peer: Peer): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const route = `${req.method} ${path}`;
    if (route === 'POST /push/all') {
      const items = itemsOf(await readJson(req));
      sendJson(res, 200, { ok: true, items: items.length, recipients: peer.pushAll(items) });
    } else if (route === 'POST /push/room') {
      const body = await readJson(req);
      const room = roomOf(body);
      const items = itemsOf(body);
      sendJson(res, 200, { ok: true, items: items.length, recipients: peer.pushRoom(room, items) });
    } else if (route === 'GET /stats') {
      sendJson(res, 200, peer.stats());
    } else if (route === 'GET /healthz') {
      sendJson(res, 200, { ok: true });
    } else {
      throw new ApiError(404, 'NOT_FOUND', `no route ${route}`);
    }
  };
  return createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      const known = error instanceof ApiError;
      if (!known) console.error('push API request failed:', error);
      sendJson(
        res,
        known ? error.status : 500,
        { ok: false, error: known ? { code: error.code, message: error.message } : { code: 'INTERNAL_ERROR', message: 'internal error' } },
        // A body left unread (413, 415) must not be taken for the next request on this connection.
        known && error.status !== 400 && error.status !== 404 ? { Connection: 'close' } : {},
      );
    });
  });
}

/** A WebSocket-port HTTP server: plain HTTP requests that no peer handles get 404. */
function createWsHttpServer(): Server {
  return createServer((_req, res) => sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: 'not found' } }));
}

/**
 * Listens on `port` on every address in `hosts`. With port 0 the first address picks the port and the
 * others take the same; should one of them find it taken, everything is closed and tried again.
 */
async function listenAll(hosts: string[], port: number, onError: (error: Error) => void): Promise<{ servers: Server[]; address: AddressInfo }> {
  for (let attempt = 1; ; attempt++) {
    const servers: Server[] = [];
    try {
      let address: AddressInfo | undefined;
      for (const host of hosts) {
        const server = createWsHttpServer();
        servers.push(server);
        const bound = await listenHttp(server, address?.port ?? port, host, onError);
        address ??= bound;
      }
      return { servers, address: address! };
    } catch (error) {
      await Promise.all(servers.map(closeHttp));
      const retry = port === 0 && attempt < 10 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (!retry) throw error;
    }
  }
}

/**
 * Runs a peer: parses the command line, listens, attaches the peer to the WebSocket port's servers,
 * serves the push API, prints `listening ws=HOST:PORT api=HOST:PORT` and closes on SIGINT/SIGTERM.
 */
export async function runPeer(name: string, attach: (servers: Server[]) => Peer): Promise<void> {
  let options: PeerOptions;
  try {
    options = parsePeerArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${name}: ${(error as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  // Warnings and errors to stderr; stdout holds the start-up line only.
  const log = createLogger('warn', 'text', process.stderr);
  const onError = (error: Error): void => log.error({ err: error }, 'server error');
  const { servers, address } = await listenAll(options.hosts, options.port, onError);
  const peer = attach(servers);
  const api = createApiServer(peer);
  const apiAddress = await listenHttp(api, options.apiPort, options.apiHost, onError);

  onShutdownSignal(log, 4000, async () => {
    const all = [...servers, api];
    const closing = Promise.all(all.map(closeHttp));
    await Promise.race([peer.close(), delay(CLOSE_GRACE_MS)]);
    for (const server of all) server.closeAllConnections();
    await Promise.race([closing, delay(500)]);
    process.exit(0);
  });
  process.stdout.write(`listening ws=${hostPort(address)} api=${hostPort(apiAddress)}\n`);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Starts a peer's `main`, reporting a failure to start on stderr with exit code 1. */
export function main(name: string, attach: (servers: Server[]) => Peer): void {
  runPeer(name, attach).catch((error: unknown) => {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
