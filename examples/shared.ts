/**
 * What the seed examples share, so that each server.ts holds only what it does with a client: the
 * command line (`--port`, `--host`), an HTTP server accepting WebSockets on `/ws` from every origin (as
 * the seeds' `CheckOrigin` did), one pushgate `Connection` per client, logs, and a clean shutdown on
 * SIGINT/SIGTERM.
 */
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { onShutdownSignal } from '../src/cli/signals.js';
import {
  CloseCode,
  type Connection,
  connectionFromWebSocket,
  createLogger,
  createOriginPolicy,
  type IncomingMessage,
  type Logger,
  WsListener,
} from '../src/index.js';
import { hostPort } from '../src/server/http-lifecycle.js';

/** One example program. */
export interface Example {
  /** Its name, for usage text and errors, e.g. `time-reply`. */
  name: string;
  /** The seed's port (8888 or 7777). */
  defaultPort: number;
  /** Serves one client; the connection is closed (if still open) when the returned promise settles. */
  serve(conn: Connection, log: Logger): Promise<void>;
}

/** Where to listen, from the command line. */
export interface ExampleArgs {
  host: string;
  port: number;
  help: boolean;
}

/** A bad command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** The seeds listened on every interface (`:8888`, `0.0.0.0:7777`). */
const DEFAULT_HOST = '0.0.0.0';
/** Shutdown waits this long for clients to answer the 1001 close frame before cutting them. */
const CLOSE_TIMEOUT_MS = 2000;
/** If the process is still alive this long after a signal, something leaked: exit 1 and say so. */
const SHUTDOWN_BACKSTOP_MS = 5000;

function usage(example: Pick<Example, 'name' | 'defaultPort'>): string {
  return (
    `usage: ${example.name} [--port N] [--host H]\n` +
    `  --port N  port to listen on, 0-65535 (0: any free port) [default ${example.defaultPort}]\n` +
    `  --host H  address to listen on [default ${DEFAULT_HOST}]\n`
  );
}

/** Parses `--port N --host H` (also `--port=N`, `-h`/`--help`); throws a {@link UsageError}. */
export function parseExampleArgs(args: string[], defaultPort: number): ExampleArgs {
  let values: { port?: string; host?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  let port = defaultPort;
  if (values.port !== undefined) {
    port = /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN;
    if (!(port >= 0 && port <= 65535)) throw new UsageError(`--port must be an integer from 0 to 65535 (0: any free port), got "${values.port}"`);
  }
  const host = values.host ?? DEFAULT_HOST;
  if (host.trim() === '') throw new UsageError('--host must not be empty');
  return { host, port, help: values.help === true };
}

/** A message for one log line: text quoted (so newlines cannot forge lines) and cut at 200 characters. */
export function preview(message: IncomingMessage): string {
  if (typeof message !== 'string') return `<binary, ${message.length} bytes>`;
  return JSON.stringify(message.length > 200 ? `${message.slice(0, 200)}…` : message);
}

/**
 * Runs an example until SIGINT or SIGTERM: then new handshakes are refused, every client is closed with
 * 1001 and the process exits on its own once nothing is left running (exit code 0). A timer or socket
 * left behind would keep it alive: after {@link SHUTDOWN_BACKSTOP_MS} it exits with 1 instead.
 */
export async function runExample(example: Example): Promise<void> {
  let args: ExampleArgs;
  try {
    args = parseExampleArgs(process.argv.slice(2), example.defaultPort);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${example.name}: ${error.message}\n${usage(example)}`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(usage(example));
    return;
  }

  const log = createLogger('info', 'text');
  const connections = new Set<Connection>();
  let lastId = 0;
  const listener = new WsListener({
    host: args.host,
    port: args.port,
    paths: ['/ws'],
    // The seeds' CheckOrigin returned true, and their client.html is opened from a file (Origin "null").
    originPolicy: createOriginPolicy(['*'], [args.host]),
    maxMessageSize: 1024 * 1024,
    closeTimeout: CLOSE_TIMEOUT_MS,
    onConnection(ws, req) {
      const conn = connectionFromWebSocket(ws, String(++lastId));
      if (!conn.isOpen) return;
      connections.add(conn);
      const origin = req.headers.origin === undefined ? 'no Origin' : `Origin ${JSON.stringify(req.headers.origin)}`;
      log.info(`connection ${conn.id} opened from ${conn.remoteAddress} (${origin})`);
      void conn.closed.then(({ code, by }) => {
        connections.delete(conn);
        log.info(`connection ${conn.id} closed (${code}, by the ${by})`);
      });
      example.serve(conn, log).then(
        () => conn.close(),
        (error: unknown) => {
          log.error({ err: error }, `connection ${conn.id} failed`);
          conn.close(CloseCode.INTERNAL_ERROR, 'internal error');
        },
      );
    },
    onRefused: (status, reason) => log.warn(`handshake refused (${status}): ${reason}`),
  });

  let address: AddressInfo;
  try {
    address = await listener.listen();
  } catch (error) {
    log.error(`cannot listen on ${args.host}:${args.port}: ${(error as Error).message}`);
    process.exit(1);
  }

  // The process then ends by itself once nothing is left running; the backstop catches a leaked timer.
  onShutdownSignal(log, SHUTDOWN_BACKSTOP_MS, async (signal) => {
    const open = [...connections];
    log.info(`${signal}: closing ${open.length} connection(s) with 1001`);
    const portClosed = listener.stopAccepting();
    for (const conn of open) conn.close(CloseCode.GOING_AWAY, 'server shutting down');
    // Each `closed` resolves by CLOSE_TIMEOUT_MS at the latest (ws then destroys the socket).
    await Promise.all(open.map((conn) => conn.closed));
    listener.destroy();
    await portClosed;
    log.info('stopped');
  });

  // Announced only now that a signal would be handled: whoever waits for this line may send one at once.
  log.warn(
    'every origin is allowed, as in the seeds (CheckOrigin returned true) so that their client.html works ' +
      'when opened from a file; fine for a tutorial on your own machine, never for a real service: any web page could ' +
      'connect here (cross-site WebSocket hijacking). The pushgate gateway checks origins.',
  );
  log.info(`listening ws=${hostPort(address)} (WebSocket path /ws)`);
}
