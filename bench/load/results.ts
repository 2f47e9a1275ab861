import type { ChurnReport } from './churn.js';
/**
 * The shape of a benchmark run's results, as written to `bench/results/*.json` and rendered to markdown
 * and SVG. One run measures one or more servers (pushgate and its peers) through the same workloads.
 */

/**
 * Which server was measured: `pushgate-pusher` is pushgate's Pusher Channels endpoint (`/app/<key>`,
 * events through the signed `/apps/<id>/events` API), measured beside its go-push endpoint (`pushgate`).
 */
export type ServerName = 'pushgate' | 'pushgate-pusher' | 'ws' | 'socketio' | 'external';

/** Latency distribution in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Cumulative distribution for charts: [latency ms, fraction of samples at or below]. */
  cdf: Array<[number, number]>;
}

/** CPU used during a phase, as a fraction of one core (1 = one core fully busy). */
export interface CpuSummary {
  /** The server under test (all its processes); null when the server is remote. */
  server: number | null;
  /** A broker process the run started (redis-server, nats-server), when there was one; null when unreadable. */
  broker?: number | null;
  /** All load-generator processes together (clients and push driver). */
  clients: number;
  /** The busiest single load-generator process: near 1 means the load generator was the bottleneck. */
  busiestClient: number;
  /**
   * The whole machine (every process, /proc/stat), cores; null off Linux. What exceeds server + broker +
   * clients is other load on the machine, which the figures then share it with.
   */
  machine?: number | null;
}

export interface IdleResult {
  workload: 'idle';
  connections: number;
  /** Handshakes completed per second while connecting. */
  handshakesPerSecond: number;
  /** Server resident memory before connecting and with all connections idle, bytes. */
  serverRssBefore: number | null;
  serverRssAfter: number | null;
  /** (after - before) / connections, bytes. */
  serverRssPerConnection: number | null;
  /** Kernel TCP memory (/proc/net/sockstat "mem", pages × page size) per connection, both ends, bytes. */
  kernelSocketBytesPerConnection: number | null;
  errors: number;
}

export interface ThroughputResult {
  workload: 'broadcast' | 'rooms';
  connections: number;
  /** For rooms: rooms × members each. */
  rooms?: number;
  durationSeconds: number;
  /** Items the driver had accepted by the server. */
  itemsPushed: number;
  /** Pushes the server refused (503) and the driver retried. */
  pushesRefused: number;
  /** Item deliveries counted by clients, per second. */
  itemsDeliveredPerSecond: number;
  /** WebSocket frames received by clients, per second. */
  framesPerSecond: number;
  /** Deliveries per second over time, one point per second, for the chart. */
  timeline: number[];
  cpu: CpuSummary;
  /** True when the load generator was saturated (a process, or all together on their cores, ≥ 90 %): the figure is a lower bound. */
  clientBound: boolean;
  /** Connections the server closed during the run. */
  disconnects: number;
}

/**
 * A closed-loop workload, what a backend does: `concurrency` push requests of one item each, the next
 * sent as soon as the last is answered, no flow control; 503s counted as refused, not retried.
 */
export interface OpenLoopResult {
  workload: 'broadcast-open' | 'rooms-open';
  connections: number;
  /** For rooms-open: rooms × members each; every push goes to a random room. */
  rooms?: number;
  /** Push loops: requests in flight. */
  concurrency: number;
  durationSeconds: number;
  /** Pushes answered 200. */
  pushesAccepted: number;
  /** Pushes answered 503: refused, not lost, and not retried. */
  pushesRefused: number;
  /** Pushes answered anything else, or not at all. */
  pushesFailed: number;
  /** Item deliveries counted by clients during the run (until the last push was answered), per second. */
  itemsDeliveredPerSecond: number;
  /** WebSocket frames with items received by clients during the run, per second. */
  framesPerSecond: number;
  itemsPerFrame: number;
  /** From the push request to the item's arrival at a client, every delivery (also those of the drain). */
  latency: LatencySummary;
  /** Deliveries owed (accepted pushes × their fan-out) minus deliveries counted after a bounded drain. */
  itemsLost: number;
  /** How long the clients took after the run to receive the rest, s (at most the drain bound). */
  drainSeconds: number;
  cpu: CpuSummary;
  clientBound: boolean;
  /** Connections the server closed during the run and its drain. */
  disconnects: number;
}

export interface LatencyResult {
  workload: 'latency';
  connections: number;
  pushesPerSecond: number;
  durationSeconds: number;
  itemsPushed: number;
  /** Deliveries expected (items pushed × connections) minus deliveries counted. */
  itemsLost: number;
  latency: LatencySummary;
  cpu: CpuSummary;
  clientBound: boolean;
}

