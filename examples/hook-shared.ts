/**
 * What the three gateway examples (chat, file-watch, command) share, so that each server.ts and
 * backend.ts holds only what its example does. Each runs a pushgate `Gateway` in one process with a plain
 * `node:http` backend, which serves the example's page and answers the gateway's hooks:
 *
 * - the program: the flags and environment variables every example takes, their usage lines, and
 *   `main()` (exit code 2 and the usage on a bad command line, 1 when it cannot start, a clean stop on
 *   SIGINT/SIGTERM);
 * - the gateway beside the backend: the origins the page is served from, starting the two and stopping
 *   them in order;
 * - the backend's HTTP side: its server, the page with its settings, JSON answers, a hook request read
 *   within a limit and its signature checked, and posts to the push API.
 *
 * (`shared.ts` is the tutorial examples' own: a bare WebSocket server, no gateway.)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { onShutdownSignal } from '../src/cli/signals.js';
import { createLogger, Gateway, type GatewayOptions, type Logger, verifyHookSignature } from '../src/index.js';
import { silentLogger } from '../src/log.js';
import { closeHttp, listenHttp } from '../src/server/http-lifecycle.js';

// ---------------------------------------------------------------------------------------------------
// The program: its command line and main().

/** What every example's `start()` may be given; every field has a default. */
export interface GatewayExampleOptions {
  /** Address of the gateway's WebSocket port and of the backend. Default `127.0.0.1` (this machine only). */
  host?: string;
  /** The gateway's WebSocket port. Default 7777; 0 picks a free one. */
  wsPort?: number;
  /** The gateway's push API port (always on 127.0.0.1). Default 7788. */
  apiPort?: number;
  /** The backend's port (the page and the hooks). Default 8080. */
  backendPort?: number;
  /** The secret the gateway signs hook requests with. Default: 32 random bytes, new at each start. */
  hookSecret?: string;
  /** Where the gateway and the backend log. Default: nowhere. */
  log?: Logger;
}

/** A bad command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** The flags every example takes (its own come first in its usage). */
const GATEWAY_FLAGS = {
  host: { type: 'string' },
  'ws-port': { type: 'string' },
  'api-port': { type: 'string' },
  'backend-port': { type: 'string' },
  'hook-secret': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The usage lines of the flags every example takes; `backendServes` is what its backend port serves, e.g. `the page and the hooks`. */
export function gatewayFlagsUsage(backendServes: string): string {
  return `  --host H          address of the WebSocket port and the backend [PUSHGATE_HOST, default 127.0.0.1]
  --ws-port N       gateway WebSocket port, 0: any free port [PUSHGATE_PORT, default 7777]
  --api-port N      gateway push API port, on 127.0.0.1 [PUSHGATE_API_PORT, default 7788]
  --backend-port N  backend port: ${backendServes} [BACKEND_PORT, default 8080]
  --hook-secret S   secret signing the hook requests [PUSHGATE_HOOK_SECRET, default: random]
`;
}

/** A port flag (`--ws-port` …) as given: up to 5 digits, 0 to 65535; undefined when absent. */
export function portFlag(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= 0 && value <= 65535)) throw new UsageError(`${name} must be a port, 0 to 65535, got "${raw}"`);
  return value;
}

/** An integer flag as given: up to 9 digits, `min` to `max`; undefined when absent. */
export function integerFlag(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return value;
}

/** The parsed command line, as an example's own part reads it. */
export interface ExampleFlags {
  /** A flag's value (its name without `--`), or undefined. */
  flag(name: string): string | undefined;
  /** A flag's value, else the environment variable's: the flag wins. */
  setting(name: string, variable: string): string | undefined;
  /** The words after the flags (none unless {@link CommandLineSpec.positionals}). */
  positionals: string[];
}

