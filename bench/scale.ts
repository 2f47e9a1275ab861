/**
 * `npm run bench:scale`: 100,000 connections on one machine. Starts the `pushgate` bin with several
 * workers (each under the open-file limit), opens SDK clients from several processes over several
 * loopback addresses, and measures: handshakes per second, server memory per connection (process and
 * kernel), one broadcast's pass over everyone at a first step (10,000) and at the full count, a room
 * fan-out flood with no flow control, and a reconnect storm (the server restarted under every client,
 * which come back with the SDK's backoff). Writes bench/results/<name>.json and .md.
 *
 *   npm run bench:scale                              # 100,000 clients, 6 workers, 6 client processes
 *   npm run bench:scale -- --smoke                   # 3,000 clients, 2 workers, 2 processes (a check)
 */
import { Command } from 'commander';
import { PushDriver } from './load/driver.js';
import { childPids, kernelSlabBytes, kernelTcpMemory, machineBusySeconds, processCpuSeconds, processRss } from './load/procstat.js';
import { loopbackDestinations, positiveInt } from './options.js';
import { builtScript, packageVersion } from './paths.js';
import { describeMachine } from './report/write.js';
import { ScaleClients } from './scale/clients.js';
import { type BroadcastStep, type ScaleRun, writeScaleResults } from './scale/results.js';
import { type Child, startNode } from './server-process.js';
import { freePort } from './services.js';
import { PUSHGATE_V8_FLAGS } from './v8-flags.js';

const program = new Command('bench:scale')
  .description('100,000 connections on one machine: connect, memory, broadcast pass, room fan-out, reconnect storm')
  .option('--connections <n>', 'clients in all [100000; 3000 with --smoke]', positiveInt('--connections'))
  .option('--first-step <n>', 'clients at the first measurement, for the per-connection comparison [10000; 1000 with --smoke]', positiveInt('--first-step'))
  .option('--workers <n>', 'gateway worker processes, each under the open-file limit [6; 2 with --smoke]', positiveInt('--workers'))
  .option('--client-processes <n>', 'client processes, each under the open-file limit [6; 2 with --smoke]', positiveInt('--client-processes'))
  .option(
    '--destinations <n>',
    'the gateway listens on 127.0.0.1 … 127.0.0.N (several ephemeral port ranges) [8; 2 with --smoke]',
    positiveInt('--destinations'),
  )
  .option('--members <n>', 'clients per room [100; 30 with --smoke]', positiveInt('--members'))
  .option('--broadcasts <n>', 'single pushes to all at each step, one after the other is delivered [5; 2 with --smoke]', positiveInt('--broadcasts'))
  .option('--rooms-seconds <s>', 'seconds of the room flood [10; 2 with --smoke]', positiveInt('--rooms-seconds'))
  .option('--open-concurrency <n>', 'push requests in flight in the room flood', positiveInt('--open-concurrency'), 8)
  .option('--connect-concurrency <n>', 'handshakes in flight per client process', positiveInt('--connect-concurrency'), 100)
  .option('--no-storm', 'skip the reconnect storm')
  .option('--cpu-prof <dir>', "write the gateway's CPU profiles (primary and each worker, at exit) to this directory")
  .option('--smoke', 'a few thousand clients (a check of the bench itself)')
  .option('--out <dir>', 'where to write the results', 'bench/results')
  .option('--name <name>', 'base name of the result files [i15-scale; scale-smoke with --smoke]')
  .parse();

