// A remote command whose backend has no WebSocket code (seed 002's fourth use case, behind a gateway):
// one process runs a pushgate Gateway and the command's plain HTTP backend (backend.ts). A client's RPC
// `start` runs the command fixed at start; its output goes back to that connection through the push API.
//
// Run: npm run build && npm run example:command [-- --backend-port 8080 ...] [-- -- ping -c 3 127.0.0.1]
// then open http://127.0.0.1:8080/ and press "start".
import { fileURLToPath } from 'node:url';
import type { GatewayCommandLine, GatewayExampleOptions, RunningExample } from '../hook-shared.js';
import { gatewayFlagsUsage, integerFlag, parseGatewayCommandLine, runExampleProgram, startBesideGateway, UsageError } from '../hook-shared.js';
import { CommandBackend, type CommandLimits } from './backend.js';

/** The default command: the ticker next to this file (5 lines, half a second apart), run by this Node. */
export const DEFAULT_COMMAND: readonly string[] = [process.execPath, fileURLToPath(new URL('./ticker.js', import.meta.url))];

/** What {@link start} may be given; every field has a default. */
export interface CommandOptions extends GatewayExampleOptions {
  /** The program and its arguments, run without a shell. Default {@link DEFAULT_COMMAND}. */
  command?: readonly string[];
  /** Runs at once, all clients together. Default 4. */
  maxRuns?: number;
  /** Milliseconds a run may take before it is stopped. Default 60000. */
  timeoutMs?: number;
}

/** A running command example: its addresses, and how to stop it (`close()` stops the runs under way first). */
export interface RunningCommand extends RunningExample<CommandBackend> {
  command: readonly string[];
}

/** Starts the backend, then a gateway whose rpc and disconnect hooks point at it. */
export async function start(options: CommandOptions = {}): Promise<RunningCommand> {
  const command = [...(options.command ?? DEFAULT_COMMAND)];
  const limits: CommandLimits = { maxRuns: options.maxRuns ?? 4, timeoutMs: options.timeoutMs ?? 60_000 };
  const running = await startBesideGateway(options, {
    backend: (hookSecret, log) => new CommandBackend(command, hookSecret, log, limits),
    gateway: (backendUrl) => ({
      rpcHook: `${backendUrl}/hooks/rpc`,
      disconnectHook: `${backendUrl}/hooks/disconnect`,
      // A run whose client left is stopped within a fifth of a second (its pushes would find no connection anyway).
      disconnectBatchDelay: 200,
    }),
  });
  return { ...running, command };
}

const USAGE = `usage: example:command [options] [-- PROGRAM [ARGS...]]
  PROGRAM ARGS      the command every client may run, without a shell [default: node ticker.js, 5 lines]
  --max-runs N      runs at once, all clients together [default 4]
  --timeout S       seconds a run may take before it is stopped [default 60]
${gatewayFlagsUsage('the page and the hooks')}`;

/** The command line (flags win over the environment); the command follows `--`. */
export function parseCommandLine(args: string[], env: NodeJS.ProcessEnv): GatewayCommandLine & Pick<CommandOptions, 'command' | 'maxRuns' | 'timeoutMs'> {
  return parseGatewayCommandLine(args, env, {
    flags: { 'max-runs': { type: 'string' }, timeout: { type: 'string' } },
    positionals: true,
    hint: " (a command's own options go after --)",
    port: (name, raw) => integerFlag(name, raw, 0, 65535),
    own: ({ flag, positionals }) => {
      if (positionals.length > 0 && positionals[0] === '') throw new UsageError('the program must not be empty');
      const timeout = integerFlag('--timeout', flag('timeout'), 1, 86400);
      return {
        command: positionals.length > 0 ? positionals : undefined,
        maxRuns: integerFlag('--max-runs', flag('max-runs'), 1, 1000),
        timeoutMs: timeout === undefined ? undefined : timeout * 1000,
      };
    },
  });
}

// Runs only as a program, not when a test imports start().
await runExampleProgram(import.meta.url, {
  name: 'command',
  usage: USAGE,
  parse: parseCommandLine,
  start,
  started: (running) => `command: ${JSON.stringify(running.command)}; open ${running.backendUrl}/ (gateway ${running.wsUrl}, push API ${running.apiUrl})`,
});
