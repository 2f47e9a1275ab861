import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { chooseProtocol } from '../auth/jwt.js';
import type { OriginPolicy } from '../auth/origin.js';
import { handshakeRefusal } from '../protocol/errors.js';
import { AddressLimit } from './address-limit.js';
import { closeHttp, listenHttp } from './http-lifecycle.js';
import { sendJson } from './http-reply.js';
import type { TlsCredentials } from './tls.js';

/** The answer of an {@link WsListenerOptions.admit} check. */
export type HandshakeVerdict = { ok: true; context?: unknown } | { ok: false; status: number; code: string; message: string; headers?: Record<string, string> };

type Refusal = Extract<HandshakeVerdict, { ok: false }>;

/** Settings of a {@link WsListener}. */
export interface WsListenerOptions {
  /** Listening address, or several separated by commas (all on the same port). */
  host: string;
  port: number;
  /** The port's certificate: it then serves `wss://` and `https://` only. Absent: plain `ws://` and `http://`. */
  tls?: TlsCredentials;
  /** URL paths that accept WebSocket handshakes, e.g. `['/connect', '/ws']`. */
  paths: readonly string[];
  /** Path prefixes that accept them too, with anything after (e.g. `/app/` for Pusher's `/app/<key>`). */
  pathPrefixes?: readonly string[];
  originPolicy: OriginPolicy;
  /** Largest message a client may send; larger ones are closed with 1009 by `ws`. */
  maxMessageSize: number;
  /**
   * Negotiate permessage-deflate (RFC 7692) with clients that offer it, always with
   * `server_no_context_takeover` so that a frame compressed once is valid for every such client (see
   * src/protocol/deflate-frame.ts). Default false: no extension is negotiated.
   */
  perMessageDeflate?: boolean;
  /** Milliseconds to wait for the client's answer to a close frame before the socket is destroyed. */
  closeTimeout?: number;
  /** Milliseconds a client may take to send its whole handshake request; slower ones are cut (slowloris). Default 10 s. */
  handshakeTimeout?: number;
  /**
   * Sockets one remote address may hold on this port — WebSockets, and handshakes from the moment
   * they start until they are answered — before handshakes are refused with 429 (0 or absent:
   * unlimited). Each counts until its socket closes.
   */
  maxConnectionsPerIp?: number;
  /**
   * Further checks once path, origin and the per-address limit pass (authentication): refuse with a
   * status, or accept with a context handed to `onConnection`. May be async.
   */
  admit?(req: IncomingMessage): HandshakeVerdict | Promise<HandshakeVerdict>;
  /** Called with each accepted WebSocket and the context `admit` gave it. The request is not kept. */
  onConnection(ws: WebSocket, req: IncomingMessage, context: unknown): void;
  /** Called with errors of the listening socket after it started (e.g. EMFILE on accept). */
  onError?(error: Error): void;
  /** Called when a handshake is refused (for counters and logs). */
  onRefused?(status: number, reason: string, req: IncomingMessage): void;
  /** Called when a handshake ends because its client went away before it was answered. */
  onAborted?(req: IncomingMessage): void;
  /** Serves plain HTTP requests on the same port (pages, health); returns false to answer 404. */
  onRequest?(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * The WebSocket port: an HTTP server whose upgrades on the configured paths, from allowed origins,
 * become WebSockets (refused ones get a status and a JSON body before any WebSocket exists), and whose
 * plain requests go to `onRequest`.
 *
 * Admission happens in the `upgrade` event itself: path, origin and the per-address count are checked
 * at once (the count is taken before anything is awaited, so simultaneous handshakes cannot overrun
 * it), then `admit` (which may be async); only then does `ws` complete the upgrade, and the verdict's
 * context goes straight to `onConnection`. Every handshake ends in exactly one of `onConnection`,
 * `onRefused` or `onAborted`, except requests `ws` itself refuses as malformed (400/405, its own text body).
 */
export class WsListener {
  private readonly hosts: string[];
  private readonly servers: Server[];
  private readonly wss: WebSocketServer;
  /** Sockets per remote address; null when unlimited. */
  private readonly addressLimit: AddressLimit | null;
  private accepting = true;

  constructor(private readonly options: WsListenerOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: options.perMessageDeflate === true ? deflateNegotiation : false,
      maxPayload: options.maxMessageSize,
      closeTimeout: options.closeTimeout ?? 5000,
      // A token offered as `pushgate.token.<jwt>` must be answered (or `pushgate` if offered too).
      handleProtocols: chooseProtocol,
    } as ConstructorParameters<typeof WebSocketServer>[0]);
    const max = options.maxConnectionsPerIp ?? 0;
    this.addressLimit = max > 0 ? new AddressLimit(max) : null;
    this.hosts = options.host
      .split(',')
      .map((host) => host.trim())
      .filter((host) => host !== '');
    this.servers = this.hosts.map(() => this.createServer());
  }

