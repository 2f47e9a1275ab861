import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { ApiKey } from '../api/api-key.js';
import { handshakeToken, JwtVerifier, KeyFileError, offersAuthFirst, TokenError, type TokenGrant } from '../auth/jwt.js';
import { createOriginPolicy, type OriginPolicy } from '../auth/origin.js';
import { type GatewayOptions, OptionError, optionSpec } from '../config/options.js';
import type { ConnectionLimits } from '../connection/connection.js';
import type { ConnectGrant } from '../hooks/connect-hook.js';
import type { GatewayHooks } from '../hooks/gateway-hooks.js';
import type { Hub } from '../hub/hub.js';
import type { ClientProtocol } from '../protocol/client-protocol.js';
import { CloseCode } from '../protocol/codes.js';
import { handshakeRefusal } from '../protocol/errors.js';
import { goPushProtocol } from '../protocol/go-push.js';
import { isPusherContext, PUSHER_PATH_PREFIX, PusherEndpoint } from '../pusher/pusher-endpoint.js';
import { TlsCredentials, type TlsFiles } from '../server/tls.js';
import { type HandshakeVerdict, WsListener } from '../server/ws-listener.js';
import type { Stats } from '../stats/stats.js';
import { connectionFromWebSocket } from '../transport/ws-connection.js';
import { ClientHandler } from './client-handler.js';
import { SseEndpoint } from './sse-endpoint.js';

/**
 * What admission hands to {@link ClientAdmission.accept}: when authentication is on, the handshake's
 * verified token (`grant`), or `null` when it carried none (the client must then send AUTH first);
 * with a connect hook, the connection id the hook was told and what the hook granted.
 */
export type AuthContext = { grant?: TokenGrant | null; conn?: string; connect?: ConnectGrant };

/** WebSocket paths: go-push's `/connect` and the seeds' `/ws`. */
export const WEBSOCKET_PATHS = ['/connect', '/ws'] as const;

/** What admission needs of its gateway. */
export interface ClientAdmissionDeps {
  options: Readonly<GatewayOptions>;
  hub: Hub;
  stats: Stats;
  log: Logger;
  /** Whether new connections are still taken (false once a shutdown began). */
  accepting(): boolean;
  /** Serves a plain HTTP request on the WebSocket port (the pages); false when it is none of them. */
  serve(req: IncomingMessage, res: ServerResponse): boolean;
  /** The backends' hooks (the connect hook is asked at each handshake); null when none is configured. */
  hooks: GatewayHooks | null;
}

/**
 * Client admission on the WebSocket port: the listener's own checks (path, origin, per-address count),
 * the token of the upgrade request ({@link admitHandshake}, run in the `upgrade` handling), then the
 * accepted WebSocket made a connection of the client protocol, with the limits and the handler every
 * connection shares, and put in the hub ({@link accept}).
 */
export class ClientAdmission {
  /** The one handler of every client connection. */
  readonly handler: ClientHandler;
  /** The limits every client connection shares (one frozen object). */
  readonly limits: Readonly<ConnectionLimits>;
  /** Which pages may open WebSockets here. */
  readonly originPolicy: OriginPolicy;
  /** The WebSocket port. */
  readonly listener: WsListener;
  /** Verifies connection tokens; null when authentication is off. */
  private readonly verifier: JwtVerifier | null;
  /**
   * The Pusher Channels endpoint (`/app/<key>`), set by the gateway when apps are configured; its
   * connections authenticate with Pusher's channel signatures, not tokens or the connect hook.
   */
  pusher: PusherEndpoint | null = null;
  /** The WebSocket port's certificate (`--tls-cert`); null when it serves plain ws:// and http://. */
  readonly tls: TlsCredentials | null;
  /** Server-Sent Events streams (`GET /sse`) and their requests, on the same port and with the same admission. */
  readonly sse: SseEndpoint;

