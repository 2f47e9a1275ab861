import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import { createServer as createH2cServer, type Http2Server, type Http2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { NodeView } from '../cluster/cluster-link.js';
import { apiError, PushError } from '../protocol/errors.js';
import type { PushResult } from '../push/push-service.js';
import { PusherApi } from '../pusher/pusher-api.js';
import { closeHttp, listenHttp } from '../server/http-lifecycle.js';
import { sendJson } from '../server/http-reply.js';
import { protocolView } from '../stats/protocol-view.js';
import type { ApiBackend } from './api-backend.js';
import { ApiKey } from './api-key.js';
import { pushAnswer, runBatch } from './batch.js';
import { parseBatchBody } from './batch-body.js';
import { BodyAbortedError, type PushBody, parsePushBody, readBody, stringField } from './body.js';
import { ConnectionRoutes } from './connection-routes.js';
import { historyRoute } from './history-route.js';
import { presenceRoutes } from './presence-routes.js';

/** A node as `GET /stats` lists it: who it is and its own counters (per-process ones included); no rooms. */
function nodeSummary({ node, instance, role, worker, ageMs, stats }: NodeView) {
  return { node, instance, role, worker, ageMs, stats };
}

/**
 * `GET /stats`. At the top level, go-push's counters for the whole instance, the same whichever worker
 * answers: the additive ones summed over the instance's processes (the other workers as last reported
 * by presence, at most 3 presence intervals old while `stale` is false; this one live), `roomCount` the
 * distinct rooms; beside them the per-process fields (`nodeId`, `pid`, `worker`, `uptimeSeconds`, …) of
 * the process that answered; with `--workers`, each worker's own counters under `workers`; in a
 * cluster, a summary of every node under `cluster`.
 *
 * `?scope=cluster`: the additive counters summed over every node, the distinct rooms, and every node
 * with its own counters (per-process ones only there) and members per room, at most `maxStalenessMs`
 * old (3 presence intervals at worst while `stale` is false; while this node is cut off from the
 * broker, nodes keep their last report and `stale` is true). See STAT_KINDS in src/stats/stats.ts.
 */
function statsBody(node: ApiBackend, scope: string | null): unknown {
  const view = node.clusterView();
  if (scope === 'cluster') {
    // Without a broker this process is the whole cluster.
    const cluster = view ?? node.instanceView();
    return {
      scope: 'cluster',
      ...cluster.total,
      roomCount: cluster.roomCount,
      roomCountExact: cluster.roomCountExact,
      protocols: protocolView(cluster.total),
      instances: new Set(cluster.nodes.map((n) => n.instance)).size,
      nodes: cluster.nodes,
      rooms: cluster.rooms,
      maxStalenessMs: cluster.maxStalenessMs,
      stale: cluster.stale,
    };
  }
  const instance = node.instanceView();
  const body = {
    ...node.snapshot(),
    ...instance.total,
    roomCount: instance.roomCount,
    roomCountExact: instance.roomCountExact,
    protocols: protocolView(instance.total),
    instance: instance.id,
    ...(node.isWorker ? { workers: instance.nodes.map(nodeSummary) } : {}),
    maxStalenessMs: instance.maxStalenessMs,
    stale: instance.stale,
    ...hooksOf(node),
  };
  if (view === null) return body;
  return {
    ...body,
    cluster: {
      nodes: view.nodes.map((n) => ({
        node: n.node,
        instance: n.instance,
        role: n.role,
        worker: n.worker,
        ageMs: n.ageMs,
        onlineConnections: n.stats.onlineConnections ?? 0,
        roomCount: n.stats.roomCount ?? 0,
      })),
      instances: new Set(view.nodes.map((n) => n.instance)).size,
      onlineConnections: view.total.onlineConnections,
      roomCount: view.roomCount,
      roomCountExact: view.roomCountExact,
      maxStalenessMs: view.maxStalenessMs,
      stale: view.stale,
    },
  };
}

// This process's hooks (their counters and breakers), when it has any.
function hooksOf(node: ApiBackend): { hooks?: unknown } {
  const hooks = node.hooksView?.() ?? null;
  return hooks === null ? {} : { hooks };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

const BATCH_PATH = '/push/batch';

/** A request cut by Node's own request timeout (headers or whole request) reaches `clientError` with this code. */
const REQUEST_TIMEOUT = 'ERR_HTTP_REQUEST_TIMEOUT';

/**
 * The internal HTTP push API (go-push's service port): `POST /push/all`, `/push/room`, `/push/conn`, `/push/user`,
 * `/push/batch` (many pushes, each answered on its own), `GET /stats`, `/metrics`, `/healthz`, and the connection
 * API (`/connections/:id`, `/users/:id/connections`, `/rooms`: see connection-routes.ts). Every answer is JSON
 * except `/metrics` (Prometheus text).
 *
 * Its bounds: a request's headers must arrive within `apiHeadersTimeout` and the whole request within
 * `apiRequestTimeout` (else 408 and the socket is cut), at most `apiMaxConnections` sockets are held
 * (more are dropped at once), bodies are capped at `maxBodySize` and batches at `maxBatchPushes` pushes.
 * Cut requests and dropped connections are counted (`apiRequestsAborted`, `apiConnectionsDropped`) and
 * logged at debug level: they are the client's doing, not the server's.
 */
export class ApiServer {
  /** What listens: the HTTP/1.1 server, the h2c server, or (over TLS) a TLS server in front of both. */
  private readonly server: Server | Http2Server | TlsServer;
  /** The HTTP/1.1 server (it may not listen itself: over TLS, connections are handed to it). */
  private readonly http1: Server;
  /** Open HTTP/2 sessions: a close sends each its GOAWAY (an idle session would otherwise hold the port open). */
  private readonly sessions = new Set<Http2Session>();
  private readonly routes: Record<string, Record<string, Handler>>;
  /** The connection API's routes, whose paths carry ids and names. */
  private readonly connectionRoutes: ConnectionRoutes;
  private readonly apiKey: ApiKey | null;
  private draining = false;
  /** The response under way on each socket, so that a timeout answers only where nothing was sent yet. */
  private readonly responding = new WeakMap<Socket, ServerResponse>();
  /** Sockets cut for their request timeout: a body read on them ends as 'timeout', not 'closed'. */
  private readonly timedOut = new WeakSet<Socket>();

  constructor(
    private readonly node: ApiBackend,
    private readonly log: Logger,
  ) {
    const { maxBodySize, maxBatchPushes } = node.options;
    const read = (req: IncomingMessage): Promise<Buffer> => readBody(req, maxBodySize, this.timedOut);
    // Plain promise chains, no async layers: a push request is one read, one parse, one push, one answer.
    const push =
      (target: (body: PushBody) => Promise<PushResult>): Handler =>
      (req, res) =>
        read(req)
          .then((body) => target(parsePushBody(req.headers['content-type'], body)))
          .then((result) => sendJson(res, 200, pushAnswer(result)));
    const batch: Handler = (req, res) =>
      read(req)
        .then((body) =>
          runBatch(node, parseBatchBody(req.headers['content-type'], body, maxBatchPushes, BATCH_PATH), (error) =>
            this.log.error({ err: error, path: req.url }, 'push API request failed'),
          ),
        )
        .then((results) => sendJson(res, 200, { ok: true, results }));
    this.apiKey = node.options.apiKey === '' ? null : new ApiKey(node.options.apiKey);
    this.connectionRoutes = new ConnectionRoutes(node.connections, read);
    this.routes = {
      '/push/all': { POST: push((body) => node.pushAll(body.items)) },
      '/push/room': { POST: push((body) => node.pushRoom(stringField(body, 'room'), body.items)) },
      '/push/conn': { POST: push((body) => node.pushConn(stringField(body, 'conn'), body.items)) },
      '/push/user': { POST: push((body) => node.pushUser(stringField(body, 'user'), body.items)) },
      [BATCH_PATH]: { POST: batch },
      '/history': { GET: historyRoute((room, query) => node.history(room, query)) },
      ...presenceRoutes(node.presence),
      '/stats': { GET: (req, res) => sendJson(res, 200, statsBody(node, new URL(req.url ?? '/', 'http://x').searchParams.get('scope'))) },
      '/metrics': {
        GET: async (_req, res) => {
          const text = await node.metrics.metrics();
          res.writeHead(200, { 'Content-Type': node.metrics.contentType, 'Cache-Control': 'no-store' });
          res.end(text);
        },
      },
      '/healthz': {
        GET: (_req, res) => {
          const running = node.isRunning;
          const broker = node.brokerStatus;
          // While the broker is down this API refuses every push (503): a load balancer should prefer
          // another API node. (The WebSocket port's /healthz stays 200: local clients are still served.)
          const healthy = running && (broker === 'none' || broker === 'up');
          sendJson(res, healthy ? 200 : 503, { ok: healthy, status: running ? 'running' : 'stopping', broker });
        },
      },
    };
    const { apiRequestTimeout, apiHeadersTimeout, apiMaxConnections } = node.options;
    const requestTimeout = apiRequestTimeout * 1000;
    const headersTimeout = Math.min(apiHeadersTimeout * 1000, requestTimeout);
    const settings = {
      requestTimeout,
      headersTimeout,
      // Node looks for expired requests only this often: a quarter of the shorter limit honours it closely.
      connectionsCheckingInterval: Math.max(100, Math.min(30000, headersTimeout / 4)),
    };
    const handle = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    const tls = node.apiTls;
    // HTTP/1.1 is always Node's http.Server, which enforces the header and request deadlines (an
    // Http2SecureServer's allowHTTP1 fallback does not: a slowloris would hold its sockets). Over TLS,
    // a TLS server listens and hands each connection to HTTP/2 or HTTP/1.1 by what ALPN chose (go-push's
    // logic tier speaks HTTP/2); h2c is HTTP/2 alone, by prior knowledge. The handlers take both through
    // Node's compatibility API (the same request and response methods).
    this.http1 = createServer(settings, handle);
    this.http1.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => this.clientError(error, socket));
    const http2 = tls !== null || node.options.apiH2c ? createH2cServer(handle as never) : null;
    http2?.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    });
    if (tls !== null && http2 !== null) {
      const http1 = this.http1;
      const secure = createTlsServer({ ...tls.serverOptions, ALPNProtocols: ['h2', 'http/1.1'] }, (socket) => {
        (socket.alpnProtocol === 'h2' ? http2 : http1).emit('connection', socket);
      });
      tls.attach(secure);
      secure.on('tlsClientError', (_error: Error, socket: Socket) => socket.destroy());
      // The HTTP/1.1 server checks its deadlines from when it "listens": it does, through the TLS server.
      secure.once('listening', () => http1.emit('listening'));
      this.server = secure;
    } else {
      this.server = http2 ?? this.http1;
    }
    this.server.maxConnections = apiMaxConnections;
    this.server.on('drop', (peer?: { remoteAddress?: string }) => {
      node.stats.apiConnectionsDropped += 1;
      this.log.debug({ address: peer?.remoteAddress, maxConnections: apiMaxConnections }, 'push API connection dropped: apiMaxConnections are open');
    });
  }

  /**
   * A request Node could not take: malformed (400), or too slow (408). A request whose headers had
   * arrived is counted when its body read ends (see {@link fail}); one cut before that, here.
   */
  private clientError(error: NodeJS.ErrnoException, socket: Socket): void {
    const timeout = error.code === REQUEST_TIMEOUT;
    const response = this.responding.get(socket);
    if (timeout) {
      this.timedOut.add(socket);
      if (response === undefined) this.aborted('timeout', socket.remoteAddress, null);
    }
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    if (response === undefined || !response.headersSent) {
      const { status, code, message } = timeout ? apiError.REQUEST_TIMEOUT.late() : apiError.INVALID_BODY.malformedHttp();
      const body = JSON.stringify({ ok: false, error: { code, message } });
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    // Destroyed once the answer is flushed, whether or not the client closes its side.
    socket.destroySoon();
  }

  private aborted(reason: 'closed' | 'timeout', address: string | undefined, path: string | null): void {
    this.node.stats.apiRequestsAborted += 1;
    this.log.debug({ reason, address, path }, 'push API request cut before it was complete');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // While draining every answer closes its connection: the client opens a new one (refused once the port
    // is closed). HTTP/2 has no Connection header: its session is told to go away once the answer is out.
    if (this.draining) {
      if (isHttp2(req)) res.once('finish', () => (req as unknown as { stream: { session: Http2Session } }).stream.session.close());
      else res.setHeader('Connection', 'close');
    }
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const route = this.routes[path];
    const { socket } = req;
    this.responding.set(socket, res);
    res.once('close', () => {
      if (this.responding.get(socket) === res) this.responding.delete(socket);
    });
    let answering: Promise<void> | void;
    try {
      // Pusher's API is signed its own way (the app's secret): the API key is not asked for.
      const pusher = this.node.pusherApi ?? null;
      if (pusher !== null && PusherApi.handles(path)) {
        answering = pusher.serve(req, res);
        return;
      }
      // Health stays open for load balancers; everything else needs the key when one is set.
      if (this.apiKey !== null && path !== '/healthz' && !this.apiKey.matches(req.headers.authorization)) {
        throw apiError.UNAUTHORIZED.apiKey();
      }
      // Looked up only once the key is checked: a malformed path segment is a 400 of its own.
      const methods = route ?? this.connectionRoutes.match(path);
      if (methods === undefined) throw apiError.NOT_FOUND.route(path);
      const handler = methods[req.method ?? ''];
      if (handler === undefined) {
        res.setHeader('Allow', Object.keys(methods).join(', '));
        throw apiError.METHOD_NOT_ALLOWED.method(req.method, path, Object.keys(methods));
      }
      answering = handler(req, res);
    } catch (error) {
      this.fail(req, res, error);
      return;
    }
    answering?.catch((error: unknown) => this.fail(req, res, error));
  }

  private fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    if (error instanceof BodyAbortedError) {
      // The client is gone or was cut: nobody to answer, nothing wrong here.
      this.aborted(error.reason, req.socket.remoteAddress, req.url ?? null);
      res.destroy();
      return;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (!(error instanceof PushError)) this.log.error({ err: error, path: req.url }, 'push API request failed');
    const { status, code, message, headers: own, details } = error instanceof PushError ? error : apiError.INTERNAL_ERROR.internal();
    const headers: Record<string, string> = { ...own };
    if (status === 503) headers['Retry-After'] = '1';
    // An unread body (413) must not be parsed as the next request on this connection.
    if (status === 413 && !isHttp2(req)) headers.Connection = 'close';
    sendJson(res, status, { ok: false, error: { ...details, code, message } }, headers);
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return listenHttp(this.server, port, host, (error) => this.log.error({ err: error }, 'push API server error'));
  }

  /** The port's scheme: `https` over TLS, else `http` (h2c included). */
  get scheme(): 'http' | 'https' {
    return this.node.apiTls === null ? 'http' : 'https';
  }

  /**
   * The gateway is stopping: keeps listening and answering (pushes get 503 from the gateway), each
   * answer with `Connection: close`. Idle keep-alive connections stay open until {@link close}: cutting
   * one could reset a request its client sent at that moment.
   */
  drain(): void {
    this.draining = true;
  }

  /** Stops listening and closes idle keep-alive connections; requests in flight are answered. */
  close(): Promise<void> {
    const closed = closeHttp(this.server);
    // (Over TLS the HTTP/1.1 server never listened itself: closing it only stops its deadline checks.)
    if (this.server !== this.http1) this.http1.close(() => undefined);
    this.http1.closeIdleConnections();
    for (const session of this.sessions) session.close();
    return closed;
  }

  /** Cuts every remaining connection. */
  destroy(): void {
    for (const session of this.sessions) session.destroy();
    this.http1.closeAllConnections();
  }
}

/** Whether a request came over HTTP/2 (its response takes no connection-level headers). */
function isHttp2(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 2;
}
