import type { Connection } from '../connection/connection.js';
import { CloseCode, WarningCode } from '../protocol/codes.js';
import type { Hub } from './hub.js';

/** What one sweep did besides heartbeat closes (authentication deadlines). */
export interface AuthSweepCounts {
  /** Connections closed with 4001 because no valid AUTH came within the handshake timeout. */
  unauthenticated: number;
  /** Connections closed with 4001 because their token expired. */
  expired: number;
  /** TOKEN_EXPIRING warnings sent. */
  warned: number;
}

// What one sweep has done so far.
interface SweepCounts {
  silent: number;
  auth: AuthSweepCounts | null;
}

/**
 * One sweep for all connections, instead of a timer each: every quarter interval it closes the
 * connections that have been silent for longer than the interval, so a silent client goes at the
 * latest 1.25 intervals after its last frame. The same sweep enforces authentication deadlines
 * (`conn.auth`): it closes connections that did not authenticate in time or whose token expired (4001)
 * and warns those whose token expires soon; with `authPeriodMs` it then runs at least that often.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hub: Hub,
    private readonly intervalMs: number,
    private readonly onTimeout: (count: number) => void,
    private readonly authPeriodMs: number | null = null,
    private readonly onAuth: ((counts: AuthSweepCounts) => void) | null = null,
  ) {}

  /** Milliseconds between sweeps. */
  get periodMs(): number {
    const heartbeat = this.intervalMs / 4;
    return Math.max(10, this.authPeriodMs === null ? heartbeat : Math.min(heartbeat, this.authPeriodMs));
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.sweep(Date.now()), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Closes every connection (online or awaiting AUTH) silent since before `now - interval`, and
   * enforces authentication deadlines; returns how many were closed for silence.
   */
  sweep(now: number): number {
    const counts: SweepCounts = { silent: 0, auth: null };
    this.sweepSet(this.hub.all(), now, counts);
    this.sweepSet(this.hub.awaitingAuth(), now, counts);
    if (counts.silent > 0) this.onTimeout(counts.silent);
    const auth = counts.auth;
    if (auth !== null && (auth.unauthenticated > 0 || auth.expired > 0 || auth.warned > 0)) this.onAuth?.(auth);
    return counts.silent;
  }

  private sweepSet(connections: Iterable<Connection>, now: number, counts: SweepCounts): void {
    const deadline = now - this.intervalMs;
    const halfway = now - this.intervalMs / 2;
    for (const conn of connections) {
      const keepAlive = conn.protocol.keepAlive;
      if (conn.lastSeen < deadline) {
        counts.silent += 1;
        // close() runs the hub's removal synchronously; Map and Set iteration tolerate that deletion.
        conn.close(keepAlive?.closeCode ?? CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
        continue;
      }
      // Clients of such a protocol ping only while they receive nothing: the server asks them instead.
      if (keepAlive !== undefined && conn.lastSeen < halfway) conn.probe();
      const state = conn.auth;
      if (state === null) continue;
      const auth = (counts.auth ??= { unauthenticated: 0, expired: 0, warned: 0 });
      if (state.pendingUntil > 0) {
        if (now >= state.pendingUntil) {
          auth.unauthenticated += 1;
          conn.close(CloseCode.UNAUTHORIZED, 'authentication timeout: send {"type":"AUTH","data":{"token":"…"}} first');
        }
      } else if (now >= state.expiresAt) {
        auth.expired += 1;
        conn.close(CloseCode.UNAUTHORIZED, 'token expired');
      } else if (now >= state.warnAt) {
        state.warnAt = Infinity;
        auth.warned += 1;
        const left = Math.max(0, state.expiresAt - now);
        conn.sendPrepared(
          conn.protocol.warning(WarningCode.TOKEN_EXPIRING, `the token expires in ${Math.ceil(left / 1000)} s; the connection is then closed with 4001`, {
            expiresIn: left,
          }),
        );
      }
    }
  }
}