  /** Throws an `OptionError` for a JWT key file that cannot be used. */
  constructor(
    private readonly deps: ClientAdmissionDeps,
    private readonly protocol: ClientProtocol = goPushProtocol,
  ) {
    const { options, stats, log } = deps;
    try {
      this.verifier = JwtVerifier.fromOptions(options);
    } catch (error) {
      if (error instanceof KeyFileError) throw new OptionError(optionSpec('jwtPublicKey') ?? 'jwtPublicKey', error.message);
      throw error;
    }
    this.tls = options.tlsCert === '' ? null : tlsCredentials('tlsCert', { cert: options.tlsCert, key: options.tlsKey });
    this.originPolicy = createOriginPolicy(options.allowedOrigins, options.host.split(','), this.tls !== null);
    this.limits = Object.freeze({
      maxQueueBytes: options.maxQueueBytes,
      maxInboundMessages: 64,
      maxClientRate: options.maxClientRate,
    });
    this.handler = new ClientHandler(deps.hub, stats, log, {
      verifier: this.verifier,
      apiKey: options.apiKey === '' ? null : new ApiKey(options.apiKey),
      publicStats: options.publicStats,
    });
    this.sse = new SseEndpoint({
      options,
      hub: deps.hub,
      stats,
      log,
      handler: this.handler,
      limits: this.limits,
      originPolicy: this.originPolicy,
      verifier: this.verifier,
      connectHook: () => deps.hooks?.connect ?? null,
      accepting: () => deps.accepting(),
      addressLimit: () => this.listener.portAddressLimit,
    });
    this.listener = new WsListener({
      host: options.host,
      port: options.port,
      ...(this.tls === null ? {} : { tls: this.tls }),
      paths: WEBSOCKET_PATHS,
      pathPrefixes: options.pusherApps.length > 0 ? [PUSHER_PATH_PREFIX] : [],
      originPolicy: this.originPolicy,
      maxMessageSize: options.maxMessageSize,
      handshakeTimeout: options.handshakeTimeout * 1000,
      maxConnectionsPerIp: options.maxConnectionsPerIp,
      perMessageDeflate: options.perMessageDeflate,
      admit: (req) => this.admitHandshake(req),
      onConnection: (ws, _req, context) => {
        if (isPusherContext(context)) this.pusher?.accept(ws, context);
        else this.accept(ws, context as AuthContext | undefined);
      },
      onRefused: (status, reason, req) => {
        stats.handshakesRefused += 1;
        log.info({ status, reason, origin: req.headers.origin, address: req.socket.remoteAddress }, 'handshake refused');
      },
      onAborted: (req) => {
        stats.handshakesAborted += 1;
        log.debug({ address: req.socket.remoteAddress }, 'handshake aborted by the client');
      },
      onRequest: (req, res) => this.sse.serve(req, res) || deps.serve(req, res),
      onError: (error) => log.error({ err: error }, 'WebSocket server error'),
    });
  }

  /** Whether connections must authenticate (a JWT secret or key is set). */
  get authenticates(): boolean {
    return this.verifier !== null;
  }

  /** Binds the WebSocket port. */
  listen(): Promise<AddressInfo> {
    return this.listener.listen();
  }

  /**
   * Checks a handshake that passed path, origin and the per-address count (all in the listener): the
   * token when authentication is on (from the `token` query parameter or a `pushgate.token.<jwt>`
   * subprotocol). The verdict's context goes to {@link accept}.
   */
  async admitHandshake(req: IncomingMessage): Promise<HandshakeVerdict> {
    const pusher = this.pusher;
    if (pusher !== null && PusherEndpoint.handles((req.url ?? '/').split('?', 1)[0])) return pusher.handshake(req);
    const verifier = this.verifier;
    let context: AuthContext = {};
    if (verifier !== null) {
      const token = handshakeToken(req.url, req.headers['sec-websocket-protocol']);
      if (token === null) {
        if (!offersAuthFirst(req.headers['sec-websocket-protocol'])) return handshakeRefusal.UNAUTHORIZED.noToken();
        context = { grant: null };
      } else {
        try {
          context = { grant: await verifier.verify(token) };
        } catch (error) {
          if (!(error instanceof TokenError)) throw error;
          return handshakeRefusal.UNAUTHORIZED.badToken(error.message);
        }
      }
    }
    const hook = this.deps.hooks?.connect ?? null;
    if (hook === null) return verifier === null ? { ok: true } : { ok: true, context };
    // The hook is told the connection's id, so the id is taken now.
    const conn = this.deps.hub.nextId();
    const decision = await hook.ask(req, conn, context.grant?.userId);
    if (!decision.ok) return decision;
    return { ok: true, context: { ...context, conn, connect: decision } satisfies AuthContext };
  }

  /** Makes an accepted WebSocket a client connection, with what {@link admitHandshake} found. */
  accept(ws: WebSocket, context: AuthContext | undefined): void {
    const { hub, stats, log, options } = this.deps;
    if (!this.deps.accepting()) {
      ws.close(CloseCode.GOING_AWAY, 'server shutting down');
      return;
    }
    const connect = context?.connect;
    if (connect?.disconnect !== undefined) {
      // The backend refused after the upgrade, with a close code a browser can read.
      ws.close(connect.disconnect.code, connect.disconnect.reason);
      stats.handshakesRefused += 1;
      log.info({ code: connect.disconnect.code, reason: connect.disconnect.reason }, 'connection closed by the connect hook');
      return;
    }
    const conn = connectionFromWebSocket(ws, context?.conn ?? hub.nextId(), this.limits, this.handler, this.protocol);
    if (!conn.isOpen) return;
    // Until its AUTH succeeds, a connection without a token is held apart: no push reaches it.
    const awaitingAuth = this.verifier !== null && this.handler.startAuth(conn, context?.grant ?? null, options.handshakeTimeout * 1000);
    if (awaitingAuth) hub.addAwaitingAuth(conn);
    else hub.add(conn);
    stats.connectionsTotal += 1;
    if (connect !== undefined) this.handler.connected(conn, connect);
    log.debug({ conn: conn.id, address: conn.remoteAddress }, 'connection opened');
  }
}

/** A port's certificate from its files; an `OptionError` naming the option for files that cannot serve. */
export function tlsCredentials(option: 'tlsCert' | 'apiTlsCert', files: TlsFiles): TlsCredentials {
  try {
    return new TlsCredentials(files);
  } catch (error) {
    throw new OptionError(optionSpec(option) ?? option, (error as Error).message);
  }
}
