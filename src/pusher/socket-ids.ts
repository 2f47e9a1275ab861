import { randomInt } from 'node:crypto';

/**
 * Pusher socket ids for this process's connections: `<node number>.<sequence>`, the form the Pusher
 * clients and server SDKs check (`^\d+\.\d+$`). The socket id is the connection's id in the hub, so
 * `socket_id` exclusion and the connection API name the same thing. The node number is drawn at random
 * per process (from 10^9 to 10^10): two processes of a cluster share one with odds of 1 in 9·10^9.
 */
export class SocketIds {
  private readonly node = randomInt(1_000_000_000, 10_000_000_000);
  private sequence = 0;

  next(): string {
    this.sequence += 1;
    return `${this.node}.${this.sequence}`;
  }
}