/** A fixed push rate, one item each to a random room: delivery latency below saturation. */
export interface RoomsLatencyResult {
  workload: 'rooms-latency';
  connections: number;
  rooms: number;
  pushesPerSecond: number;
  durationSeconds: number;
  itemsPushed: number;
  pushesRefused: number;
  /** Deliveries owed (accepted pushes × their room's members) minus deliveries counted after a bounded drain. */
  itemsLost: number;
  /** Item deliveries per second asked for: pushes per second × members per room. */
  deliveriesPerSecond: number;
  latency: LatencySummary;
  cpu: CpuSummary;
  clientBound: boolean;
}

export interface ChurnResult {
  workload: 'churn';
  /** Connect-join-receive-disconnect cycles attempted per second. */
  targetCyclesPerSecond: number;
  cyclesCompleted: number;
  cyclesPerSecond: number;
  errors: number;
  /** Time from starting to connect until the push arrived. */
  cycleLatency: LatencySummary;
  cpu: CpuSummary;
}

export type WorkloadResult = IdleResult | ThroughputResult | LatencyResult | RoomsLatencyResult | ChurnResult | OpenLoopResult;

/** pushgate restarted with one latency budget (`--max-latency`) and put through the closed-loop workloads. */
export interface BudgetPoint {
  maxLatencyMs: number;
  /** How it was started. */
  command: string;
  durationSeconds: number;
  workloads: OpenLoopResult[];
}

/** Where a pushgate under test keeps its room streams: in its process, or in a broker the bench started. */
export type HistoryStore = 'memory' | 'redis' | 'nats';

/**
 * The cost of history: pushgate started with and without `--history` matching every room of the
 * closed-loop rooms workload, on one store, each put through that workload.
 */
export interface HistoryCostPoint {
  store: HistoryStore;
  /** The `--history` given, or null: history off. */
  history: string | null;
  /** How pushgate was started. */
  command: string;
  /** How the broker was started, when the store is one. */
  brokerCommand: string | null;
  /** The closed-loop rooms workload; `cpu.broker` is the broker's CPU in the same window as the server's. */
  result: OpenLoopResult;
  /** A fixed push rate to random rooms, below saturation (absent when not run). */
  latency?: RoomsLatencyResult;
}

/**
 * The recovery proof under churn (bench/load/churn.ts): clients in rooms with history dropping and
 * reconnecting at random while pushes flow, each checking its room's offsets frame by frame.
 */
/** The churn proof as the bench reports it: the driver's counts (see churn.ts), with how it was run. */
export interface RecoveryChurnResult extends Omit<ChurnReport, 'seconds'> {
  store: HistoryStore;
  history: string;
  /** How each gateway was started (over a broker, clients reconnect to any of them). */
  commands: string[];
  brokerCommand: string | null;
  /** Loopback addresses the clients connected to. */
  destinations: number;
  durationSeconds: number;
  /** Pushes per second asked for. */
  targetPushesPerSecond: number;
  pushesPerSecond: number;
  /** A connection lives a random time up to this, then drops, and is away up to `maxAwayMs`. */
  maxLifeMs: number;
  maxAwayMs: number;
  /** Over the run: every gateway together, the broker, this process (the clients and the pusher), the whole machine. */
  cpu: { server: number | null; broker: number | null; clients: number; machine: number | null };
}

/** One server through every workload of the run. */
export interface ServerResults {
  server: ServerName;
  /** Version of the server software (package version). */
  version: string;
  /** How it was started. */
  command: string;
  /** Measured cost of one write pass over all connections (ms): the floor broadcast latency is up against. */
  passFloorMs: number | null;
  workloads: WorkloadResult[];
}

/** A whole run: the machine, the command, every server's results. */
export interface BenchRun {
  startedAt: string;
  command: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    kernel: string;
    node: string;
    /** How the server and clients were placed on cores, e.g. "server on core 0, clients on core 1". */
    pinning: string;
    openFileLimit: number;
  };
  settings: {
    connections: number;
    clientProcesses: number;
    destinations: string[];
    durationSeconds: number;
  };
  servers: ServerResults[];
  /** The throughput–latency sweep over pushgate's latency budget, after the side-by-side run (absent when not run). */
  budgets?: BudgetPoint[];
  /** pushgate with and without `--history`, per store (absent when not run). */
  historyCost?: HistoryCostPoint[];
  /** The recovery proof under churn, per store (absent when not run). */
  recoveryChurn?: RecoveryChurnResult[];
}
