import type { Connection } from '../connection/connection.js';
import type { PreparedFrame } from '../protocol/encode.js';

/** What happened to deliveries, for the owner's counters. */
export interface DispatchCounters {
  /** A frame was written to a socket. */
  sent(frame: PreparedFrame): void;
  /** A frame was not written: the connection had closed, or was just closed as a slow consumer. */
  failed(frame: PreparedFrame): void;
}

interface Job {
  frame: PreparedFrame;
  recipients: Connection[];
  next: number;
}

/**
 * Writes prepared frames to their recipients, in the order the frames were queued. A broadcast to
 * many thousands of sockets is written in slices of `sliceWrites` so that the event loop can accept
 * connections and API requests in between; frames never overtake each other, so items of one room
 * keep their order.
 */
export class Dispatcher {
  private readonly jobs: Job[] = [];
  private head = 0;
  private scheduled: NodeJS.Immediate | null = null;
  /** Items in frames not yet written to every recipient. */
  pendingItems = 0;

  constructor(
    private readonly counters: DispatchCounters,
    private readonly sliceWrites = 4096,
  ) {}

  /** Frames queued or partly written (go-push's `dispatchPending`). */
  get pendingFrames(): number {
    return this.jobs.length - this.head;
  }

  enqueue(frame: PreparedFrame, recipients: Connection[]): void {
    if (recipients.length === 0) return;
    this.jobs.push({ frame, recipients, next: 0 });
    this.pendingItems += frame.items;
    this.schedule();
  }

  /** Writes everything queued, now (used by a graceful shutdown). */
  drain(): void {
    this.run(Infinity);
  }

  private schedule(): void {
    if (this.scheduled === null) this.scheduled = setImmediate(() => {
      this.scheduled = null;
      this.run(this.sliceWrites);
    });
  }

  private run(budget: number): void {
    let writes = 0;
    while (this.head < this.jobs.length && writes < budget) {
      const job = this.jobs[this.head];
      const { frame, recipients } = job;
      const end = Math.min(recipients.length, job.next + (budget - writes));
      for (let i = job.next; i < end; i++) {
        if (recipients[i].sendPrepared(frame) === 'sent') this.counters.sent(frame);
        else this.counters.failed(frame);
      }
      writes += end - job.next;
      job.next = end;
      if (end === recipients.length) {
        this.pendingItems -= frame.items;
        this.head += 1;
      }
    }
    if (this.head === this.jobs.length) {
      this.jobs.length = 0;
      this.head = 0;
    } else {
      if (this.head > 1024) {
        this.jobs.splice(0, this.head);
        this.head = 0;
      }
      this.schedule();
    }
  }
}
