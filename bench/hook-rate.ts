/**
 * `npm run bench:hooks`: how many hook calls per second a plain `node:http` backend sustains when
 * pushgate calls it one POST per call (a {@link HookClient} alone) and when it batches them
 * (`--hook-batch`: a {@link HookBatcher} over the same client settings).
 *
 *   npm run bench:hooks -- [--duration 5] [--callers 256] [--concurrency 64] [--batch-max 100]
 *     [--batch-delay 0] [--in-flight 4] [--modes single,batch] [--secret S] [--backend-core 1] [--client-core 0]
 *
 * The backend runs in a child process (this script with `--role backend`), pinned with taskset to core 1
 * when the machine has two cores (this process, the gateway's side, to core 0). Per call it does what a
 * small RPC backend does: parses the JSON, builds an answer, serialises it (and with `--secret` verifies the
 * request's signature). Here `--callers` loops each keep one call in flight (like as many clients each
 * waiting for an RPC's REPLY) for `--duration` seconds per mode, after a warm-up; then a markdown table:
 * calls/s, backend requests/s, calls per request, p50/p99 call latency, the backend's CPU (from
 * /proc/<pid>/stat) and this process's. `--in-flight 1,2,4,8` measures the batcher once per bound on
 * batches in flight. The run stops by itself: every phase is bounded, and a watchdog ends it (and the
 * backend) if something hangs; the backend exits when this process is gone.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Agent, request } from 'undici';
import { DEFAULT_BATCHES_IN_FLIGHT, HookBatcher } from '../src/hooks/hook-batcher.js';
import { HookCallError, type HookCaller, HookClient, type HookClientSettings } from '../src/hooks/hook-client.js';
import { verifyHookSignature } from '../src/hooks/hook-signature.js';
import { Histogram } from './load/histogram.js';
import { processCpuSeconds } from './load/procstat.js';
import { pinSelf, positiveInt } from './options.js';
import { type Child, startNode } from './server-process.js';

/** At most this many seconds per measured phase (and per warm-up): the run is bounded. */
const MAX_SECONDS = 120;

/** Parses an integer option within [min, max] (commander prints the message, without a stack). */
function intIn(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    let n: number;
    try {
      n = positiveInt(name, min)(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
    if (n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
    return n;
  };
}

/** Parses `1,2,4` into distinct positive integers. */
function intList(name: string): (value: string) => number[] {
  return (value) => [...new Set(value.split(',').map((part) => intIn(name, 1, 10_000)(part.trim())))];
}

/** Parses `single,batch`. */
function parseModes(value: string): Array<'single' | 'batch'> {
  const modes = value.split(',').map((m) => m.trim());
  for (const mode of modes) if (mode !== 'single' && mode !== 'batch') throw new InvalidArgumentError(`--modes: single or batch, got "${mode}"`);
  return [...new Set(modes)] as Array<'single' | 'batch'>;
}

// ---------------------------------------------------------------- the backend (child process)

/** Counted by the backend: hook requests (POSTs) and the calls they carried. */
interface BackendCounts {
  requests: number;
  calls: number;
}

/** What an RPC backend answers one call with: a little work per call, as a real handler would do. */
function answerCall(call: { conn?: string; user?: string | null; method?: string; data?: unknown }): { status: number; body: unknown } {
  if (typeof call.method !== 'string') return { status: 400, body: { code: 'BAD_CALL', message: 'no method' } };
  return { status: 200, body: { result: { method: call.method, user: call.user ?? null, echo: call.data ?? null, at: Date.now() } } };
}

function runBackend(secret: string, parentPid: number): void {
  const counts: BackendCounts = { requests: 0, calls: 0 };
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      counts.requests += 1;
      if (secret !== '' && !verifyHookSignature(secret, raw, req.headers['x-pushgate-timestamp'], req.headers['x-pushgate-signature'])) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"reason":"bad signature"}');
        return;
      }
      const payload = JSON.parse(raw.toString('utf8')) as { calls?: unknown[] };
      let status: number;
      let body: unknown;
      if (req.headers['x-pushgate-batch'] !== undefined) {
        const calls = payload.calls as Array<Parameters<typeof answerCall>[0]>;
        counts.calls += calls.length;
        status = 200;
        body = { results: calls.map(answerCall) };
      } else {
        counts.calls += 1;
        ({ status, body } = answerCall(payload as Parameters<typeof answerCall>[0]));
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`hook backend listening port=${(server.address() as AddressInfo).port}\n`);
  });
  // Gone with the bench, however it ended.
  setInterval(() => {
    try {
      process.kill(parentPid, 0);
    } catch {
      process.exit(0);
    }
  }, 500).unref();
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------- the load (this process)

