import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { ConnectionLimits } from '../connection/connection.js';
import type { HandshakeVerdict } from '../server/ws-listener.js';
import { connectionFromWebSocket } from '../transport/ws-connection.js';
import type { PusherApp, PusherApps } from './apps.js';
import { PusherCode } from './pusher-errors.js';
import { error as errorFrame } from './pusher-frames.js';
import { PusherHandler, type PusherHandlerDeps } from './pusher-handler.js';
import { pusherProtocol } from './pusher-protocol.js';
import { newSocketId } from './signatures.js';

/** Pusher clients connect to `/app/<key>`. */
export const PUSHER_PATH_PREFIX = '/app/';

/** The protocol versions served (pusher-js 8 speaks 7; 5 and 6 differ only in what 7 added). */
const PROTOCOL_VERSIONS = new Set(['5', '6', '7']);

/**
 * Why a Pusher handshake cannot be served: Pusher accepts the WebSocket, sends `pusher:error` with the
 * code, then closes with it (4000–4099: the client must not reconnect), so a client learns why.
 */
interface PusherRefusal {
  code: number;
  message: string;
}

/** What the handshake found, for {@link PusherEndpoint.accept}. */
export interface PusherContext {
  pusher: { app: PusherApp } | { refusal: PusherRefusal };
}

/** Whether a handshake's context is a Pusher one. */
export function isPusherContext(context: unknown): context is PusherContext {
  return typeof context === 'object' && context !== null && 'pusher' in context;
}

/** What the endpoint needs of its gateway, besides what every Pusher handler needs. */
export interface PusherEndpointDeps extends PusherHandlerDeps {
  apps: PusherApps;
  limits: Readonly<ConnectionLimits>;
}

/**
 * The Pusher Channels endpoint on the WebSocket port: `/app/<key>?protocol=7`, one
 * {@link PusherHandler} per app, each connection named by a Pusher socket id.
 */
export class PusherEndpoint {
  private readonly handlers = new Map<PusherApp, PusherHandler>();

  constructor(private readonly deps: PusherEndpointDeps) {
    for (const app of deps.apps.all()) this.handlers.set(app, new PusherHandler(app, deps));
  }

  /** Whether a handshake path is this endpoint's. */
  static handles(path: string): boolean {
    return path.startsWith(PUSHER_PATH_PREFIX);
  }

  /** Checks the app key and the protocol version of a handshake (no status: the WebSocket opens either way). */
  handshake(req: IncomingMessage): HandshakeVerdict {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const key = decodeURIComponent(url.pathname.slice(PUSHER_PATH_PREFIX.length));
    const app = this.deps.apps.byKey(key);
    const version = url.searchParams.get('protocol');
    let refusal: PusherRefusal | null = null;
    if (app === undefined) refusal = { code: PusherCode.APP_NOT_FOUND, message: `App key ${key} does not exist` };
    else if (version === null) refusal = { code: PusherCode.NO_PROTOCOL, message: 'No protocol version supplied: connect with ?protocol=7' };
    else if (!PROTOCOL_VERSIONS.has(version))
      refusal = { code: PusherCode.UNSUPPORTED_PROTOCOL, message: `Unsupported protocol version ${version}: this server speaks 7` };
    const context: PusherContext = { pusher: refusal === null ? { app: app as PusherApp } : { refusal } };
    return { ok: true, context };
  }

  /** Makes an accepted WebSocket a Pusher connection of its app, or tells it why not and closes it. */
  accept(ws: WebSocket, context: PusherContext): void {
    const found = context.pusher;
    if ('refusal' in found) {
      this.deps.stats.handshakesRefused += 1;
      const refused = connectionFromWebSocket(ws, newSocketId(), this.deps.limits, null, pusherProtocol);
      refused.sendPrepared(errorFrame(found.refusal.code, found.refusal.message));
      refused.close(found.refusal.code, found.refusal.message);
      return;
    }
    const handler = this.handlers.get(found.app) as PusherHandler;
    const conn = connectionFromWebSocket(ws, newSocketId(), this.deps.limits, handler, pusherProtocol);
    if (!conn.isOpen) return;
    this.deps.hub.add(conn);
    this.deps.stats.connectionsTotal += 1;
    this.deps.stats.pusherConnections += 1;
    handler.opened(conn);
  }
}
