import type { Hub } from '../hub/hub.js';
import type { NodeStats } from '../stats/node-stats.js';
import { numericStats } from '../stats/node-stats.js';
import { protocolView } from '../stats/protocol-view.js';

/**
 * The dashboard's stream: every second, while the stats room has members here, one sample of the
 * numbers of `GET /stats` (this process, its instance, the cluster, summed by the same rule) pushed to
 * them as an item. It comes from this node, not through the broker: each node streams its own.
 */
export class StatsStream {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly room: string,
    private readonly hub: Hub,
    private readonly stats: NodeStats,
    private readonly push: (room: string, items: readonly string[]) => void,
    private readonly intervalMs = 1000,
    /** This node's hooks (counters, breakers), or null when it has none. */
    private readonly hooks: () => unknown = () => null,
    /**
     * Whether this node serves Pusher apps (`--pusher-apps`): the dashboard then shows the Pusher row
     * even while its counters are all 0 (without it, once any of them is not).
     */
    private readonly pusherApps = false,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(): void {
    if (this.hub.members(this.room) === undefined) return;
    const view = this.stats.clusterView();
    const instance = this.stats.instanceView();
    const node = this.stats.snapshot();
    const item = {
      time: Date.now(),
      node: numericStats(node),
      nodeId: node.nodeId,
      worker: node.worker,
      broker: node.broker,
      hooks: this.hooks(),
      pusherApps: this.pusherApps,
      // Per protocol, over what the page totals: the cluster with a broker, else this node.
      protocols: protocolView(view === null ? node : view.total),
      instance: {
        id: instance.id,
        nodes: instance.nodes.length,
        total: instance.total,
        roomCount: instance.roomCount,
        roomCountExact: instance.roomCountExact,
        maxStalenessMs: instance.maxStalenessMs,
        stale: instance.stale,
      },
      cluster:
        view === null
          ? null
          : {
              nodes: view.nodes.map(({ node, instance, role, worker, ageMs, stats }) => ({ node, instance, role, worker, ageMs, stats })),
              total: view.total,
              roomCount: view.roomCount,
              roomCountExact: view.roomCountExact,
              maxStalenessMs: view.maxStalenessMs,
              stale: view.stale,
            },
    };
    this.push(this.room, [JSON.stringify(item)]);
  }
}