interface Measured {
  mode: string;
  calls: number;
  errors: number;
  seconds: number;
  backendRequests: number;
  backendCalls: number;
  backendCpu: number | null;
  clientCpu: number;
  latency: Histogram;
}

async function backendCounts(base: string, dispatcher: Agent): Promise<BackendCounts> {
  const answer = await request(`${base}/stats`, { dispatcher });
  return (await answer.body.json()) as BackendCounts;
}

/**
 * Keeps `callers` calls in flight through `caller` for `seconds`: each loop calls, waits for the answer,
 * calls again. A call in flight when the time is up is waited for (its client's timeout bounds it).
 */
async function drive(caller: HookCaller, callers: number, seconds: number, latency: Histogram | null): Promise<{ calls: number; errors: number }> {
  const until = performance.now() + seconds * 1000;
  let calls = 0;
  let errors = 0;
  let firstError: unknown = null;
  const loop = async (i: number): Promise<void> => {
    let n = 0;
    while (performance.now() < until) {
      const payload = { conn: `c${i}`, user: `user-${i}`, method: 'echo', data: { n: n++, text: 'hello, backend', tags: ['a', 'b', 'c'] } };
      const started = performance.now();
      try {
        const answer = await caller.call(payload);
        if (answer.status !== 200) throw new Error(`answered ${answer.status}`);
        calls += 1;
        latency?.record(performance.now() - started);
      } catch (error) {
        errors += 1;
        firstError ??= error;
        // A failing backend must not turn the loop into a busy spin.
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: callers }, (_, i) => loop(i)));
  if (firstError !== null)
    console.error(`first error: ${firstError instanceof HookCallError ? `${firstError.kind}: ${firstError.detail}` : String(firstError)}`);
  return { calls, errors };
}

async function measure(
  mode: string,
  makeCaller: (client: HookClient) => HookCaller,
  opts: { url: string; base: string; settings: HookClientSettings; callers: number; seconds: number; warmup: number; pid: number; stats: Agent },
): Promise<Measured> {
  const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
  try {
    const caller = makeCaller(new HookClient('rpc', opts.url, opts.settings, agent));
    if (opts.warmup > 0) await drive(caller, opts.callers, opts.warmup, null);
    const latency = new Histogram();
    const before = await backendCounts(opts.base, opts.stats);
    const cpu = processCpuSeconds(opts.pid);
    const clientCpu = process.cpuUsage();
    const started = performance.now();
    const { calls, errors } = await drive(caller, opts.callers, opts.seconds, latency);
    const seconds = (performance.now() - started) / 1000;
    const clientUsed = process.cpuUsage(clientCpu);
    const cpuAfter = processCpuSeconds(opts.pid);
    const after = await backendCounts(opts.base, opts.stats);
    return {
      mode,
      calls,
      errors,
      seconds,
      backendRequests: after.requests - before.requests,
      backendCalls: after.calls - before.calls,
      backendCpu: cpu === null || cpuAfter === null ? null : cpuAfter - cpu,
      clientCpu: (clientUsed.user + clientUsed.system) / 1e6,
      latency,
    };
  } finally {
    await agent.close();
  }
}