/** What an example adds to the common command line. */
export interface CommandLineSpec<Own> {
  /** Its own flags, as `node:util` `parseArgs` takes them. */
  flags?: ParseArgsConfig['options'];
  /** Whether words may follow the flags (after `--`). Default false. */
  positionals?: boolean;
  /** Appended to the message of a flag `parseArgs` refuses (e.g. ` (a command's own options go after --)`). */
  hint?: string;
  /** Checks a port flag. Default {@link portFlag}. */
  port?: (name: string, raw: string | undefined) => number | undefined;
  /** Its own settings; run after `--host` and `--hook-secret` are checked and before the ports. Throws a {@link UsageError}. */
  own(read: ExampleFlags): Own;
}

/** The common part of a parsed command line. */
export type GatewayCommandLine = Omit<GatewayExampleOptions, 'log'> & { help: boolean };

/** Parses an example's command line (flags win over the environment); throws a {@link UsageError}. */
export function parseGatewayCommandLine<Own extends object>(args: string[], env: NodeJS.ProcessEnv, spec: CommandLineSpec<Own>): GatewayCommandLine & Own {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args, options: { ...spec.flags, ...GATEWAY_FLAGS }, strict: true, allowPositionals: spec.positionals === true }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}${spec.hint ?? ''}`);
  }
  const flag = (name: string): string | undefined => values[name] as string | undefined;
  const setting = (name: string, variable: string): string | undefined => flag(name) ?? env[variable];
  const host = setting('host', 'PUSHGATE_HOST') ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError('--host must not be empty');
  const hookSecret = setting('hook-secret', 'PUSHGATE_HOOK_SECRET');
  if (hookSecret === '') throw new UsageError('--hook-secret must not be empty');
  const own = spec.own({ flag, setting, positionals });
  const port = spec.port ?? portFlag;
  return {
    ...own,
    host,
    wsPort: port('--ws-port', setting('ws-port', 'PUSHGATE_PORT')),
    apiPort: port('--api-port', setting('api-port', 'PUSHGATE_API_PORT')),
    backendPort: port('--backend-port', setting('backend-port', 'BACKEND_PORT')),
    hookSecret,
    help: values.help === true,
  };
}

/** One example as a program. */
export interface ExampleProgram<Options, Running extends { close(): Promise<void> }> {
  /** Its name, as in the npm script `example:<name>`. */
  name: string;
  /** Its usage text, printed for `--help` and after a bad command line. */
  usage: string;
  /** Its command line; throws a {@link UsageError}. */
  parse(args: string[], env: NodeJS.ProcessEnv): Options & { help: boolean };
  start(options: Options & { log: Logger }): Promise<Running>;
  /** The start-up line, logged once a signal would be handled (whoever waits for it may send one at once). */
  started(running: Running): string;
}

/** If the process is still alive this long after a signal, something leaked: exit 1 and say so. */
const SHUTDOWN_BACKSTOP_MS = 8000;

/**
 * Runs an example as a program if its module (`moduleUrl`, its `import.meta.url`) is the one node was
 * started with, not one a test imports: exit code 2 and the usage on a bad command line, 1 when it cannot
 * start; on SIGINT or SIGTERM it stops (`close()`) and the process exits 0 on its own.
 */
export async function runExampleProgram<Options, Running extends { close(): Promise<void> }>(
  moduleUrl: string,
  program: ExampleProgram<Options, Running>,
): Promise<void> {
  if (process.argv[1] === undefined || realpathSync(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  let options: Options & { help: boolean };
  try {
    options = program.parse(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`example:${program.name}: ${error.message}\n${program.usage}`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(program.usage);
    return;
  }
  const log = createLogger('info', 'text');
  let running: Running;
  try {
    running = await program.start({ ...options, log });
  } catch (error) {
    log.error(`cannot start: ${(error as Error).message}`);
    process.exit(1);
  }
  onShutdownSignal(log, SHUTDOWN_BACKSTOP_MS, async (signal) => {
    log.info(`${signal}: stopping`);
    await running.close();
  });
  log.info(program.started(running));
}

// ---------------------------------------------------------------------------------------------------
// The gateway beside the backend.

/** `host:port` for a URL (IPv6 in brackets). */
function urlHost(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An address the other side can reach: a wildcard address means this machine's loopback. */
function reachable(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

/**
 * The origins the page is served from, which the gateway must allow (the page and the gateway are on
 * two ports, so two origins): the loopback names when the backend listens on loopback (or on every
 * address, adding this machine's name), else the address it listens on. (An IPv6 literal cannot be
 * listed: open the page by a name.)
 */
export function pageOrigins(host: string, port: number): string[] {
  const loopback = ['127.0.0.1', 'localhost'];
  const names = host === '0.0.0.0' || host === '::' ? [...loopback, hostname()] : loopback.includes(host) || host === '::1' ? loopback : [host];
  return names.map((name) => `http://${name}:${port}`);
}

