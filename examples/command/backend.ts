/**
 * The remote-command backend: a plain `node:http` server with no WebSocket code (seed 002's "remote
 * command" example, behind a gateway). The command and its arguments are fixed when it starts; a client
 * runs it with the RPC `start`, and its output comes back to that connection only, line by line, through
 * the push API's `POST /push/conn`, then an `{exit}` item.
 *
 * - rpc `start` → spawns the command (no shell; nothing from the client reaches it) and answers
 *   `{"result":{"started":true,"command":[…],"pid":N}}`; refused with `ALREADY_RUNNING` while this
 *   connection's run is under way, `BUSY` when {@link CommandLimits.maxRuns} run at once.
 * - rpc `stop` → ends this connection's run (SIGTERM) → `{"result":{"stopping":true}}`, or `NOT_RUNNING`.
 * - disconnect → the runs of the connections that closed are stopped.
 * Items pushed: `{"stream":"stdout"|"stderr","line":"…"}` in order, then `{"exit":code,"signal":name|null}`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';
import type { Logger } from '../../src/index.js';
import { createBackendServer, ExamplePage, type GatewayLink, HookReader, pageCsp, postPush, sendJson } from '../hook-shared.js';

/** Bounds on what clients may make the backend do. */
export interface CommandLimits {
  /** Runs at once, all connections together. Default 4. */
  maxRuns: number;
  /** Milliseconds a run may take before it is stopped (SIGTERM, then SIGKILL 2 s later). Default 60000. */
  timeoutMs: number;
}

/** An item pushed to the connection that started the run. */
export type CommandItem = { stream: 'stdout' | 'stderr'; line: string } | { exit: number | null; signal: string | null };

/** Longest line pushed; longer ones are cut (and marked with `…`). */
export const MAX_LINE = 4096;
/** Items waiting to be pushed past which the command's output is paused until they are sent. */
const QUEUE_HIGH_WATER = 500;
/** Items one push carries at most. */
const ITEMS_PER_PUSH = 100;
const MAX_HOOK_BODY = 64 * 1024;
const KILL_GRACE_MS = 2000;

const pageFile = new URL('../../../examples/command/index.html', import.meta.url);

// The parts of the hook requests this backend reads (the README's "Hooks" has them whole).
interface RpcCall {
  conn: string;
  method: string;
}
interface DisconnectCall {
  disconnects: Array<{ conn: string }>;
}

/** One run of the command, for one connection: its output queued and pushed in order. */
class Run {
  private readonly queue: CommandItem[] = [];
  private sending = false;
  private paused = false;
  private readonly readers: ReturnType<typeof createInterface>[] = [];
  private killTimer: NodeJS.Timeout | undefined;
  /** The process has exited and its output was read to the end. */
  private exited = false;
  /** The `{exit}` item has been pushed. */
  private exitPushed = false;
  /** The connection went away: nothing more is pushed. */
  private gone = false;
  /** Settles once the process has exited and its exit was pushed (or the connection is gone). */
  readonly done: Promise<void>;
  private finish!: () => void;

  constructor(
    readonly conn: string,
    readonly child: ChildProcess,
    private readonly apiUrl: string,
    private readonly log: Logger,
    timeoutMs: number,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    for (const stream of ['stdout', 'stderr'] as const) {
      const reader = createInterface({ input: child[stream]!, crlfDelay: Number.POSITIVE_INFINITY });
      reader.on('line', (line) => this.enqueue({ stream, line: line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line }));
      this.readers.push(reader);
    }
    const timeout = setTimeout(() => {
      this.log.warn(`run for ${conn}: still running after ${timeoutMs} ms, stopping it`);
      this.stop();
    }, timeoutMs);
    // 'close' comes after the process exited and its output streams ended (their last lines read), or
    // after 'error' when it could not be started.
    child.once('close', (code, signal) => {
      clearTimeout(timeout);
      clearTimeout(this.killTimer);
      this.exited = true;
      this.enqueue({ exit: code, signal });
      this.settle();
    });
  }

  /** Asks the command to end: SIGTERM, then SIGKILL if it is still there after a grace period. */
  stop(): void {
    if (this.exited || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    this.killTimer ??= setTimeout(() => this.child.kill('SIGKILL'), KILL_GRACE_MS);
  }

  /** The connection closed (or the backend stops): stop the command, push nothing more. */
  abandon(): void {
    this.gone = true;
    this.queue.length = 0;
    // Paused output would keep the process's streams (and so its 'close') from ending.
    for (const reader of this.readers) reader.resume();
    this.stop();
    this.settle();
  }

  private settle(): void {
    if (this.exited && (this.exitPushed || this.gone)) this.finish();
  }

  private enqueue(item: CommandItem): void {
    if (this.gone) return;
    this.queue.push(item);
    // Back-pressure: a command printing faster than pushes go is paused rather than buffered without bound.
    if (this.queue.length >= QUEUE_HIGH_WATER && !this.paused) {
      this.paused = true;
      for (const reader of this.readers) reader.pause();
    }
    if (!this.sending) void this.send();
  }

  // One push in flight at a time, so that the items arrive in order; lines that came meanwhile go together.
  private async send(): Promise<void> {
    this.sending = true;
    // Let lines printed together be read before the first push.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0 && !this.gone) {
      const items = this.queue.splice(0, ITEMS_PER_PUSH);
      try {
        const answer = await postPush(this.apiUrl, '/push/conn', { conn: this.conn, items });
        if (answer.status === 404) {
          this.log.info(`run for ${this.conn}: the connection is gone, stopping the command`);
          this.abandon();
        } else if (!answer.ok) this.log.warn(`push to ${this.conn} refused (${answer.status}): ${answer.text}`);
      } catch (error) {
        this.log.warn(`push to ${this.conn} failed: ${(error as Error).message}`);
      }
      if (items.some((item) => 'exit' in item)) {
        this.exitPushed = true;
        this.settle();
      }
      if (this.paused && this.queue.length < QUEUE_HIGH_WATER / 2) {
        this.paused = false;
        for (const reader of this.readers) reader.resume();
      }
    }
    this.sending = false;
  }
}

