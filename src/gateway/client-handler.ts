import type { Logger } from 'pino';
import type { ApiKey } from '../api/api-key.js';
import { grantedAuth, type JwtVerifier, pendingAuth, type TokenGrant } from '../auth/jwt.js';
import type { CloseInfo, Connection, ConnectionHandler, IncomingMessage } from '../connection/connection.js';
import type { ConnectGrant } from '../hooks/connect-hook.js';
import type { DisconnectNotifier } from '../hooks/disconnect-notifier.js';
import type { PublishGate } from '../hooks/publish-gate.js';
import type { RpcRelay } from '../hooks/rpc-relay.js';
import type { SubscribeGate } from '../hooks/subscribe-gate.js';
import type { Hub } from '../hub/hub.js';
import type { ClientRequest, RequestId, StreamStamp } from '../protocol/client-protocol.js';
import { CloseCode, errorRegistry } from '../protocol/codes.js';
import { type ErrorFrameBody, frameError, PushError } from '../protocol/errors.js';
import type { Stats } from '../stats/stats.js';
import type { JoinRecovery } from './join-recovery.js';

/**
 * The room the dashboard joins: every second its members get this node's counters and the cluster
 * as last reported, as a PUSH (only while it has members; never through the broker). A JOIN of it
 * must carry the API key as `data.key`, unless `publicStats` is set; without either it is closed.
 */
export const STATS_ROOM = 'pushgate:stats';

/** What the handler checks besides the protocol: tokens and the stats room's key. */
export interface ClientAuthPolicy {
  /** Verifies AUTH tokens; null when authentication is off. */
  verifier: JwtVerifier | null;
  /** The push API key, which JOINs of {@link STATS_ROOM} must carry; null when none is configured. */
  apiKey: ApiKey | null;
  /** Whether any connection may join {@link STATS_ROOM}, key or not (`--public-stats`). */
  publicStats: boolean;
}

/** What the handler hands to the backends and the push path: the hooks, and a room push for PUBLISH. */
export interface ClientHooks {
  subscribe: SubscribeGate | null;
  rpc: RpcRelay | null;
  publish: PublishGate;
  disconnects: DisconnectNotifier | null;
  /** Pushes `items` to `room` through the normal push path (admission, broker, merger); rejects with a PushError. */
  pushRoom(room: string, items: unknown[]): Promise<unknown>;
}

/** Who may read the dashboard stream ({@link STATS_ROOM}): anyone, holders of the API key, or no one. */
export type StatsAccess = 'public' | 'key' | 'closed';

/** The {@link StatsAccess} of a gateway with or without `--public-stats` and an API key. */
export function statsAccess(publicStats: boolean, hasApiKey: boolean): StatsAccess {
  return publicStats ? 'public' : hasApiKey ? 'key' : 'closed';
}

// Closes that a client's own input caused, counted as protocol disconnects.
const inputCloseCodes = new Set<number>([1002, CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_PAYLOAD, CloseCode.POLICY_VIOLATION, CloseCode.MESSAGE_TOO_BIG]);

/**
 * The gateway's side of the client protocol: one shared handler for every connection, answering PING,
 * JOIN, LEAVE and AUTH through the connection's own protocol (it decodes and encodes; this decides),
 * refusing what it cannot use with an ERROR frame or a close code, and taking closed connections out
 * of the hub. The owner of each connection's `auth` state: {@link startAuth} at admission, AUTH after.
 */
export class ClientHandler implements ConnectionHandler {
  /** Told of each probe's round trip (the node's delivery measures how far behind its clients are). */
  probed: (conn: Connection, rttMs: number) => void = () => {};
  /** In a cluster: a promise settled once pushes to a newly joined room will arrive here. */
  roomReady: (room: string) => Promise<void> | null = () => null;
  /** In a cluster: a promise settled once pushes to a user (of a newly authenticated connection) arrive here. */
  userReady: (user: string) => Promise<void> | null = () => null;
  /** The backends' hooks and the push path for PUBLISH; null until the gateway sets them (RPC and PUBLISH are then refused). */
  hooks: ClientHooks | null = null;
  /** A room's presence over the cluster, for PRESENCE frames (rejects with a PushError); null until the gateway sets it. */
  presence: ((room: string) => Promise<unknown>) | null = null;
  /** JOINs of rooms with history (positions, recovery); null when no room keeps history. */
  streams: JoinRecovery | null = null;

  constructor(
    private readonly hub: Hub,
    private readonly stats: Stats,
    private readonly log: Logger,
    private readonly policy: ClientAuthPolicy = { verifier: null, apiKey: null, publicStats: false },
  ) {}

