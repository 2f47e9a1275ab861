import { BrokerUnavailableError } from '../broker/broker.js';
import { NoAnswerError } from '../broker/liveness.js';
import { nodeOfConnection } from '../cluster/channels.js';
import type { ClusterLink } from '../cluster/cluster-link.js';
import type { PushEnvelope } from '../cluster/envelope.js';
import type { Hub } from '../hub/hub.js';
import { apiError, type PushError } from '../protocol/errors.js';
import { roomNameProblem } from '../protocol/room-name.js';
import type { Stats } from '../stats/stats.js';
import { acceptItems, itemCount } from './items.js';
import type { PushResult, PushService } from './push-service.js';

/** Longest user id `POST /push/user` takes. */
export const MAX_USER_ID_LENGTH = 1024;

/** What the push service reads of the hub: whom a push reaches here. */
export type PushTargets = Pick<Hub, 'nodeId' | 'size' | 'members' | 'get' | 'userConnections'>;

/** What the push service needs of the node it serves. */
export interface PushServiceHost {
  /** Whether pushes are taken now (false before start and from the start of a shutdown: 503). */
  accepting(): boolean;
  /** Items accepted and not yet written to every recipient here (merger and dispatcher). */
  pendingItems(): number;
  /** Why this node's delivery is behind its latency budget, or null (see NodeDelivery.overload). */
  overload(): { lagMs: number; budgetMs: number } | null;
}

/** The bounds of admission. */
export interface PushLimits {
  /** Items that may wait for delivery at once (`--max-pending-items`): past it, 503 `QUEUE_FULL`. */
  maxPendingItems: number;
  /** Nesting depth an item may have (`--max-item-depth`). */
  maxItemDepth: number;
}

/**
 * The push service of a gateway node: admits a push (state, queue room, target, items), counts it,
 * publishes it through the node's broker link — every push takes that one path, whatever the broker:
 * the link hands it to every node's receive, this one's included — and answers with the recipients it
 * is addressed to: this node's connections counted live, the other nodes' as last reported.
 */
export class BrokerPushService implements PushService {
  constructor(
    private readonly hub: PushTargets,
    /** The node's broker link (there once the node has started, which accepting() implies). */
    private readonly link: () => ClusterLink,
    private readonly stats: Stats,
    private readonly limits: PushLimits,
    private readonly host: PushServiceHost,
  ) {}

  /**
   * `INVALID_BODY` for an empty list or a value JSON cannot hold, `ITEM_TOO_DEEP` past `maxItemDepth`,
   * 503s when full or stopping. Pushes accepted in one event-loop turn share frames.
   */
  async pushAll(items: unknown): Promise<PushResult> {
    return this.publish({ kind: 'all', items: this.admit(items) });
  }

  async pushRoom(room: string, items: unknown): Promise<PushResult> {
    const problem = roomNameProblem(room);
    if (problem !== null) throw apiError.INVALID_ROOM.problem(problem);
    return this.publish({ kind: 'room', room, items: this.admit(items) });
  }

  /**
   * 404 (`CONN_NOT_FOUND`) when no live node holds the connection. A node this one cannot see while its
   * view of the cluster is not current (broker down, or just back) is no proof of absence: that answers
   * 503 `BROKER_UNAVAILABLE` (retry).
   */
  async pushConn(id: string, items: unknown): Promise<PushResult> {
    if (!this.host.accepting()) throw apiError.SHUTTING_DOWN.gateway();
    const node = nodeOfConnection(id);
    const link = this.link();
    if (node === this.hub.nodeId) {
      if (this.hub.get(id) === undefined) throw apiError.CONN_NOT_FOUND.notConnected(id);
    } else {
      // The broker first: while it is down, no answer about other nodes can be trusted.
      if (!link.available) throw this.brokerUnavailable();
      if (node === null) throw apiError.CONN_NOT_FOUND.notConnected(id);
      if (!link.knowsNode(node)) {
        if (!link.viewCurrent) {
          this.stats.pushRejected += 1;
          throw apiError.BROKER_UNAVAILABLE.viewNotCurrent(node, id);
        }
        throw apiError.CONN_NOT_FOUND.notConnected(id);
      }
    }
    return this.publish({ kind: 'conn', conn: id, items: this.admit(items) });
  }

