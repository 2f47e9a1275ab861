/** Where a breaker is: passing calls, failing them fast, or letting one probe through. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker for one backend: after `failures` failures in a row it opens and fails calls at once
 * for `cooldownMs`, so a backend that is down costs its callers nothing but an error (and is not hit by
 * every retry of every client); then it lets one call through (half-open) — its success closes the
 * breaker, its failure opens it for another cool-down.
 */
export class CircuitBreaker {
  private inARow = 0;
  private openedAt = -1;
  private probing = false;

  constructor(
    private readonly failures: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The state now. */
  get state(): BreakerState {
    if (this.openedAt < 0) return 'closed';
    return this.now() - this.openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  /** Milliseconds until an open breaker lets a probe through (0 when it would now). */
  get retryInMs(): number {
    return this.openedAt < 0 ? 0 : Math.max(0, this.cooldownMs - (this.now() - this.openedAt));
  }

  /** Whether a call may go now; a half-open breaker lets exactly one through until it is settled. */
  allow(): boolean {
    switch (this.state) {
      case 'closed':
        return true;
      case 'open':
        return false;
      case 'half-open':
        if (this.probing) return false;
        this.probing = true;
        return true;
    }
  }

  /** A call that was allowed succeeded (the backend answered). */
  succeeded(): void {
    this.inARow = 0;
    this.openedAt = -1;
    this.probing = false;
  }

  /** A call that was allowed failed (down, 5xx, timeout, garbage). */
  failed(): void {
    this.inARow += 1;
    if (this.probing || this.inARow >= this.failures) this.openedAt = this.now();
    this.probing = false;
  }
}