  /**
   * Sockets `address` holds on this port against `maxConnectionsPerIp`: open WebSockets (closing ones
   * until their socket is gone) and handshakes under way. 0 when there is no limit.
   */
  connectionsFrom(address: string): number {
    return this.addressLimit?.count(address) ?? 0;
  }

  /** The port's per-address limit, for other streams of the same port (Server-Sent Events) to count against; null when off. */
  get portAddressLimit(): AddressLimit | null {
    return this.addressLimit;
  }

  private createServer(): Server {
    const settings = { connectionsCheckingInterval: Math.max(100, Math.min(30000, (this.options.handshakeTimeout ?? 10000) / 4)) };
    const serve = (req: IncomingMessage, res: ServerResponse): void => {
      if (this.options.onRequest?.(req, res) !== true) {
        const { status, code, message } = handshakeRefusal.NOT_FOUND.page();
        sendJson(res, status, { ok: false, error: { code, message } });
      }
    };
    const tls = this.options.tls;
    const server = tls === undefined ? createServer(settings, serve) : createTlsServer({ ...settings, ...tls.serverOptions }, serve);
    if (tls !== undefined) {
      tls.attach(server as import('node:https').Server);
      // A failed TLS handshake (a plain-HTTP client, an old TLS version) ends its socket; it must not end the process.
      server.on('tlsClientError', (_error, socket) => socket.destroy());
    }
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    // Slowloris: a request (the handshake) that takes longer than this to arrive is cut. Node checks
    // every connectionsCheckingInterval, so the check runs often enough to honour a short limit.
    const timeout = this.options.handshakeTimeout ?? 10000;
    server.headersTimeout = timeout;
    server.requestTimeout = timeout;
    // A malformed request or a reset socket must not crash the process: answer 400 when possible.
    server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    return server;
  }

