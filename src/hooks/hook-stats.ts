import { Counter, Histogram } from 'prom-client';
import type { HookObserver, HookOutcome } from './hook-client.js';

/** One hook's counters, as `/stats` shows them. */
export interface HookCounters {
  calls: number;
  ok: number;
  refused: number;
  timeouts: number;
  unavailable: number;
  badAnswers: number;
  /** Milliseconds of the latest call. */
  lastMs: number;
}

const FIELD: Record<HookOutcome, keyof HookCounters> = {
  ok: 'ok',
  refused: 'refused',
  timeout: 'timeouts',
  unavailable: 'unavailable',
  'bad-answer': 'badAnswers',
};

/**
 * Every hook's calls counted by outcome, for `/stats` and the dashboard, and as Prometheus metrics
 * (`pushgate_hook_calls_total{hook,outcome}` and the latency histogram `pushgate_hook_duration_seconds{hook}`),
 * which the gateway registers in its registry.
 */
export class HookStats implements HookObserver {
  constructor(
    /** The node's counters: every call and every failure are counted there too (for /stats over workers and the dashboard). */
    private readonly totals: { hookCalls: number; hookFailures: number } = { hookCalls: 0, hookFailures: 0 },
  ) {}

  private readonly byHook = new Map<string, HookCounters>();
  /** The metrics, not registered anywhere until the owner registers them. */
  readonly calls = new Counter({ name: 'pushgate_hook_calls_total', help: 'Hook calls, by hook and outcome', labelNames: ['hook', 'outcome'], registers: [] });
  readonly duration = new Histogram({
    name: 'pushgate_hook_duration_seconds',
    help: 'Time from a hook call to its whole answer (or its failure), by hook',
    labelNames: ['hook'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [],
  });

  called(hook: string, outcome: HookOutcome, ms: number): void {
    let counters = this.byHook.get(hook);
    if (counters === undefined) {
      counters = { calls: 0, ok: 0, refused: 0, timeouts: 0, unavailable: 0, badAnswers: 0, lastMs: 0 };
      this.byHook.set(hook, counters);
    }
    counters.calls += 1;
    counters[FIELD[outcome]] += 1;
    this.totals.hookCalls += 1;
    if (outcome !== 'ok' && outcome !== 'refused') this.totals.hookFailures += 1;
    counters.lastMs = Math.round(ms * 10) / 10;
    this.calls.inc({ hook, outcome });
    this.duration.observe({ hook }, ms / 1000);
  }

  /** Each hook that was called, with its counters. */
  snapshot(): Record<string, HookCounters> {
    return Object.fromEntries([...this.byHook].map(([hook, counters]) => [hook, { ...counters }]));
  }
}
