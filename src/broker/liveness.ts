import { BrokerUnavailableError } from './broker.js';

/**
 * Bounded waits on a broker's answers. A broker that stops answering (a stopped or overloaded process,
 * a half-open connection) keeps its TCP connections open: no error ever comes, only a deadline tells.
 */

/** How long a broker may take to answer, and how often it is asked whether it still does. */
export interface LivenessTiming {
  /** A publish confirmation or probe reply not received within this counts as no answer. */
  timeoutMs: number;
  /** Time between two liveness probes. */
  probeIntervalMs: number;
}

/** The defaults of `--broker-timeout` and `--broker-probe-interval`. */
export const DEFAULT_LIVENESS: Readonly<LivenessTiming> = Object.freeze({ timeoutMs: 2000, probeIntervalMs: 1000 });

/** An answer the broker did not give in time. */
export class NoAnswerError extends BrokerUnavailableError {
  constructor(what: string, ms: number) {
    super(`${what}: no answer from the broker within ${ms} ms`);
    this.name = 'NoAnswerError';
  }
}

/**
 * Settles like `promise`, or rejects with a {@link NoAnswerError} after `ms`, calling `onTimeout`
 * with it first. `promise` keeps a handler, so failing after the deadline is no unhandled rejection.
 */
export function answerWithin<T>(promise: Promise<T>, ms: number, what: string, onTimeout?: (error: NoAnswerError) => void): Promise<T> {
  promise.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new NoAnswerError(what, ms);
      onTimeout?.(error);
      reject(error);
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Asks `probe` every `probeIntervalMs` whether the broker answers, and reports each outcome: an error
 * when the probe fails or is not answered within `timeoutMs`, `null` when it is answered. Never two
 * probes at once: while one waits for its answer (a stopped server answers nothing), no other is sent,
 * so a long stall queues one probe, not one per interval. A late answer is reported as an answer: it
 * shows the broker responds again.
 */
export class LivenessProbe {
  private timer: NodeJS.Timeout | null = null;
  private waiting = false;
  private stopped = false;

  constructor(
    private readonly timing: LivenessTiming,
    private readonly probe: () => Promise<unknown>,
    private readonly report: (error: Error | null) => void,
  ) {}

  /** Starts probing (idempotent); the timer does not keep the process alive. */
  start(): void {
    if (this.stopped || this.timer !== null) return;
    this.timer = setInterval(() => this.now(), this.timing.probeIntervalMs);
    this.timer.unref();
  }

  /** Stops for good: no more probes, no more reports. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Probes at once (e.g. when a connection is ready again), unless a probe is waiting for its answer. */
  now(): void {
    if (this.stopped || this.waiting) return;
    this.waiting = true;
    let attempt: Promise<unknown>;
    try {
      attempt = this.probe();
    } catch (error) {
      attempt = Promise.reject(error);
    }
    const timer = setTimeout(() => {
      if (!this.stopped) this.report(new NoAnswerError('liveness probe', this.timing.timeoutMs));
    }, this.timing.timeoutMs);
    attempt.then(
      () => this.settle(timer, null),
      (error: unknown) => this.settle(timer, error instanceof Error ? error : new Error(String(error))),
    );
  }

  private settle(timer: NodeJS.Timeout, error: Error | null): void {
    clearTimeout(timer);
    this.waiting = false;
    if (!this.stopped) this.report(error);
  }
}
