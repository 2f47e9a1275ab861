import { type ChildProcess, spawn } from 'node:child_process';

/** A server under test, started by the bench and stopped by its PID. */
export interface Child {
  pid: number;
  waitForLine(pattern: RegExp, ms: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

/** Starts `node [nodeArgs] script args`, pinned to `core` with taskset when given. */
export function startNode(script: string, args: string[], core: number | null, nodeArgs: string[] = []): Child {
  const node = [process.execPath, ...nodeArgs, script, ...args];
  const command = core === null ? node : ['taskset', '-c', String(core), ...node];
  const child: ChildProcess = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    // taskset execs node in place, so this is node's own PID.
    pid: child.pid ?? 0,
    async waitForLine(pattern, ms) {
      const end = Date.now() + ms;
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        if (child.exitCode !== null) throw new Error(`${script} exited: ${output}`);
        if (Date.now() > end) throw new Error(`${script} printed no ${pattern} within ${ms} ms: ${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    },
  };
}
