/** What the pace reads of the dispatcher. */
export interface DispatchGauges {
  /** Milliseconds the oldest frame not yet written has waited (0 when none waits). */
  lagMs(): number;
  /** How far behind the clients are, from sampled probes (ms; 0 when not probing): see ClientLag. */
  clientLagMs(): number;
  /** Milliseconds one write to one connection costs, as recently measured. */
  readonly writeCostMs: number;
  /** The least of the recent {@link writeCostMs}: a write's cost when its client keeps up. */
  readonly leastWriteCostMs: number;
  /** Of the recent writes, the share that found the client's socket still holding earlier bytes (0 … 1). */
  readonly backlogShare: number;
}

/** The pace's settings. */
export interface PaceSettings {
  /** The latency budget (`--max-latency`), in milliseconds. */
  budgetMs: number;
}

/** Past this share of the budget, the clients' lag (by probes) refuses pushes at once. */
export const CLIENT_LAG_SHARE = 0.5;

/** Past this share of writes finding the client's socket still full, the clients are behind. */
export const BACKLOG_SHARE = 0.5;

/**
 * The latency budget applied to admission (when one is set: `--max-latency` above 0): whether delivery
 * is so far behind that a push must be refused (503 `OVERLOADED`) rather than queued.
 *
 * A push is refused at once while the clients are behind by more than {@link CLIENT_LAG_SHARE} of the
 * budget (see ClientLag: what is accepted meanwhile would wait in their sockets); and once, for a
 * quarter of the budget or longer, the oldest accepted item not yet written has waited more than the
 * budget plus one write pass over every connection (the time a push to all takes however idle the node
 * is), or most writes have found their client's socket still full. An accepted push is then written to
 * every recipient within about twice the budget plus one pass.
 */
export class DeliveryPace {
  /** Since when delivery has been behind (the pace's clock), or -1 while it is not. */
  private behindSince = -1;

  constructor(
    private readonly settings: PaceSettings,
    private readonly dispatch: DispatchGauges,
    /** Connections a push to all reaches. */
    private readonly population: () => number,
    /** The pace's clock, in milliseconds (`performance.now` unless a test drives it). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The latency budget (ms). */
  get budgetMs(): number {
    return this.settings.budgetMs;
  }

  /** Whether a budget is set (`--max-latency` above 0): otherwise nothing is ever refused. */
  get enabled(): boolean {
    return this.settings.budgetMs > 0;
  }

  /**
   * One write pass over every connection, at the least recent write cost (ms): the pass a push to all
   * takes when the clients keep up. Slower writes are the clients' lag, which the budget must not
   * excuse.
   */
  passMs(): number {
    return this.population() * this.dispatch.leastWriteCostMs;
  }

  /**
   * Why a push must be refused now, or null: `lagMs` of the oldest accepted item not yet written (in the
   * merger for `oldestBatchAgeMs`, or in the dispatcher).
   */
  overload(oldestBatchAgeMs: number): { lagMs: number } | null {
    if (!this.enabled) return null;
    const { budgetMs } = this.settings;
    const queued = Math.max(oldestBatchAgeMs, this.dispatch.lagMs());
    // The clients' own backlog (bytes they have not read, or probes unanswered): no pass in it.
    const clients = this.dispatch.clientLagMs();
    const lagMs = Math.max(queued, clients);
    // The clients' lag is already a measure over time (a probe's round trip, the median of several),
    // and what is accepted while they lag waits in their sockets: past half the budget, refuse at once.
    if (clients > budgetMs * CLIENT_LAG_SHARE) return { lagMs: Math.round(lagMs) };
    if (queued <= budgetMs + this.passMs() && this.dispatch.backlogShare <= BACKLOG_SHARE) {
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