const opts = program.opts<{
  connections?: number;
  firstStep?: number;
  workers?: number;
  clientProcesses?: number;
  destinations?: number;
  members?: number;
  broadcasts?: number;
  roomsSeconds?: number;
  openConcurrency: number;
  connectConcurrency: number;
  storm: boolean;
  cpuProf?: string;
  smoke?: boolean;
  out: string;
  name?: string;
}>();
const smoke = opts.smoke === true;
const N = opts.connections ?? (smoke ? 3000 : 100000);
const FIRST = Math.min(N, opts.firstStep ?? (smoke ? 1000 : 10000));
const WORKERS = opts.workers ?? (smoke ? 2 : 6);
const PROCESSES = opts.clientProcesses ?? (smoke ? 2 : 6);
const HOSTS = loopbackDestinations(opts.destinations ?? (smoke ? 2 : 8));
const MEMBERS = opts.members ?? (smoke ? 30 : 100);
const ROOMS = Math.max(1, Math.floor(N / MEMBERS));
const BROADCASTS = opts.broadcasts ?? (smoke ? 2 : 5);
const ROOMS_SECONDS = opts.roomsSeconds ?? (smoke ? 2 : 10);
const NAME = opts.name ?? (smoke ? 'scale-smoke' : 'i15-scale');

const log = (line: string): void => {
  process.stderr.write(`[scale] ${line}\n`);
};

/** The gateway under test: the `pushgate` bin as a user runs it, on fixed ports so that a restart keeps them. */
class Gateway {
  child: Child | null = null;
  constructor(
    readonly args: string[],
    readonly command: string,
    readonly nodeArgs: string[],
  ) {}

  async start(): Promise<number> {
    const started = Date.now();
    this.child = startNode(builtScript('src/cli/main.js'), this.args, null, this.nodeArgs);
    await this.child.waitForLine(/listening ws=\S+ api=\S+ workers=\d+/, 60000);
    return Date.now() - started;
  }

  /** Primary and workers. */
  get pids(): number[] {
    const pid = this.child?.pid ?? 0;
    return pid === 0 ? [] : [pid, ...childPids(pid)];
  }

  rss(): number {
    return this.pids.reduce((sum, pid) => sum + (processRss(pid) ?? 0), 0);
  }

  cpuSeconds(): number {
    return this.pids.reduce((sum, pid) => sum + (processCpuSeconds(pid) ?? 0), 0);
  }

  async stop(): Promise<number> {
    const started = Date.now();
    await this.child?.stop();
    this.child = null;
    return Date.now() - started;
  }
}

