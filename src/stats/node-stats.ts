import type { ClusterLink, ClusterView, InstanceView } from '../cluster/cluster-link.js';
import type { Hub } from '../hub/hub.js';
import type { Stats, StatsSnapshot } from './stats.js';

/** Who this process is, for its reports. */
export interface NodeIdentity {
  role: string;
  /** Its worker number with `--workers`, else null. */
  worker: number | null;
}

/** The queues a snapshot reports: the node's delivery (merger and dispatcher). */
export interface DeliveryGauges {
  readonly pendingItems: number;
  readonly mergerPending: number;
  readonly dispatchPending: number;
  readonly writePassMs: number;
  readonly mergeWindowMs: number;
  readonly deliveryLagMs: number;
}

/**
 * A node's numbers: its own counters and gauges live ({@link snapshot}, what `/metrics` exports and
 * presence reports), its instance and the cluster as the broker link sees them. `GET /stats` and the
 * dashboard read them from here.
 */
export class NodeStats {
  private readonly startedAt = Date.now();

  constructor(
    private readonly stats: Stats,
    private readonly hub: Hub,
    private readonly delivery: DeliveryGauges,
    private readonly link: () => ClusterLink | null,
    private readonly identity: NodeIdentity,
    /** The primary's relay channel count, with `--workers` over the IPC broker (null otherwise). */
    private readonly relayChannels: () => number | null = () => null,
  ) {}

  /** This process's own counters and gauges, live. `GET /stats` sums the additive ones over the instance: see {@link instanceView}. */
  snapshot(): StatsSnapshot {
    const link = this.link();
    const inFlight = link?.inFlightCounts;
    const relayChannels = this.relayChannels();
    return {
      nodeId: this.hub.nodeId,
      pid: process.pid,
      role: this.identity.role,
      worker: this.identity.worker,
      broker: this.brokerStatus,
      brokerSubscriptions: link?.brokerSubscriptions ?? 0,
      pushesInFlight: inFlight === undefined ? 0 : inFlight.returning + inFlight.publishing,
      pushesNotReturned: inFlight?.lost ?? 0,
      queriesExpired: link?.queriesExpired ?? 0,
      queryRepliesDropped: link === null ? 0 : link.queryRepliesDropped.late + link.queryRepliesDropped.mismatched,
      ...(relayChannels !== null ? { relayChannels } : {}),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      onlineConnections: this.hub.size,
      pendingAuthConnections: this.hub.awaitingAuthCount,
      roomCount: this.hub.roomCount,
      dispatchPending: this.delivery.dispatchPending,
      mergerPending: this.delivery.mergerPending,
      pendingItems: this.delivery.pendingItems,
      writePassMs: round1(this.delivery.writePassMs),
      mergeWindowMs: round1(this.delivery.mergeWindowMs),
      deliveryLagMs: round1(this.delivery.deliveryLagMs),
      ...this.stats,
    };
  }

  /** The broker's state: `none` for a gateway alone (or before it started). */
  get brokerStatus(): string {
    return this.link()?.brokerStatus ?? 'none';
  }

  /** The cluster as reported by every live node; null for a gateway alone. */
  clusterView(): ClusterView | null {
    return this.link()?.clusterView() ?? null;
  }

  /**
   * This process's instance as one whole: the processes sharing its instance id (the other workers as
   * last reported by presence, this one live).
   */
  instanceView(): InstanceView {
    const link = this.link();
    if (link === null) throw new Error('the gateway has not started');
    return link.instanceView();
  }
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The numeric fields of a snapshot (what presence carries and the cluster sums). */
export function numericStats(snapshot: StatsSnapshot): Record<string, number> {
  const numbers: Record<string, number> = {};
  for (const [key, value] of Object.entries(snapshot)) if (typeof value === 'number') numbers[key] = value;
  return numbers;
}