  /**
   * Sets a new connection's authentication state when authentication is on: authenticated by its
   * handshake token (`grant`), or to authenticate with AUTH within `timeoutMs` (`grant` null). Returns
   * whether it must wait for its AUTH before it may be pushed to.
   */
  startAuth(conn: Connection, grant: TokenGrant | null, timeoutMs: number): boolean {
    const now = Date.now();
    if (grant === null) {
      conn.auth = pendingAuth(now + timeoutMs);
      return true;
    }
    conn.auth = grantedAuth(grant, now);
    this.hub.setUser(conn, grant.userId);
    return false;
  }

  /**
   * A connection the connect hook accepted: its user (the hook's wins over the token's), the rooms the
   * hook named joined at once (no subscribe hook asked: the connect hook decided), then the CONNECTED
   * frame — the first the client gets, written before any push (pushes are written in later turns).
   */
  connected(conn: Connection, grant: ConnectGrant, announce = true): void {
    // The stats room keeps its own rule (the API key), whatever a hook says.
    const rooms = grant.rooms.filter((room) => room !== STATS_ROOM);
    const auth = conn.auth;
    if (auth !== null && grant.user !== undefined) auth.hookUser = grant.user;
    if (grant.user !== undefined) this.hub.setUser(conn, grant.user);
    // A connection awaiting its AUTH is no member of anything (no push may reach it): it joins then.
    if (auth !== null && auth.pendingUntil > 0) auth.hookRooms = rooms;
    else for (const room of rooms) this.hub.join(conn, room);
    // A transport that announces the connection its own way (an SSE stream's first event) says so.
    if (announce) conn.sendPrepared(conn.protocol.connected({ conn: conn.id, user: conn.userId, rooms, data: grant.data }));
  }

  onMessage(conn: Connection, message: IncomingMessage): void {
    const request = conn.protocol.decode(message);
    if (request.type === 'REFUSED') {
      conn.close(request.close, request.reason);
      return;
    }
    this.stats.requestsTotal += 1;
    const auth = conn.auth;
    if (auth !== null && auth.pendingUntil > 0 && request.type !== 'AUTH') {
      this.fail(conn, request.id, auth.verifying ? frameError.UNAUTHORIZED.verifying() : frameError.UNAUTHORIZED.authFirst());
      return;
    }
    switch (request.type) {
      case 'INVALID':
        this.fail(conn, request.id, request);
        return;
      case 'PING':
        conn.sendPrepared(conn.protocol.pong(request.id));
        return;
      case 'AUTH':
        this.authenticate(conn, request);
        return;
      case 'JOIN': {
        const refusal = this.joinRefusal(conn, request.room, request.key);
        if (refusal !== null) {
          this.fail(conn, request.id, refusal);
          return;
        }
        const gate = this.hooks?.subscribe ?? null;
        if (gate !== null && request.room !== STATS_ROOM && gate.asks(conn)) {
          const turn = this.askingTurn(conn, request.room);
          void gate.ask(conn, request.room, request.data).then((verdict) => {
            if (!conn.isOpen) return;
            // A LEAVE (or another JOIN) of the room came while the backend was asked: requests take effect
            // in the order they were sent, so the later one decides the membership; this JOIN is answered.
            const current = this.answeredTurn(conn, request.room, turn);
            if (!('ok' in verdict)) this.fail(conn, request.id, verdict);
            else if (current) this.join(conn, request.id, request.room, verdict.data, request.since);
            else this.ack(conn, request.id, verdict.data);
          });
          return;
        }
        this.join(conn, request.id, request.room, undefined, request.since);
        return;
      }
      case 'RPC':
        this.rpc(conn, request);
        return;
      case 'PUBLISH':
        this.publish(conn, request);
        return;
      case 'PRESENCE':
        this.answerPresence(conn, request);
        return;
      case 'LEAVE':
        this.forgetAsking(conn, request.room);
        this.hub.leave(conn, request.room);
        this.ack(conn, request.id);
        return;
    }
  }

  // Each JOIN waiting for the subscribe hook, by connection and room: its turn, so that a LEAVE or a
  // newer JOIN sent meanwhile supersedes it.
  private readonly asking = new Map<Connection, Map<string, number>>();
  private turns = 0;

  private askingTurn(conn: Connection, room: string): number {
    let rooms = this.asking.get(conn);
    if (rooms === undefined) {
      rooms = new Map();
      this.asking.set(conn, rooms);
    }
    const turn = ++this.turns;
    rooms.set(room, turn);
    return turn;
  }

  // Whether the JOIN of `turn` is still the latest word on `room` (and forgets it when it is).
  private answeredTurn(conn: Connection, room: string, turn: number): boolean {
    if (this.asking.get(conn)?.get(room) !== turn) return false;
    this.forgetAsking(conn, room);
    return true;
  }

  private forgetAsking(conn: Connection, room: string): void {
    const rooms = this.asking.get(conn);
    if (rooms === undefined) return;
    rooms.delete(room);
    if (rooms.size === 0) this.asking.delete(conn);
  }

