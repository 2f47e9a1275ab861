import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { ApiKey } from '../api/api-key.js';
import { handshakeToken, type JwtVerifier, offersAuthFirst, TokenError, type TokenGrant } from '../auth/jwt.js';
import type { GatewayOptions } from '../config/options.js';
import type { ConnectionLimits } from '../connection/connection.js';
import type { Hub } from '../hub/hub.js';
import type { ClientProtocol } from '../protocol/client-protocol.js';
import { CloseCode } from '../protocol/codes.js';
import { handshakeRefusal } from '../protocol/errors.js';
import { goPushProtocol } from '../protocol/go-push.js';
import type { HandshakeVerdict } from '../server/ws-listener.js';
import type { Stats } from '../stats/stats.js';
import { connectionFromWebSocket } from '../transport/ws-connection.js';
import { ClientHandler } from './client-handler.js';

/**
 * What admission hands to {@link ClientAdmission.accept} when authentication is on: the handshake's
 * verified token, or `null` when it carried none (the client must then send AUTH first).
 */
export type AuthContext = { grant: TokenGrant | null };

/** What admission needs of its gateway. */
export interface ClientAdmissionDeps {
  options: Readonly<GatewayOptions>;
  hub: Hub;
  stats: Stats;
  log: Logger;
  /** Verifies connection tokens; null when authentication is off. */
  verifier: JwtVerifier | null;
  /** Whether new connections are still taken (false once a shutdown began). */
  accepting(): boolean;
}

/**
 * Client admission on the WebSocket port, after the listener's own checks (path, origin, per-address
 * count): the token of the upgrade request ({@link admitHandshake}, run in the `upgrade` handling),
 * then the accepted WebSocket made a connection of the client protocol, with the limits and the
 * handler every connection shares, and put in the hub ({@link accept}).
 */
export class ClientAdmission {
  /** The one handler of every client connection. */
  readonly handler: ClientHandler;
  /** The limits every client connection shares (one frozen object). */
  readonly limits: Readonly<ConnectionLimits>;

  constructor(
    private readonly deps: ClientAdmissionDeps,
    private readonly protocol: ClientProtocol = goPushProtocol,
  ) {
    const { options } = deps;
    this.limits = Object.freeze({
      maxQueueBytes: options.maxQueueBytes,
      maxInboundMessages: 64,
      maxClientRate: options.maxClientRate,
    });
    this.handler = new ClientHandler(deps.hub, deps.stats, deps.log, {
      verifier: deps.verifier,
      apiKey: options.apiKey === '' ? null : new ApiKey(options.apiKey),
      publicStats: options.publicStats,
    });
  }

  /**
   * Checks a handshake that passed path, origin and the per-address count (all in the listener): the
   * token when authentication is on (from the `token` query parameter or a `pushgate.token.<jwt>`
   * subprotocol). The verdict's context goes to {@link accept}.
   */
  async admitHandshake(req: IncomingMessage): Promise<HandshakeVerdict> {
    const verifier = this.deps.verifier;
    if (verifier === null) return { ok: true };
    const token = handshakeToken(req.url, req.headers['sec-websocket-protocol']);
    if (token === null) {
      if (offersAuthFirst(req.headers['sec-websocket-protocol'])) return { ok: true, context: { grant: null } satisfies AuthContext };
      return handshakeRefusal.UNAUTHORIZED.noToken();
    }
    try {
      return { ok: true, context: { grant: await verifier.verify(token) } satisfies AuthContext };
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      return handshakeRefusal.UNAUTHORIZED.badToken(error.message);
    }
  }

  /** Makes an accepted WebSocket a client connection, with what {@link admitHandshake} found. */
  accept(ws: WebSocket, context: AuthContext | undefined): void {
    const { hub, stats, log, options } = this.deps;
    if (!this.deps.accepting()) {
      ws.close(CloseCode.GOING_AWAY, 'server shutting down');
      return;
    }
    const conn = connectionFromWebSocket(ws, hub.nextId(), this.limits, this.handler, this.protocol);
    if (!conn.isOpen) return;
    // Until its AUTH succeeds, a connection without a token is held apart: no push reaches it.
    const awaitingAuth = this.deps.verifier !== null && this.handler.startAuth(conn, context?.grant ?? null, options.handshakeTimeout * 1000);
    if (awaitingAuth) hub.addAwaitingAuth(conn);
    else hub.add(conn);
    stats.connectionsTotal += 1;
    log.debug({ conn: conn.id, address: conn.remoteAddress }, 'connection opened');
  }
}