  /**
   * `recipients` counts the user's connections on this node only: users are not in presence reports,
   * so in a cluster it is a lower bound (0 on an API-only node).
   */
  async pushUser(user: string, items: unknown): Promise<PushResult> {
    if (user === '' || user.length > MAX_USER_ID_LENGTH) throw apiError.INVALID_BODY.userLength(MAX_USER_ID_LENGTH);
    return this.publish({ kind: 'user', user, items: this.admit(items) });
  }

  /**
   * Items already serialised (valid JSON texts, e.g. Pusher events) to a room the gateway names itself
   * (a Pusher channel's room, outside the room-name rules), leaving the connection `except` out. The
   * same admission as {@link pushRoom}, the same path.
   */
  async pushRoomTexts(room: string, texts: readonly string[], except?: string): Promise<PushResult> {
    this.admitCount(texts.length);
    this.stats.itemsAccepted += texts.length;
    return this.publish(except === undefined ? { kind: 'room', room, items: texts } : { kind: 'room', room, items: texts, except });
  }

  private publish(envelope: PushEnvelope): Promise<PushResult> {
    const result: PushResult = { items: envelope.items.length, recipients: this.recipientCount(envelope) };
    if (envelope.kind === 'all') this.stats.pushAllTotal += 1;
    else if (envelope.kind === 'room') this.stats.pushRoomTotal += 1;
    else if (envelope.kind === 'user') this.stats.pushUserTotal += 1;
    else this.stats.pushConnTotal += 1;
    return this.link()
      .publish(envelope)
      .then(
        (position) => {
          if (position !== null) {
            result.offset = position.offset;
            result.epoch = position.epoch;
          }
          return result;
        },
        (error: unknown) => {
          this.stats.itemsAccepted -= envelope.items.length;
          if (error instanceof NoAnswerError) this.stats.pushesTimedOut += 1;
          if (error instanceof BrokerUnavailableError) throw this.brokerUnavailable();
          this.stats.pushRejected += 1;
          throw error;
        },
      );
  }

  // Connections a push is addressed to at acceptance: here live, elsewhere as last reported.
  private recipientCount(envelope: PushEnvelope): number {
    switch (envelope.kind) {
      case 'all':
        return this.hub.size + this.link().otherConnections();
      case 'room':
        return (this.hub.members(envelope.room)?.size ?? 0) + this.link().otherRoomMembers(envelope.room);
      case 'conn':
        return 1;
      case 'user':
        // Users are not in presence (unbounded): this node's connections of the user only.
        return this.hub.userConnections(envelope.user)?.size ?? 0;
    }
  }

  // A push refused because the broker is down (or just back, waiting for the other nodes).
  private brokerUnavailable(): PushError {
    this.stats.pushRejected += 1;
    return apiError.BROKER_UNAVAILABLE.notAccepted();
  }

  // Checks state and queue room, then the items (serialising values from library use): a push refused
  // for room costs no encoding.
  private admit(items: unknown): readonly string[] {
    this.admitCount(itemCount(items));
    const serialized = acceptItems(items, this.limits.maxItemDepth);
    this.stats.itemsAccepted += serialized.length;
    return serialized;
  }

  // State, broker, latency budget and queue room for `count` items.
  private admitCount(count: number): void {
    if (!this.host.accepting()) throw apiError.SHUTTING_DOWN.gateway();
    if (!this.link().available) throw this.brokerUnavailable();
    const behind = this.host.overload();
    if (behind !== null) {
      this.stats.pushRejected += 1;
      this.stats.pushesOverloaded += 1;
      throw apiError.OVERLOADED.behind(behind.lagMs, behind.budgetMs);
    }
    const { maxPendingItems } = this.limits;
    if (count > maxPendingItems) throw apiError.TOO_MANY_ITEMS.limit(maxPendingItems);
    const pending = this.host.pendingItems();
    if (pending + count > maxPendingItems) {
      this.stats.pushRejected += 1;
      throw apiError.QUEUE_FULL.full(pending, maxPendingItems);
    }
  }
}
