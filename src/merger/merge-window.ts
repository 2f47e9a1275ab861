import { performance } from 'node:perf_hooks';
import { type MergePolicy, NO_WINDOW } from './merger.js';

/** What the window reads of its process: how busy the event loop is, and how far behind the clients are. */
export interface LoadGauges {
  /** The event loop's time so far, busy and idle, in milliseconds (cumulative, as `performance.eventLoopUtilization`). */
  loopTime(): { active: number; idle: number };
  /** How far behind the clients are, from sampled probes (ms; 0 when not probing): see ClientLag. */
  clientLagMs(): number;
}

/** The event loop's time, from Node. */
export function eventLoopTime(): { active: number; idle: number } {
  return performance.eventLoopUtilization();
}

/** How often the window is reconsidered (ms): long enough for a utilisation to mean something, short beside any budget. */
export const WINDOW_TICK_MS = 20;
/** At or past this share of busy event loop, the window widens. */
export const BUSY_LOOP = 0.9;
/** Under this share of busy event loop (and clients in step), the window narrows. */
export const QUIET_LOOP = 0.75;
/**
 * The widest window, as a share of the latency budget. The whole budget: a room's pass is short beside
 * it, and with 10,000 clients in busy rooms a window of 75 ms (75 % of the default, tried first) is
 * 133,000 writes a second, 93 % of a core at 7 µs a write, before any request is served.
 */
export const WINDOW_SHARE = 1;

/**
 * The merge window: the least time between two frames to one target (a room, a user, a connection), which
 * grows with load and shrinks when it goes. Writes cost per frame (a syscall per recipient; the
 * client's parse and wake-up per frame too), not per item, so at saturation the only way to deliver more
 * items is to put more of them in each frame: a window W caps the frames of every target at 1/W per
 * second, whatever the pushes, and its items share them.
 *
 * The signal is the event loop's utilisation and the clients' lag (sampled probes): every
 * {@link WINDOW_TICK_MS}, when the loop was busy {@link BUSY_LOOP} of the time or more (the writes, the
 * API and the encoding compete for the core) or the clients lag more than a quarter of the budget (they
 * read frames slower than they come), the window widens by half (from 1 ms), up to the budget
 * ({@link WINDOW_SHARE}); when the loop was idle more than a quarter of the time and the
 * clients keep up, it narrows by 30 % a tick, down to 0, where a lone push waits for nothing but the end of
 * its event-loop turn. Utilisation, not write time, because a busy API starves writes as much as writes
 * do, and because it reads the same whatever the load's shape; multiplicative steps because the load
 * comes and goes in steps (a backend's burst) and the window must follow within a few ticks.
 *
 * Without a budget (`--max-latency 0`) the window stays 0: merging is the end-of-turn merge alone.
 */
export class MergeWindow implements MergePolicy {
  private window = 0;
  private lastTickAt: number;
  private lastLoop: { active: number; idle: number };

  constructor(
    /** The latency budget (ms; 0: none). */
    private readonly budgetMs: number,
    private readonly gauges: LoadGauges,
    /** The window's clock, in milliseconds (`performance.now` unless a test drives it). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastTickAt = now();
    this.lastLoop = gauges.loopTime();
  }

  /** The widest the window gets (ms). */
  get capMs(): number {
    return this.budgetMs * WINDOW_SHARE;
  }

  /**
   * A batch waits for its target's previous frame briefly (ms), budget or not: a longer hold merges a
   * push to all into the frame after next, a pass later than it would have gone (measured: with a hold
   * of twice the budget, 10 pushes/s to 10,000 clients had p99 557 ms against 418 ms with this one).
   */
  get maxHoldMs(): number {
    return NO_WINDOW.maxHoldMs;
  }

  /** The window now (ms), reconsidered first if a tick has passed since it last was. */
  windowMs(): number {
    if (this.budgetMs <= 0) return 0;
    const now = this.now();
    const elapsed = now - this.lastTickAt;
    if (elapsed >= WINDOW_TICK_MS) this.tick(now, elapsed);
    return this.window;
  }

  /** The window as last set, without reconsidering it (the gauges'). */
  get lastMs(): number {
    return this.window;
  }

  private tick(now: number, elapsed: number): void {
    const loop = this.gauges.loopTime();
    const active = loop.active - this.lastLoop.active;
    const total = active + loop.idle - this.lastLoop.idle;
    this.lastLoop = loop;
    this.lastTickAt = now;
    const busy = total > 0 ? active / total : 0;
    const lag = this.gauges.clientLagMs();
    if (busy >= BUSY_LOOP || lag > this.budgetMs / 4) {
      this.window = Math.min(this.capMs, Math.max(1, this.window * 1.5));
    } else if (busy < QUIET_LOOP && lag <= this.budgetMs / 8) {
      // Asked after a quiet spell, the window has had every tick of it to narrow.
      this.window *= 0.7 ** Math.min(32, elapsed / WINDOW_TICK_MS);
      if (this.window < 0.5) this.window = 0;
    }
  }
}
