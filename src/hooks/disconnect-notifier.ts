import type { Logger } from 'pino';
import { HookCallError, type HookCaller } from './hook-client.js';

/** One closed connection, as the disconnect hook gets it. */
export interface DisconnectRecord {
  conn: string;
  user: string | null;
  address: string | null;
  rooms: string[];
  code: number;
  reason: string;
  /** Who closed it: `client` or `server` (a limit, the heartbeat, the API, a shutdown). */
  by: 'client' | 'server';
  connectedAt: string;
  closedAt: string;
  durationMs: number;
}

/** How the notifier batches and retries (`--disconnect-batch-size`, `--disconnect-batch-delay`, `--disconnect-queue`). */
export interface DisconnectSettings {
  batchSize: number;
  delayMs: number;
  maxQueued: number;
  /** Tries per batch (the first included) before it is dropped and counted. */
  tries: number;
  /** Wait before the first retry (ms); doubled each retry. */
  retryDelayMs: number;
}

/** Where the notifier counts (the node's Stats). */
export interface DisconnectCounters {
  /** Records posted and answered 2xx. */
  disconnectsNotified: number;
  /** Records dropped: the queue was full, or their batch failed every try. */
  disconnectsDropped: number;
}

/**
 * Posts closed connections to the disconnect hook in batches: `{"disconnects": [...]}` of up to
 * `batchSize` records, sent once that many wait or `delayMs` after the first of them; one batch in flight
 * at a time; a batch that fails (timeout, down, 5xx, a 4xx too: the backend did not take it) is tried
 * again after `retryDelayMs`, doubling, up to `tries` times, then dropped and counted. At most `maxQueued`
 * records wait; more are dropped and counted. Best-effort by design: a node that dies takes what it had
 * not posted with it (presence counts are the cluster's reliable signal).
 */
export class DisconnectNotifier {
  private queue: DisconnectRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private stopped = false;
  private flushed = false;

  constructor(
    private readonly caller: HookCaller,
    private readonly settings: DisconnectSettings,
    private readonly log: Logger,
    readonly counters: DisconnectCounters = { disconnectsNotified: 0, disconnectsDropped: 0 },
  ) {}

  /** Records waiting. */
  get queued(): number {
    return this.queue.length;
  }

  /** A connection closed. */
  closed(record: DisconnectRecord): void {
    // After the shutdown's flush nothing is posted any more: a record then is dropped, and counted.
    if (this.flushed || this.queue.length >= this.settings.maxQueued) {
      this.counters.disconnectsDropped += 1;
      return;
    }
    this.queue.push(record);
    this.schedule();
  }

  /** Posts what waits (a shutdown), trying each batch once more at most; resolves when done. */
  async flush(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.sending;
    while (this.queue.length > 0) await this.sendBatch(Math.min(2, this.settings.tries));
    this.flushed = true;
  }

  private schedule(): void {
    if (this.stopped || this.sending !== null) return;
    if (this.queue.length >= this.settings.batchSize) {
      this.start();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.start();
    }, this.settings.delayMs);
  }

  private start(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.queue.length === 0 || this.sending !== null) return;
    this.sending = this.sendBatch(this.settings.tries).finally(() => {
      this.sending = null;
      if (this.queue.length > 0) this.schedule();
    });
  }

  private async sendBatch(tries: number): Promise<void> {
    const batch = this.queue.splice(0, this.settings.batchSize);
    let wait = this.settings.retryDelayMs;
    for (let attempt = 1; attempt <= tries; attempt++) {
      try {
        const answer = await this.caller.call({ disconnects: batch });
        if (answer.status < 300) {
          this.counters.disconnectsNotified += batch.length;
          return;
        }
        this.log.warn({ status: answer.status, attempt }, 'disconnect hook refused a batch');
      } catch (error) {
        if (!(error instanceof HookCallError)) throw error;
        this.log.warn({ err: error.message, attempt }, 'disconnect hook failed');
      }
      if (attempt < tries) {
        // A retry's wait does not hold a stopping process up (the shutdown bounds its flush itself).
        await new Promise((resolve) => setTimeout(resolve, wait).unref());
        wait *= 2;
      }
    }
    this.counters.disconnectsDropped += batch.length;
    this.log.error({ dropped: batch.length, tries }, 'disconnect notifications dropped after every try');
  }
}
