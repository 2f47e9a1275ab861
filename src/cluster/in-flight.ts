/**
 * The pushes a node has published and not yet seen again. Over a broker a node delivers even its own
 * pushes only when they come back through its subscription, so an accepted push (answered 200) to a
 * channel the node subscribes to is on its way to the node's own clients until it returns: a graceful
 * shutdown must wait for it before closing them. Tracked per publish (by the node's sequence number)
 * and per channel, so that an entry goes when its push returns, when its publish fails (answered 503),
 * when the node drops the channel (no one left here to deliver to), or when the broker connection is
 * lost (core pub/sub does not replay). An entry older than `maxAgeMs` will not come back either:
 * it is dropped and counted as lost, so the tracker never grows with pushes that did not return.
 */
export class InFlight {
  private readonly bySeq = new Map<number, { channel: string; at: number }>();
  private readonly byChannel = new Map<string, Set<number>>();
  /** Publishes whose promise has not settled (whatever the channel). */
  private publishing = 0;
  private waiters: Array<() => void> = [];
  /** Tracked pushes that never came back within `maxAgeMs`. */
  lost = 0;

  constructor(private readonly maxAgeMs = 30000) {}

  /** Pushes published here, to a channel subscribed here, not back yet. */
  get size(): number {
    return this.bySeq.size;
  }

  /** Publishes not yet taken (or refused) by the broker. */
  get pendingPublishes(): number {
    return this.publishing;
  }

  /** True when nothing is in flight and every publish has settled. */
  get settled(): boolean {
    return this.bySeq.size === 0 && this.publishing === 0;
  }

  /** A publish starts: `seq` is tracked until it comes back when `channel` is subscribed here (else null). */
  started(seq: number, channel: string | null, now = Date.now()): void {
    this.expire(now);
    this.publishing += 1;
    if (channel === null) return;
    this.bySeq.set(seq, { channel, at: now });
    let seqs = this.byChannel.get(channel);
    if (seqs === undefined) this.byChannel.set(channel, (seqs = new Set()));
    seqs.add(seq);
  }

  /** The publish of `seq` settled; when it failed, the push is not coming (it was answered 503). */
  published(seq: number, ok: boolean): void {
    this.publishing -= 1;
    if (!ok) this.forget(seq);
    this.notify();
  }

  /** The push `seq` came back through this node's subscription. */
  returned(seq: number): void {
    this.forget(seq);
    this.notify();
  }

  /** This node dropped `channel`: its pushes have no one left here to reach. */
  channelClosed(channel: string): void {
    const seqs = this.byChannel.get(channel);
    if (seqs === undefined) return;
    this.byChannel.delete(channel);
    for (const seq of seqs) this.bySeq.delete(seq);
    this.notify();
  }

  /** The broker connection was lost or closed: nothing in flight will come back. */
  clear(): void {
    this.bySeq.clear();
    this.byChannel.clear();
    this.notify();
  }

  /** Resolves once {@link settled} holds (at once if it does). */
  whenSettled(): Promise<void> {
    if (this.settled) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private forget(seq: number): void {
    const entry = this.bySeq.get(seq);
    if (entry === undefined) return;
    this.bySeq.delete(seq);
    const seqs = this.byChannel.get(entry.channel);
    if (seqs === undefined) return;
    seqs.delete(seq);
    if (seqs.size === 0) this.byChannel.delete(entry.channel);
  }

  // Entries are in publish order: the oldest come first.
  private expire(now: number): void {
    for (const [seq, { at }] of this.bySeq) {
      if (now - at < this.maxAgeMs) return;
      this.forget(seq);
      this.lost += 1;
    }
  }

  private notify(): void {
    if (!this.settled || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
