/** Raised by {@link InboundQueue.next} once the connection is closed and every queued message was read. */
export class ConnectionClosedError extends Error {
  readonly code = 'CONNECTION_CLOSED';
  constructor() {
    super('connection is closed');
    this.name = 'ConnectionClosedError';
  }
}

/**
 * The seeds' `inChan`: messages received but not yet read. Bounded by its owner, which pauses the
 * socket when {@link length} reaches its limit and resumes it from {@link onDrain}.
 */
export class InboundQueue<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (value: T) => void; reject: (error: Error) => void } | null = null;
  private ended = false;

  constructor(private readonly onDrain: (length: number) => void) {}

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.ended) return;
    if (this.waiter !== null) {
      const { resolve } = this.waiter;
      this.waiter = null;
      resolve(item);
      return;
    }
    this.items.push(item);
  }

  /** Resolves with the oldest message; rejects with {@link ConnectionClosedError} after {@link end}. */
  next(): Promise<T> {
    if (this.items.length > 0) {
      const item = this.items.shift() as T;
      this.onDrain(this.items.length);
      return Promise.resolve(item);
    }
    if (this.ended) return Promise.reject(new ConnectionClosedError());
    if (this.waiter !== null) return Promise.reject(new Error('readMessage() is already pending on this connection'));
    return new Promise<T>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** No more messages will come; a pending read is rejected, queued messages can still be read. */
  end(): void {
    this.ended = true;
    if (this.waiter !== null) {
      const { reject } = this.waiter;
      this.waiter = null;
      reject(new ConnectionClosedError());
    }
  }
}
