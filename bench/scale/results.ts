/** What `npm run bench:scale` measures, and how it is written (JSON and a markdown table). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchRun } from '../load/results.js';

/** Single pushes to all, each once the last reached everyone. */
export interface BroadcastStep {
  pushes: number;
  refused: number;
  delivered: number;
  owed: number;
  /** Whether every accepted push reached every client. */
  complete: boolean;
  /** Per push: from its first to its last receipt over all clients, ms. */
  passMs: number[];
  /** Latency of every receipt, ms. */
  p50: number;
  p99: number;
  max: number;
}

/** CPU in cores (CPU seconds per second): the gateway's processes, and the whole machine's (null off Linux). */
export interface CpuCores {
  server: number;
  machine: number | null;
}

export interface ScaleStep {
  connections: number;
  connect: { added: number; elapsedMs: number; perSecond: number; failedAttempts: number; cpuCores: CpuCores };
  memory: {
    serverRssBytes: number;
    /** Growth of the gateway's RSS (primary and workers) since before the first client, per client. */
    serverRssPerConnection: number;
    /** Growth of the kernel's slab since before the first client, per client: both ends of each loopback connection. */
    kernelSlabPerConnection: number | null;
    kernelTcpBufferBytes: number | null;
    /** Each worker's RSS. */
    workers: number[];
  };
  broadcast: BroadcastStep;
  online: number;
}

export interface ScaleRun {
  date: string;
  machine: BenchRun['machine'];
  version: string;
  command: string;
  settings: Record<string, number>;
  steps: ScaleStep[];
  rooms: {
    seconds: number;
    pushesAccepted: number;
    refused: number;
    failed: number;
    itemsOwed: number;
    itemsDelivered: number;
    drained: boolean;
    itemsPerSecond: number;
    p50: number;
    p99: number;
    max: number;
    cpuCores: CpuCores;
  } | null;
  storm: {
    clients: number;
    shutdownMs: number;
    startMs: number;
    allBackAfterRestartMs: number;
    allBackAfterListeningMs: number;
    allBackAfterStopMs: number;
    failedAttempts: number;
    handshakesRefused: number;
    handshakesAborted: number;
    peakMachineCores: number;
    peakServerCores: number;
    clientPeakRssBytes: number;
    pushAfter: { status: number; delivered: number; owed: number; reached: boolean };
    /** Clients ready at each second after the new gateway listened. */
    readyTimeline: number[];
    /** The highest retry number (the SDK's `reconnect` event) any client reached. */
    maxAttempt: number;
  } | null;
}

const int = (n: number): string => Math.round(n).toLocaleString('en');
const ms = (n: number): string => (n >= 100 ? int(n) : n.toFixed(1));
const kb = (bytes: number | null): string => (bytes === null ? 'n/a' : `${(bytes / 1024).toFixed(2)} KB`);
const cores = (c: CpuCores): string => `${c.server.toFixed(2)} (machine ${c.machine === null ? 'n/a' : c.machine.toFixed(2)})`;
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)]!;
};

