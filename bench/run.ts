/**
 * `npm run bench`: pushgate and its peers (a plain `ws` server, Socket.IO) side by side, each started
 * here, pinned to core 0 when the machine has two or more, while the load generator runs on core 1,
 * through the same workloads with the same clients. Writes JSON, markdown and SVG charts to
 * bench/results/ (or --out).
 *
 *   npm run bench                                  # the full run (10,000 clients, 10 s per workload)
 *   npm run bench -- --smoke                       # a few hundred clients for a few seconds (CI)
 *   npm run bench -- --servers pushgate,ws --connections 5000 --workloads broadcast,latency
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { describeMachine, writeRun } from '../src/cli/bench-command.js';
import { loopbackDestinations, parseWorkloads, pinSelf } from '../src/bench/options.js';
import { renderMarkdown } from '../src/bench/report.js';
import type { BenchRun, ServerName, ServerResults } from '../src/bench/results.js';
import { benchTarget, WORKLOADS, type BenchSettings } from '../src/bench/runner.js';
import { PUSHGATE_V8_FLAGS } from './v8-flags.js';
import { startNode, type Child } from './server-process.js';

interface ServerSpec {
  name: ServerName;
  protocol: 'pushgate' | 'socketio';
  script: string;
  /** Node flags the server is launched with (pushgate's launchers set its V8 heap flag). */
  nodeArgs: string[];
  args: string[];
  version: string;
}

function version(pkg: string): string {
  return JSON.parse(readFileSync(new URL(`../../${pkg}/package.json`, import.meta.url), 'utf8')).version;
}

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    servers: { type: 'string', default: 'pushgate,ws,socketio' },
    connections: { type: 'string' },
    clients: { type: 'string', default: '2' },
    duration: { type: 'string' },
    destinations: { type: 'string', default: '4' },
    workloads: { type: 'string', default: WORKLOADS.join(',') },
    concurrency: { type: 'string', default: '64' },
    'churn-rate': { type: 'string' },
    out: { type: 'string', default: 'bench/results' },
    name: { type: 'string' },
  },
  strict: true,
});

const smoke = values.smoke === true;
const connections = Number(values.connections ?? (smoke ? 300 : 10000));
const duration = Number(values.duration ?? (smoke ? 2 : 10));
const hosts = loopbackDestinations(Number(values.destinations));
const twoCores = availableParallelism() >= 2;
const serverCore = twoCores ? 0 : null;
const clientCore = twoCores ? 1 : null;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const specs: Record<string, ServerSpec> = {
  pushgate: {
    name: 'pushgate', protocol: 'pushgate', script: 'dist/src/cli/main.js', nodeArgs: PUSHGATE_V8_FLAGS,
    args: ['--log-level', 'warn', '--workers', '1'], version: version('.'),
  },
  ws: { name: 'ws', protocol: 'pushgate', script: 'dist/bench/peers/ws-server.js', nodeArgs: [], args: [], version: version('node_modules/ws') },
  socketio: { name: 'socketio', protocol: 'socketio', script: 'dist/bench/peers/socketio-server.js', nodeArgs: [], args: [], version: version('node_modules/socket.io') },
};

const settings: BenchSettings = {
  connections,
  clientProcesses: Number(values.clients),
  durationSeconds: duration,
  latencyRate: 10,
  rooms: Math.max(1, Math.min(100, Math.floor(connections / 100))),
  churnRate: Number(values['churn-rate'] ?? (smoke ? 50 : 200)),
  floodConcurrency: Number(values.concurrency),
  itemPadding: 0,
  workloads: parseWorkloads(values.workloads ?? ''),
  clientCore,
  clientCores: clientCore !== null ? 1 : availableParallelism(),
  log,
};

if (clientCore !== null) await pinSelf(clientCore);
const servers: ServerResults[] = [];
for (const name of (values.servers ?? '').split(',')) {
  const spec = specs[name];
  if (spec === undefined) throw new Error(`unknown server "${name}": use ${Object.keys(specs).join(', ')}`);
  const args = [...spec.args, '--host', hosts.join(','), '--port', '0', '--api-host', '127.0.0.1', '--api-port', '0'];
  const server: Child = startNode(spec.script, args, serverCore, spec.nodeArgs);
  try {
    const [, , port, api] = await server.waitForLine(/listening ws=(\S+):(\d+) api=(\S+)/, 15000);
    servers.push(await benchTarget({
      server: spec.name,
      protocol: spec.protocol,
      wsUrls: hosts.map((host) => `ws://${host}:${port}`),
      api: `http://${api}`,
      pid: server.pid,
      version: spec.version,
      command: `${serverCore !== null ? `taskset -c ${serverCore} ` : ''}node ${[...spec.nodeArgs, spec.script, ...args].join(' ')}`,
    }, settings));
  } finally {
    await server.stop();
  }
}

const run: BenchRun = {
  startedAt: new Date().toISOString(),
  command: process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : 'npm run bench',
  machine: describeMachine(twoCores ? 'server on core 0, load generator (clients and push driver) on core 1' : 'not pinned (one core)'),
  settings: { connections, clientProcesses: settings.clientProcesses, destinations: hosts, durationSeconds: duration },
  servers,
};
const name = values.name ?? (smoke ? 'smoke' : `bench-${run.startedAt.slice(0, 10)}`);
const markdown = writeRun(run, values.out ?? 'bench/results', name);
process.stdout.write(`${renderMarkdown(run)}\nwritten: ${markdown}\n`);
