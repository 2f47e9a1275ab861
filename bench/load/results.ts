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

export type WorkloadResult = IdleResult | ThroughputResult | LatencyResult | ChurnResult;

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
}