  // One handshake, from the request to the WebSocket (or its refusal). Everything up to the
  // per-address count runs before any await.
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // The HTTP server no longer watches an upgraded socket: until ws takes it over, an error (a reset
    // mid-handshake) must not go unhandled. The error destroys the socket, which releases its count.
    socket.on('error', ignoreSocketError);
    if (socket.destroyed) {
      this.options.onAborted?.(req);
      return;
    }
    const immediate = this.immediateRefusal(req);
    if (immediate !== null) {
      this.refuse(req, socket, immediate);
      return;
    }
    const limit = this.addressLimit;
    if (limit !== null && !limit.acquire(socket)) {
      this.refuse(req, socket, handshakeRefusal.TOO_MANY_CONNECTIONS.perAddress(limit.max));
      return;
    }
    const admit = this.options.admit;
    if (admit === undefined) {
      this.complete(req, socket, head, undefined);
      return;
    }
    Promise.resolve()
      .then(() => admit(req))
      .then(
        (verdict) => {
          if (!verdict.ok) this.refuse(req, socket, verdict);
          else if (!this.accepting) this.refuse(req, socket, shuttingDown);
          else this.complete(req, socket, head, verdict.context);
        },
        (error: unknown) => this.refuse(req, socket, handshakeRefusal.INTERNAL_ERROR.failed((error as Error).message)),
      );
  }

  // The checks that need nothing but the request: shutdown, path, origin.
  private immediateRefusal(req: IncomingMessage): Refusal | null {
    if (!this.accepting) return shuttingDown;
    const path = (req.url ?? '/').split('?', 1)[0];
    const prefixes = this.options.pathPrefixes ?? [];
    if (!this.options.paths.includes(path) && !prefixes.some((prefix) => path.length > prefix.length && path.startsWith(prefix))) {
      return handshakeRefusal.NOT_FOUND.endpoint(path, [...this.options.paths, ...prefixes.map((prefix) => `${prefix}…`)]);
    }
    const origin = handshakeOrigin(req);
    if (!this.options.originPolicy.allows(origin || undefined, { address: req.socket.localAddress, port: req.socket.localPort })) {
      return handshakeRefusal.ORIGIN_NOT_ALLOWED.origin(origin);
    }
    return null;
  }

  // Hands an admitted handshake to ws, which checks the rest of the request and answers 101.
  private complete(req: IncomingMessage, socket: Duplex, head: Buffer, context: unknown): void {
    // A client that went (or half-closed) while it was being admitted gets no WebSocket (ws would cut it too).
    if (socket.destroyed || !socket.readable || !socket.writable) {
      socket.destroy();
      this.options.onAborted?.(req);
      return;
    }
    socket.off('error', ignoreSocketError); // ws handles the socket's errors from here
    this.wss.handleUpgrade(req, socket, head, (ws) => this.options.onConnection(ws, req, context));
  }

  // Answers a refused handshake with its status and a JSON body, then closes the socket.
  private refuse(req: IncomingMessage, socket: Duplex, verdict: Refusal): void {
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      this.options.onAborted?.(req);
      return;
    }
    this.options.onRefused?.(verdict.status, verdict.message, req);
    const body = JSON.stringify({ ok: false, error: { code: verdict.code, message: verdict.message } });
    const headers: Record<string, string> = {
      Connection: 'close',
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      ...verdict.headers,
    };
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
    socket.once('finish', destroySocket);
    socket.end(`HTTP/1.1 ${verdict.status} ${STATUS_CODES[verdict.status] ?? ''}\r\n${lines.join('\r\n')}\r\n\r\n${body}`);
  }

  /**
   * Starts listening on every address; resolves with the first one's bound address. With port 0 the
   * first address picks the port and the others take the same.
   */
  async listen(): Promise<AddressInfo> {
    const onError = (error: Error): void => this.options.onError?.(error);
    const first = await listenHttp(this.servers[0], this.options.port, this.hosts[0], onError);
    try {
      for (let i = 1; i < this.servers.length; i++) await listenHttp(this.servers[i], first.port, this.hosts[i], onError);
    } catch (error) {
      this.servers.forEach((server) => server.close());
      throw error;
    }
    return first;
  }

  /**
   * Refuses new handshakes (503) and stops listening; open WebSockets stay. The returned promise
   * resolves once every socket of this port (WebSockets included) has closed.
   */
  stopAccepting(): Promise<void> {
    this.accepting = false;
    return Promise.all(this.servers.map(closeHttp)).then(() => undefined);
  }

  /** Destroys what is left of the HTTP side (after the WebSockets were closed). */
  destroy(): void {
    for (const server of this.servers) server.closeAllConnections();
  }
}

/**
 * ws's negotiation of permessage-deflate. Every offer it can parse is accepted (an offer ws refuses
 * fails the whole handshake with 400, so nothing here refuses one): `server_no_context_takeover` is
 * always answered, so that one compressed payload suits every connection; the client's
 * `server_max_window_bits` is honoured (the connection's compressor uses that window, see
 * WsTransport), its `client_max_window_bits` accepted as offered. `client_no_context_takeover` is
 * answered too (RFC 7692 §7.1.1.1 lets a server ask it of any client): ws's client then sends messages
 * under its 1 KiB threshold uncompressed, so the server builds no zlib inflater for it, and no
 * client message needs the inflater's state, so WsTransport drops it after each message (browsers
 * compress every message): 10,000 clients cost 134-143 MB of RSS instead of 206-212 MB with ws's
 * inflaters kept, 124 MB without deflate (bench/results/i15-deflate.md).
 *
 * ws itself compresses nothing of ours: pushgate never calls `ws.send` (frames are written to the
 * socket pre-framed), and control frames are never compressed. It decompresses what clients send, at
 * most `concurrencyLimit` at a time in zlib's thread pool (ws's default, 10).
 */
const deflateNegotiation = { serverNoContextTakeover: true, clientNoContextTakeover: true };

const shuttingDown: Refusal = handshakeRefusal.SHUTTING_DOWN.server();

// The page's origin as ws reads it: `Sec-WebSocket-Origin` in protocol version 8, `Origin` otherwise.
function handshakeOrigin(req: IncomingMessage): string | undefined {
  const header = req.headers['sec-websocket-version'] === '8' ? req.headers['sec-websocket-origin'] : req.headers.origin;
  return Array.isArray(header) ? header[0] : header;
}

function ignoreSocketError(): void {}

function destroySocket(this: Duplex): void {
  this.destroy();
}
