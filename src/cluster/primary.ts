import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { openFileLimit } from '../config/open-file-limit.js';
import type { GatewayOptions } from '../config/options.js';
import { isIpcBrokerMessage } from './ipc-broker.js';
import { PrimaryRelay } from './primary-relay.js';

/**
 * What a worker tells the primary (it listens; it has drained) and what the primary tells workers. A
 * shutdown has two phases: `drain` (stop accepting pushes, wait for the own ones to come back), then,
 * once every worker has drained, `shutdown` (deliver and close the clients).
 */
export type WorkerControl =
  | { pushgate: 'listening'; ws: string; api: string }
  /** A worker got SIGINT/SIGTERM (Ctrl-C signals the whole process group): the primary runs the shutdown. */
  | { pushgate: 'stop'; signal: NodeJS.Signals }
  | { pushgate: 'drain' }
  /** `node`: the worker's node id when it published its shutdown barrier (see Gateway.awaitBarriers). */
  | { pushgate: 'drained'; node: string | null }
  /** `nodes`: the workers whose barriers each worker waits for before closing its clients. */
  | { pushgate: 'shutdown'; nodes?: string[] };

/** Environment variable carrying a worker's number. */
export const WORKER_ENV = 'PUSHGATE_WORKER';

/**
 * Environment variable carrying the instance id the primary gives all its workers (replacements
 * included), so that each worker's `GET /stats` counts the whole instance: the workers sharing it.
 */
export const INSTANCE_ENV = 'PUSHGATE_INSTANCE';

/** The number of workers `--workers` asks for: 0 means one per core. */
export function workerCount(option: number): number {
  return option === 0 ? availableParallelism() : option;
}

/**
 * The primary of `--workers N`: forks the workers (they share the ports through node:cluster),
 * relays the IPC broker between them when no external broker is set, replaces a worker that dies,
 * prints one start-up line once all listen, and shuts them down on SIGINT/SIGTERM: all of them stop
 * accepting pushes and drain first, and only then close their clients, so that a push one worker
 * accepted (relayed to every worker before it was acknowledged) reaches the others' clients too.
 */