/**
 * The backend: the page, and the rpc and disconnect hooks. {@link link} names the push API once the
 * gateway listens.
 */
export class CommandBackend {
  readonly server: Server;
  private readonly page = new ExamplePage(pageFile, pageCsp());
  private readonly hooks: HookReader;
  private readonly runs = new Map<string, Run>();
  private apiUrl: string | null = null;
  private wsPort: number | null = null;
  private closed = false;

  constructor(
    /** The command and its arguments: `[file, ...args]`, run without a shell. */
    readonly command: readonly string[],
    hookSecret: string,
    private readonly log: Logger,
    private readonly limits: CommandLimits = { maxRuns: 4, timeoutMs: 60_000 },
  ) {
    if (command.length === 0 || command[0] === '') throw new TypeError('the command must name a program');
    this.hooks = new HookReader(hookSecret, log, MAX_HOOK_BODY);
    this.server = createBackendServer(log, (req, res) => this.route(req, res));
  }

  /** Where the gateway is: its push API (for the output) and WebSocket port (for the page). */
  link({ apiUrl, wsPort }: GatewayLink): void {
    this.apiUrl = apiUrl;
    this.wsPort = wsPort;
  }

  /** Connections with a run under way. */
  get running(): string[] {
    return [...this.runs.keys()];
  }

  /**
   * Refuses new runs, stops those under way (their clients get the `{exit}` item, with the signal) and
   * waits for them to end; a run whose last push does not go through in time is abandoned.
   */
  async close(): Promise<void> {
    this.closed = true;
    const runs = [...this.runs.values()];
    for (const run of runs) run.stop();
    const backstop = setTimeout(() => {
      for (const run of runs) run.abandon();
    }, KILL_GRACE_MS + 1000);
    await Promise.all(runs.map((run) => run.done));
    clearTimeout(backstop);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://backend').pathname;
    if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      return this.page.send(req, res, { wsPort: this.wsPort, command: this.command });
    }
    if ((path === '/hooks/rpc' || path === '/hooks/disconnect') && req.method === 'POST') {
      const body = await this.hooks.read(req, res, path);
      if (body === null) return;
      return path === '/hooks/rpc' ? this.onRpc(body as RpcCall, res) : this.onDisconnect(body as DisconnectCall, res);
    }
    sendJson(res, 404, { reason: 'not found' });
  }

  // {"conn","method":"start"|"stop"} → {"result":…}, or 4xx {"code","message"} (the client's BACKEND_ERROR).
  private async onRpc(body: RpcCall, res: ServerResponse): Promise<void> {
    const { conn, method } = body;
    if (method === 'stop') {
      const run = this.runs.get(conn);
      if (run === undefined) return sendJson(res, 409, { code: 'NOT_RUNNING', message: 'nothing is running for this connection' });
      run.stop();
      return sendJson(res, 200, { result: { stopping: true } });
    }
    if (method !== 'start') return sendJson(res, 404, { code: 'UNKNOWN_METHOD', message: `no method ${JSON.stringify(method)}; try "start" or "stop"` });
    if (this.runs.has(conn)) return sendJson(res, 409, { code: 'ALREADY_RUNNING', message: 'the command is already running for this connection' });
    if (this.closed || this.apiUrl === null) return sendJson(res, 409, { code: 'STOPPING', message: 'the backend is stopping' });
    if (this.runs.size >= this.limits.maxRuns) {
      return sendJson(res, 429, { code: 'BUSY', message: `${this.runs.size} runs under way, the most this backend allows; try again later` });
    }
    const [file, ...args] = this.command;
    const child = spawn(file, args, { shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
    // Taken at once, so that a second start racing this one is refused.
    const run = new Run(conn, child, this.apiUrl, this.log, this.limits.timeoutMs);
    this.runs.set(conn, run);
    void run.done.then(() => {
      if (this.runs.get(conn) === run) this.runs.delete(conn);
    });
    const started = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (error) => resolve(error));
    });
    if (started !== null) {
      run.abandon();
      this.runs.delete(conn);
      this.log.warn(`cannot run ${file}: ${started.message}`);
      return sendJson(res, 200, { error: { code: 'SPAWN_FAILED', message: `cannot run the command: ${started.message}` } });
    }
    this.log.info(`run for ${conn}: started ${this.command.join(' ')} (pid ${child.pid})`);
    sendJson(res, 200, { result: { started: true, command: this.command, pid: child.pid } });
  }

  // {"disconnects":[{"conn",…},…]} → 204; the runs of those connections are stopped.
  private onDisconnect(body: DisconnectCall, res: ServerResponse): void {
    res.writeHead(204).end();
    for (const { conn } of body.disconnects) {
      const run = this.runs.get(conn);
      if (run === undefined) continue;
      this.log.info(`run for ${conn}: the connection closed, stopping the command`);
      run.abandon();
    }
  }
}