  // Joins a room a JOIN was allowed, and acknowledges it (with the subscribe hook's data) once pushes to it arrive here.
  private join(conn: Connection, id: RequestId | undefined, room: string, data: string | undefined, since?: StreamStamp): void {
    const joined = this.hub.join(conn, room);
    if (joined === 'too-many-rooms') {
      this.fail(conn, id, frameError.TOO_MANY_ROOMS.limit(this.hub.maxRooms));
      return;
    }
    const ready = both(this.roomReady(room), conn.userId === undefined ? null : this.userReady(conn.userId));
    const streams = this.streams;
    if (streams !== null && room !== STATS_ROOM && streams.keeps(room)) {
      streams.join({ conn, id, room, ready, data, since, already: joined === 'already-joined' });
      return;
    }
    this.ackWhenReady(conn, id, ready, data);
  }

  /** A JOIN that could not be answered after all (its room's history unreadable): out of the room, and told why. */
  refuseJoin(conn: Connection, id: RequestId | undefined, room: string, error: ErrorFrameBody): void {
    this.hub.leave(conn, room);
    this.fail(conn, id, error);
  }

  // PRESENCE: only a member of the room may ask who else is in it; answered as GET /presence, cluster-wide.
  private answerPresence(conn: Connection, request: Extract<ClientRequest, { type: 'PRESENCE' }>): void {
    const presence = this.presence;
    if (presence === null || this.hub.roomsOf(conn)?.has(request.room) !== true) {
      this.fail(conn, request.id, frameError.FORBIDDEN.notMember(request.room));
      return;
    }
    presence(request.room).then(
      (result) => {
        if (conn.isOpen) conn.sendPrepared(conn.protocol.reply(request.id, JSON.stringify(result)));
      },
      (error: unknown) => {
        if (!conn.isOpen) return;
        if (!(error instanceof PushError) || error.status !== 503) this.log.error({ err: error, conn: conn.id }, 'presence failed');
        this.fail(conn, request.id, frameError.UNAVAILABLE.presenceUnavailable());
      },
    );
  }

  private rpc(conn: Connection, request: Extract<ClientRequest, { type: 'RPC' }>): void {
    const relay = this.hooks?.rpc ?? null;
    if (relay === null) {
      this.fail(conn, request.id, frameError.UNKNOWN_METHOD.noRoute(request.method));
      return;
    }
    void relay.call(conn, request.method, request.data).then((outcome) => {
      if (!conn.isOpen) return;
      if (outcome.ok) conn.sendPrepared(conn.protocol.reply(request.id, outcome.result));
      else this.fail(conn, request.id, outcome.error, outcome.backendCode === undefined ? undefined : { backendCode: outcome.backendCode });
    });
  }

  // PUBLISH: allowed by the token or the publish hook, then pushed to the room like any push (cluster-wide).
  private publish(conn: Connection, request: Extract<ClientRequest, { type: 'PUBLISH' }>): void {
    const hooks = this.hooks;
    // The stats room carries the gateway's own samples: no client writes into it, whatever allows it.
    if (hooks === null || request.room === STATS_ROOM) {
      this.fail(conn, request.id, frameError.FORBIDDEN.publishNotAllowed(request.room));
      return;
    }
    void hooks.publish
      .decide(conn, request.room, request.data)
      .then(async (verdict) => {
        if (!('ok' in verdict)) return verdict;
        await hooks.pushRoom(request.room, [verdict.item]);
        return null;
      })
      .then(
        (refusal) => {
          if (!conn.isOpen) return;
          if (refusal === null) this.ack(conn, request.id);
          else this.fail(conn, request.id, refusal);
        },
        (error: unknown) => {
          if (!conn.isOpen) return;
          if (!(error instanceof PushError)) {
            this.log.error({ err: error, conn: conn.id }, 'publish failed');
            this.fail(conn, request.id, frameError.UNAVAILABLE.notAccepted('internal error'));
          } else if (error.status === 503) this.fail(conn, request.id, frameError.UNAVAILABLE.notAccepted(error.message));
          else this.fail(conn, request.id, frameError.BAD_REQUEST.publishRefused(error.message));
        },
      );
  }

  // Why a JOIN is refused (FORBIDDEN), or null. The stats room (node ids, pids, counters) is public
  // only when the operator said so, else it needs the API key, whatever the token says; other rooms
  // must match the token's `rooms` claim when it has one.
  private joinRefusal(conn: Connection, room: string, key: string | undefined): ErrorFrameBody | null {
    if (room === STATS_ROOM) {
      switch (statsAccess(this.policy.publicStats, this.policy.apiKey !== null)) {
        case 'public':
          return null;
        case 'key':
          return this.policy.apiKey?.equals(key) === true ? null : frameError.FORBIDDEN.statsReserved(STATS_ROOM);
        case 'closed':
          return frameError.FORBIDDEN.statsClosed(STATS_ROOM);
      }
    }
    const rooms = conn.auth?.rooms ?? null;
    if (rooms !== null && !rooms.allows(room)) return frameError.FORBIDDEN.roomNotAllowed(room);
    return null;
  }

