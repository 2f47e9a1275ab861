import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { chooseProtocol } from '../auth/jwt.js';
import type { OriginPolicy } from '../auth/origin.js';
import { closeHttp, listenHttp } from './http-lifecycle.js';
import { sendJson } from './http-reply.js';

/** The answer of an {@link WsListenerOptions.admit} check. */
export type HandshakeVerdict =
  | { ok: true; context?: unknown }
  | { ok: false; status: number; code: string; message: string; headers?: Record<string, string> };

/** Settings of a {@link WsListener}. */
export interface WsListenerOptions {
  /** Listening address, or several separated by commas (all on the same port). */
  host: string;
  port: number;
  /** URL paths that accept WebSocket handshakes, e.g. `['/connect', '/ws']`. */
  paths: readonly string[];
  originPolicy: OriginPolicy;
  /** Largest message a client may send; larger ones are closed with 1009 by `ws`. */
  maxMessageSize: number;
  /** Milliseconds to wait for the client's answer to a close frame before the socket is destroyed. */
  closeTimeout?: number;
  /** Milliseconds a client may take to send its whole handshake request; slower ones are cut (slowloris). Default 10 s. */
  handshakeTimeout?: number;
  /**
   * Further checks once path and origin pass (authentication, per-IP limits): refuse with a status, or
   * accept with a context handed to `onConnection`. May be async.
   */
  admit?(req: IncomingMessage): HandshakeVerdict | Promise<HandshakeVerdict>;
  /** Called with each accepted WebSocket and the context `admit` gave it. The request is not kept. */
  onConnection(ws: WebSocket, req: IncomingMessage, context: unknown): void;
  /** Called with errors of the listening socket after it started (e.g. EMFILE on accept). */
  onError?(error: Error): void;
  /** Called when a handshake is refused (for counters and logs). */
  onRefused?(status: number, reason: string, req: IncomingMessage): void;
  /** Serves plain HTTP requests on the same port (pages, health); returns false to answer 404. */
  onRequest?(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * The WebSocket port: an HTTP server whose upgrades on the configured paths, from allowed origins,
 * become WebSockets (refused ones get 404 or 403 before any WebSocket exists), and whose plain requests
 * go to `onRequest`.
 */
export class WsListener {
  private readonly hosts: string[];
  // What admit() decided for a request, until its upgrade completes.
  private readonly contexts = new WeakMap<IncomingMessage, unknown>();
  private readonly servers: Server[];
  private readonly wss: WebSocketServer;
  private accepting = true;

  constructor(private readonly options: WsListenerOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxMessageSize,
      closeTimeout: options.closeTimeout ?? 5000,
      verifyClient: (info, done) => this.verify(info.req, info.origin, done),
      // A token offered as `pushgate.token.<jwt>` must be answered (or `pushgate` if offered too).
      handleProtocols: chooseProtocol,
    } as ConstructorParameters<typeof WebSocketServer>[0]);
    this.hosts = options.host.split(',').map((host) => host.trim()).filter((host) => host !== '');
    this.servers = this.hosts.map(() => this.createServer());
  }

  private createServer(): Server {
    const server = createServer({ connectionsCheckingInterval: Math.max(100, Math.min(30000, (this.options.handshakeTimeout ?? 10000) / 4)) }, (req, res) => {
      if (this.options.onRequest?.(req, res) !== true) sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: 'no such page' } });
    });
    server.on('upgrade', (req, socket, head) => {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const context = this.contexts.get(req);
        this.contexts.delete(req);
        this.options.onConnection(ws, req, context);
      });
    });
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

  private verify(req: IncomingMessage, origin: string | undefined, done: (ok: boolean, status?: number, message?: string, headers?: Record<string, string>) => void): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    let status = 0;
    let reason = '';
    if (!this.accepting) [status, reason] = [503, 'the server is shutting down'];
    else if (!this.options.paths.includes(path)) [status, reason] = [404, `no WebSocket endpoint at ${path}; use ${this.options.paths.join(' or ')}`];
    else if (!this.options.originPolicy.allows(origin || undefined, { address: req.socket.localAddress, port: req.socket.localPort })) [status, reason] = [403, `origin ${origin} is not allowed`];
    if (status !== 0) {
      this.refuse(req, done, { ok: false, status, code: status === 403 ? 'ORIGIN_NOT_ALLOWED' : status === 404 ? 'NOT_FOUND' : 'SHUTTING_DOWN', message: reason });
      return;
    }
    if (this.options.admit === undefined) {
      done(true);
      return;
    }
    Promise.resolve()
      .then(() => this.options.admit?.(req) ?? { ok: true as const })
      .then((verdict) => {
        if (!verdict.ok) return this.refuse(req, done, verdict);
        this.contexts.set(req, verdict.context);
        done(true);
      }, (error: unknown) => this.refuse(req, done, { ok: false, status: 500, code: 'INTERNAL_ERROR', message: (error as Error).message }));
  }

  private refuse(req: IncomingMessage, done: (ok: boolean, status?: number, message?: string, headers?: Record<string, string>) => void, verdict: Extract<HandshakeVerdict, { ok: false }>): void {
    this.options.onRefused?.(verdict.status, verdict.message, req);
    done(false, verdict.status, JSON.stringify({ ok: false, error: { code: verdict.code, message: verdict.message } }), {
      'Content-Type': 'application/json',
      ...verdict.headers,
    });
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