function table(rows: Measured[]): string {
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  const lines = [
    '| mode | calls/s | backend requests/s | calls per request | p50 ms | p99 ms | backend CPU | backend µs/call | gateway-side CPU | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const cpu = r.backendCpu === null ? 'n/a' : `${Math.round((100 * r.backendCpu) / r.seconds)}%`;
    const perCall = r.backendCpu === null || r.backendCalls === 0 ? 'n/a' : ((r.backendCpu / r.backendCalls) * 1e6).toFixed(1);
    lines.push(
      `| ${r.mode} | ${n(r.calls / r.seconds)} | ${n(r.backendRequests / r.seconds)} | ${(r.backendCalls / Math.max(1, r.backendRequests)).toFixed(1)} | ` +
        `${r.latency.percentile(0.5).toFixed(2)} | ${r.latency.percentile(0.99).toFixed(2)} | ${cpu} | ${perCall} | ${Math.round((100 * r.clientCpu) / r.seconds)}% | ${r.errors} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const twoCores = availableParallelism() >= 2;
  const program = new Command('npm run bench:hooks --')
    .description('hook calls per second a node:http backend sustains, one POST per call vs batched (--hook-batch)')
    .option('--duration <seconds>', `seconds measured per mode (at most ${MAX_SECONDS})`, intIn('--duration', 1, MAX_SECONDS), 5)
    .option('--warmup <seconds>', 'seconds of calls before each measurement, not counted', intIn('--warmup', 0, MAX_SECONDS), 1)
    .option('--callers <n>', 'calls kept in flight (each loop calls again as soon as answered)', intIn('--callers', 1, 100_000), 256)
    .option('--concurrency <n>', "the hook client's requests in flight at most (--hook-concurrency)", intIn('--concurrency', 1, 10_000), 64)
    .option('--timeout <ms>', "the hook client's timeout (--hook-timeout)", intIn('--timeout', 1, 60_000), 5000)
    .option('--batch-max <n>', 'calls per batch at most (--hook-batch-max)', intIn('--batch-max', 1, 100_000), 100)
    .option('--batch-delay <ms>', 'how long a batch waits for more calls; 0: the end of the turn (--hook-batch-delay)', intIn('--batch-delay', 0, 60_000), 0)
    .option('--in-flight <list>', 'batches not yet full in flight at most: one batch run per value', intList('--in-flight'), [DEFAULT_BATCHES_IN_FLIGHT])
    .option('--modes <list>', 'single (one POST per call), batch, or both', parseModes, ['single', 'batch'] as Array<'single' | 'batch'>)
    .option('--secret <secret>', 'sign the hook requests; the backend verifies every one', '')
    .option('--backend-core <n>', `pin the backend to this core with taskset [${twoCores ? '1' : 'none: one core'}]`, intIn('--backend-core', 0, 4096))
    .option('--client-core <n>', `pin this process to this core [${twoCores ? '0' : 'none: one core'}]`, intIn('--client-core', 0, 4096))
    .addOption(new Option('--role <role>').hideHelp())
    .addOption(new Option('--parent <pid>').hideHelp())
    .showHelpAfterError()
    .allowExcessArguments(false);
  program.parse(process.argv);
  const opts = program.opts();
  if (opts.role === 'backend') {
    runBackend(opts.secret, Number(opts.parent));
    return;
  }

  const backendCore: number | null = opts.backendCore ?? (twoCores ? 1 : null);
  const clientCore: number | null = opts.clientCore ?? (twoCores ? 0 : null);
  const inFlight: number[] = opts.inFlight;
  const modes: Array<'single' | 'batch'> = opts.modes;
  const phases = (modes.includes('single') ? 1 : 0) + (modes.includes('batch') ? inFlight.length : 0);
  const boundMs = (phases * (opts.duration + opts.warmup) + 2 * phases * (opts.timeout / 1000) + 30) * 1000;
  let child: Child | null = null;
  // Whatever hangs, the run ends: the backend is killed and the process exits with an error.
  const watchdog = setTimeout(() => {
    console.error(`hook-rate: not done within ${Math.round(boundMs / 1000)} s; stopping`);
    if (child !== null) process.kill(child.pid, 'SIGKILL');
    process.exit(2);
  }, boundMs);
  watchdog.unref();

  const pinned = clientCore !== null && (await pinSelf(clientCore));
  child = startNode(process.argv[1]!, ['--role', 'backend', '--parent', String(process.pid), '--secret', opts.secret], backendCore);
  const stats = new Agent({ keepAliveTimeout: 60_000 });
  try {
    const [, port] = await child.waitForLine(/listening port=(\d+)/, 15_000);
    const base = `http://127.0.0.1:${port}`;
    const settings: HookClientSettings = {
      timeoutMs: opts.timeout,
      concurrency: opts.concurrency,
      // A batch's answer holds up to batch-max answers: the bound is not what is measured here.
      maxAnswerBytes: 16 << 20,
      breakerFailures: 1_000_000,
      breakerCooldownMs: 1000,
      secret: opts.secret,
    };
    const run = { url: `${base}/hook`, base, settings, callers: opts.callers, seconds: opts.duration, warmup: opts.warmup, pid: child.pid, stats };
    console.log(
      `hook backend (node:http, pid ${child.pid}${backendCore === null ? '' : `, core ${backendCore}`}), this process${pinned ? ` on core ${clientCore}` : ''}; ` +
        `${opts.callers} callers, client concurrency ${opts.concurrency}, ${opts.duration} s per mode after ${opts.warmup} s of warm-up` +
        `${opts.secret === '' ? '' : ', signed'}; batches of at most ${opts.batchMax}, delay ${opts.batchDelay} ms\n`,
    );
    const rows: Measured[] = [];
    if (modes.includes('single')) rows.push(await measure('one POST per call', (client) => client, run));
    if (modes.includes('batch')) {
      for (const k of inFlight) {
        const mode = `batched, ≤${k} batch${k === 1 ? '' : 'es'} in flight`;
        rows.push(await measure(mode, (client) => new HookBatcher(client, { maxCalls: opts.batchMax, delayMs: opts.batchDelay, maxInFlight: k }), run));
      }
    }
    console.log(table(rows));
    // Other processes on the machine take the same cores: a load average above 0 says the figures are a floor.
    console.log(`\nload average (1 min) at the end: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores`);
  } finally {
    await stats.close();
    await child.stop();
    clearTimeout(watchdog);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
