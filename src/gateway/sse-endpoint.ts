import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { BodyAbortedError, readBody } from '../api/body.js';
import { type JwtVerifier, TOKEN_QUERY_PARAMETER, TokenError, type TokenGrant } from '../auth/jwt.js';
import type { OriginPolicy } from '../auth/origin.js';
import type { GatewayOptions } from '../config/options.js';
import { Connection, type ConnectionLimits } from '../connection/connection.js';
import type { ConnectGrant } from '../hooks/connect-hook.js';
import type { Hub } from '../hub/hub.js';
import { apiError, type HandshakeRefusal, handshakeRefusal, type PushError } from '../protocol/errors.js';
import { connectedEvent, parseStreamEventId, SSE_RETRY_MS, sseProtocol } from '../protocol/sse-protocol.js';
import type { AddressLimit } from '../server/address-limit.js';
import { sendJson } from '../server/http-reply.js';
import type { Stats } from '../stats/stats.js';
import { SseTransport } from '../transport/sse-transport.js';
import type { ClientHandler } from './client-handler.js';

/** The stream: `GET /sse?rooms=a,b`. Its connection's requests: `POST /sse/<conn>/<operation>`. */
export const SSE_PATH = '/sse';

/**
 * The requests an SSE client sends over HTTP, as the go-push message type each becomes: the body is the
 * message's `data` (and its `id`), e.g. `POST /sse/<conn>/join {"room":"a"}` is
 * `{"type":"JOIN","id":…,"data":{"room":"a"}}`.
 */
const OPERATIONS: Readonly<Record<string, string>> = Object.freeze({
  join: 'JOIN',
  leave: 'LEAVE',
  rpc: 'RPC',
  publish: 'PUBLISH',
  presence: 'PRESENCE',
  ping: 'PING',
  auth: 'AUTH',
});

/** What the endpoint needs of admission and its gateway. */
export interface SseEndpointDeps {
  options: Readonly<GatewayOptions>;
  hub: Hub;
  stats: Stats;
  log: Logger;
  handler: ClientHandler;
  limits: Readonly<ConnectionLimits>;
  originPolicy: OriginPolicy;
  /** Verifies tokens; null when authentication is off. */
  verifier: JwtVerifier | null;
  /** The connect hook, when one is configured. */
  connectHook(): { ask(req: IncomingMessage, conn: string, tokenUser: string | undefined): Promise<ConnectGrant | HandshakeRefusal> } | null;
  /** Whether new connections are still taken (false once a shutdown began). */
  accepting(): boolean;
  /** The port's per-address limit (`maxConnectionsPerIp`), shared with its WebSockets; null when off. */
  addressLimit(): AddressLimit | null;
}

/** One open stream: its connection, transport, and the secret its HTTP requests must carry. */
interface SseSession {
  conn: Connection;
  transport: SseTransport;
  secret: Buffer;
}

type Refusal = Pick<HandshakeRefusal, 'status' | 'code' | 'message' | 'headers'>;

/**
 * Server-Sent Events on the WebSocket port: connections of the same engine (hub, merger, dispatcher,
 * history, hooks) whose transport is an HTTP response and whose protocol is {@link sseProtocol}.
 *
 * `GET /sse?rooms=a,b[&token=…][&lastEventId=…]` is admitted as a WebSocket handshake is (shutdown,
 * origin, `maxConnectionsPerIp`, the token from `?token=` or `Authorization: Bearer`, the connect hook),
 * refused with the same statuses and JSON bodies; then it answers `200 text/event-stream` whose first
 * event, `connected`, carries the connection id and a secret (32 random bytes, base64url). The rooms are
 * joined as JOINs would be (token's rooms, subscribe hook, `maxRooms`, history recovery from
 * `Last-Event-ID`, or `?lastEventId=`, each answered by an `ack` or `refused` event with the id
 * `rooms:<index>`).
 *
 * `POST /sse/<conn>/<join|leave|rpc|publish|presence|ping|auth>` with `Authorization: Bearer <secret>`
 * and a JSON object body (the message's `data`, with an optional `id`): handed to the connection as its
 * message, answered `202 {"ok":true,"id":…}` (an id is made when the body has none); the answer comes on
 * the stream. The secret is known only to the reader of the stream, and being a header it makes a
 * cross-site request preflighted: another page can neither read it nor send it.
 */
