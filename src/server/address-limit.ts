import type { Duplex } from 'node:stream';

const kLimit = Symbol('pushgate.addressLimit');
const kAddress = Symbol('pushgate.countedAddress');

/** A socket counted against an {@link AddressLimit}: where its count goes back when it closes. */
type CountedSocket = Duplex & { remoteAddress?: string; [kLimit]?: AddressLimit; [kAddress]?: string };

/**
 * Sockets per remote address, bounded (`maxConnectionsPerIp`). A socket is counted from the moment
 * {@link acquire} takes it — the start of its handshake, before anything is awaited — until the
 * socket closes, whatever ends it (a refusal, the client going away mid-handshake, a failed
 * upgrade, the WebSocket closing later), and released exactly once: by the socket's own `close`
 * event, which fires once. The only place that changes the counts.
 */
export class AddressLimit {
  private readonly counts = new Map<string, number>();

  /** @param max sockets one address may hold (> 0). */
  constructor(readonly max: number) {}

  /**
   * Counts a socket that is not destroyed (so its `close` event is still to come) against its remote
   * address; returns false, counting nothing, when the address already holds {@link max}. A socket is
   * counted once: a second call for it throws.
   */
  acquire(socket: Duplex): boolean {
    const counted = socket as CountedSocket;
    if (counted[kLimit] !== undefined) throw new Error('this socket is already counted');
    if (socket.destroyed) throw new Error('a destroyed socket cannot be counted: its close may have passed');
    const address = counted.remoteAddress ?? '';
    const held = this.counts.get(address) ?? 0;
    if (held >= this.max) return false;
    this.counts.set(address, held + 1);
    counted[kLimit] = this;
    counted[kAddress] = address;
    // One shared listener, no closure per socket: the socket itself says what to release.
    socket.on('close', releaseOnClose);
    return true;
  }

  /** Whether `socket` is counted already (a keep-alive socket that carried an earlier stream). */
  holds(socket: Duplex): boolean {
    return (socket as CountedSocket)[kLimit] === this;
  }

  /** Sockets `address` holds now. */
  count(address: string): number {
    return this.counts.get(address) ?? 0;
  }

  /** @internal */
  release(address: string): void {
    const left = (this.counts.get(address) ?? 0) - 1;
    if (left <= 0) this.counts.delete(address);
    else this.counts.set(address, left);
  }
}

function releaseOnClose(this: CountedSocket): void {
  const limit = this[kLimit];
  const address = this[kAddress];
  if (limit === undefined || address === undefined) return;
  this[kLimit] = undefined;
  this[kAddress] = undefined;
  this.off('close', releaseOnClose);
  limit.release(address);
}
