/**
 * The side-by-side run: pushgate and its peers (a plain `ws` server, Socket.IO) started here one after
 * another, each pinned to `serverCore` when given, and put through the same workloads by the same
 * load generator.
 */
import { readFileSync } from 'node:fs';
import type { ServerName, ServerResults } from './load/results.js';
import { type BenchSettings, benchTarget } from './load/runner.js';
import { type Child, startNode } from './server-process.js';
import { PUSHGATE_V8_FLAGS } from './v8-flags.js';

interface ServerSpec {
  name: ServerName;
  protocol: 'pushgate' | 'socketio';
  script: string;
  /** Node flags the server is launched with (pushgate's launchers set its V8 heap flag). */
  nodeArgs: string[];
  args: string[];
  version: string;
}

/** The servers the side-by-side run knows, in the order it measures them by default. */
export const SERVERS = ['pushgate', 'ws', 'socketio'] as const;
export type SideBySideServer = (typeof SERVERS)[number];

/** Parses `pushgate,ws`, refusing unknown names. */
export function parseServers(value: string): SideBySideServer[] {
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!(SERVERS as readonly string[]).includes(name)) throw new Error(`unknown server "${name}": use ${SERVERS.join(', ')}`);
  }
  return names as SideBySideServer[];
}

function version(pkg: string): string {
  return JSON.parse(readFileSync(new URL(`../../${pkg}/package.json`, import.meta.url), 'utf8')).version;
}

function spec(name: SideBySideServer): ServerSpec {
  switch (name) {
    case 'pushgate':
      return {
        name,
        protocol: 'pushgate',
        script: 'dist/src/cli/main.js',
        nodeArgs: PUSHGATE_V8_FLAGS,
        args: ['--log-level', 'warn', '--workers', '1'],
        version: version('.'),
      };
    case 'ws':
      return { name, protocol: 'pushgate', script: 'dist/bench/peers/ws-server.js', nodeArgs: [], args: [], version: version('node_modules/ws') };
    case 'socketio':
      return { name, protocol: 'socketio', script: 'dist/bench/peers/socketio-server.js', nodeArgs: [], args: [], version: version('node_modules/socket.io') };
  }
}

/** Starts each server listening on every one of `hosts`, measures it, stops it; results in order. */
export async function benchSideBySide(
  names: readonly SideBySideServer[],
  hosts: string[],
  serverCore: number | null,
  settings: BenchSettings,
): Promise<ServerResults[]> {
  const servers: ServerResults[] = [];
  for (const name of names) {
    const server = spec(name);
    const args = [...server.args, '--host', hosts.join(','), '--port', '0', '--api-host', '127.0.0.1', '--api-port', '0'];
    const child: Child = startNode(server.script, args, serverCore, server.nodeArgs);
    try {
      const [, , port, api] = await child.waitForLine(/listening ws=(\S+):(\d+) api=(\S+)/, 15000);
      servers.push(
        await benchTarget(
          {
            server: server.name,
            protocol: server.protocol,
            wsUrls: hosts.map((host) => `ws://${host}:${port}`),
            api: `http://${api}`,
            pid: child.pid,
            version: server.version,
            command: `${serverCore !== null ? `taskset -c ${serverCore} ` : ''}node ${[...server.nodeArgs, server.script, ...args].join(' ')}`,
          },
          settings,
        ),
      );
    } finally {
      await child.stop();
    }
  }
  return servers;
}
