import { cpus } from 'node:os';
import { PushDriver } from './driver.js';
import { Histogram } from './histogram.js';
import { LoadGenerator, type Measurement } from './load-generator.js';
import { kernelTcpMemory, machineBusySeconds, processCpuSeconds, processRss } from './procstat.js';
import type { ProtocolName } from './protocols.js';
import { goPushApi, type PushApi, pusherApi } from './push-api.js';
import { BENCH_PUSHER_APP } from './pusher-app.js';
import type {
  ChurnResult,
  CpuSummary,
  IdleResult,
  LatencyResult,
  OpenLoopResult,
  RoomsLatencyResult,
  ServerName,
  ServerResults,
  ThroughputResult,
  WorkloadResult,
} from './results.js';

export const WORKLOADS = ['idle', 'broadcast', 'latency', 'rooms', 'churn', 'broadcast-open', 'rooms-open', 'rooms-latency'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
/** What `--workloads` runs when not given: all but rooms-latency, which the history-cost part runs. */
export const DEFAULT_WORKLOADS = WORKLOADS.filter((w) => w !== 'rooms-latency');
/** The closed-loop workloads: what a backend does (see {@link PushDriver.closedLoop}). */
export const OPEN_WORKLOADS = ['broadcast-open', 'rooms-open'] as const satisfies readonly WorkloadName[];

/** The server under test. */
export interface BenchTarget {
  server: ServerName;
  /** `pushgate` (also the plain ws peer), `socketio`, or `pusher` (Pusher Channels, pushed through its signed HTTP API). */
  protocol: ProtocolName;
  /** With protocol `pusher`: the app, `id:key:secret` (its key in the client URLs, its secret signing the pushes) [the bench's]. */
  pusherApp?: string;
  /** WebSocket base URLs, one per destination address, e.g. `ws://127.0.0.2:7777`. */
  wsUrls: string[];
  /** Push API base URL, e.g. `http://127.0.0.1:7788`. */
  api: string;
  /** PID of the server process when it runs on this machine (CPU and memory are then measured). */
  pid: number | null;
  /** PID of a broker process (e.g. redis-server) the run started, whose CPU is measured beside the server's. */
  brokerPid?: number | null;
  version: string;
  command: string;
}

/** How hard and how long to load it. */
export interface BenchSettings {
  connections: number;
  clientProcesses: number;
  durationSeconds: number;
  /** Pushes per second to all in the latency workload. */
  latencyRate: number;
  /** Pushes per second, each to a random room, in the rooms-latency workload. */
  roomsLatencyRate: number;
  /** Rooms in the room fan-out workload (members = connections / rooms). */
  rooms: number;
  /** Connect-join-receive-disconnect cycles per second in the churn workload. */
  churnRate: number;
  /** Push requests in flight during floods. */
  floodConcurrency: number;
  /** Push loops of the closed-loop workloads (one item per request, the next sent on the answer). */
  openConcurrency: number;
  /** Extra bytes of padding per pushed item. */
  itemPadding: number;
  workloads: readonly WorkloadName[];
  /** Core to pin client processes to (taskset), or null. */
  clientCore: number | null;
  /** Cores the load generator may use (1 when pinned): its CPU is judged against this. */
  clientCores: number;
  log(line: string): void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU seconds of the server and of this process, to compute per-phase usage. */
class CpuWindow {
  private readonly serverStart: number | null;
  private readonly brokerStart: number | null;
  private readonly machineStart = machineBusySeconds();
  private readonly selfStart = process.cpuUsage();
  private readonly started = Date.now();

  constructor(
    private readonly pid: number | null,
    private readonly brokerPid: number | null = null,
  ) {
    this.serverStart = pid === null ? null : processCpuSeconds(pid);
    this.brokerStart = brokerPid === null ? null : processCpuSeconds(brokerPid);
  }

  /** Usage since construction, with the workers' own usage (cores each). */
  summary(workerCores: number[]): CpuSummary {
    const seconds = (Date.now() - this.started) / 1000;
    const serverEnd = this.pid === null ? null : processCpuSeconds(this.pid);
    const brokerEnd = this.brokerPid === null ? null : processCpuSeconds(this.brokerPid);
    const machineEnd = machineBusySeconds();
    const self = process.cpuUsage(this.selfStart);
    const driver = (self.user + self.system) / 1e6 / seconds;
    const all = [...workerCores, driver];
    return {
      server: this.serverStart === null || serverEnd === null ? null : round((serverEnd - this.serverStart) / seconds),
      ...(this.brokerPid === null ? {} : { broker: this.brokerStart === null || brokerEnd === null ? null : round((brokerEnd - this.brokerStart) / seconds) }),
      clients: round(all.reduce((a, b) => a + b, 0)),
      busiestClient: round(Math.max(...all)),
      machine: this.machineStart === null || machineEnd === null ? null : round((machineEnd - this.machineStart) / seconds),
    };
  }
}

function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Waits until the clients stop receiving (or `expected` deliveries arrived), at most `maxMs`. */
async function drain(gen: LoadGenerator, expected: number | null, maxMs: number): Promise<Measurement> {
  const end = Date.now() + maxMs;
  let last = await gen.report();
  for (;;) {
    if (expected !== null && last.items >= expected) return last;
    if (Date.now() > end) return last;
    await sleep(500);
    const now = await gen.report();
    if (expected === null && now.items === last.items) return now;
    last = now;
  }
}

/**
 * After a closed-loop run whose clients had counted `counted` deliveries at its end: waits until they
 * have the `owed` deliveries, or received nothing for 2 s, or `maxMs` passed. Returns the counts then
 * and how long after the start the last delivery came. Silence is judged between answers: clients
 * still reading a backlog may take seconds to answer a report, and that wait is no silence.
 */
async function drainOwed(
  gen: LoadGenerator,
  owed: number,
  counted: number,
  maxMs: number,
): Promise<{ measurement: Measurement; lastDeliveryMs: number; settled: boolean }> {
  const started = Date.now();
  let last = await gen.report();
  let lastDelivery = last.items > counted ? Date.now() : started;
  for (;;) {
    if (last.items >= owed) return { measurement: last, lastDeliveryMs: lastDelivery - started, settled: true };
    if (Date.now() - lastDelivery > 2000) return { measurement: last, lastDeliveryMs: lastDelivery - started, settled: true };
    if (Date.now() - started > maxMs) return { measurement: last, lastDeliveryMs: lastDelivery - started, settled: false };
    await sleep(200);
    const now = await gen.report();
    if (now.items > last.items) lastDelivery = Date.now();
    last = now;
  }
}

/** Waits for the server's memory to settle after a burst of connections (bounded). */
async function settledRss(pid: number | null): Promise<number | null> {
  if (pid === null) return null;
  let previous = processRss(pid);
  for (let i = 0; i < 10; i++) {
    await sleep(500);
    const current = processRss(pid);
    if (current === null || previous === null) return current;
    if (Math.abs(current - previous) / previous < 0.005) return current;
    previous = current;
  }
  return previous;
}

/** Runs the workloads against one server and returns its results. */
export async function benchTarget(target: BenchTarget, settings: BenchSettings): Promise<ServerResults> {
  const { log } = settings;
  const results: WorkloadResult[] = [];
  // One keep-alive connection per request in flight, whichever workload has the most.
  const pushApi: PushApi = target.protocol === 'pusher' ? pusherApi(target.pusherApp ?? BENCH_PUSHER_APP) : goPushApi;
  const driver = new PushDriver(target.api, 'x'.repeat(settings.itemPadding), Math.max(settings.floodConcurrency, settings.openConcurrency), pushApi);
  const gen = new LoadGenerator(settings.clientProcesses, settings.clientCore, (connected, errors) => {
    log(`  ${target.server}: ${connected}/${settings.connections} connected${errors ? `, ${errors} errors` : ''}`);
  });
  const seconds = settings.durationSeconds;
  const wants = (name: WorkloadName): boolean => settings.workloads.includes(name);
  let passFloorMs: number | null = null;
  try {
    // Idle: connect everyone (each joins one of the rooms), then look at memory.
    // Memory is only worth the wait for it to settle when the idle workload reports it.
    const rssBefore = wants('idle') ? await settledRss(target.pid) : null;
    const kernelBefore = kernelTcpMemory();
    log(`${target.server}: connecting ${settings.connections} clients from ${settings.clientProcesses} processes to ${target.wsUrls.join(', ')}`);
    const connected = await gen.connect(target.protocol, target.wsUrls, settings.connections, settings.rooms);
    const rssAfter = wants('idle') ? await settledRss(target.pid) : null;
    const kernelAfter = kernelTcpMemory();
    const n = connected.connected;
    const idle: IdleResult = {
      workload: 'idle',
      connections: n,
      handshakesPerSecond: Math.round(n / (connected.elapsedMs / 1000)),
      serverRssBefore: rssBefore,
      serverRssAfter: rssAfter,
      serverRssPerConnection: rssBefore !== null && rssAfter !== null && n > 0 ? Math.round((rssAfter - rssBefore) / n) : null,
      kernelSocketBytesPerConnection: kernelBefore !== null && kernelAfter !== null && n > 0 ? Math.round((kernelAfter - kernelBefore) / n) : null,
      errors: connected.errors,
    };
    log(`${target.server}: idle: ${n} connected (${idle.handshakesPerSecond}/s, ${connected.errors} errors), RSS/conn ${idle.serverRssPerConnection ?? '?'} B`);
    if (wants('idle')) results.push(idle);
    if (n === 0) throw new Error(`no client could connect to ${target.wsUrls.join(', ')}`);

    // Every client must be receiving before anything is measured.
    const primeEnd = Date.now() + 30000;
    while ((await gen.primed()) < n && Date.now() < primeEnd) {
      await driver.push(undefined);
      await sleep(200);
    }
    await drain(gen, null, 10000);

    if (wants('latency')) {
      log(`${target.server}: latency: ${settings.latencyRate} pushes/s to all for ${seconds} s`);
      const cpu = new CpuWindow(target.pid, target.brokerPid ?? null);
      gen.measure(true);
      const pushed = await driver.steady(settings.latencyRate, seconds * 1000, () => undefined);
      const m = await drain(gen, pushed.itemsPushed * n, 15000);
      const cpuSummary = cpu.summary(m.cpuCores);
      passFloorMs = median(m.spreads);
      const result: LatencyResult = {
        workload: 'latency',
        connections: n,
        pushesPerSecond: settings.latencyRate,
        durationSeconds: seconds,
        itemsPushed: pushed.itemsPushed,
        itemsLost: pushed.itemsPushed * n - m.items,
        latency: m.latency.summary(),
        cpu: cpuSummary,
        clientBound: isClientBound(cpuSummary),
      };
      log(
        `${target.server}: latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms, lost ${result.itemsLost}, pass ${passFloorMs?.toFixed(1)} ms`,
      );
      results.push(result);
    }
    if (wants('rooms-latency')) results.push(await roomsLatency(n));
    if (wants('broadcast')) results.push(await flood('broadcast', () => undefined));
    if (wants('rooms')) results.push(await flood('rooms', () => `room-${Math.floor(Math.random() * settings.rooms)}`));
    // Rooms before broadcast: a broadcast overrun may cost connections (slow consumers) the rooms would miss.
    if (wants('rooms-open')) results.push(await closedLoop('rooms-open', n));
    if (wants('broadcast-open')) results.push(await closedLoop('broadcast-open', n));
    if (wants('churn')) results.push(await churn());
  } finally {
    await gen.close();
    driver.close();
  }
  return {
    server: target.server,
    version: target.version,
    command: target.command,
    passFloorMs: passFloorMs === null ? null : round(passFloorMs, 1),
    workloads: results,
  };

  // The load generator was the bottleneck when one of its processes, or all of them together, had no CPU to spare.
  function isClientBound(cpu: CpuSummary): boolean {
    return cpu.busiestClient >= 0.9 || cpu.clients >= 0.9 * settings.clientCores;
  }

  async function flood(workload: 'broadcast' | 'rooms', room: () => string | undefined): Promise<ThroughputResult> {
    log(`${target.server}: ${workload} flood for ${seconds} s`);
    const cpu = new CpuWindow(target.pid, target.brokerPid ?? null);
    gen.measure(false);
    const fanOut = workload === 'rooms' ? settings.connections / settings.rooms : settings.connections;
    // Up to 50 items outstanding per client: far below any queue limit, enough to keep the pipe full.
    const pushed = await driver.flood(seconds * 1000, settings.floodConcurrency, room, {
      fanOut,
      window: 50 * settings.connections,
      delivered: () => gen.delivered,
    });
    const inWindow = await gen.report();
    const cpuSummary = cpu.summary(inWindow.cpuCores);
    const timeline = inWindow.timeline.slice(0, seconds);
    const delivered = timeline.reduce((a, b) => a + b, 0);
    const framesPerSecond = inWindow.frames / (inWindow.elapsedMs / 1000);
    // Let the backlog go before the next workload, so it does not count there.
    const after = await drain(gen, null, 60000);
    const result: ThroughputResult = {
      workload,
      connections: settings.connections,
      ...(workload === 'rooms' ? { rooms: settings.rooms } : {}),
      durationSeconds: seconds,
      itemsPushed: pushed.itemsPushed,
      pushesRefused: pushed.refused,
      itemsDeliveredPerSecond: Math.round(delivered / seconds),
      framesPerSecond: Math.round(framesPerSecond),
      timeline,
      cpu: cpuSummary,
      clientBound: isClientBound(cpuSummary),
      disconnects: after.disconnects,
    };
    log(
      `${target.server}: ${workload}: ${result.itemsDeliveredPerSecond.toLocaleString('en')} items/s, ${result.framesPerSecond.toLocaleString('en')} frames/s, server CPU ${cpuSummary.server ?? '?'}, busiest client ${cpuSummary.busiestClient}`,
    );
    return result;
  }

  /** Members of each room: connection i is in room i % rooms (see the load generator's connect). */
  function roomMembers(): Map<string, number> {
    const members = new Map<string, number>();
    for (let r = 0; r < settings.rooms; r++) {
      members.set(`room-${r}`, Math.floor(settings.connections / settings.rooms) + (r < settings.connections % settings.rooms ? 1 : 0));
    }
    return members;
  }

  async function roomsLatency(connected: number): Promise<RoomsLatencyResult> {
    const rate = settings.roomsLatencyRate;
    log(`${target.server}: rooms-latency: ${rate} pushes/s, each to a random one of ${settings.rooms} rooms, for ${seconds} s`);
    const members = roomMembers();
    const names = [...members.keys()];
    const cpu = new CpuWindow(target.pid, target.brokerPid ?? null);
    gen.measure(true, false);
    const pushed = await driver.steady(
      rate,
      seconds * 1000,
      () => names[Math.floor(Math.random() * names.length)],
      (room) => members.get(room ?? '') ?? 0,
    );
    // CPU over the pushes (until the last was answered), as in the closed loop: per push it compares across runs.
    const cpuSummary = cpu.summary((await gen.report()).cpuCores);
    const m = await drain(gen, pushed.deliveriesOwed, 15000);
    const result: RoomsLatencyResult = {
      workload: 'rooms-latency',
      connections: connected,
      rooms: settings.rooms,
      pushesPerSecond: rate,
      durationSeconds: seconds,
      itemsPushed: pushed.itemsPushed,
      pushesRefused: pushed.refused,
      itemsLost: pushed.deliveriesOwed - m.items,
      deliveriesPerSecond: Math.round((rate * settings.connections) / settings.rooms),
      latency: m.latency.summary(),
      cpu: cpuSummary,
      clientBound: isClientBound(cpuSummary),
    };
    log(
      `${target.server}: rooms-latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms, ` +
        `${result.pushesRefused} refused, lost ${result.itemsLost}, server CPU ${cpuSummary.server ?? '?'}`,
    );
    return result;
  }

  async function closedLoop(workload: OpenLoopResult['workload'], connected: number): Promise<OpenLoopResult> {
    const concurrency = settings.openConcurrency;
    log(`${target.server}: ${workload}: ${concurrency} push loops, 1 item each, no flow control, for ${seconds} s`);
    const members = roomMembers();
    const names = [...members.keys()];
    const room = workload === 'rooms-open' ? () => names[Math.floor(Math.random() * names.length)] : () => undefined;
    const fanOut = (name: string | undefined): number => (name === undefined ? connected : (members.get(name) ?? 0));
    const cpu = new CpuWindow(target.pid, target.brokerPid ?? null);
    gen.measure(true, false);
    const pushed = await driver.closedLoop(seconds * 1000, concurrency, room, fanOut);
    const inWindow = await gen.report();
    const cpuSummary = cpu.summary(inWindow.cpuCores);
    // Items, frames and their ratio over the same window: until the last push was answered.
    const windowSeconds = inWindow.elapsedMs / 1000;
    // Bounded: what has not arrived by then counts as lost.
    const drained = await drainOwed(gen, pushed.deliveriesOwed, inWindow.items, Math.max(10, 2 * seconds) * 1000);
    const after = drained.measurement;
    // A backlog still arriving must not count in the next workload.
    if (!drained.settled) await drain(gen, null, 60000);
    const result: OpenLoopResult = {
      workload,
      connections: connected,
      ...(workload === 'rooms-open' ? { rooms: settings.rooms } : {}),
      concurrency,
      durationSeconds: seconds,
      pushesAccepted: pushed.itemsPushed,
      pushesRefused: pushed.refused,
      pushesFailed: pushed.failed,
      itemsDeliveredPerSecond: Math.round(inWindow.items / windowSeconds),
      framesPerSecond: Math.round(inWindow.frames / windowSeconds),
      itemsPerFrame: inWindow.frames === 0 ? 0 : round(inWindow.items / inWindow.frames, 2),
      latency: after.latency.summary(),
      itemsLost: pushed.deliveriesOwed - after.items,
      drainSeconds: round(drained.lastDeliveryMs / 1000, 1),
      cpu: cpuSummary,
      clientBound: isClientBound(cpuSummary),
      disconnects: after.disconnects,
    };
    log(
      `${target.server}: ${workload}: ${result.itemsDeliveredPerSecond.toLocaleString('en')} items/s, ${result.itemsPerFrame} items/frame, ` +
        `p50/p99/max ${result.latency.p50}/${result.latency.p99}/${result.latency.max} ms, ${result.pushesAccepted} accepted, ` +
        `${result.pushesRefused} refused, ${result.pushesFailed} failed, ${result.itemsLost} lost, server CPU ${cpuSummary.server ?? '?'}, busiest client ${cpuSummary.busiestClient}`,
    );
    return result;
  }

  async function churn(): Promise<ChurnResult> {
    const rate = settings.churnRate;
    log(`${target.server}: churn: ${rate} connect-join-receive-disconnect cycles/s for ${seconds} s`);
    const cpu = new CpuWindow(target.pid, target.brokerPid ?? null);
    const timeoutMs = 5000;
    // The churning clients wait for a push to their room: one every 10 ms.
    let pushing = true;
    const pusher = (async () => {
      while (pushing) {
        await driver.push('churn');
        await sleep(10);
      }
    })();
    const done = await gen.churn({ protocol: target.protocol, urls: target.wsUrls, rate, durationMs: seconds * 1000, room: 'churn', timeoutMs });
    pushing = false;
    await pusher;
    const result: ChurnResult = {
      workload: 'churn',
      targetCyclesPerSecond: rate,
      cyclesCompleted: done.completed,
      cyclesPerSecond: Math.round(done.completed / seconds),
      errors: done.errors,
      cycleLatency: done.latency.summary(),
      cpu: cpu.summary(done.cpuCores),
    };
    log(
      `${target.server}: churn: ${result.cyclesPerSecond}/s completed, ${done.errors} errors${done.firstError ? ` (first: ${done.firstError})` : ''}, p99 ${result.cycleLatency.p99} ms`,
    );
    return result;
  }
}

/** A short machine description for the results. */
export function cpuModel(): string {
  return cpus()[0]?.model ?? 'unknown';
}

export { Histogram };
