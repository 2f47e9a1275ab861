import type { Connection } from '../connection/connection.js';
import type { PreparedFrame } from '../protocol/client-protocol.js';
import { ClientLag } from './client-lag.js';
import type { DispatchGauges } from './delivery-pace.js';
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
export class Dispatcher implements DispatchGauges {
  /** Connections with a non-empty outbox, in the order they got it. */
  private dirty: Connection[] = [];
  /** When each of {@link dirty} got its outbox (the dispatcher's clock): the age of its oldest frame. */
  private dirtyAt: number[] = [];
  private head = 0;
  /** Milliseconds one write costs, as last measured (over at least 64 writes or 50 ms of slices). */
  writeCostMs = 0;
  /** The least {@link writeCostMs} measured lately: one write's cost when its client keeps up. */
  leastWriteCostMs = 0;
  private backlog = 0;
  private lastSliceAt = -Infinity;
  /**
   * Every this many milliseconds (0: never), a connection about to be written is probed (see
   * ClientLag): how far behind the clients are, in their sockets and their reading, which no local
   * gauge shows; and writes note whether their client's socket still held bytes ({@link backlogShare}).
   * Set by {@link watchClients}, when a latency budget is.
   */
  private probeEveryMs = 0;
  private nextProbeAt = 0;
  private clients: ClientLag | null = null;
  /** The measurement under way: writes, those whose socket was looked at and found a backlog, and the time they took. */
  private readonly sample = { writes: 0, looked: 0, backlogged: 0, ms: 0, since: 0 };

  private scheduled: NodeJS.Immediate | null = null;
  /** Items in frames not yet written to (or failed for) every recipient. */
  pendingItems = 0;
  /** Frames not yet written to (or failed for) every recipient (go-push's `dispatchPending`). */
  pendingFrames = 0;

  /**
   * @param sliceMs how long one write pass may run before it yields to the event loop (1 ms: requests
   *   and the probes' answers get in between slices sooner; 4 ms measured no more throughput).
   * @param now the clock of the slices, in milliseconds (`performance.now` unless a test drives it).
   */
  constructor(
    private readonly counters: DispatchCounters,
    private readonly sliceMs = 1,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Queues `batch` for every recipient, as the frame of the recipient's protocol (compressed once for
   * the recipients that negotiated permessage-deflate: see {@link Connection.compressor}). A batch with
   * no recipient is dropped here, uncounted (and never encoded): nobody was addressed.
   */
  enqueue(batch: Deliverable, recipients: Iterable<Connection>): void {
    let count = 0;
    let at = -1;
    for (const conn of recipients) {
      const frame = batch.frameFor(conn.protocol, conn.compressor);
      if (frame.remaining++ === 0) {
        this.pendingItems += frame.items;
        this.pendingFrames += 1;
      }
      const outbox = conn.outbox;
      if (outbox === null) {
        conn.outbox = frame;
        this.dirty.push(conn);
        if (at < 0) at = this.now();
        this.dirtyAt.push(at);
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

  /**
   * Watches the clients: a probe every `probeEveryMs` among the connections written to; an answer
   * slower than `behindMs` comes from a client that was behind (see ClientLag).
   */
  watchClients(probeEveryMs: number, behindMs: number): void {
    this.probeEveryMs = probeEveryMs;
    this.clients = new ClientLag(behindMs, this.now);
  }

  /** A probed connection answered after `rttMs`. */
  probeAnswered(conn: Connection, rttMs: number): void {
    this.clients?.answer(conn, rttMs);
  }

  /** How far behind the clients are (ms; 0 when they are not watched): see ClientLag. */
  clientLagMs(): number {
    return this.clients === null ? 0 : this.clients.lagMs();
  }

  /** Milliseconds the oldest frame not yet written has waited (0 when none waits). */
  lagMs(): number {
    return this.head < this.dirty.length ? this.now() - this.dirtyAt[this.head] : 0;
  }

  /**
   * Of the recent writes, the share that found the client's socket still holding bytes written
   * earlier: its client reads more slowly than it is written to. Forgotten 100 ms after the last write.
   */
  get backlogShare(): number {
    return this.now() - this.lastSliceAt > 100 ? 0 : this.backlog;
  }

  private run(deadline: number): void {
    const dirty = this.dirty;
    const startedAt = this.now();
    const first = this.head;
    let backlogged = 0;
    let looked = 0;
    while (this.head < dirty.length) {
      const conn = dirty[this.head++];
      const outbox = conn.outbox;
      conn.outbox = null;
      if (outbox === null) continue;
      // The clients are watched only for a latency budget: without one, a write reads nothing more.
      const clients = this.clients;
      if (clients !== null) {
        // One write in eight is enough to tell a share, and reading a socket's backlog is not free.
        if ((this.head & 7) === 0) {
          looked += 1;
          if (conn.queuedBytes > 0) backlogged += 1;
        }
        if (startedAt >= this.nextProbeAt && clients.probe(conn)) this.nextProbeAt = startedAt + this.probeEveryMs;
      }
      if (Array.isArray(outbox)) {
        const ok = conn.sendPreparedBatch(outbox) === 'sent';
        let bytes = 0;
        for (const frame of outbox) {
          this.settle(frame, ok);
          bytes += frame.bytes.length;
        }
        clients?.wrote(conn, bytes);
      } else {
        this.settle(outbox, conn.sendPrepared(outbox) === 'sent');
        clients?.wrote(conn, outbox.bytes.length);
      }
      // Reading the clock costs more than a write's bookkeeping: look every 32 writes.
      if ((this.head & 31) === 0 && this.now() > deadline) break;
    }
    this.measure(startedAt, this.head - first, looked, backlogged);
    if (this.head === dirty.length) {
      dirty.length = 0;
      this.dirtyAt.length = 0;
      this.head = 0;
      return;
    }
    if (this.head > 4096 && this.head > dirty.length / 2) {
      this.dirty = dirty.slice(this.head);
      this.dirtyAt = this.dirtyAt.slice(this.head);
      this.head = 0;
    }
    this.schedule();
  }

  // Measures the cost per write and the backlogged share over at least 64 writes or 50 ms, so that a
  // small node (a few writes per slice) measures as promptly as a big one.
  private measure(startedAt: number, writes: number, looked: number, backlogged: number): void {
    if (writes === 0) return;
    const now = this.now();
    const sample = this.sample;
    if (sample.writes === 0) sample.since = startedAt;
    this.lastSliceAt = now;
    sample.writes += writes;
    sample.looked += looked;
    sample.backlogged += backlogged;
    sample.ms += now - startedAt;
    if (sample.writes < 64 && now - sample.since < 50) return;
    const cost = sample.ms / sample.writes;
    this.writeCostMs = this.writeCostMs === 0 ? cost : (this.writeCostMs + cost) / 2;
    // Writes to clients that keep up cost least; what a lagging client adds (the kernel queuing and
    // collapsing its backlog) is lag, not the pass's floor. The least creeps up 2 % a sample so it follows a slower machine.
    this.leastWriteCostMs = this.leastWriteCostMs === 0 ? cost : Math.min(cost, this.leastWriteCostMs * 1.02);
    this.backlog = sample.looked === 0 ? 0 : sample.backlogged / sample.looked;
    sample.writes = 0;
    sample.looked = 0;
    sample.backlogged = 0;
    sample.ms = 0;
    sample.since = now;
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