/** The run as markdown: one column per step, then the room flood and the storm. */
export function renderScale(run: ScaleRun): string {
  const s = run.settings;
  const steps = run.steps;
  const row = (label: string, cell: (step: ScaleStep) => string): string => `| ${label} | ${steps.map(cell).join(' | ')} |`;
  const lines = [
    `# ${int(s.connections ?? 0)} connections on one machine (\`npm run bench:scale\`)`,
    '',
    `${run.date}, pushgate ${run.version}, Node ${run.machine.node}, ${run.machine.cpus} cores (${run.machine.cpuModel}), open-file limit ${int(run.machine.openFileLimit)} per process.`,
    `Everything on the same ${run.machine.cpus} cores, unpinned: the gateway (\`${run.command}\`), ${s.clientProcesses} client processes of SDK clients (\`pushgate/client\`, default options: backoff 250 ms doubling to 30 s with full jitter, a PING every 20 s) over ${s.destinations} loopback addresses, and the push driver. Client i joins room i mod ${int(s.rooms ?? 0)} (${s.members} members each).`,
    '',
    `| | ${steps.map((step) => `${int(step.connections)} clients`).join(' | ')} |`,
    `| --- | ${steps.map(() => '---:').join(' | ')} |`,
    row('clients added', (step) => int(step.connect.added)),
    row('time to connect and join them', (step) => `${(step.connect.elapsedMs / 1000).toFixed(1)} s`),
    row('handshakes (connect + JOIN) per second', (step) => int(step.connect.perSecond)),
    row('failed attempts (retried by the SDK)', (step) => int(step.connect.failedAttempts)),
    row('CPU while connecting, gateway cores (machine)', (step) => cores(step.connect.cpuCores)),
    row('gateway RSS, all processes', (step) => `${(step.memory.serverRssBytes / 2 ** 20).toFixed(0)} MiB`),
    row('gateway RSS growth per connection', (step) => kb(step.memory.serverRssPerConnection)),
    row('kernel slab growth per connection (both ends)', (step) => kb(step.memory.kernelSlabPerConnection)),
    row('kernel TCP buffers in use', (step) => kb(step.memory.kernelTcpBufferBytes)),
    row('broadcast: pass over all clients, median of pushes (ms)', (step) => ms(median(step.broadcast.passMs))),
    row('broadcast: pass per connection (µs)', (step) => ((median(step.broadcast.passMs) * 1000) / step.connections).toFixed(2)),
    row('broadcast: each pass (ms)', (step) => step.broadcast.passMs.map(ms).join(', ')),
    row('broadcast: receipt latency p50 / p99 / max (ms)', (step) => `${ms(step.broadcast.p50)} / ${ms(step.broadcast.p99)} / ${ms(step.broadcast.max)}`),
    row('broadcast: items delivered / owed', (step) => `${int(step.broadcast.delivered)} / ${int(step.broadcast.owed)}`),
    '',
  ];
  if (run.rooms !== null) {
    const r = run.rooms;
    lines.push(
      `## Room fan-out flood, ${int(run.steps.at(-1)?.connections ?? 0)} clients, no flow control`,
      '',
      `${s.openConcurrency} loops, each posting one item to a random room (\`POST /push/room\`) as soon as the last was answered, for ${r.seconds.toFixed(1)} s; a 503 is counted and not retried.`,
      '',
      '| pushes accepted | refused (503) | failed | items/s delivered | latency p50 / p99 / max (ms) | delivered / owed | gateway cores (machine) |',
      '| ---: | ---: | ---: | ---: | --- | ---: | --- |',
      `| ${int(r.pushesAccepted)} | ${int(r.refused)} | ${int(r.failed)} | ${int(r.itemsPerSecond)} | ${ms(r.p50)} / ${ms(r.p99)} / ${ms(r.max)} | ${int(r.itemsDelivered)} / ${int(r.itemsOwed)}${r.drained ? '' : ' (not drained in 30 s)'} | ${cores(r.cpuCores)} |`,
      '',
    );
  }
  if (run.storm !== null) {
    const t = run.storm;
    lines.push(
      `## Reconnect storm: the gateway restarted under ${int(t.clients)} clients`,
      '',
      "SIGTERM to the primary (a graceful shutdown: every client is closed with 1001), then the same command again on the same ports. The clients reconnect and rejoin by themselves with the SDK's backoff.",
      '',
      '| | |',
      '| --- | ---: |',
      `| graceful shutdown took | ${int(t.shutdownMs)} ms |`,
      `| new gateway listening after | ${int(t.startMs)} ms |`,
      `| every client ready again (reconnected, room rejoined), from the SIGTERM | ${(t.allBackAfterStopMs / 1000).toFixed(1)} s |`,
      `| … from the restart command | ${(t.allBackAfterRestartMs / 1000).toFixed(1)} s |`,
      `| … from the new gateway listening | ${(t.allBackAfterListeningMs / 1000).toFixed(1)} s |`,
      `| failed connection attempts (refused while down, retried) | ${int(t.failedAttempts)} |`,
      `| handshakes the new gateway refused / saw aborted | ${int(t.handshakesRefused)} / ${int(t.handshakesAborted)} |`,
      `| peak CPU, 1 s samples: machine / gateway (cores) | ${t.peakMachineCores.toFixed(2)} / ${t.peakServerCores.toFixed(2)} |`,
      `| the most retries in a row of one client | ${int(t.maxAttempt)} |`,
      `| a push to all afterwards: delivered / clients | ${int(t.pushAfter.delivered)} / ${int(t.pushAfter.owed)} |`,
      '',
      `Clients ready, each second after the new gateway listened: ${t.readyTimeline.map(int).join(', ')}.`,
      '',
    );
  }
  return lines.join('\n');
}

/** Writes `<name>.json` and `<name>.md` under `dir`; returns the markdown's path. */
export function writeScaleResults(dir: string, name: string, run: ScaleRun): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(run, null, 2)}\n`);
  const path = join(dir, `${name}.md`);
  writeFileSync(path, renderScale(run));
  process.stdout.write(renderScale(run));
  return path;
}
