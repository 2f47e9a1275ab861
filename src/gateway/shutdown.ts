import type { Logger } from 'pino';
import type { ApiServer } from '../api/api-server.js';
import type { ClusterLink } from '../cluster/cluster-link.js';
import type { Hub } from '../hub/hub.js';
import { CloseCode } from '../protocol/codes.js';
import type { NodeDelivery } from '../push/node-delivery.js';
import type { WsListener } from '../server/ws-listener.js';
import { settlesWithin } from './settles-within.js';

/** The parts a graceful shutdown goes through, in its order. */
export interface ShutdownParts {
  /** `--shutdown-timeout`, in seconds: the bound of the whole shutdown. */
  shutdownTimeout: number;
  log: Logger;
  hub: Hub;
  delivery: NodeDelivery;
  wsListener: WsListener;
  api: ApiServer;
  link: ClusterLink;
}

/**
 * The steps of a gateway's graceful shutdown, all within `shutdownTimeout` of the first: stop taking
 * connections and pushes, wait for the pushes accepted here to come back from the broker, publish the
 * node's barrier, then flush what is queued, close the clients with 1001 (cutting those that do not
 * answer in time) and close the ports. The gateway says when each step runs.
 */
export class Shutdown {
  /** When the shutdown must be over. */
  private readonly deadline: number;
  private readonly wsPortClosed: Promise<void>;

  /** Starts it: the WebSocket port stops accepting, the push API answers with `Connection: close`. */
  constructor(private readonly parts: ShutdownParts) {
    this.deadline = Date.now() + parts.shutdownTimeout * 1000;
    this.wsPortClosed = parts.wsListener.stopAccepting();
    // Requests keep being answered (pushes 503) until the end, each closing its connection: a
    // keep-alive connection cut now could reset a request its client has already sent.
    parts.api.drain();
  }

  private get left(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  /** Resolves once every push accepted here has come back from the broker (or the deadline passed). */
  async pushesReturned(): Promise<void> {
    const { link, log } = this.parts;
    if (!(await settlesWithin(link.settled(), this.left))) {
      log.warn(link.inFlightCounts, 'shutdown deadline passed with pushes accepted here still on their way back from the broker');
    }
  }

  /** Publishes this node's shutdown barrier; resolves with the node's id, or null when none could be published in time. */
  async barrier(): Promise<string | null> {
    let published = false;
    await settlesWithin(
      this.parts.link.publishBarrier().then((ok) => {
        published = ok;
      }),
      this.left,
    );
    return published ? this.parts.hub.nodeId : null;
  }

  /** Resolves true once the barriers of `nodes` have come through this node's subscription, false at the deadline. */
  async barriersFrom(nodes: readonly string[]): Promise<boolean> {
    const done = await settlesWithin(this.parts.link.barriersFrom(nodes), this.left);
    if (!done) this.parts.log.warn({ nodes }, "shutdown deadline passed before every worker's pushes had come through the broker");
    return done;
  }

  /** Delivers what is queued, closes every client and then the ports. */
  async closeClients(): Promise<void> {
    const { hub, delivery, log, api, wsListener, shutdownTimeout } = this.parts;
    // Everything accepted is in the merger or the dispatcher: out to the sockets, ahead of the close frames.
    delivery.flush();
    const connections = [...hub.all(), ...hub.awaitingAuth()];
    log.info({ connections: connections.length }, 'shutting down: closing clients with 1001');
    for (const conn of connections) conn.close(CloseCode.GOING_AWAY, 'server shutting down');
    const allClosed = Promise.all(connections.map((conn) => conn.closed));
    // The clients get what is left of shutdownTimeout, and at least a moment to answer the close.
    if (!(await settlesWithin(allClosed, Math.max(this.left, Math.min(1000, shutdownTimeout * 1000))))) {
      log.warn({ deadlineMs: shutdownTimeout * 1000 }, 'shutdown deadline passed: cutting the clients that did not close');
      for (const conn of connections) if (!conn.isClosed) conn.terminate();
    }
    // Requests still in flight on the API get their answer (503 for pushes) before its sockets are cut.
    await settlesWithin(api.close(), 1000);
    wsListener.destroy();
    api.destroy();
    await settlesWithin(this.wsPortClosed, 1000);
  }
}
