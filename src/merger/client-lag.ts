import type { Connection } from '../connection/connection.js';
import type { PreparedFrame } from '../protocol/client-protocol.js';

/** How many of the latest answered probes the lag is read from. */
export const RECENT_PROBES = 8;
/** Probes out at once, at most. */
export const MAX_PROBES_OUT = 16;
/** A read-rate sample needs this many bytes confirmed: a frame or two say little of a client's speed. */
export const RATE_SAMPLE_BYTES = 1024;
/** How long a read-rate sample counts (ms). */
export const RATE_MEMORY_MS = 2000;

/** What is known of one probed connection. */
interface Tracked {
  /** Bytes of frames written to it since it was first probed. */
  out: number;
  /** Of those, the bytes its client has read, as its last answered probe showed. */
  read: number;
  /** `out` when the probe now out was sent (the connection keeps when: Connection.probeAgeMs); -1 while none is out. */
  probedOut: number;
  /** The last answer's round trip (ms), and when it came. */
  rttMs: number;
  answeredAt: number;
}

/** The bytes waiting in a connection's outbox (queued, not yet written). */
function outboxBytes(outbox: PreparedFrame | PreparedFrame[] | null): number {
  if (outbox === null) return 0;
  if (!Array.isArray(outbox)) return outbox.bytes.length;
  let bytes = 0;
  for (const frame of outbox) bytes += frame.bytes.length;
  return bytes;
}

/**
 * How far behind the clients are, from sampled probes (a WebSocket ping, answered once the client has
 * read everything written before it): a client's lag is the bytes it has not been seen to read (written
 * to its socket since its last answered probe, and queued in its outbox) over the rate at which clients
 * that were behind have been seen to read (the median of the recent samples: the bytes confirmed
 * between two answers of one connection, at least {@link RATE_SAMPLE_BYTES}, over the time between
 * them, when both took longer than `behindMs`: the client was behind, reading, all that time); without a recent sample, it is the last round trip less the
 * time since. Counting bytes makes the lag rise as soon as a burst is queued, not a round trip
 * later when its probe comes back late: by then a backend flooding pushes to all has had seconds of
 * them accepted. The lag of the clients is the median over the latest {@link RECENT_PROBES} answered
 * connections and the probes still out (by their age), so one client that stopped reading does not
 * stand for all. A connection with bytes unread is probed again when asked, so that its lag falls once
 * it has caught up even when nothing more is written to it.
 */
export class ClientLag {
  private readonly tracked = new Map<Connection, Tracked>();
  /** The connections of the latest answers, oldest first. */
  private readonly answered: Connection[] = [];
  private probesOut = 0;
  /** How fast clients behind have been seen to read (bytes per ms), and when: the latest samples. */
  private readonly rates: Array<{ bytesPerMs: number; at: number }> = [];

  constructor(
    /** An answer slower than this (ms) comes from a client that was behind: its rate is its reading speed. */
    private readonly behindMs: number,
    /** The clock of the answers and the rate samples, in milliseconds (a probe's age is its connection's). */
    private readonly now: () => number,
  ) {}

  /** Probes `conn` if fewer than {@link MAX_PROBES_OUT} are out and it has none; whether it was. */
  probe(conn: Connection): boolean {
    if (this.probesOut >= MAX_PROBES_OUT) return false;
    const known = this.tracked.get(conn);
    if (known !== undefined && known.probedOut >= 0) return false;
    if (!conn.probe()) return false;
    const tracked = known ?? { out: 0, read: 0, probedOut: -1, rttMs: 0, answeredAt: -Infinity };
    tracked.probedOut = tracked.out;
    this.tracked.set(conn, tracked);
    this.probesOut += 1;
    return true;
  }

  /** `bytes` were written to `conn` (counted only for connections being watched). */
  wrote(conn: Connection, bytes: number): void {
    const tracked = this.tracked.get(conn);
    if (tracked !== undefined) tracked.out += bytes;
  }

  /** `conn` answered its probe after `rttMs`. */
  answer(conn: Connection, rttMs: number): void {
    const tracked = this.tracked.get(conn);
    if (tracked === undefined || tracked.probedOut < 0) return;
    this.probesOut -= 1;
    const now = this.now();
    // Between its last two answers the client read what was written between their probes: when it was
    // behind at both (reading all the while), that is how fast it reads.
    const read = tracked.probedOut - tracked.read;
    const behind = rttMs >= this.behindMs && tracked.rttMs >= this.behindMs;
    if (behind && read >= RATE_SAMPLE_BYTES && now > tracked.answeredAt && now - tracked.answeredAt <= RATE_MEMORY_MS) {
      this.rates.push({ bytesPerMs: read / (now - tracked.answeredAt), at: now });
      if (this.rates.length > RECENT_PROBES) this.rates.shift();
    }
    tracked.read = tracked.probedOut;
    tracked.probedOut = -1;
    tracked.rttMs = rttMs;
    tracked.answeredAt = now;
    const at = this.answered.indexOf(conn);
    if (at >= 0) this.answered.splice(at, 1);
    this.answered.push(conn);
    if (this.answered.length > RECENT_PROBES) this.forget(this.answered.shift() as Connection);
  }

  /** How far behind the clients are (ms); 0 when nothing was probed. */
  lagMs(): number {
    const now = this.now();
    const lags: number[] = [];
    const readRate = this.readRate(now);
    const wall = Date.now();
    for (let i = 0; i < this.answered.length; i++) {
      const conn = this.answered[i];
      const tracked = this.tracked.get(conn) as Tracked;
      if (!conn.isOpen) {
        this.answered.splice(i--, 1);
        this.forget(conn);
        continue;
      }
      const unread = tracked.out - tracked.read + outboxBytes(conn.outbox);
      const estimate = readRate > 0 ? unread / readRate : Math.max(0, tracked.rttMs - (now - tracked.answeredAt));
      if (unread > 0) this.probe(conn);
      // One value per connection: a probe out on an answered one (just sent, most often) adds its age to
      // this estimate, not a second, near-zero entry that would pull the median down.
      lags.push(tracked.probedOut >= 0 ? Math.max(estimate, conn.probeAgeMs(wall)) : estimate);
    }
    for (const [conn, tracked] of this.tracked) {
      if (tracked.probedOut < 0 || this.answered.includes(conn)) continue;
      if (!conn.isOpen) {
        this.forget(conn);
        continue;
      }
      lags.push(conn.probeAgeMs(wall));
    }
    if (lags.length === 0) return 0;
    lags.sort((a, b) => a - b);
    // The lower median: with two clients, one that stalled does not stand for both.
    return lags[(lags.length - 1) >> 1];
  }

  /**
   * The median of the recent samples (bytes per ms; 0 when none is recent): one sample may be far off
   * (an answer delayed on the gateway's side shortens the time the next one is measured over).
   */
  private readRate(now: number): number {
    const recent: number[] = [];
    for (const sample of this.rates) if (now - sample.at <= RATE_MEMORY_MS) recent.push(sample.bytesPerMs);
    if (recent.length === 0) return 0;
    recent.sort((a, b) => a - b);
    return recent[recent.length >> 1];
  }

  private forget(conn: Connection): void {
    const tracked = this.tracked.get(conn);
    if (tracked === undefined) return;
    if (tracked.probedOut >= 0) {
      // A probe still out keeps its connection watched until it is answered or the connection closes.
      if (conn.isOpen) return;
      this.probesOut -= 1;
    }
    this.tracked.delete(conn);
  }
}
