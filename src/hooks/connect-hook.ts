import type { IncomingMessage } from 'node:http';
import { TOKEN_PROTOCOL_PREFIX, TOKEN_QUERY_PARAMETER } from '../auth/jwt.js';
import { type HandshakeRefusal, handshakeRefusal } from '../protocol/errors.js';
import { roomNameProblem } from '../protocol/room-name.js';
import { HookCallError, type HookCaller } from './hook-client.js';
import { hookFailureRefusal, refusalReason } from './hook-errors.js';

/** Longest user id a connect hook may name (as `POST /push/user` takes). */
const MAX_USER_LENGTH = 1024;

/** What the connect hook decided for a handshake it accepted. */
export interface ConnectGrant {
  ok: true;
  /** The user it named (it wins over the token's `sub`); undefined: the token's, or anonymous. */
  user: string | undefined;
  /** Rooms to join at once, before the CONNECTED frame. */
  rooms: string[];
  /** Its data for the client (JSON text), carried by the CONNECTED frame; undefined when none. */
  data: string | undefined;
  /** Set when the hook said to close the connection right after the upgrade (a browser cannot read a refused handshake's status). */
  disconnect: { code: number; reason: string } | undefined;
}

/** The request body of the connect hook (see the README's "Hooks"). */
export interface ConnectRequest {
  conn: string;
  address: string | null;
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  subprotocols: string[];
  user: string | null;
}

/**
 * The connect hook: each handshake (after the origin check and the token) is posted to the backend,
 * which accepts it — optionally naming the user, rooms to join and data for the client — or refuses it
 * (401 and 403 are returned as the handshake's status, other 4xx as 403), or asks for a close with a code
 * of its choosing once the upgrade is done. When the backend is down, slow or failing (5xx), the
 * handshake is refused with 503 and `Retry-After`, so clients back off and retry.
 */
export class ConnectHook {
  constructor(
    private readonly caller: HookCaller,
    /** Handshake headers passed on (lower case). */
    private readonly headerNames: readonly string[],
    /** Rooms one connection may hold (`maxRooms`): more in an answer is a bad answer. */
    private readonly maxRooms: number,
  ) {}

  /** What the request body of the hook holds for `req` (exported for the tests and the docs). */
  request(req: IncomingMessage, conn: string, tokenUser: string | undefined): ConnectRequest {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const headers: Record<string, string> = {};
    for (const name of this.headerNames) {
      const value = req.headers[name];
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const offered = req.headers['sec-websocket-protocol'];
    // The token is the hook's input only through the user it names: the JWT itself is never passed on.
    url.searchParams.delete(TOKEN_QUERY_PARAMETER);
    const query = Object.fromEntries(url.searchParams);
    return {
      conn,
      address: req.socket.remoteAddress ?? null,
      path: url.pathname,
      headers,
      query,
      // Token subprotocols carry the JWT itself: the hook gets the user it names, not the token.
      subprotocols: (offered ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== '' && !entry.startsWith(TOKEN_PROTOCOL_PREFIX)),
      user: tokenUser ?? null,
    };
  }

  /** Asks the backend about a handshake; never rejects. */
  async ask(req: IncomingMessage, conn: string, tokenUser: string | undefined): Promise<ConnectGrant | HandshakeRefusal> {
    let answer: Awaited<ReturnType<HookCaller['call']>>;
    try {
      answer = await this.caller.call(this.request(req, conn, tokenUser));
    } catch (error) {
      if (error instanceof HookCallError) return hookFailureRefusal(error);
      throw error;
    }
    if (answer.status >= 400) {
      const reason = refusalReason(answer.body, 'refused by the backend');
      return answer.status === 401 ? handshakeRefusal.UNAUTHORIZED.byBackend(reason) : handshakeRefusal.FORBIDDEN.byBackend(reason);
    }
    const problem = this.grantProblem(answer.body);
    if (typeof problem === 'string') return handshakeRefusal.BAD_GATEWAY.badAnswer('connect', problem);
    return problem;
  }

  // The grant an accepting answer makes, or what is wrong with it.
  private grantProblem(body: unknown): ConnectGrant | string {
    const grant: ConnectGrant = { ok: true, user: undefined, rooms: [], data: undefined, disconnect: undefined };
    if (body === null) return grant;
    if (typeof body !== 'object' || Array.isArray(body)) return 'the answer must be a JSON object';
    const { user, rooms, data, disconnect } = body as Record<string, unknown>;
    if (disconnect !== undefined) {
      const { code, reason } = (disconnect ?? {}) as { code?: unknown; reason?: unknown };
      if (typeof code !== 'number' || !Number.isInteger(code) || code < 4000 || code > 4999) return 'disconnect.code must be an integer from 4000 to 4999';
      const text = typeof reason === 'string' ? reason : '';
      if (Buffer.byteLength(text) > 123) return 'disconnect.reason must be at most 123 bytes';
      grant.disconnect = { code, reason: text };
      return grant;
    }
    if (user !== undefined && user !== null) {
      if (typeof user !== 'string' || user === '' || user.length > MAX_USER_LENGTH) return `user must be a string of 1 to ${MAX_USER_LENGTH} characters`;
      grant.user = user;
    }
    if (rooms !== undefined && rooms !== null) {
      if (!Array.isArray(rooms)) return 'rooms must be an array of room names';
      for (const room of rooms) {
        const bad = roomNameProblem(room);
        if (bad !== null) return `rooms: ${bad}`;
      }
      const distinct = [...new Set(rooms as string[])];
      if (distinct.length > this.maxRooms) return `rooms names ${distinct.length} rooms; a connection may hold ${this.maxRooms} (maxRooms)`;
      grant.rooms = distinct;
    }
    if (data !== undefined) grant.data = JSON.stringify(data);
    return grant;
  }
}