async function stats(api: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${api}/stats`);
  return (await res.json()) as Record<string, unknown>;
}

/** Resolves once `done()` holds, checking every 50 ms; rejects after `ms` naming `what`. */
async function until(done: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * `count` pushes to all, each sent once the last reached every client: each push's pass (first to last
 * receipt) and the latency of every receipt.
 */
async function broadcasts(clients: ScaleClients, driver: PushDriver, count: number, connected: number): Promise<BroadcastStep> {
  clients.measure();
  let accepted = 0;
  let refused = 0;
  let complete = true;
  for (let i = 0; i < count; i++) {
    const status = await driver.push(undefined);
    if (status === 200) accepted += 1;
    else refused += 1;
    if (!(await clients.delivered(accepted * connected, 60000))) {
      log(`broadcast ${i + 1}: not every client had it within 60 s`);
      complete = false;
      break;
    }
  }
  const report = await clients.report();
  return {
    pushes: count,
    refused,
    delivered: report.items,
    owed: accepted * connected,
    complete,
    passMs: report.spreads.map(Math.round),
    p50: report.latency.percentile(0.5),
    p99: report.latency.percentile(0.99),
    max: report.latency.max,
  };
}

async function main(): Promise<void> {
  const [port, apiPort] = [await freePort(), await freePort()];
  const args = [
    '--workers',
    String(WORKERS),
    '--host',
    HOSTS.join(','),
    '--port',
    String(port),
    '--api-host',
    '127.0.0.1',
    '--api-port',
    String(apiPort),
    '--log-level',
    'warn',
  ];
  const nodeArgs = [...PUSHGATE_V8_FLAGS, ...(opts.cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`])];
  const gateway = new Gateway(args, `node ${nodeArgs.join(' ')} dist/src/cli/main.js ${args.join(' ')}`, nodeArgs);
  const api = `http://127.0.0.1:${apiPort}`;
  const urls = HOSTS.map((host) => `ws://${host}:${port}/connect`);
  log(`${N} clients over ${HOSTS.length} addresses, ${WORKERS} workers, ${PROCESSES} client processes, rooms of ${MEMBERS}`);
  const base = { rss: 0, slab: kernelSlabBytes(), tcp: kernelTcpMemory() };
  await gateway.start();
  base.rss = gateway.rss();
  let lastLog = 0;
  const clients = new ScaleClients(PROCESSES, (ready) => {
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`${ready} ready`);
    }
  });
  const driver = new PushDriver(api, '', 16);
  const run: ScaleRun = {
    date: new Date().toISOString(),
    machine: describeMachine('none: the gateway, the clients and the driver share every core'),
    version: packageVersion('.'),
    command: gateway.command,
    settings: {
      connections: N,
      firstStep: FIRST,
      workers: WORKERS,
      clientProcesses: PROCESSES,
      destinations: HOSTS.length,
      members: MEMBERS,
      rooms: ROOMS,
      broadcasts: BROADCASTS,
      roomsSeconds: ROOMS_SECONDS,
      openConcurrency: opts.openConcurrency,
      connectConcurrency: opts.connectConcurrency,
    },
    steps: [],
    rooms: null,
    storm: null,
  };
  try {
    for (const target of FIRST < N ? [FIRST, N] : [N]) {
      const adding = target - clients.opened;
      const cpu0 = gateway.cpuSeconds();
      const machine0 = machineBusySeconds();
      const connect = await clients.connect(urls, adding, ROOMS, opts.connectConcurrency, 600000);
      const connectSeconds = connect.elapsedMs / 1000;
      log(`${target} ready: ${adding} in ${connect.elapsedMs} ms (${Math.round(adding / connectSeconds)}/s), ${connect.failedAttempts} failed attempts`);
      const connectCpu = {
        server: (gateway.cpuSeconds() - cpu0) / connectSeconds,
        machine: machine0 === null ? null : ((machineBusySeconds() ?? 0) - machine0) / connectSeconds,
      };
      const broadcast = await broadcasts(clients, driver, BROADCASTS, target);
      const slab = kernelSlabBytes();
      const tcp = kernelTcpMemory();
      const serverStats = await stats(api);
      run.steps.push({
        connections: target,
        connect: {
          added: adding,
          elapsedMs: connect.elapsedMs,
          perSecond: Math.round(adding / connectSeconds),
          failedAttempts: connect.failedAttempts,
          cpuCores: connectCpu,
        },
        memory: {
          serverRssBytes: gateway.rss(),
          serverRssPerConnection: Math.round((gateway.rss() - base.rss) / target),
          kernelSlabPerConnection: slab === null || base.slab === null ? null : Math.round((slab - base.slab) / target),
          kernelTcpBufferBytes: tcp,
          workers: gateway.pids.slice(1).map((pid) => processRss(pid) ?? 0),
        },
        broadcast,
        online: Number(serverStats.onlineConnections),
      });
      log(`step ${target}: ${JSON.stringify(run.steps.at(-1))}`);
    }

    // Room fan-out with no flow control: what a backend does.
    {
      const cpu0 = gateway.cpuSeconds();
      const machine0 = machineBusySeconds();
      clients.measure();
      const started = Date.now();
      const pushed = await driver.closedLoop(
        ROOMS_SECONDS * 1000,
        opts.openConcurrency,
        () => `room-${Math.floor(Math.random() * ROOMS)}`,
        (room) => membersOf(Number(room?.slice(5)), N, ROOMS),
      );
      const seconds = (Date.now() - started) / 1000;
      const cpu = { server: (gateway.cpuSeconds() - cpu0) / seconds, machine: machine0 === null ? null : ((machineBusySeconds() ?? 0) - machine0) / seconds };
      const drained = await clients.delivered(pushed.deliveriesOwed, 30000);
      const report = await clients.report();
      run.rooms = {
        seconds,
        pushesAccepted: pushed.itemsPushed,
        refused: pushed.refused,
        failed: pushed.failed,
        itemsOwed: pushed.deliveriesOwed,
        itemsDelivered: report.items,
        drained,
        itemsPerSecond: Math.round(pushed.deliveriesOwed / seconds),
        p50: report.latency.percentile(0.5),
        p99: report.latency.percentile(0.99),
        max: report.latency.max,
        cpuCores: cpu,
      };
      log(`rooms: ${JSON.stringify(run.rooms)}`);
    }
    if (opts.storm) run.storm = await storm(gateway, clients, driver, api);
  } finally {
    driver.close();
    await clients.close();
    await gateway.stop();
  }
  writeScaleResults(opts.out, NAME, run);
}

