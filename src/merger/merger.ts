import type { Connection } from '../connection/connection.js';
import { encodePush, prepareFrame, type PreparedFrame } from '../protocol/encode.js';

/** Where a batch goes: everyone, one room, or one connection. */
export type PushTarget =
  | { kind: 'all' }
  | { kind: 'room'; room: string }
  | { kind: 'conn'; conn: Connection };

interface Batch {
  target: PushTarget;
  items: string[];
}

/** Receives each closed batch, encoded and framed once, with the key it was merged under. */
export type FlushHandler = (frame: PreparedFrame, target: PushTarget) => void;

/**
 * Merges items pushed to the same target into one PUSH frame. A batch is flushed when it holds
 * `maxBatchItems`, otherwise at the end of the current event-loop turn (`setImmediate`), so a burst of
 * pushes handled in one turn goes out as one frame while a lone push waits for nothing; with
 * `maxBatchDelay` > 0 batches may wait that many milliseconds for more. Items of one target keep
 * their push order across batches; batches of different targets have no order between them (a full
 * batch goes at once, ahead of other targets' batches opened before it).
 */
export class Merger {
  private readonly batches = new Map<string, Batch>();
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  /** Items accepted but not yet flushed (go-push's `mergerPending`). */
  pendingItems = 0;

  constructor(
    private readonly maxBatchItems: number,
    private readonly maxBatchDelayMs: number,
    private readonly onFlush: FlushHandler,
  ) {}

  /** Adds serialised JSON items for `target`; `key` names the target (one batch per key). */
  add(key: string, target: PushTarget, items: readonly string[]): void {
    let batch = this.batches.get(key);
    for (const item of items) {
      if (batch === undefined) {
        batch = { target, items: [] };
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
    const flush = (): void => {
      this.timer = null;
      this.flushAll();
    };
    this.timer = this.maxBatchDelayMs > 0 ? setTimeout(flush, this.maxBatchDelayMs) : setImmediate(flush);
  }

  private flushBatch(key: string, batch: Batch): void {
    this.batches.delete(key);
    this.pendingItems -= batch.items.length;
    const room = batch.target.kind === 'room' ? batch.target.room : undefined;
    this.onFlush(prepareFrame(encodePush(batch.items, room), batch.items.length), batch.target);
  }
}