/** Where the gateway is, for the backend: known once the gateway listens (it starts after the backend, which it calls). */
export interface GatewayLink {
  /** The push API, e.g. `http://127.0.0.1:7788`. */
  apiUrl: string;
  /** The gateway's WebSocket port, for the page (which connects to the host it was loaded from). */
  wsPort: number;
}

/** The backend an example runs beside its gateway. */
export interface ExampleBackend {
  readonly server: Server;
  /** Tells the backend where the gateway is, once it listens. */
  link(gateway: GatewayLink): void;
  /** Its own start (e.g. reading a file), before it listens. */
  start?(): Promise<void>;
  /** Ends its own work (runs, watches) while the gateway still takes their last pushes. */
  close?(): Promise<void>;
}

/** A running example: its addresses, its parts, and how to stop it. */
export interface RunningExample<Backend extends ExampleBackend> {
  /** The page, e.g. `http://127.0.0.1:8080`. */
  backendUrl: string;
  /** The gateway's WebSocket URL, e.g. `ws://127.0.0.1:7777/connect`. */
  wsUrl: string;
  /** The push API, e.g. `http://127.0.0.1:7788`. */
  apiUrl: string;
  gateway: Gateway;
  backend: Backend;
  /** Stops the backend's own work, then the gateway (its clients closed with 1001, their disconnects posted), then the backend. */
  close(): Promise<void>;
}

/** What an example runs: its backend, its gateway's settings, and what to remove at the end. */
export interface ExamplePlan<Backend extends ExampleBackend> {
  /** Makes the backend, given the hook secret and the log. */
  backend(hookSecret: string, log: Logger): Backend;
  /** The gateway's own settings (its hooks, `${backendUrl}/hooks/…`), over the common ones. */
  gateway(backendUrl: string): Partial<GatewayOptions>;
  /** Runs last, when the example stops or fails to start (e.g. removes a temporary file). */
  cleanup?(): void;
}

/**
 * Starts the backend (its own start, then listening), then a gateway whose hooks point at it, and links
 * the backend to the gateway; resolves once both listen. A failure stops whatever had started.
 */
