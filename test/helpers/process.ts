import { type ChildProcess, spawn } from 'node:child_process';
import { withTimeout } from './wait.js';

/** A child process started by the test, with its output so far. */
export interface Child {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** Waits for a line matching `pattern` on stdout or stderr. */
  waitForLine(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Sends SIGTERM to this PID (only if still running) and waits for the exit. */
  stop(ms?: number): Promise<number | string>;
}

/** Starts `node script args` and collects its output. End it with `stop()` in an `after` hook. */
export function startNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let notify: (() => void) | null = null;
  const onData = (chunk: Buffer): void => {
    text += chunk.toString();
    notify?.();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? -1);
      notify?.();
    });
  });
  const self: Child = {
    child,
    exited,
    output: () => text,
    async waitForLine(pattern, ms = 5000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const match = pattern.exec(text);
        if (match) return match;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited before printing ${pattern}:\n${text}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no line matching ${pattern} within ${ms} ms:\n${text}`);
        await withTimeout(new Promise<void>((resolve) => (notify = resolve)), left, String(pattern)).catch(() => {});
        notify = null;
      }
    },
    async stop(ms = 10000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return withTimeout(exited, ms, `process ${child.pid} to exit`);
    },
  };
  return self;
}

/** The bin entry: what `pushgate` runs. */
export const CLI = 'dist/src/cli/main.js';

/** `pushgate --workers 2` with both ports on 127.0.0.1, port 0: the start of every workers test's command line. */
export const WORKERS_ON_LOOPBACK: readonly string[] = ['--workers', '2', '--host', '127.0.0.1', '--port', '0', '--api-host', '127.0.0.1', '--api-port', '0'];
