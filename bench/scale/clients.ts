import { spawn } from 'node:child_process';
import { Histogram } from '../load/histogram.js';
import { IpcChild } from '../load/ipc-child.js';
import type { ScaleCommand, ScaleReply } from './messages.js';

const script = new URL('./client-process.js', import.meta.url).pathname;

/** What every client process counted since `measure`, summed. */
export interface ScaleReport {
  items: number;
  latency: Histogram;
  /** Per push: from its first to its last receipt over every client, ms. */
  spreads: number[];
  /** CPU of each client process, in cores. */
  cpuCores: number[];
  notReady: number;
}

/** Since `watch`, summed over the processes: clients ready, failed attempts, the last ready time, peak RSS. */
export interface WatchState {
  ready: number;
  dropped: number;
  failedAttempts: number;
  lastReadyAt: number;
  peakRssBytes: number;
  maxAttempt: number;
}

/** The scale bench's client processes (bench/scale/client-process.ts), each holding its share of SDK clients. */
export class ScaleClients {
  private readonly processes: Array<IpcChild<ScaleCommand, ScaleReply>> = [];
  private readonly watched: WatchState[] = [];
  private readonly progress: number[] = [];
  /** Clients opened so far over all processes. */
  opened = 0;

  constructor(
    count: number,
    private readonly onProgress: (ready: number) => void = () => {},
  ) {
    for (let i = 0; i < count; i++) {
      // Each process holds up to ~17,000 SDK clients: more than Node's default old space would like.
      const child = spawn(process.execPath, ['--max-old-space-size=4096', script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      this.progress.push(0);
      this.watched.push({ ready: 0, dropped: 0, failedAttempts: 0, lastReadyAt: 0, peakRssBytes: 0, maxAttempt: 0 });
      this.processes.push(
        new IpcChild<ScaleCommand, ScaleReply>(child, (reply) => {
          if (reply.type === 'progress') {
            this.progress[i] = reply.ready;
            this.onProgress(this.progress.reduce((a, b) => a + b, 0));
            return true;
          }
          if (reply.type === 'watched') {
            const { type: _, ...state } = reply;
            this.watched[i] = state;
            return true;
          }
          return false;
        }),
      );
    }
  }

  /** PIDs of the client processes. */
  get pids(): number[] {
    return this.processes.map((p) => p.child.pid ?? 0);
  }

  /**
   * Opens `count` more clients, spread evenly over the processes and `urls`, client i in room
   * `room-${i % rooms}`; resolves when every one is ready (connected and joined).
   */
  async connect(
    urls: string[],
    count: number,
    rooms: number,
    concurrency: number,
    timeoutMs: number,
  ): Promise<{ ready: number; failedAttempts: number; elapsedMs: number }> {
    const share = Math.ceil(count / this.processes.length);
    const started = Date.now();
    const replies = this.processes.map((p, i) => {
      const offset = this.opened + i * share;
      const n = Math.max(0, Math.min(share, count - i * share));
      p.send({ type: 'connect', urls, count: n, offset, rooms, concurrency });
      return p.next('connected', timeoutMs);
    });
    const done = await Promise.all(replies);
    this.opened += count;
    return {
      ready: done.reduce((sum, r) => sum + r.ready, 0),
      failedAttempts: done.reduce((sum, r) => sum + r.attempts, 0),
      elapsedMs: Date.now() - started,
    };
  }

  /** Starts counting items (and their latency and spread) from now. */
  measure(): void {
    for (const p of this.processes) p.send({ type: 'measure' });
  }

  /** Items counted since {@link measure} over every process; counting goes on. */
  async count(): Promise<number> {
    const replies = await Promise.all(
      this.processes.map((p) => {
        p.send({ type: 'count' });
        return p.next('counted', 30000);
      }),
    );
    return replies.reduce((sum, r) => sum + r.items, 0);
  }

  /** Resolves once the clients counted `items` since {@link measure}; false when not within `ms`. */
  async delivered(items: number, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while ((await this.count()) < items) {
      if (Date.now() > end) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  }

  /** What every process counted since {@link measure}; counting stops. */
  async report(): Promise<ScaleReport> {
    const replies = await Promise.all(
      this.processes.map((p) => {
        p.send({ type: 'report' });
        return p.next('report', 30000);
      }),
    );
    const latency = new Histogram();
    const spreads = new Map<number, [number, number]>();
    for (const r of replies) {
      latency.merge(r.latency);
      for (const [seq, first, last] of r.spreads) {
        const seen = spreads.get(seq);
        spreads.set(seq, seen === undefined ? [first, last] : [Math.min(seen[0], first), Math.max(seen[1], last)]);
      }
    }
    return {
      items: replies.reduce((sum, r) => sum + r.items, 0),
      latency,
      spreads: [...spreads.values()].map(([first, last]) => last - first),
      cpuCores: replies.map((r) => r.cpuMs / Math.max(1, r.elapsedMs)),
      notReady: replies.reduce((sum, r) => sum + r.notReady, 0),
    };
  }

  /** Starts watching clients come back (after a restart): see {@link watchState}. */
  watch(): void {
    for (let i = 0; i < this.watched.length; i++) this.watched[i] = { ready: 0, dropped: 0, failedAttempts: 0, lastReadyAt: 0, peakRssBytes: 0, maxAttempt: 0 };
    for (const p of this.processes) p.send({ type: 'watch' });
  }

  /** The processes' last watch reports (every 250 ms), summed. */
  get watchState(): WatchState {
    return {
      ready: this.watched.reduce((sum, w) => sum + w.ready, 0),
      dropped: this.watched.reduce((sum, w) => sum + w.dropped, 0),
      failedAttempts: this.watched.reduce((sum, w) => sum + w.failedAttempts, 0),
      lastReadyAt: Math.max(...this.watched.map((w) => w.lastReadyAt)),
      peakRssBytes: this.watched.reduce((sum, w) => sum + w.peakRssBytes, 0),
      maxAttempt: Math.max(...this.watched.map((w) => w.maxAttempt)),
    };
  }

  /** Closes every client and ends the processes. */
  async close(): Promise<void> {
    await Promise.all(
      this.processes.map(async (p) => {
        if (p.exited) return;
        p.send({ type: 'close' });
        await p.next('closed', 20000).catch(() => p.child.kill('SIGKILL'));
      }),
    );
  }
}
