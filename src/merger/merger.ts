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
 * Under load a batch waits up to this long for its target's previous frame to reach every recipient:
 * those recipients could not be written sooner anyway, and the wait merges what arrives meanwhile
 * into one frame instead of one per event-loop turn, which spares clients most of their per-frame work.
 */
export const LOADED_HOLD_MS = 16;

/**
 * Receives each closed batch with its target, synchronously: the batch is encoded (once per protocol)
 * as its recipients' frames are asked for, during this call.
 */
export type FlushHandler = (batch: PushBatch, target: PushTarget) => void;

/**
 * Merges items pushed to the same target into one PUSH batch, encoded by each recipient's protocol (never here). A batch is flushed when it holds
 * `maxBatchItems`, otherwise at the end of the current event-loop turn (`setImmediate`), so a burst of
 * pushes handled in one turn goes out as one frame while a lone push waits for nothing; with
 * `maxBatchDelay` > 0 batches may wait that many milliseconds for more. Batching grows with load: while
 * the target's previous frame is still being written, a batch waits for it (at most `LOADED_HOLD_MS`).
 * Items of one target keep
 * their push order across batches; batches of different targets have no order between them (a full
 * batch goes at once, ahead of other targets' batches opened before it).
 */
export class Merger {
  private readonly batches = new Map<string, Batch>();
  /** The last batch flushed per key, while it may still be on its way. */
  private readonly inFlight = new Map<string, PushBatch>();
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  /** Items accepted but not yet flushed (go-push's `mergerPending`). */
  pendingItems = 0;

  /**
   * @param now the clock of the loaded hold, in milliseconds (`performance.now` unless a test drives it).
   */
  constructor(
    private readonly maxBatchItems: number,
    private readonly maxBatchDelayMs: number,
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

  /** Milliseconds the oldest open batch has waited (0 when none is open): a Map keeps the order batches opened in. */
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
    if (this.maxBatchDelayMs > 0) clearTimeout(this.timer as NodeJS.Timeout);
    else clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer !== null) return;
    if (this.maxBatchDelayMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flushAll();
      }, this.maxBatchDelayMs);
    } else {
      this.timer = setImmediate(() => {
        this.timer = null;
        this.flushDue();
      });
    }
  }

  // End of turn: flush every batch, except those still waiting (briefly) for their previous frame.
  private flushDue(): void {
    const now = this.now();
    let held = false;
    for (const [key, batch] of this.batches) {
      const previous = this.inFlight.get(key);
      if (previous !== undefined && now - batch.openedAt < LOADED_HOLD_MS && previous.inFlight) {
        held = true;
        continue;
      }
      this.flushBatch(key, batch);
    }
    // Frames already delivered need no tracking; without this, every key ever pushed to would stay.
    if (this.inFlight.size > 2 * this.batches.size + 256) {
      for (const [key, flushed] of this.inFlight) if (!flushed.inFlight) this.inFlight.delete(key);
    }
    if (held) this.schedule();
  }

  private flushBatch(key: string, batch: Batch): void {
    this.batches.delete(key);
    this.pendingItems -= batch.items.length;
    const room = batch.target.kind === 'room' ? batch.target.room : undefined;
    const flushed = new PushBatch(batch.items, room);
    this.onFlush(flushed, batch.target);
    if (flushed.inFlight) this.inFlight.set(key, flushed);
    else this.inFlight.delete(key);
  }
}
