#!/usr/bin/env -S node --max-semi-space-size=2
// A 2 MB young generation (V8's default grows to 16 MB per semi-space under a burst of handshakes)
// halves the resident memory of 10,000 idle connections at no measurable cost in throughput; npm start
// passes the same flag. See bench/results/memory.md.
import { Command, Option } from 'commander';
import { loadOptions } from '../config/load.js';
import { defaultOptions, OptionError, optionSpecs, type GatewayOptions } from '../config/options.js';
import { Gateway } from '../gateway/gateway.js';
import { createLogger } from '../log.js';
import { hostPort } from '../server/http-lifecycle.js';
import { benchCommand } from './bench-command.js';
import { onShutdownSignal } from './signals.js';

function describe(spec: (typeof optionSpecs)[number]): string {
  const fallback = defaultOptions[spec.key];
  const shown = Array.isArray(fallback) ? (fallback.length === 0 ? '(empty)' : fallback.join(',')) : String(fallback);
  return `${spec.description} [env ${spec.env}, default ${shown}]`;
}

/** Builds the `pushgate` command line: one flag per option, each also settable by environment or config file. */
export function buildProgram(run: (options: GatewayOptions) => Promise<void>): Command {
  const program = new Command('pushgate')
    .description('WebSocket push gateway: clients join rooms; backends push over HTTP.\n' +
      'Precedence: flags, then PUSHGATE_* environment variables, then the --config file, then defaults.')
    .addOption(new Option('-c, --config <file>', 'JSON config file whose keys are the option names (e.g. {"apiPort": 7788}) [env PUSHGATE_CONFIG]'))
    .showHelpAfterError()
    .allowExcessArguments(false);
  for (const spec of optionSpecs) program.addOption(new Option(`${spec.flag} <${spec.arg}>`, describe(spec)));
  program.action(async (flags: Record<string, string | undefined>) => {
    const options = await loadOptions({
      flags: Object.fromEntries(optionSpecs.map((spec) => [spec.key, flags[spec.key]])),
      env: process.env,
      configFile: flags.config ?? (process.env.PUSHGATE_CONFIG || undefined),
    });
    await run(options);
  });
  program.addCommand(benchCommand());
  return program;
}

async function runGateway(options: GatewayOptions): Promise<void> {
  const log = createLogger(options.logLevel, options.logFormat);
  const gateway = new Gateway(options, log);
  // The gateway bounds its own shutdown by shutdownTimeout; the backstop is for anything hanging past it.
  onShutdownSignal(log, options.shutdownTimeout * 1000 + 5000, async (signal) => {
    log.info(`${signal}: shutting down (at most ${options.shutdownTimeout}s)`);
    await gateway.close();
    process.exit(0);
  });
  const { ws, api } = await gateway.listen();
  // Scripts wait for this line; a quieter log level must not hide it.
  if (!log.isLevelEnabled('info')) process.stdout.write(`listening ws=${hostPort(ws)} api=${hostPort(api)}\n`);
}

buildProgram(runGateway).parseAsync(process.argv).catch((error: unknown) => {
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
