/**
 * The side-by-side run: pushgate (its go-push endpoint, then its Pusher Channels endpoint) and its peers
 * (a plain `ws` server, Socket.IO) started here one after another, each pinned to `serverCore` when
 * given, and put through the same workloads by the same load generator. Then, optionally, the budget sweep: pushgate restarted once per latency budget
 * (`--max-latency`) and put through the closed-loop workloads.
 */

import type { ProtocolName } from './load/protocols.js';
import { BENCH_PUSHER_APP } from './load/pusher-app.js';
import type { BudgetPoint, OpenLoopResult, ServerName, ServerResults } from './load/results.js';
import { type BenchSettings, benchTarget, OPEN_WORKLOADS } from './load/runner.js';
import { namesOf } from './options.js';
import { builtScript, packageVersion } from './paths.js';
import { type Child, startNode } from './server-process.js';
import { PUSHGATE_V8_FLAGS } from './v8-flags.js';

interface ServerSpec {
  name: ServerName;
  protocol: ProtocolName;
  /** With protocol `pusher`: the app it serves, `id:key:secret` (given to it with `--pusher-apps`). */
  pusherApp?: string;
  script: string;
  /** Node flags the server is launched with (pushgate's launchers set its V8 heap flag). */
  nodeArgs: string[];
  args: string[];
  version: string;
}

/** The servers the side-by-side run knows, in the order it measures them by default. */
export const SERVERS = ['pushgate', 'pushgate-pusher', 'ws', 'socketio'] as const;
export type SideBySideServer = (typeof SERVERS)[number];

/** Parses `pushgate,ws`, refusing unknown names; `none` is the empty list. */
export function parseServers(value: string): SideBySideServer[] {
  return namesOf(value, SERVERS, 'server', true);
}

/** pushgate as every part of the run starts it: one process, its launchers' V8 flag, warnings only. */
const PUSHGATE_ARGS = ['--log-level', 'warn', '--workers', '1'];

function spec(name: SideBySideServer): ServerSpec {
  const pushgate = { script: builtScript('src/cli/main.js'), nodeArgs: PUSHGATE_V8_FLAGS, version: packageVersion('.') };
  switch (name) {
    case 'pushgate':
      return { name, protocol: 'pushgate', ...pushgate, args: PUSHGATE_ARGS };
    case 'pushgate-pusher':
      // The same process and settings, serving the bench's Pusher app: its clients speak Pusher, its pushes are signed Pusher events.
      return { name, protocol: 'pusher', pusherApp: BENCH_PUSHER_APP, ...pushgate, args: [...PUSHGATE_ARGS, '--pusher-apps', BENCH_PUSHER_APP] };
    case 'ws':
      return {
        name,
        protocol: 'pushgate',
        script: builtScript('bench/peers/ws-server.js'),
        nodeArgs: [],
        args: [],
        version: packageVersion('node_modules/ws'),
      };
    case 'socketio':
      return {
        name,
        protocol: 'socketio',
        script: builtScript('bench/peers/socketio-server.js'),
        nodeArgs: [],
        args: [],
        version: packageVersion('node_modules/socket.io'),
      };
  }
}

/** A server started by the bench, listening on every one of its hosts. */
export interface StartedServer {
  child: Child;
  /** WebSocket base URLs, one per host, e.g. `ws://127.0.0.2:40123`. */
  wsUrls: string[];
  api: string;
  command: string;
}

/** Starts `server` (with `extraArgs`) listening on every one of `hosts`, pinned to `serverCore` when given. */
async function startServer(server: ServerSpec, extraArgs: string[], hosts: string[], serverCore: number | null): Promise<StartedServer> {
  const args = [...server.args, ...extraArgs, '--host', hosts.join(','), '--port', '0', '--api-host', '127.0.0.1', '--api-port', '0'];
  const child: Child = startNode(server.script, args, serverCore, server.nodeArgs);
  try {
    const [, , port, api] = await child.waitForLine(/listening ws=(\S+):(\d+) api=(\S+)/, 15000);
    return {
      child,
      wsUrls: hosts.map((host) => `ws://${host}:${port}`),
      api: `http://${api}`,
      command: `${serverCore !== null ? `taskset -c ${serverCore} ` : ''}node ${[...server.nodeArgs, server.script, ...args].join(' ')}`,
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** pushgate as the side-by-side run starts it, with `extraArgs` (e.g. `--history`, `--broker`). Stop its child. */
export function startPushgate(extraArgs: string[], hosts: string[], serverCore: number | null): Promise<StartedServer> {
  return startServer(spec('pushgate'), extraArgs, hosts, serverCore);
}

/**
 * Starts `server` (with `extraArgs`) listening on every one of `hosts`, measures it, stops it.
 * `brokerPid`: a broker process this run started, whose CPU is measured beside the server's.
 */
async function benchStarted(
  server: ServerSpec,
  extraArgs: string[],
  hosts: string[],
  serverCore: number | null,
  settings: BenchSettings,
  brokerPid: number | null = null,
): Promise<ServerResults> {
  const started = await startServer(server, extraArgs, hosts, serverCore);
  try {
    return await benchTarget(
      {
        server: server.name,
        protocol: server.protocol,
        ...(server.pusherApp === undefined ? {} : { pusherApp: server.pusherApp }),
        wsUrls: started.wsUrls,
        api: started.api,
        pid: started.child.pid,
        brokerPid,
        version: server.version,
        command: started.command,
      },
      settings,
    );
  } finally {
    await started.child.stop();
  }
}

/** pushgate with `extraArgs`, started as the side-by-side run starts it, measured (with `brokerPid`'s CPU), stopped. */
export function benchPushgate(
  extraArgs: string[],
  hosts: string[],
  serverCore: number | null,
  settings: BenchSettings,
  brokerPid: number | null = null,
): Promise<ServerResults> {
  return benchStarted(spec('pushgate'), extraArgs, hosts, serverCore, settings, brokerPid);
}

/** Starts each server listening on every one of `hosts`, measures it, stops it; results in order. */
export async function benchSideBySide(
  names: readonly SideBySideServer[],
  hosts: string[],
  serverCore: number | null,
  settings: BenchSettings,
): Promise<ServerResults[]> {
  const servers: ServerResults[] = [];
  for (const name of names) servers.push(await benchStarted(spec(name), [], hosts, serverCore, settings));
  return servers;
}

/**
 * The throughput–latency sweep: pushgate started once per budget with `--max-latency <budget>`, pinned
 * and listening as in the side-by-side run, its clients connected once and put through the closed-loop
 * workloads of `settings` (for `durationSeconds` each). Nothing to do without one of them.
 */
export async function benchBudgets(budgets: readonly number[], hosts: string[], serverCore: number | null, settings: BenchSettings): Promise<BudgetPoint[]> {
  const workloads = settings.workloads.filter((w): w is (typeof OPEN_WORKLOADS)[number] => (OPEN_WORKLOADS as readonly string[]).includes(w));
  if (workloads.length === 0) return [];
  const points: BudgetPoint[] = [];
  for (const budget of budgets) {
    settings.log(`pushgate --max-latency ${budget}: ${workloads.join(', ')}`);
    const results = await benchStarted(spec('pushgate'), ['--max-latency', String(budget)], hosts, serverCore, { ...settings, workloads });
    points.push({
      maxLatencyMs: budget,
      command: results.command,
      durationSeconds: settings.durationSeconds,
      workloads: results.workloads.filter((w): w is OpenLoopResult => w.workload === 'broadcast-open' || w.workload === 'rooms-open'),
    });
  }
  return points;
}
