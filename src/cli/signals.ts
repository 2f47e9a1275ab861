import type { Logger } from 'pino';

/**
 * Runs `shutdown` on the first SIGINT or SIGTERM; a second signal exits at once. Should the process still
 * be alive `backstopMs` after the signal, something hangs: it logs so and exits 1.
 */
export function onShutdownSignal(log: Logger, backstopMs: number, shutdown: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    setTimeout(() => {
      log.error(`still running ${backstopMs} ms after ${signal}: exiting with 1`);
      process.exit(1);
    }, backstopMs).unref();
    shutdown(signal).catch((error: unknown) => {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