export async function runPrimary(options: GatewayOptions, log: Logger): Promise<void> {
  const count = workerCount(options.workers);
  const limit = openFileLimit();
  if (limit !== null) {
    log.info(
      `open-file limit ${limit}: each of the ${count} workers can hold about ${Math.max(0, limit - 64).toLocaleString('en')} connections` +
        ' (raise it with `ulimit -n`, LimitNOFILE= in systemd, or --ulimit nofile= in Docker)',
    );
  }
  cluster.setupPrimary({ serialization: 'advanced' });
  const relay = new PrimaryRelay<Worker>();
  // One id for this primary's workers, unique among the machines of a cluster as node ids are.
  const instance = randomBytes(4).toString('hex');
  const numbers = new Map<Worker, number>();
  const listening = new Map<number, { ws: string; api: string }>();
  let stopping = false;
  let announced = false;
  const restarts: number[] = [];
  /** Workers that have not yet drained (during a shutdown), and the barriers of those that have. */
  const draining = new Set<Worker>();
  const barriers: string[] = [];
  let closeAll: (() => void) | null = null;
  let undeliverableReported = 0;

  /**
   * Sends a worker a control message. A worker exiting on its own can have a closed pipe before its
   * `exit` event: the failure goes to the callback (without one, node:child_process would emit an
   * unhandled error and end the primary), and its `exit` then settles what it was asked.
   */
  const control = (worker: Worker, message: WorkerControl): void => {
    if (!worker.isConnected()) return;
    worker.send(message, undefined, (error) => {
      if (error !== null) log.warn(`worker ${numbers.get(worker) ?? '?'}: ${message.pushgate} not sent (${error.message})`);
    });
  };

  const fork = (number: number): void => {
    const worker = cluster.fork({ [WORKER_ENV]: String(number), [INSTANCE_ENV]: instance });
    numbers.set(worker, number);
    // The relay's and control's sends report their own failures; this keeps any other from ending the primary.
    worker.on('error', (error) => log.warn(`worker ${number}: ${error.message}`));
    worker.on('message', (message: unknown) => {
      if (isIpcBrokerMessage(message)) relay.handle(worker, message);
      // Ctrl-C reaches the primary and every worker at once: one shutdown, not a "second signal".
      else if ((message as WorkerControl).pushgate === 'stop') {
        if (!stopping) stop((message as { signal: NodeJS.Signals }).signal);
      } else if ((message as WorkerControl).pushgate === 'drained') {
        const { node } = message as { node: string | null };
        if (typeof node === 'string') barriers.push(node);
        draining.delete(worker);
        if (draining.size === 0) closeAll?.();
      } else if ((message as WorkerControl).pushgate === 'listening') {
        const { ws, api } = message as { ws: string; api: string };
        listening.set(number, { ws, api });
        if (!announced && listening.size === count) {
          announced = true;
          const first = listening.get(1) ?? { ws, api };
          // One line, as a single process prints it: scripts wait for it.
          process.stdout.write(`listening ws=${first.ws} api=${first.api} workers=${count}\n`);
        }
      }
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    relay.workerGone(worker);
    if (relay.undeliverable > undeliverableReported) {
      log.warn(`${relay.undeliverable - undeliverableReported} relayed messages could not reach exiting workers`);
      undeliverableReported = relay.undeliverable;
    }
    draining.delete(worker);
    if (draining.size === 0) closeAll?.();
    const number = numbers.get(worker) ?? 0;
    numbers.delete(worker);
    if (stopping) {
      if (numbers.size === 0) process.exit(0);
      return;
    }
    // A worker died: its clients reconnect to the others; a new one takes its place. A crash loop backs off.
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && restarts[0] < now - 10000) restarts.shift();
    const delay = restarts.length > 5 ? 5000 : 100;
    log.error(`worker ${number} (pid ${worker.process.pid}) exited (${signal ?? code}); starting a new one in ${delay} ms`);
    setTimeout(() => {
      if (!stopping) fork(number);
    }, delay).unref();
  });

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    signalled = true;
    if (!stopping) stop(signal);
  };

  const stop = (signal: NodeJS.Signals): void => {
    stopping = true;
    log.info(`${signal}: shutting down ${numbers.size} workers (at most ${options.shutdownTimeout}s)`);
    if (numbers.size === 0) process.exit(0);
    // Phase 2, once every worker has drained (or the drain's own bound has passed): the relay has sent
    // each worker every push acknowledged to any of them, ahead of this message.
    let closed = false;
    closeAll = () => {
      if (closed) return;
      closed = true;
      clearTimeout(drainBound);
      for (const worker of numbers.keys()) control(worker, { pushgate: 'shutdown', nodes: barriers });
    };
    const drainBound = setTimeout(
      () => {
        log.warn(`${draining.size} workers did not drain within ${options.shutdownTimeout}s: closing all`);
        closeAll?.();
      },
      options.shutdownTimeout * 1000 + 1000,
    );
    drainBound.unref();
    for (const worker of numbers.keys()) {
      if (!worker.isConnected()) continue;
      draining.add(worker);
      control(worker, { pushgate: 'drain' });
    }
    if (draining.size === 0) closeAll();
    setTimeout(
      () => {
        log.error('workers did not stop in time: exiting');
        for (const worker of numbers.keys()) worker.process.kill('SIGKILL');
        process.exit(1);
      },
      options.shutdownTimeout * 2000 + 5000,
    ).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The workers hold the listening sockets and their certificates: each reloads its own.
  process.on('SIGHUP', () => {
    log.info(`SIGHUP: reloading the TLS certificates of ${numbers.size} workers`);
    for (const worker of numbers.keys()) worker.process.kill('SIGHUP');
  });
  for (let i = 1; i <= count; i++) fork(i);
}
