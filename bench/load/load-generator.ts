import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Histogram } from './histogram.js';
import { IpcChild } from './ipc-child.js';
import type { ChurnCommand, WorkerCommand, WorkerReply } from './messages.js';

const workerScript = new URL('./worker.js', import.meta.url).pathname;

/** Sums of every worker's report. */
export interface Measurement {
  items: number;
  frames: number;
  disconnects: number;
  errors: number;
  /** CPU of each worker, in cores (CPU seconds per second). */
  cpuCores: number[];
  elapsedMs: number;
  timeline: number[];
  latency: Histogram;
  /** Per push: time from its first to its last receipt over all clients, ms. */
  spreads: number[];
}

/**
 * The load generator's coordinator: forks client worker processes (pinned to `core` with taskset when
 * given), gives each its share of connections, and sums their counts.
 */
export class LoadGenerator {
  private readonly workers: Array<IpcChild<WorkerCommand, WorkerReply>> = [];
  private readonly ticks: number[] = [];

  constructor(
    count: number,
    core: number | null,
    private readonly onProgress: (connected: number, errors: number) => void = () => {},
  ) {
    const progress = new Map<number, { connected: number; errors: number }>();
    for (let i = 0; i < count; i++) {
      const command = core !== null && existsSync('/usr/bin/taskset') ? ['taskset', '-c', String(core), process.execPath] : [process.execPath];
      const child = spawn(command[0], [...command.slice(1), workerScript], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      this.ticks.push(0);
      this.workers.push(
        new IpcChild<WorkerCommand, WorkerReply>(child, (reply) => {
          if (reply.type === 'tick') {
            this.ticks[i] = reply.items;
            return true;
          }
          if (reply.type !== 'progress') return false;
          progress.set(i, reply);
          let connected = 0;
          let errors = 0;
          for (const p of progress.values()) {
            connected += p.connected;
            errors += p.errors;
          }
          this.onProgress(connected, errors);
          return true;
        }),
      );
    }
  }

  /** PIDs of the worker processes. */
  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0);
  }

  /** Opens `total` connections spread evenly over the workers and `urls`; resolves when all tried. */
  async connect(protocol: string, urls: string[], total: number, rooms: number): Promise<{ connected: number; errors: number; elapsedMs: number }> {
    const share = Math.ceil(total / this.workers.length);
    const replies = this.workers.map((worker, i) => {
      const offset = i * share;
      const count = Math.max(0, Math.min(share, total - offset));
      worker.send({ type: 'connect', protocol, urls, count, offset, rooms, concurrency: 64 });
      return worker.next('connected', 120000);
    });
    const done = await Promise.all(replies);
    return {
      connected: done.reduce((sum, r) => sum + r.connected, 0),
      errors: done.reduce((sum, r) => sum + r.errors, 0),
      elapsedMs: Math.max(...done.map((r) => r.elapsedMs)),
    };
  }

  /** How many connections have received anything since the first call (for priming). */
  async primed(): Promise<number> {
    const replies = this.workers.map((w) => {
      w.send({ type: 'prime' });
      return w.next('primed', 10000);
    });
    return (await Promise.all(replies)).reduce((sum, r) => sum + r.primed, 0);
  }

  /** Starts counting (and timing, with `latency`; and each push's spread, with `spreads`) from now. */
  measure(latency: boolean, spreads = latency): void {
    this.ticks.fill(0);
    for (const w of this.workers) w.send({ type: 'measure', latency, spreads });
  }

  /** Items the clients have counted since `measure`, as of their last tick (at most 50 ms old). */
  get delivered(): number {
    return this.ticks.reduce((a, b) => a + b, 0);
  }

  /** Every worker's counts since `measure`, summed. */
  async report(): Promise<Measurement> {
    const replies = await Promise.all(
      this.workers.map((w) => {
        w.send({ type: 'report' });
        return w.next('report', 30000);
      }),
    );
    const latency = new Histogram();
    const timeline: number[] = [];
    const spreads = new Map<number, [number, number]>();
    for (const r of replies) {
      latency.merge(r.latency);
      r.timeline.forEach((value, second) => {
        timeline[second] = (timeline[second] ?? 0) + value;
      });
      for (const [seq, first, last] of r.spreads) {
        const seen = spreads.get(seq);
        if (seen === undefined) spreads.set(seq, [first, last]);
        else spreads.set(seq, [Math.min(seen[0], first), Math.max(seen[1], last)]);
      }
    }
    return {
      items: replies.reduce((sum, r) => sum + r.items, 0),
      frames: replies.reduce((sum, r) => sum + r.frames, 0),
      disconnects: replies.reduce((sum, r) => sum + r.disconnects, 0),
      errors: replies.reduce((sum, r) => sum + r.errors, 0),
      cpuCores: replies.map((r) => r.cpuMs / Math.max(1, r.elapsedMs)),
      elapsedMs: Math.max(...replies.map((r) => r.elapsedMs)),
      timeline: Array.from(timeline, (v) => v ?? 0),
      latency,
      spreads: [...spreads.values()].map(([first, last]) => last - first),
    };
  }

  /** Runs connect-join-receive-disconnect cycles on every worker at `rate` per second in total. */
  async churn(
    command: Omit<ChurnCommand, 'type' | 'rate'> & { rate: number },
  ): Promise<{ completed: number; errors: number; cpuCores: number[]; latency: Histogram; firstError: string | null }> {
    const replies = await Promise.all(
      this.workers.map((w) => {
        w.send({ ...command, type: 'churn', rate: command.rate / this.workers.length });
        return w.next('churned', command.durationMs + command.timeoutMs + 30000);
      }),
    );
    const latency = new Histogram();
    for (const r of replies) latency.merge(r.latency);
    return {
      completed: replies.reduce((sum, r) => sum + r.completed, 0),
      errors: replies.reduce((sum, r) => sum + r.errors, 0),
      cpuCores: replies.map((r) => r.cpuMs / command.durationMs),
      latency,
      firstError: replies.find((r) => r.firstError !== null)?.firstError ?? null,
    };
  }

  /** Closes every client and ends the worker processes. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.exited) return;
        w.send({ type: 'close' });
        await w.next('closed', 10000).catch(() => w.child.kill('SIGKILL'));
      }),
    );
  }
}
