import type { Connection } from '../connection/connection.js';
import type { PreparedFrame } from '../protocol/client-protocol.js';
import type { Deliverable } from './push-batch.js';

/** What happened to deliveries, for the owner's counters. */
export interface DispatchCounters {
  /** A frame was written to a socket. */
  sent(frame: PreparedFrame): void;
  /** A frame was not written: the connection had closed, or was just closed as a slow consumer. */
  failed(frame: PreparedFrame): void;
}

/**
 * Writes prepared frames to their recipients through per-connection outboxes, uWebSockets-style:
 * queuing a frame only records it in each recipient's outbox; a write pass then goes over the
 * connections with something to send and gives each all of its frames in one corked write. A frame
 * queued while a pass is under way reaches the connections the pass has not yet written in that same
 * pass, so a broadcast waits at most one pass; and however many frames pile up for a connection, it
 * costs one syscall per pass. Passes run in slices of `sliceMs` so the event loop keeps serving
 * connections and API requests in between. Each connection's frames go out in the order queued.
 */
export class Dispatcher {
  /** Connections with a non-empty outbox, in the order they got it. */
  private dirty: Connection[] = [];
  private head = 0;
  private scheduled: NodeJS.Immediate | null = null;
  /** Items in frames not yet written to (or failed for) every recipient. */
  pendingItems = 0;
  /** Frames not yet written to (or failed for) every recipient (go-push's `dispatchPending`). */
  pendingFrames = 0;

  /**
   * @param sliceMs how long one write pass may run before it yields to the event loop.
   * @param now the clock of the slices, in milliseconds (`performance.now` unless a test drives it).
   */
  constructor(
    private readonly counters: DispatchCounters,
    private readonly sliceMs = 4,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Queues `batch` for every recipient, as the frame of the recipient's protocol. A batch with no
   * recipient is dropped here, uncounted (and never encoded): nobody was addressed.
   */
  enqueue(batch: Deliverable, recipients: Iterable<Connection>): void {
    let count = 0;
    for (const conn of recipients) {
      const frame = batch.frameFor(conn.protocol);
      if (frame.remaining++ === 0) {
        this.pendingItems += frame.items;
        this.pendingFrames += 1;
      }
      const outbox = conn.outbox;
      if (outbox === null) {
        conn.outbox = frame;
        this.dirty.push(conn);
      } else if (Array.isArray(outbox)) outbox.push(frame);
      else conn.outbox = [outbox, frame];
      count += 1;
    }
    if (count > 0) this.schedule();
  }

  /** Writes everything queued, now (used by a graceful shutdown). */
  drain(): void {
    this.run(Infinity);
  }

  private schedule(): void {
    if (this.scheduled === null)
      this.scheduled = setImmediate(() => {
        this.scheduled = null;
        this.run(this.now() + this.sliceMs);
      });
  }

  private run(deadline: number): void {
    const dirty = this.dirty;
    while (this.head < dirty.length) {
      const conn = dirty[this.head++];
      const outbox = conn.outbox;
      conn.outbox = null;
      if (outbox === null) continue;
      if (Array.isArray(outbox)) {
        const ok = conn.sendPreparedBatch(outbox) === 'sent';
        for (const frame of outbox) this.settle(frame, ok);
      } else {
        this.settle(outbox, conn.sendPrepared(outbox) === 'sent');
      }
      // Reading the clock costs more than a write's bookkeeping: look every 32 writes.
      if ((this.head & 31) === 0 && this.now() > deadline) break;
    }
    if (this.head === dirty.length) {
      dirty.length = 0;
      this.head = 0;
      return;
    }
    if (this.head > 4096 && this.head > dirty.length / 2) {
      this.dirty = dirty.slice(this.head);
      this.head = 0;
    }
    this.schedule();
  }

  private settle(frame: PreparedFrame, sent: boolean): void {
    if (sent) this.counters.sent(frame);
    else this.counters.failed(frame);
    frame.remaining -= 1;
    if (frame.remaining === 0) {
      this.pendingItems -= frame.items;
      this.pendingFrames -= 1;
    }
  }
}