/** Members of room `index` when client i joins room i % rooms. */
function membersOf(index: number, clients: number, rooms: number): number {
  return Math.floor(clients / rooms) + (index < clients % rooms ? 1 : 0);
}

/**
 * Restarts the gateway under every client (SIGTERM: a graceful shutdown, as a deploy does; then the
 * same command again) and waits until every client is ready again, with the SDK's own backoff.
 */
async function storm(gateway: Gateway, clients: ScaleClients, driver: PushDriver, api: string): Promise<NonNullable<ScaleRun['storm']>> {
  const total = clients.opened;
  clients.watch();
  const started = Date.now();
  let peakMachine = 0;
  let peakServer = 0;
  let lastMachine = machineBusySeconds();
  let lastServer = 0;
  let lastAt = Date.now();
  const sampler = setInterval(() => {
    const at = Date.now();
    const machine = machineBusySeconds();
    const server = gateway.child === null ? 0 : gateway.cpuSeconds();
    const dt = (at - lastAt) / 1000;
    if (machine !== null && lastMachine !== null) peakMachine = Math.max(peakMachine, (machine - lastMachine) / dt);
    if (lastServer > 0 && server >= lastServer) peakServer = Math.max(peakServer, (server - lastServer) / dt);
    lastMachine = machine;
    lastServer = server;
    lastAt = at;
  }, 1000);
  try {
    const shutdownMs = await gateway.stop();
    log(`gateway stopped in ${shutdownMs} ms`);
    const restartedAt = Date.now();
    const startMs = await gateway.start();
    const listeningAt = Date.now();
    log(`gateway listening again after ${startMs} ms`);
    // Clients ready, each second from the new gateway listening: the shape of the storm.
    const readyTimeline: number[] = [];
    const timeline = setInterval(() => readyTimeline.push(clients.watchState.ready), 1000);
    await until(() => clients.watchState.dropped >= total && clients.watchState.ready >= total, 180000, `all ${total} clients back`).finally(() =>
      clearInterval(timeline),
    );
    const back = clients.watchState;
    const s = await stats(api);
    // Every client back: one push to all reaches every one of them (their rooms were rejoined too).
    clients.measure();
    const status = await driver.push(undefined);
    const reached = await clients.delivered(total, 60000);
    const after = await clients.report();
    const result = {
      clients: total,
      shutdownMs,
      startMs,
      allBackAfterRestartMs: back.lastReadyAt - restartedAt,
      allBackAfterListeningMs: back.lastReadyAt - listeningAt,
      allBackAfterStopMs: back.lastReadyAt - started,
      failedAttempts: back.failedAttempts,
      handshakesRefused: Number(s.handshakesRefused),
      handshakesAborted: Number(s.handshakesAborted),
      peakMachineCores: peakMachine,
      peakServerCores: peakServer,
      clientPeakRssBytes: back.peakRssBytes,
      pushAfter: { status, delivered: after.items, owed: total, reached },
      readyTimeline,
      maxAttempt: back.maxAttempt,
    };
    log(`storm: ${JSON.stringify(result)}`);
    return result;
  } finally {
    clearInterval(sampler);
  }
}

await main();
