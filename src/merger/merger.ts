import type { Connection } from '../connection/connection.js';
import { PushBatch } from './push-batch.js';

/** Where a batch goes: everyone, one room, one connection, or one user's connections. */
export type PushTarget = { kind: 'all' } | { kind: 'room'; room: string } | { kind: 'conn'; conn: Connection } | { kind: 'user'; user: string };

interface Batch {
  target: PushTarget;
  items: string[];
  /** The merger's clock when its first item came. */
  openedAt: number;
}

/**
 * Receives each closed batch with its target, synchronously: the batch is encoded (once per protocol)
 * as its recipients' frames are asked for, during this call.
 */
export type FlushHandler = (batch: PushBatch, target: PushTarget) => void;

/**
 * Merges items pushed to the same target into one PUSH batch, encoded by each recipient's protocol
 * (never here). A batch is flushed when it holds `maxBatchItems`; otherwise when it is due: at the end
 * of the current event-loop turn (`setImmediate`), so a burst of pushes handled in one turn goes out as
 * one frame while a lone push waits for nothing; with `maxBatchDelay` > 0 (a floor) not before it is that
 * many milliseconds old; and not before the merge window (see MergeWindow: 0 at rest, wider under
 * load) has passed since its target's previous frame, so that under load every target gets at most one
 * frame per window and the items pushed meanwhile share it. Items of one target keep their push order
 * across batches; batches of different targets have no order between them (a full batch goes at once,
 * ahead of other targets' batches opened before it).
 */
export class Merger {
  private readonly batches = new Map<string, Batch>();
  /** When each key's last batch was flushed (the merger's clock), while the window may still hold the next. */
  private readonly flushedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private timerIsImmediate = false;
  /** Items accepted but not yet flushed (go-push's `mergerPending`). */
  pendingItems = 0;

  /**
   * @param window the merge window now (ms): the least time between two frames to one target.
   * @param now the merger's clock, in milliseconds (`performance.now` unless a test drives it).
   */
  constructor(
    private readonly maxBatchItems: number,
    private readonly maxBatchDelayMs: number,
    private readonly onFlush: FlushHandler,
    private readonly window: () => number = () => 0,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Adds serialised JSON items for `target`; `key` names the target (one batch per key). */
  add(key: string, target: PushTarget, items: readonly string[]): void {
    let batch = this.batches.get(key);
    for (const item of items) {
      if (batch === undefined) {
        batch = { target, items: [], openedAt: this.now() };
        this.batches.set(key, batch);
      }
      batch.items.push(item);
      this.pendingItems += 1;
      if (batch.items.length >= this.maxBatchItems) {
        this.flushBatch(key, batch, this.now());
        batch = undefined;
      }
    }
    if (this.batches.size > 0 && this.timer === null) this.scheduleIn(this.maxBatchDelayMs);
  }

  /** Milliseconds the oldest open batch has waited (0 when none is open): a Map keeps the order batches opened in. */
  oldestAgeMs(): number {
    for (const batch of this.batches.values()) return this.now() - batch.openedAt;
    return 0;
  }

  /** Flushes every open batch now. */
  flushAll(): void {
    this.cancel();
    const now = this.now();
    for (const [key, batch] of this.batches) this.flushBatch(key, batch, now);
  }

  /** Stops the flush timer; open batches stay until {@link flushAll}. */
  cancel(): void {
    if (this.timer === null) return;
    if (this.timerIsImmediate) clearImmediate(this.timer as NodeJS.Immediate);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = null;
  }

  // 0: at the end of this event-loop turn.
  private scheduleIn(ms: number): void {
    this.timerIsImmediate = ms <= 0;
    const run = (): void => {
      this.timer = null;
      this.flushDue();
    };
    this.timer = ms <= 0 ? setImmediate(run) : setTimeout(run, ms);
  }

  // Flush every batch that is due; wake up again when the first of the others is.
  private flushDue(): void {
    const now = this.now();
    const windowMs = this.window();
    let next = Infinity;
    for (const [key, batch] of this.batches) {
      let due = batch.openedAt + this.maxBatchDelayMs;
      if (windowMs > 0) {
        const last = this.flushedAt.get(key);
        if (last !== undefined && last + windowMs > due) due = last + windowMs;
      }
      if (due > now) {
        if (due < next) next = due;
        continue;
      }
      this.flushBatch(key, batch, now);
    }
    // Keys whose window has passed need no record; without this, every key ever pushed to would stay.
    if (this.flushedAt.size > 2 * this.batches.size + 256) {
      for (const [key, at] of this.flushedAt) if (now - at >= windowMs && !this.batches.has(key)) this.flushedAt.delete(key);
    }
    if (next < Infinity) this.scheduleIn(Math.max(1, next - now));
  }

  private flushBatch(key: string, batch: Batch, now: number): void {
    this.batches.delete(key);
    this.pendingItems -= batch.items.length;
    const room = batch.target.kind === 'room' ? batch.target.room : undefined;
    this.onFlush(new PushBatch(batch.items, room), batch.target);
    this.flushedAt.set(key, now);
  }
}