export class SseEndpoint {
  private readonly sessions = new Map<string, SseSession>();
  private heartbeat: NodeJS.Timeout | null = null;
  private requests = 0;

  constructor(private readonly deps: SseEndpointDeps) {}

  /** Whether a path is the endpoint's. */
  static handles(path: string): boolean {
    return path === SSE_PATH || path.startsWith(`${SSE_PATH}/`);
  }

  /** Open streams on this node. */
  get size(): number {
    return this.sessions.size;
  }

  /** Serves a request on one of the endpoint's paths; false for other paths. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (!SseEndpoint.handles(path)) return false;
    const origin = originOf(req);
    if (!this.deps.originPolicy.allows(origin, { address: req.socket.localAddress, port: req.socket.localPort })) {
      this.refuse(req, res, handshakeRefusal.ORIGIN_NOT_ALLOWED.origin(origin));
      return true;
    }
    const cors = corsHeaders(origin);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': 'authorization, content-type, last-event-id',
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return true;
    }
    if (path === SSE_PATH) {
      if (req.method !== 'GET') this.fail(res, apiError.METHOD_NOT_ALLOWED.method(req.method, path, ['GET']), cors);
      else
        void this.open(req, res, cors).catch((error: unknown) => {
          this.deps.log.error({ err: error }, 'SSE stream failed');
          this.refuse(req, res, handshakeRefusal.INTERNAL_ERROR.failed((error as Error).message), cors);
        });
      return true;
    }
    const parts = path.slice(SSE_PATH.length + 1).split('/');
    const type = parts.length === 2 ? OPERATIONS[parts[1]] : undefined;
    if (type === undefined || !Object.hasOwn(OPERATIONS, parts[1])) {
      this.fail(res, apiError.NOT_FOUND.route(path), cors);
      return true;
    }
    if (req.method !== 'POST') {
      this.fail(res, apiError.METHOD_NOT_ALLOWED.method(req.method, path, ['POST']), cors);
      return true;
    }
    void this.request(req, res, parts[0], type, cors).catch((error: unknown) => {
      this.deps.log.error({ err: error }, 'SSE request failed');
      if (!res.headersSent) this.fail(res, apiError.INTERNAL_ERROR.internal(), cors);
    });
    return true;
  }

  // A stream, admitted as a WebSocket handshake: the same checks in the same order, the same refusals.
  private async open(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>): Promise<void> {
    const { deps } = this;
    const { hub, stats, log, handler, options } = deps;
    if (!deps.accepting()) return this.refuse(req, res, handshakeRefusal.SHUTTING_DOWN.server(), cors);
    const socket = req.socket;
    // One count per address for the port's WebSockets and streams together; a keep-alive socket that
    // carried an earlier stream is counted already.
    const limit = deps.addressLimit();
    if (limit !== null && !limit.holds(socket)) {
      if (socket.destroyed || !limit.acquire(socket)) {
        return this.refuse(req, res, handshakeRefusal.TOO_MANY_CONNECTIONS.perAddress(limit.max), cors);
      }
    }
    let grant: TokenGrant | null = null;
    let verdict: { grant: TokenGrant | null; conn: string; connect?: ConnectGrant } | Refusal;
    try {
      verdict = await this.admit(req);
    } catch (error) {
      return this.refuse(req, res, handshakeRefusal.INTERNAL_ERROR.failed((error as Error).message), cors);
    }
    if ('status' in verdict) return this.refuse(req, res, verdict, cors);
    grant = verdict.grant;
    const connect = verdict.connect;
    if (connect?.disconnect !== undefined) {
      // The backend said to close at once: a stream has no close code to read, so it is refused outright.
      return this.refuse(req, res, handshakeRefusal.FORBIDDEN.byBackend(connect.disconnect.reason || 'refused by the backend'), cors);
    }
    if (res.destroyed || socket.destroyed || !socket.writable) {
      stats.handshakesAborted += 1;
      return;
    }
    if (!deps.accepting()) return this.refuse(req, res, handshakeRefusal.SHUTTING_DOWN.server(), cors);
    res.writeHead(200, {
      ...cors,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
      // One stream per socket: when the stream ends, so does the socket (and its per-address count).
      Connection: 'close',
    });
    const transport = new SseTransport(res);
    const conn = new Connection(transport, verdict.conn, sseProtocol, deps.limits, handler);
    if (!conn.isOpen) return;
    const secret = randomBytes(32);
    const session: SseSession = { conn, transport, secret };
    this.sessions.set(conn.id, session);
    res.once('close', () => this.forget(session));
    if (deps.verifier !== null && grant !== null) handler.startAuth(conn, grant, options.handshakeTimeout * 1000);
    hub.add(conn);
    stats.connectionsTotal += 1;
    stats.sseConnections += 1;
    if (connect !== undefined) handler.connected(conn, connect, false);
    // The first event, before any push (pushes are written in later turns): who the connection is, and its secret.
    const rooms = [...(hub.roomsOf(conn) ?? [])];
    transport.write(
      Buffer.from(`retry: ${SSE_RETRY_MS}\n${connectedEvent({ conn: conn.id, user: conn.userId, rooms, data: connect?.data }, secret.toString('base64url'))}`),
    );
    this.startHeartbeat();
    log.debug({ conn: conn.id, address: conn.remoteAddress }, 'SSE stream opened');
    this.joinRooms(req, conn);
  }

  // The token (when authentication is on) and the connect hook, as a WebSocket handshake's.
  private async admit(req: IncomingMessage): Promise<{ grant: TokenGrant | null; conn: string; connect?: ConnectGrant } | Refusal> {
    const { verifier, hub } = this.deps;
    let grant: TokenGrant | null = null;
    if (verifier !== null) {
      const token = streamToken(req);
      if (token === null) return handshakeRefusal.UNAUTHORIZED.noToken();
      try {
        grant = await verifier.verify(token);
      } catch (error) {
        if (!(error instanceof TokenError)) throw error;
        return handshakeRefusal.UNAUTHORIZED.badToken(error.message);
      }
    }
    const conn = hub.nextId();
    const hook = this.deps.connectHook();
    if (hook === null) return { grant, conn };
    const decision = await hook.ask(req, conn, grant?.userId);
    if (!decision.ok) return decision;
    return { grant, conn, connect: decision };
  }

  // `?rooms=`, each joined as a JOIN with the id `rooms:<index>`, recovering from the stream's last event id.
  private joinRooms(req: IncomingMessage, conn: Connection): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const header = req.headers['last-event-id'];
    const since = parseStreamEventId((Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('lastEventId'));
    const listed = (url.searchParams.get('rooms') ?? '')
      .split(',')
      .map((room) => room.trim())
      .filter((room) => room !== '');
    const rooms = [...new Set(listed)];
    for (let index = 0; index < rooms.length && conn.isOpen; index++) {
      const data = since === undefined ? { room: rooms[index] } : { room: rooms[index], offset: since.offset, epoch: since.epoch };
      // Straight to the handler: the connection's own message rate is for what the client sends.
      this.deps.handler.onMessage(conn, JSON.stringify({ type: 'JOIN', id: `rooms:${index}`, data }));
    }
  }

  // POST /sse/<conn>/<operation>: the connection's secret, then its body as the connection's message.
  private async request(req: IncomingMessage, res: ServerResponse, id: string, type: string, cors: Record<string, string>): Promise<void> {
    const session = this.sessions.get(id);
    if (session === undefined || !session.conn.isOpen) {
      req.resume();
      return this.fail(res, apiError.CONN_NOT_FOUND.notConnected(id), cors);
    }
    if (!secretMatches(req.headers.authorization, session.secret)) {
      req.resume();
      return this.refuse(
        req,
        res,
        handshakeRefusal.UNAUTHORIZED.badToken("wrong connection secret: send the stream's connected secret as Authorization: Bearer <secret>"),
        cors,
        false,
      );
    }
    let body: Buffer;
    try {
      body = await readBody(req, this.deps.options.maxMessageSize);
    } catch (error) {
      if (error instanceof BodyAbortedError) return;
      throw error;
    }
    let value: unknown = {};
    if (body.length > 0) {
      try {
        value = JSON.parse(body.toString('utf8'));
      } catch (error) {
        return this.fail(res, apiError.INVALID_BODY.notJson((error as Error).message), cors);
      }
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.fail(res, apiError.INVALID_BODY.notObject(), cors);
    const { id: given, ...data } = value as Record<string, unknown>;
    this.requests += 1;
    const requestId = given ?? `h${this.requests.toString(36)}`;
    if (!session.conn.isOpen) return this.fail(res, apiError.CONN_GONE.closed(id), cors);
    sendJson(res, 202, { ok: true, id: requestId }, cors);
    session.transport.deliver(JSON.stringify({ type, id: requestId, data }));
  }

  private forget(session: SseSession): void {
    if (this.sessions.get(session.conn.id) === session) this.sessions.delete(session.conn.id);
    if (this.sessions.size === 0) this.stopHeartbeat();
  }

  // One timer for every stream: `: ping` every sseHeartbeat seconds.
  private startHeartbeat(): void {
    if (this.heartbeat !== null) return;
    this.heartbeat = setInterval(() => {
      for (const session of this.sessions.values()) session.transport.heartbeat();
    }, this.deps.options.sseHeartbeat * 1000);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  // A refused stream (or request): the status and JSON body of a refused handshake; a stream's socket goes.
  private refuse(req: IncomingMessage, res: ServerResponse, refusal: Refusal, cors: Record<string, string> = {}, stream = true): void {
    if (stream) {
      this.deps.stats.handshakesRefused += 1;
      this.deps.log.info(
        { status: refusal.status, reason: refusal.message, origin: req.headers.origin, address: req.socket.remoteAddress },
        'SSE stream refused',
      );
    }
    if (res.headersSent || res.destroyed) return;
    sendJson(
      res,
      refusal.status,
      { ok: false, error: { code: refusal.code, message: refusal.message } },
      {
        ...cors,
        ...refusal.headers,
        ...(stream ? { Connection: 'close' } : {}),
      },
    );
  }

  private fail(res: ServerResponse, error: PushError, cors: Record<string, string>): void {
    if (res.headersSent || res.destroyed) return;
    sendJson(res, error.status, { ok: false, error: { code: error.code, message: error.message } }, { ...cors, ...error.headers });
  }
}

// The page's origin (browsers send one on cross-origin EventSource and fetch requests).
function originOf(req: IncomingMessage): string | undefined {
  const header = req.headers.origin;
  const origin = Array.isArray(header) ? header[0] : header;
  return origin === '' ? undefined : origin;
}

// An allowed page may read the answers (EventSource and fetch are CORS requests); no credentials.
function corsHeaders(origin: string | undefined): Record<string, string> {
  return origin === undefined ? {} : { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
}

// The stream's token: `?token=` (EventSource cannot set headers), or `Authorization: Bearer`.
function streamToken(req: IncomingMessage): string | null {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const query = url.searchParams.get(TOKEN_QUERY_PARAMETER);
  if (query !== null && query !== '') return query;
  return bearer(req.headers.authorization);
}

function bearer(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match === null ? null : match[1];
}

function secretMatches(header: string | undefined, secret: Buffer): boolean {
  const given = bearer(header);
  if (given === null) return false;
  const bytes = Buffer.from(given, 'base64url');
  return bytes.length === secret.length && timingSafeEqual(bytes, secret);
}
