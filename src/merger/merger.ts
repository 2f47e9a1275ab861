import type { Connection } from '../connection/connection.js';
import { PushBatch, type StreamStamp } from './push-batch.js';

/** Where a batch goes: everyone, one room, one connection, or one user's connections. */
export type PushTarget = { kind: 'all' } | { kind: 'room'; room: string } | { kind: 'conn'; conn: Connection } | { kind: 'user'; user: string };

/** How long batches may wait under load: see MergeWindow. */
export interface MergePolicy {
  /** The merge window now (ms): the least time between two frames to one target. */
  windowMs(): number;
  /** The longest a batch waits for its target's previous frame to be written to every recipient (ms). */
  readonly maxHoldMs: number;
}

/** No window; a batch waits at most this long for its target's previous frame (without a latency budget). */
export const NO_WINDOW: MergePolicy = { windowMs: () => 0, maxHoldMs: 16 };

interface Batch {
  target: PushTarget;
  items: string[];
  /** The merger's clock when its first item came. */
  openedAt: number;
  /** For a room with history: its first item's offset (the others follow it, contiguous) and the epoch. */
  first: number;
  epoch: string | undefined;
  /** A connection none of its items may reach (see PushBatch.except). */
  except: string | undefined;
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
 * many milliseconds old; not before the merge window (see MergeWindow: 0 at rest, wider under load) has
 * passed since its target's previous frame, so that under load every room, user and connection gets at most
 * one frame per window and the items pushed meanwhile share it (a push to all is merged by the write
 * pass: its frames are a pass apart anyway); and, for at most the policy's `maxHoldMs`, not while
 * that previous frame is still unwritten to some recipient: when the write passes fall behind, the
 * batch waits for them instead of piling a second frame behind the first in every outbox. Items of one target keep their push order
 * across batches; batches of different targets have no order between them (a full batch goes at once,
 * ahead of other targets' batches opened before it).
 */
export class Merger {
  private readonly batches = new Map<string, Batch>();
  /** Each key's last batch and when it was flushed (the merger's clock), while it may still hold the next. */
  private readonly flushed = new Map<string, { batch: PushBatch; at: number }>();
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private timerIsImmediate = false;
  /** When the timer fires (the merger's clock). */
  private timerAt = 0;
  /** Items accepted but not yet flushed (go-push's `mergerPending`). */
  pendingItems = 0;

  /**
   * @param policy how long batches may wait under load.
   * @param now the merger's clock, in milliseconds (`performance.now` unless a test drives it).
   */
  constructor(
    private readonly maxBatchItems: number,
    private readonly maxBatchDelayMs: number,
    private readonly onFlush: FlushHandler,
    private readonly policy: MergePolicy = NO_WINDOW,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Adds serialised JSON items for `target`; `key` names the target (one batch per key). `position`:
   * the offset of the first item in its room's stream, and the epoch; a batch holds contiguous offsets
   * of one epoch only (a frame's items are then numbered by its last offset), so items that do not
   * follow the open batch's close it first. `except`: a connection none of these items may reach; a
   * batch holds items of one `except` only.
   */
  add(key: string, target: PushTarget, items: readonly string[], position?: { first: number; epoch: string }, except?: string): void {
    let batch = this.batches.get(key);
    let opened = -1;
    let offset = position?.first ?? 0;
    if (
      batch !== undefined &&
      (batch.except !== except || (position !== undefined && (batch.epoch !== position.epoch || batch.first + batch.items.length !== offset)))
    ) {
      this.flushBatch(key, batch, this.now());
      batch = undefined;
    }
    for (const item of items) {
      if (batch === undefined) {
        opened = this.now();
        batch = { target, items: [], openedAt: opened, first: offset, epoch: position?.epoch, except };
        this.batches.set(key, batch);
      }
      if (position !== undefined) offset += 1;
      batch.items.push(item);
      this.pendingItems += 1;
      if (batch.items.length >= this.maxBatchItems) {
        this.flushBatch(key, batch, this.now());
        batch = undefined;
      }
    }
    if (this.batches.size === 0) return;
    if (this.timer === null) this.scheduleIn(this.maxBatchDelayMs);
    else if (opened >= 0 && this.timerAt > opened + this.maxBatchDelayMs) {
      // A batch just opened may be due before the timer set for the others (held for their window):
      // the look at what is due comes no later than its floor.
      this.cancel();
      this.scheduleIn(this.maxBatchDelayMs);
    }
  }

  /** Milliseconds the oldest open batch has waited (0 when none is open): a Map keeps the order batches opened in. */
  oldestAgeMs(): number {
    for (const batch of this.batches.values()) return this.now() - batch.openedAt;
    return 0;
  }

  /** Flushes the open batch of `key`, if any, now: what comes next for its target follows it. */
  flush(key: string): void {
    const batch = this.batches.get(key);
    if (batch !== undefined) this.flushBatch(key, batch, this.now());
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
    this.timerAt = this.now() + Math.max(0, ms);
    const run = (): void => {
      this.timer = null;
      this.flushDue();
    };
    this.timer = ms <= 0 ? setImmediate(run) : setTimeout(run, ms);
  }

  // Flush every batch that is due; look again in a millisecond while one waits for its previous frame
  // (the write passes run meanwhile), else when the first of the others is due.
  private flushDue(): void {
    const now = this.now();
    const windowMs = this.policy.windowMs();
    let next = Infinity;
    let waiting = false;
    for (const [key, batch] of this.batches) {
      const last = this.flushed.get(key);
      let due = batch.openedAt + this.maxBatchDelayMs;
      // A push to all is merged by the write pass instead: each of its frames is a whole pass, and the
      // window would hold the next push for nothing but latency (measured: p99 of 10 pushes/s to
      // 10,000 clients 500 ms with it, 303 ms without).
      if (last !== undefined && batch.target.kind !== 'all' && last.at + windowMs > due) due = last.at + windowMs;
      if (due > now) {
        if (due < next) next = due;
        continue;
      }
      if (last !== undefined && now - batch.openedAt < this.policy.maxHoldMs && last.batch.inFlight) {
        waiting = true;
        continue;
      }
      this.flushBatch(key, batch, now);
    }
    // Frames written and windows passed need no record; without this, every key ever pushed to would stay.
    if (this.flushed.size > 2 * this.batches.size + 256) {
      for (const [key, last] of this.flushed) if (now - last.at >= windowMs && !last.batch.inFlight && !this.batches.has(key)) this.flushed.delete(key);
    }
    if (waiting || next < Infinity) this.scheduleIn(waiting ? 1 : Math.max(1, next - now));
  }

  private flushBatch(key: string, batch: Batch, now: number): void {
    this.batches.delete(key);
    this.pendingItems -= batch.items.length;
    const room = batch.target.kind === 'room' ? batch.target.room : undefined;
    const stamp: StreamStamp | undefined = batch.epoch === undefined ? undefined : { offset: batch.first + batch.items.length - 1, epoch: batch.epoch };
    const flushed = new PushBatch(batch.items, room, stamp, batch.except);
    this.onFlush(flushed, batch.target);
    this.flushed.set(key, { batch: flushed, at: now });
  }
}
