import { CloseCode } from '../protocol/codes.js';
import type { Hub } from './hub.js';

/**
 * One sweep for all connections, instead of a timer each: every quarter interval it closes the
 * connections that have been silent for longer than the interval, so a silent client goes at the
 * latest 1.25 intervals after its last frame.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hub: Hub,
    private readonly intervalMs: number,
    private readonly onTimeout: (count: number) => void,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.sweep(Date.now()), Math.max(10, this.intervalMs / 4));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Closes every connection silent since before `now - interval`; returns how many. */
  sweep(now: number): number {
    const deadline = now - this.intervalMs;
    let expired = 0;
    for (const conn of this.hub.all()) {
      if (conn.lastSeen < deadline) {
        expired += 1;
        // close() runs the hub's removal synchronously; Map iteration tolerates that deletion.
        conn.close(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
      }
    }
    if (expired > 0) this.onTimeout(expired);
    return expired;
  }
}
