/**
 * Brokers the bench starts for its history parts: redis-server, nats-server with JetStream, each on a
 * free loopback port with its files in a temporary directory, pinned beside the server under test, and
 * stopped by its PID.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A broker process this run started. */
export interface Broker {
  /** `redis://127.0.0.1:PORT` or `nats://127.0.0.1:PORT`, for `--broker`. */
  url: string;
  pid: number;
  command: string;
  stop(): Promise<void>;
}

export type BrokerBinary = 'redis-server' | 'nats-server';

/**
 * Where `binary` is installed (Debian puts nats-server in /usr/sbin, which a non-root PATH may lack), or
 * null. The tests' service helpers use it too.
 */
export function findBinary(binary: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  if (found.status === 0 && found.stdout.trim() !== '') return found.stdout.trim();
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin']) {
    if (spawnSync('test', ['-x', `${dir}/${binary}`]).status === 0) return `${dir}/${binary}`;
  }
  return null;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
  });
}

/** Resolves once something listens on 127.0.0.1:`port`; rejects after `ms`, or when `child` (the server started) exits first. */
export async function waitForPort(port: number, ms: number, child?: ChildProcess): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (child !== undefined && child.exitCode !== null) throw new Error(`${child.spawnfile} exited (${child.exitCode}) before listening on 127.0.0.1:${port}`);
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts `binary` on a free loopback port (redis-server without persistence; nats-server with
 * JetStream), pinned to `core` with taskset when given.
 */
export async function startBroker(binary: BrokerBinary, core: number | null): Promise<Broker> {
  const path = findBinary(binary);
  if (path === null) throw new Error(`${binary} is not installed (apt-get install -y ${binary})`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `pushgate-bench-${binary}-`));
  const args =
    binary === 'redis-server'
      ? ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
      : ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir];
  const command = core === null ? [path, ...args] : ['taskset', '-c', String(core), path, ...args];
  // taskset execs the broker in place, so the child's PID is the broker's.
  const child = spawn(command[0], command.slice(1), { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 10000, child);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `${binary === 'redis-server' ? 'redis' : 'nats'}://127.0.0.1:${port}`, pid: child.pid ?? 0, command: command.join(' '), stop };
}
