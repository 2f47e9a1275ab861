#!/usr/bin/env -S node --max-semi-space-size=2
// A 2 MB young generation (V8's default grows to 16 MB per semi-space under a burst of handshakes)
// halves the resident memory of 10,000 idle connections at no measurable cost in throughput; npm start
// passes the same flag. See bench/results/memory.md.
import cluster from 'node:cluster';
import { Command, Option } from 'commander';
import { brokerLiveness } from '../broker/create-broker.js';
import { IpcBroker } from '../cluster/ipc-broker.js';
import { INSTANCE_ENV, runPrimary, WORKER_ENV, type WorkerControl, workerCount } from '../cluster/primary.js';
import { loadOptions } from '../config/load.js';
import { defaultOptions, type GatewayOptions, OptionError, optionSpecs, optionUsage, type Role } from '../config/options.js';
import { Gateway } from '../gateway/gateway.js';
import { createLogger } from '../log.js';
import { hostPort } from '../server/http-lifecycle.js';
import { onShutdownSignal } from './signals.js';
import { tokenCommand } from './token-command.js';

function describe(spec: (typeof optionSpecs)[number]): string {
  const fallback = defaultOptions[spec.key];
  const shown = Array.isArray(fallback) ? (fallback.length === 0 ? '(empty)' : fallback.join(',')) : String(fallback);
  return `${spec.description} [env ${spec.env}, default ${shown}]`;
}

/** Adds every gateway option (and --config) to a command; its action gets the merged options. */
function withGatewayOptions(command: Command, role: Role | null, run: (options: GatewayOptions) => Promise<void>): Command {
  command
    .addOption(new Option('-c, --config <file>', 'JSON config file whose keys are the option names (e.g. {"apiPort": 7788}) [env PUSHGATE_CONFIG]'))
    .showHelpAfterError()
    .allowExcessArguments(false);
  for (const spec of optionSpecs) {
    if (role !== null && spec.key === 'role') continue;
    command.addOption(new Option(optionUsage(spec), describe(spec)));
  }
  return command.action(async (flags: Record<string, string | undefined>) => {
    const options = await loadOptions({
      flags: { ...Object.fromEntries(optionSpecs.map((spec) => [spec.key, flags[spec.key]])), ...(role === null ? {} : { role }) },
      env: process.env,
      configFile: flags.config ?? (process.env.PUSHGATE_CONFIG || undefined),
    });
    await run(options);
  });
}

/**
 * Builds the `pushgate` command line: one flag per option, each also settable by environment or
 * config file; `pushgate gateway` and `pushgate api` run one role; `pushgate token` prints a connection
 * token. (The load generator is `npm run bench` in a checkout, not part of the package: see README.)
 */
export function buildProgram(run: (options: GatewayOptions) => Promise<void>): Command {
  const program = withGatewayOptions(
    new Command('pushgate').description(
      'WebSocket push gateway: clients join rooms; backends push over HTTP.\n' +
        'Precedence: flags, then PUSHGATE_* environment variables, then the --config file, then defaults.',
    ),
    null,
    run,
  )
    // Options after a subcommand are the subcommand's own (pushgate gateway --broker …).
    .enablePositionalOptions();
  program.addCommand(withGatewayOptions(new Command('gateway').description('connections only: pushes arrive through --broker'), 'gateway', run));
  program.addCommand(withGatewayOptions(new Command('api').description('the stateless push API only: publishes through --broker'), 'api', run));
  program.addCommand(tokenCommand());
  return program;
}

async function runGateway(options: GatewayOptions): Promise<void> {
  const log = createLogger(options.logLevel, options.logFormat);
  const workerNumber = cluster.isWorker ? Number(process.env[WORKER_ENV]) : null;
  if (workerNumber === null && workerCount(options.workers) > 1) {
    await runPrimary(options, log);
    return;
  }
  // Workers without an external broker reach each other through the primary.
  // A worker is part of its primary's instance (GET /stats counts the instance's workers together).
  const instance = process.env[INSTANCE_ENV];
  const extras =
    workerNumber === null
      ? {}
      : {
          worker: workerNumber,
          ...(instance ? { instance } : {}),
          ...(options.broker === 'memory' ? { broker: new IpcBroker(process, brokerLiveness(options)) } : {}),
        };
  const gateway = new Gateway(options, workerNumber === null ? log : log.child({ worker: workerNumber }), extras);
  const stop = async (): Promise<void> => {
    await gateway.close();
    process.exit(0);
  };
  if (workerNumber === null) {
    // The gateway bounds its own shutdown by shutdownTimeout; the backstop is for anything hanging past it.
    onShutdownSignal(log, options.shutdownTimeout * 1000 + 5000, async (signal) => {
      log.info(`${signal}: shutting down (at most ${options.shutdownTimeout}s)`);
      await stop();
    });
  } else {
    onWorkerSignal(stop);
  }
  // SIGHUP reloads the certificates (a renewal) without dropping a connection; without TLS it does nothing.
  process.on('SIGHUP', () => {
    if (gateway.reloadTls().length === 0) log.info('SIGHUP: no TLS certificate to reload');
  });
  process.on('message', (message: WorkerControl) => {
    if (message?.pushgate === 'drain') void gateway.drain().then((node) => process.send?.({ pushgate: 'drained', node } satisfies WorkerControl));
    // Over a broker, every worker's pushes reach this one (their barriers) before it closes its clients.
    else if (message?.pushgate === 'shutdown') void gateway.awaitBarriers(message.nodes ?? []).then(stop);
  });
  const { ws, api } = await gateway.listen();
  const where = (address: typeof ws): string => (address === null ? 'none' : hostPort(address));
  if (workerNumber !== null) process.send?.({ pushgate: 'listening', ws: where(ws), api: where(api) } satisfies WorkerControl);
  // Scripts wait for this line; a quieter log level must not hide it (a primary prints its own).
  else if (!log.isLevelEnabled('info')) process.stdout.write(`listening ws=${where(ws)} api=${where(api)}\n`);
}

/**
 * A worker's shutdown is the primary's to run, in two phases over all workers (drain, then close), so
 * that a push one worker accepted reaches every worker's clients: a signal to a worker (Ctrl-C signals
 * the whole process group) is handed to the primary. Without the IPC channel the worker stops on its
 * own (node:cluster already ends a worker whose primary is gone).
 */
function onWorkerSignal(stop: () => Promise<void>): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (process.connected) process.send?.({ pushgate: 'stop', signal } satisfies WorkerControl);
    else void stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

buildProgram(runGateway)
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    if (error instanceof OptionError) {
      process.stderr.write(`pushgate: ${error.message}\n`);
      process.exit(2);
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(`pushgate: cannot listen: ${(error as Error).message}\n`);
      process.exit(1);
    }
    process.stderr.write(`pushgate: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
