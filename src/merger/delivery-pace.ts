/** What the pace reads of the dispatcher. */
export interface DispatchGauges {
  /** Milliseconds the oldest frame not yet written has waited (0 when none waits). */
  lagMs(): number;
  /** Milliseconds one write to one connection costs, as recently measured. */
  readonly writeCostMs: number;
  /** Of the recent writes, the share that found the client's socket still holding earlier bytes (0 … 1). */
  readonly backlogShare: number;
  /** The share of recent wall time spent writing (0 … 1). */
  readonly busyShare: number;
}

/** The pace's settings. */
export interface PaceSettings {
  /** The latency budget (`--max-latency`), in milliseconds. */
  budgetMs: number;
  /** The smallest merge window (`--max-batch-delay`), in milliseconds. */
  floorMs: number;
}

/** While writing frames takes less than this share of the time, merging would save little: batches go at the end of the turn. */
export const IDLE_WRITING = 0.1;
/** From this share of the time spent writing on, batches wait the whole window (half the budget). */
export const BUSY_WRITING = 0.3;
/** Past this share of writes finding the client's socket still full, the clients are behind. */
export const BACKLOG_SHARE = 0.5;

/**
 * The latency budget applied: how long batches wait to merge (the merge window), and whether delivery is
 * so far behind that a push must be refused.
 *
 * The cost of delivery is per frame written (a syscall and a client's parse each), not per item, so the
 * way to deliver more items on a saturated core is more items per frame: a longer window. The window is
 * the floor (`--max-batch-delay`, 0 by default: a lone push goes at the end of its event-loop turn) while
 * writing frames takes little of the node's time, and grows linearly with that share of the time from
 * {@link IDLE_WRITING} to {@link BUSY_WRITING}, up to half the budget (the share, not the event loop's
 * utilization: a node busy with anything but writing would gain nothing by merging); it is never shorter than what frames already wait
 * to be written (merging while they wait costs no latency), nor than the floor. Half the budget leaves
 * the other half for the write pass.
 *
 * Overload: a push is refused once, for a quarter of the budget or longer, the oldest accepted item not
 * yet written has waited longer than the budget plus one write pass over every connection (the time a
 * push to all takes however idle the node is), or most writes have found their client's socket still
 * full (the clients are behind: what is accepted would queue in their sockets). An accepted push is then
 * written to every recipient within about twice the budget plus one pass.
 */
export class DeliveryPace {
  constructor(
    private readonly settings: PaceSettings,
    private readonly dispatch: DispatchGauges,
    /** Connections a push to all reaches. */
    private readonly population: () => number,
    /** The pace's clock, in milliseconds (`performance.now` unless a test drives it). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Since when delivery has been behind (the pace's clock), or -1 while it is not. */
  private behindSince = -1;

  /** The latency budget (ms). */
  get budgetMs(): number {
    return this.settings.budgetMs;
  }

  /** The merge window now, in milliseconds: 0 means at the end of the event-loop turn. */
  windowMs(): number {
    const { budgetMs, floorMs } = this.settings;
    const cap = budgetMs / 2;
    const load = (this.dispatch.busyShare - IDLE_WRITING) / (BUSY_WRITING - IDLE_WRITING);
    let window = load <= 0 ? 0 : Math.min(1, load) * cap;
    if (this.dispatch.backlogShare > BACKLOG_SHARE) window = cap;
    const waiting = this.dispatch.lagMs();
    if (waiting > window) window = Math.min(waiting, cap);
    // Whole milliseconds, as timers count; under one is the end of the turn, as soon as a batch can go anyway.
    return Math.max(Math.round(window), floorMs);
  }

  /** One write pass over every connection, as the recent write cost predicts it (ms). */
  passMs(): number {
    return this.population() * this.dispatch.writeCostMs;
  }

  /**
   * Why a push must be refused now, or null: `lagMs` of the oldest accepted item not yet written (in the
   * merger since `oldestOpenedAt`, or in the dispatcher).
   */
  overload(oldestBatchAgeMs: number): { lagMs: number } | null {
    const lagMs = Math.max(oldestBatchAgeMs, this.dispatch.lagMs());
    if (lagMs <= this.settings.budgetMs + this.passMs() && this.dispatch.backlogShare <= BACKLOG_SHARE) {
      this.behindSince = -1;
      return null;
    }
    // Behind for a moment is a pause (a GC, a busy machine) that the next write pass makes up; behind
    // for a quarter of the budget is overload.
    const now = this.now();
    if (this.behindSince < 0) this.behindSince = now;
    return now - this.behindSince >= this.settings.budgetMs / 4 ? { lagMs: Math.round(lagMs) } : null;
  }
}
