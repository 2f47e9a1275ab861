import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, freePort, waitForPort } from '../../bench/services.js';
import { withTimeout } from './wait.js';

/** A broker server started by a test on a free loopback port. */
export interface Service {
  url: string;
  port: number;
  pid: number;
  /** Stops it (SIGTERM by PID, SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Kills it hard, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after stop or kill). */
  restart(): Promise<void>;
}

const packages: Record<string, string> = { 'redis-server': 'redis-server', 'nats-server': 'nats-server' };

/**
 * Whether `binary` is installed. Without it the caller skips with this loud reason; in CI (CI=true),
 * where `.ci/run` installs it, its absence is an error instead.
 */
export function serviceMissing(binary: string): string | null {
  if (findBinary(binary) !== null) return null;
  const reason = `SKIPPED: ${binary} is not installed; install the Debian package "${packages[binary] ?? binary}" (apt-get install -y ${packages[binary] ?? binary}) to run these tests`;
  if (process.env.CI === 'true') throw new Error(`${reason} (required in CI)`);
  process.stderr.write(`\n*** ${reason} ***\n\n`);
  return reason;
}

function startService(binary: string, args: (port: number) => string[], scheme: string, port: number): Promise<Service> {
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn(findBinary(binary) ?? binary, args(port), { stdio: 'ignore' });
    await waitForPort(port, 10000);
  };
  const exited = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  const service: Service = {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid ?? 0;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await withTimeout(exited(), 10000, `${binary} to stop`);
      clearTimeout(timer);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await withTimeout(exited(), 10000, `${binary} to die`);
    },
    restart: launch,
  };
  return launch().then(() => service);
}

/** Starts `redis-server` on a free loopback port, without persistence. */
export async function startRedis(extraArgs: string[] = []): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-redis-'));
  return startService(
    'redis-server',
    (port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
    'redis',
    await freePort(),
  );
}

/** Starts `nats-server` on a free loopback port. */
export async function startNats(): Promise<Service> {
  return startService('nats-server', (port) => ['-a', '127.0.0.1', '-p', String(port)], 'nats', await freePort());
}

/** A nats-server with JetStream, keeping its streams in `storeDir`. */
export interface JetStreamService extends Service {
  storeDir: string;
  /** Empties the store directory (while stopped), as a lost disk would: the next start has no streams. */
  wipe(): void;
}

/** Starts `nats-server -js` on a free loopback port, with its own store directory (file streams survive restart()). */
export async function startNatsJetStream(): Promise<JetStreamService> {
  const storeDir = mkdtempSync(join(tmpdir(), 'pushgate-nats-js-'));
  const service = await startService('nats-server', (port) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], 'nats', await freePort());
  // Not on stop(): a test stops and restarts the server on its store. The test process's end is the store's.
  process.once('exit', () => rmSync(storeDir, { recursive: true, force: true }));
  return Object.assign(service, {
    storeDir,
    wipe: () => {
      rmSync(storeDir, { recursive: true, force: true });
      mkdirSync(storeDir);
    },
  });
}

/**
 * SIGSTOPs a process this test started and resolves once the kernel reports it stopped: the signal is
 * queued at once, but a process busy on the other core may still answer a few requests before it halts.
 */
export async function freeze(pid: number, ms = 5000): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const deadline = Date.now() + ms;
  // /proc/PID/stat: "pid (comm) STATE …"; T = stopped by a signal.
  while (!/\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGCONT');
      throw new Error(`process ${pid} did not stop within ${ms} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export { freePort };
