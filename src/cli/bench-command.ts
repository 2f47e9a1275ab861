import { Command, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { latencyChart, throughputChart } from '../bench/charts.js';
import { parseWorkloads, positiveInt } from '../bench/options.js';
import { openFileLimit } from '../config/open-file-limit.js';
import { renderMarkdown } from '../bench/report.js';
import type { BenchRun } from '../bench/results.js';
import { benchTarget, cpuModel, WORKLOADS } from '../bench/runner.js';

/** Writes a run as JSON, markdown and two SVG charts under `dir`; returns the markdown path. */
export function writeRun(run: BenchRun, dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(run, null, 2)}\n`);
  const charts = { throughput: `${name}-throughput.svg`, latency: `${name}-latency.svg` };
  writeFileSync(join(dir, charts.throughput), throughputChart(run));
  writeFileSync(join(dir, charts.latency), latencyChart(run));
  const markdown = join(dir, `${name}.md`);
  writeFileSync(markdown, renderMarkdown(run, charts));
  return markdown;
}

/** The machine part of a run's description. */
export function describeMachine(pinning: string): BenchRun['machine'] {
  return {
    cpus: cpus().length,
    cpuModel: cpuModel(),
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    pinning,
    openFileLimit: openFileLimit() ?? 0,
  };
}

/**
 * `pushgate bench`: loads any running deployment (pushgate, or a server speaking its protocol) from
 * this machine and reports what it delivered. CPU and memory of the server are measured when its PID
 * is given (it must then run here).
 */
export function benchCommand(): Command {
  return new Command('bench')
    .description('load a running push server: idle connections, broadcast and room floods, latency, churn')
    .requiredOption('--url <url...>', 'WebSocket base URL(s), e.g. ws://127.0.0.1:7777 (several spread the clients)')
    .requiredOption('--api <url>', 'push API base URL, e.g. http://127.0.0.1:7788')
    .addOption(new Option('--protocol <name>', 'client protocol').choices(['pushgate', 'socketio']).default('pushgate'))
    .option('--connections <n>', 'clients to open', positiveInt('--connections'), 1000)
    .option('--clients <n>', 'client processes (each may hold at most ~20,000 sockets)', positiveInt('--clients'), 2)
    .option('--duration <seconds>', 'seconds per workload', positiveInt('--duration'), 10)
    .option('--rate <n>', 'pushes per second in the latency workload', positiveInt('--rate'), 10)
    .option('--rooms <n>', 'rooms in the room fan-out workload', positiveInt('--rooms'), 100)
    .option('--churn-rate <n>', 'connect-join-receive-disconnect cycles per second', positiveInt('--churn-rate'), 200)
    .option('--concurrency <n>', 'push requests in flight during floods', positiveInt('--concurrency'), 16)
    .option('--item-padding <bytes>', 'extra bytes per pushed item', positiveInt('--item-padding', 0), 0)
    .option('--workloads <list>', `comma-separated: ${WORKLOADS.join(',')}`, parseWorkloads, [...WORKLOADS])
    .option('--server-pid <pid>', 'PID of the server, to measure its CPU and memory', positiveInt('--server-pid'))
    .option('--client-core <n>', 'pin client processes to this core (taskset)', positiveInt('--client-core', 0))
    .option('--out <dir>', 'where to write the JSON, markdown and SVG results', 'bench-results')
    .action(async (opts) => {
      const log = (line: string): void => void process.stderr.write(`${line}\n`);
      const settings = {
        connections: opts.connections, clientProcesses: opts.clients, durationSeconds: opts.duration,
        latencyRate: opts.rate, rooms: opts.rooms, churnRate: opts.churnRate, floodConcurrency: opts.concurrency,
        itemPadding: opts.itemPadding, workloads: opts.workloads, clientCore: opts.clientCore ?? null,
        clientCores: opts.clientCore === undefined ? cpus().length : 1, log,
      };
      const results = await benchTarget({
        server: opts.protocol === 'socketio' ? 'socketio' : 'external',
        protocol: opts.protocol, wsUrls: opts.url, api: opts.api, pid: opts.serverPid ?? null,
        version: 'unknown', command: opts.url.join(' '),
      }, settings);
      const run: BenchRun = {
        startedAt: new Date().toISOString(),
        command: `pushgate ${process.argv.slice(2).join(' ')}`,
        machine: describeMachine(opts.clientCore === undefined ? 'none' : `clients on core ${opts.clientCore}`),
        settings: { connections: opts.connections, clientProcesses: opts.clients, destinations: opts.url, durationSeconds: opts.duration },
        servers: [results],
      };
      const markdown = writeRun(run, opts.out, `bench-${run.startedAt.replace(/[:.]/g, '-')}`);
      process.stdout.write(`${renderMarkdown(run)}\nwritten: ${markdown}\n`);
    });
}
