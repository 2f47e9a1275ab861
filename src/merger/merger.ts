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
 * (never here). A batch is flushed when it holds `maxBatchItems`, otherwise once it is as old as the
 * merge window `window()` says — the latency budget's rule (see DeliveryPace): 0 while the node has
 * time to spare, so that a lone push goes at the end of its event-loop turn (a burst handled in one
 * turn still shares a frame), longer as load rises, so that frames carry more items when writing them
 * is what the node spends its time on. Items of one target keep their push order across batches;
 * batches of different targets have no order between them (a full batch goes at once, ahead of other
 * targets' batches opened before it).
 */
export class Merger {
  /** Open batches by key, in the order they were opened (a Map keeps it): the first is the oldest. */
  private readonly batches = new Map<string, Batch>();
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private timerIsImmediate = false;
  /** Items accepted but not yet flushed (go-push's `mergerPending`). */
  pendingItems = 0;

  /**
   * @param window the merge window now, in milliseconds (0: at the end of the turn).
   * @param now the merger's clock, in milliseconds (`performance.now` unless a test drives it).
   */
  constructor(
    private readonly maxBatchItems: number,
    private readonly window: () => number,
    private readonly onFlush: FlushHandler,
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
        this.flushBatch(key, batch);
        batch = undefined;
      }
    }
    if (this.batches.size > 0) this.schedule();
  }

  /** Milliseconds the oldest open batch has waited (0 when none is open). */
  oldestAgeMs(): number {
    for (const batch of this.batches.values()) return this.now() - batch.openedAt;
    return 0;
  }

  /** Flushes every open batch now. */
  flushAll(): void {
    this.cancel();
    for (const [key, batch] of this.batches) this.flushBatch(key, batch);
  }

  /** Stops the flush timer; open batches stay until {@link flushAll}. */
  cancel(): void {
    if (this.timer === null) return;
    if (this.timerIsImmediate) clearImmediate(this.timer as NodeJS.Immediate);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = null;
  }

  // At the end of the turn when the window is 0, else when the oldest batch is due.
  private schedule(delayMs = this.window() - this.oldestAgeMs()): void {
    if (this.timer !== null) return;
    const run = (): void => {
      this.timer = null;
      this.flushDue();
    };
    this.timerIsImmediate = delayMs < 1;
    this.timer = this.timerIsImmediate ? setImmediate(run) : setTimeout(run, delayMs);
  }

  // Flushes every batch as old as the window; the others wait for the next due time.
  private flushDue(): void {
    const now = this.now();
    const window = this.window();
    let nextDue = Infinity;
    for (const [key, batch] of this.batches) {
      const age = now - batch.openedAt;
      if (age >= window || window < 1) this.flushBatch(key, batch);
      else nextDue = Math.min(nextDue, window - age);
    }
    if (nextDue < Infinity) this.schedule(nextDue);
  }

  private flushBatch(key: string, batch: Batch): void {
    this.batches.delete(key);
    this.pendingItems -= batch.items.length;
    const room = batch.target.kind === 'room' ? batch.target.room : undefined;
    this.onFlush(new PushBatch(batch.items, room), batch.target);
  }
}
