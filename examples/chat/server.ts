// A chat room whose backend has no WebSocket code (seed 002's first use case, behind a gateway): one
// process runs a pushgate Gateway and the chat's plain HTTP backend (backend.ts), which serves the page
// and answers the gateway's hooks.
//
// Run: npm run build && npm run example:chat [-- --ws-port 7777 --api-port 7788 --backend-port 8080 --host 127.0.0.1]
// then open http://127.0.0.1:8080/ in two browsers (or a normal and a private window), one name each.
import type { GatewayCommandLine, GatewayExampleOptions, RunningExample } from '../hook-shared.js';
import { gatewayFlagsUsage, parseGatewayCommandLine, runExampleProgram, startBesideGateway } from '../hook-shared.js';
import { ChatBackend } from './backend.js';

/** What {@link start} may be given; every field has a default. */
export type ChatOptions = GatewayExampleOptions;

/** A running chat: its addresses, and how to stop it. */
export type RunningChat = RunningExample<ChatBackend>;

/** Starts the backend, then a gateway whose hooks point at it; resolves once both listen. */
export function start(options: ChatOptions = {}): Promise<RunningChat> {
  return startBesideGateway(options, {
    backend: (hookSecret, log) => new ChatBackend(hookSecret, log),
    gateway: (backendUrl) => ({
      connectHook: `${backendUrl}/hooks/connect`,
      rpcHook: `${backendUrl}/hooks/rpc`,
      publishHook: `${backendUrl}/hooks/publish`,
      disconnectHook: `${backendUrl}/hooks/disconnect`,
      // Announce departures within a fifth of a second rather than the default second.
      disconnectBatchDelay: 200,
    }),
  });
}

const USAGE = `usage: example:chat [--host H] [--ws-port N] [--api-port N] [--backend-port N] [--hook-secret S]
${gatewayFlagsUsage('the chat page and the hooks')}`;

/** The command line (flags win over the environment). */
export function parseCommandLine(args: string[], env: NodeJS.ProcessEnv): GatewayCommandLine {
  return parseGatewayCommandLine(args, env, { own: () => ({}) });
}

// Runs only as a program, not when a test imports start().
await runExampleProgram(import.meta.url, {
  name: 'chat',
  usage: USAGE,
  parse: parseCommandLine,
  start,
  started: (chat) => `chat: open ${chat.backendUrl}/ (gateway ${chat.wsUrl}, push API ${chat.apiUrl})`,
});