  // AUTH: the first message when the handshake carried no token; later, a fresh token of the same user.
  private authenticate(conn: Connection, request: Extract<ClientRequest, { type: 'AUTH' }>): void {
    const verifier = this.policy.verifier;
    const auth = conn.auth;
    if (verifier === null || auth === null) {
      this.fail(conn, request.id, frameError.UNKNOWN_TYPE.authOff());
      return;
    }
    auth.verifying = true;
    // Read when the verdict comes: another AUTH may have authenticated the connection meanwhile.
    const pending = (): boolean => (conn.auth?.pendingUntil ?? 0) > 0;
    void verifier.verify(request.token).then(
      (grant) => {
        if (!conn.isOpen) return;
        // The connect hook's user, when it named one, is the connection's: a token renews the expiry.
        const user = auth.hookUser ?? grant.userId;
        if (!pending() && user !== conn.userId) {
          auth.verifying = false;
          this.fail(conn, request.id, frameError.FORBIDDEN.otherUser());
          return;
        }
        const hookRooms = auth.hookRooms ?? [];
        conn.auth = { ...grantedAuth(grant, Date.now()), ...(auth.hookUser === undefined ? {} : { hookUser: auth.hookUser }) };
        this.hub.setUser(conn, user);
        // A first AUTH brings the connection online: from now on pushes reach it (not before).
        this.hub.promote(conn);
        for (const room of hookRooms) this.hub.join(conn, room);
        // A narrower fresh token takes its holder out of the rooms it no longer allows.
        const rooms = this.hub.roomsOf(conn);
        if (grant.rooms !== null && rooms !== undefined) {
          for (const room of [...rooms]) if (room !== STATS_ROOM && !grant.rooms.allows(room)) this.hub.leave(conn, room);
        }
        this.ackWhenReady(conn, request.id, user === undefined ? null : this.userReady(user));
      },
      (error: unknown) => {
        auth.verifying = false;
        if (!conn.isOpen) return;
        const message = (error as Error).message;
        this.fail(conn, request.id, frameError.UNAUTHORIZED.badToken(message));
        // A connection that never authenticated goes; an authenticated one keeps its current token.
        if (pending()) conn.close(errorRegistry.UNAUTHORIZED.closes, message);
      },
    );
  }

  onClose(conn: Connection, info: CloseInfo): void {
    const disconnects = this.hooks?.disconnects ?? null;
    if (disconnects !== null) {
      const closedAt = Date.now();
      disconnects.closed({
        conn: conn.id,
        user: conn.userId ?? null,
        address: conn.remoteAddress ?? null,
        rooms: [...(this.hub.roomsOf(conn) ?? [])],
        code: info.code,
        reason: info.reason,
        by: info.by,
        connectedAt: new Date(conn.openedAt).toISOString(),
        closedAt: new Date(closedAt).toISOString(),
        durationMs: closedAt - conn.openedAt,
      });
    }
    this.asking.delete(conn);
    this.hub.remove(conn);
    if (info.by === 'server' && inputCloseCodes.has(info.code)) this.stats.protocolDisconnects += 1;
    this.log.debug({ conn: conn.id, code: info.code, reason: info.reason, by: info.by }, 'connection closed');
  }

  /** A client answered the dispatcher's probe (see Connection.probe). */
  onProbe(conn: Connection, rttMs: number): void {
    this.probed(conn, rttMs);
  }

  onSlow(conn: Connection): void {
    this.stats.slowConsumerDisconnects += 1;
    this.log.warn({ conn: conn.id, queuedBytes: conn.queuedBytes }, 'slow consumer disconnected (1013)');
  }

  private ackWhenReady(conn: Connection, id: RequestId | undefined, ready: Promise<void> | null, data?: string): void {
    if (ready === null) this.ack(conn, id, data);
    else void ready.then(() => this.ack(conn, id, data));
  }

  private ack(conn: Connection, id: RequestId | undefined, data?: string): void {
    if (id !== undefined) conn.sendPrepared(conn.protocol.ack(id, conn.id, data));
  }

  private fail(conn: Connection, id: RequestId | undefined, { code, message }: ErrorFrameBody, extra?: Record<string, string>): void {
    this.stats.errorFrames += 1;
    conn.sendPrepared(conn.protocol.error(id, code, message, extra));
  }
}

function both(a: Promise<void> | null, b: Promise<void> | null): Promise<void> | null {
  if (a === null) return b;
  if (b === null) return a;
  return Promise.all([a, b]).then(() => undefined);
}