export async function startBesideGateway<Backend extends ExampleBackend>(
  options: GatewayExampleOptions,
  plan: ExamplePlan<Backend>,
): Promise<RunningExample<Backend>> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? silentLogger();
  const hookSecret = options.hookSecret ?? randomBytes(32).toString('hex');
  const backend = plan.backend(hookSecret, log);
  let gateway: Gateway | null = null;
  try {
    await backend.start?.();
    const backendAddress = await listenHttp(backend.server, options.backendPort ?? 8080, host, (error) => log.error({ err: error }, 'backend error'));
    const backendUrl = `http://${urlHost(reachable(host), backendAddress.port)}`;
    gateway = new Gateway(
      {
        host,
        port: options.wsPort ?? 7777,
        apiHost: '127.0.0.1',
        apiPort: options.apiPort ?? 7788,
        allowedOrigins: pageOrigins(host, backendAddress.port),
        hookSecret,
        shutdownTimeout: 3,
        ...plan.gateway(backendUrl),
      },
      log,
    );
    const addresses = await gateway.listen();
    const apiUrl = `http://127.0.0.1:${addresses.api!.port}`;
    const wsPort = addresses.ws!.port;
    backend.link({ apiUrl, wsPort });
    const running = gateway;
    let closing: Promise<void> | null = null;
    return {
      backendUrl,
      wsUrl: `ws://${urlHost(reachable(host), wsPort)}/connect`,
      apiUrl,
      gateway: running,
      backend,
      close: () =>
        (closing ??= (async () => {
          // The backend's own work first (its last pushes still find the gateway); then the gateway, which
          // posts the last disconnects to the backend, which must still answer; then the backend.
          await backend.close?.();
          await running.close();
          backend.server.closeAllConnections();
          await closeHttp(backend.server);
          plan.cleanup?.();
        })()),
    };
  } catch (error) {
    await backend.close?.();
    await gateway?.close();
    await closeHttp(backend.server);
    plan.cleanup?.();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// The backend's HTTP side.

/**
 * The security policy of an example page: module scripts from the gateway's port (the SDK at
 * /client.js), WebSockets to it, inline styles; with `formsPostHere`, forms may post to the backend.
 */
export function pageCsp(formsPostHere = false): string {
  const forms = formsPostHere ? " form-action 'self';" : '';
  return `default-src 'none'; script-src 'unsafe-inline' http: https:; connect-src ws: wss:; style-src 'unsafe-inline';${forms} base-uri 'none'; frame-ancestors 'none'`;
}

/** An example's page, read once; its placeholder `"__CONFIG__"` is replaced by the page's settings, as JSON, at each request. */
export class ExamplePage {
  private readonly html: string;

  constructor(
    file: URL,
    /** Its `Content-Security-Policy` (see {@link pageCsp}). */
    private readonly csp: string,
  ) {
    this.html = readFileSync(file, 'utf8');
  }

  /** Answers a GET or a HEAD with the page, `config` in it. */
  send(req: IncomingMessage, res: ServerResponse, config: unknown, status = 200): void {
    // JSON inside <script>: `<` escaped so that no value can close the element.
    const html = this.html.replace('"__CONFIG__"', JSON.stringify(config).replaceAll('<', '\\u003c'));
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': this.csp,
    });
    res.end(req.method === 'HEAD' ? undefined : html);
  }
}

/** Answers with `body` as JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The backend's HTTP server: `route` answers each request; an error it throws is logged and answered 500 (or the response cut, if begun). */
export function createBackendServer(log: Logger, route: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Server {
  return createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      log.error({ err: error }, `${req.method} ${req.url} failed`);
      if (!res.headersSent) sendJson(res, 500, { reason: 'internal error' });
      else res.destroy();
    });
  });
}

/** A request's body, up to `maxBytes`; past that, answers 413 `{"reason":"body too large"}` and resolves null (the rest unread). */
export async function readBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      sendJson(res, 413, { reason: 'body too large' });
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Reads the gateway's hook requests: the body within a limit, the signature checked. */
export class HookReader {
  constructor(
    /** The secret the gateway signs its hook requests with. */
    private readonly secret: string,
    private readonly log: Logger,
    /** Largest body read. */
    private readonly maxBytes: number,
  ) {}

  /**
   * The JSON body of a hook request whose signature is valid; otherwise answers (413 too large, 401 a bad
   * or missing signature, logged as `<label>: bad or missing signature, refused`) and resolves null.
   */
  async read<Call = unknown>(req: IncomingMessage, res: ServerResponse, label: string): Promise<Call | null> {
    const raw = await readBody(req, res, this.maxBytes);
    if (raw === null) return null;
    if (!verifyHookSignature(this.secret, raw, req.headers['x-pushgate-timestamp'], req.headers['x-pushgate-signature'])) {
      this.log.warn(`${label}: bad or missing signature, refused`);
      sendJson(res, 401, { reason: 'bad signature' });
      return null;
    }
    return JSON.parse(raw.toString('utf8')) as Call;
  }
}

/** A push API answer, its body read (so that the keep-alive connection can be reused). */
export interface PushAnswer {
  ok: boolean;
  status: number;
  text: string;
}

/** Posts `body` as JSON to the push API's `path`; rejects when the API cannot be reached. */
export async function postPush(apiUrl: string, path: '/push/room' | '/push/conn', body: unknown): Promise<PushAnswer> {
  const answer = await fetch(`${apiUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { ok: answer.ok, status: answer.status, text: await answer.text() };
}
