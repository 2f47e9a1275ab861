/**
 * The shape of a benchmark run's results, as written to `bench/results/*.json` and rendered to markdown
 * and SVG. One run measures one or more servers (pushgate and its peers) through the same workloads.
 */

/** Which server was measured. */
export type ServerName = 'pushgate' | 'ws' | 'socketio' | 'external';

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
  /** All load-generator processes together (clients and push driver). */
  clients: number;
  /** The busiest single load-generator process: near 1 means the load generator was the bottleneck. */
  busiestClient: number;
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

export type WorkloadResult = IdleResult | ThroughputResult | LatencyResult | ChurnResult | OpenLoopResult;

/** pushgate restarted with one latency budget (`--max-latency`) and put through the closed-loop workloads. */
export interface BudgetPoint {
  maxLatencyMs: number;
  /** How it was started. */
  command: string;
  durationSeconds: number;
  workloads: OpenLoopResult[];
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
}
