/**
 * `npm run bench`: the benchmark, in one of two modes.
 *
 * Side by side (the default): pushgate and its peers (a plain `ws` server, Socket.IO) started here,
 * pinned to core 0 when the machine has two or more, while the load generator runs on core 1, through
 * the same workloads with the same clients. pushgate is measured twice: through its go-push endpoint
 * (`pushgate`) and through its Pusher Channels endpoint (`pushgate-pusher`: Pusher clients, events
 * triggered through the signed Pusher HTTP API).
 *
 * Against a deployment (`--url … --api …`): the same load generator and workloads against servers
 * running anywhere, pushgate or anything speaking its protocol and push API.
 *
 * After the side-by-side run, the budget sweep: pushgate restarted once per latency budget
 * (`--max-latency`) and put through the closed-loop workloads, for a throughput–latency table.
 *
 * Then the history parts (side by side only): pushgate with and without `--history` on each store
 * (its memory, Redis, NATS JetStream) through the closed-loop rooms workload, for the cost of history;
 * and the recovery proof, 2,000 clients dropping and reconnecting at random while pushes flow.
 *
 * Both write JSON, markdown and SVG charts to bench/results/ (or --out).
 *
 *   npm run bench                                  # the full run (10,000 clients, 10 s per workload)
 *   npm run bench -- --smoke                       # a few hundred clients for a few seconds (CI)
 *   npm run bench -- --servers pushgate,ws --connections 5000 --workloads broadcast,latency
 *   npm run bench -- --servers pushgate,pushgate-pusher --budgets none --history-cost none --recovery none   # go-push vs Pusher
 *   npm run bench -- --servers pushgate --workloads rooms-open,broadcast-open --budgets 50,250
 *   npm run bench -- --servers none --budgets none --history-cost memory,redis --recovery memory,redis   # the history parts alone
 *   npm run bench -- --url ws://gw1:7777 --url ws://gw2:7777 --api http://gw1:7788 --connections 20000 --clients 4
 *   npm run bench -- --url ws://gw1:7777 --api http://gw1:7788 --protocol pusher --pusher-app 1234:key:secret
 */

import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { parsePusherApp } from '../src/pusher/apps.js';
import { benchHistoryCost, benchRecoveryChurn, CHURN_HISTORY, COST_HISTORY, defaultStores, PATIENT, type Patience, parseStores } from './history.js';
import { pusherUrl } from './load/protocols.js';
import { BENCH_PUSHER_APP } from './load/pusher-app.js';
import type { BenchRun, BudgetPoint, HistoryCostPoint, HistoryStore, RecoveryChurnResult, ServerResults } from './load/results.js';
import { type BenchSettings, benchTarget, DEFAULT_WORKLOADS, OPEN_WORKLOADS, WORKLOADS } from './load/runner.js';
import { loopbackDestinations, parseBudgets, parseWorkloads, pinSelf, positiveInt } from './options.js';
import { renderMarkdown } from './report/report.js';
import { describeMachine, writeRun } from './report/write.js';
import { benchBudgets, benchSideBySide, parseServers, SERVERS } from './side-by-side.js';

/** pushgate's latency budgets (ms) the full side-by-side run sweeps. */
const DEFAULT_BUDGETS = [25, 50, 100, 250, 1000];

/** Options of the side-by-side run only, and of a deployment run only: each refused in the other mode. */
const SIDE_BY_SIDE_ONLY = [
  'servers',
  'destinations',
  'smoke',
  'budgets',
  'budgetDuration',
  'historyCost',
  'recovery',
  'recoveryClients',
  'recoveryRooms',
  'recoveryRate',
  'recoverySeconds',
] as const;
const DEPLOYMENT_ONLY = ['api', 'protocol', 'pusherApp', 'serverPid', 'clientCore'] as const;

const program = new Command('npm run bench --')
  .description(
    'pushgate (its go-push and its Pusher Channels endpoints), plain ws and Socket.IO started here side by side, or (--url, --api) a running deployment, ' +
      'through the same workloads: idle connections, latency, broadcast and room floods, churn, and closed-loop ' +
      'broadcast and rooms (what a backend does); then pushgate alone per latency budget',
  )
  .option(
    '--url <url...>',
    'load a running deployment at these WebSocket base URLs instead of starting servers here, ' +
      'e.g. ws://127.0.0.1:7777 (several spread the clients over several addresses)',
  )
  .option('--api <url>', 'with --url: its push API base URL, e.g. http://127.0.0.1:7788')
  .addOption(
    new Option('--protocol <name>', 'with --url: the client protocol (pusher: Pusher Channels clients, events through the signed /apps/<id>/events API)')
      .choices(['pushgate', 'socketio', 'pusher'])
      .default('pushgate'),
  )
  .option(
    '--pusher-app <id:key:secret>',
    'with --url --protocol pusher: the app to load, its key in the client URLs (/app/<key>), its secret signing the events',
    BENCH_PUSHER_APP,
  )
  .option('--server-pid <pid>', 'with --url: PID of the server when it runs on this machine, to measure its CPU and memory', positiveInt('--server-pid'))
  .option(
    '--client-core <n>',
    'with --url: pin the load generator to this core (taskset); side by side it takes core 1 by itself',
    positiveInt('--client-core', 0),
  )
  .option('--servers <list>', `side by side: the servers to start, of ${SERVERS.join(',')}; none to skip (the other parts only)`, parseServers, [...SERVERS])
  .option('--destinations <n>', 'side by side: the servers listen on 127.0.0.1 … 127.0.0.N (several ephemeral port ranges)', positiveInt('--destinations'), 4)
  .option('--smoke', 'side by side: a few hundred clients for a few seconds (CI)')
  .option('--connections <n>', 'clients to open [10000; 300 with --smoke]', positiveInt('--connections'))
  .option('--clients <n>', 'client processes (each may hold at most ~20,000 sockets)', positiveInt('--clients'), 2)
  .option('--duration <seconds>', 'seconds per workload [10; 2 with --smoke]', positiveInt('--duration'))
  .option('--rate <n>', 'pushes per second in the latency workload', positiveInt('--rate'), 10)
  .option(
    '--rooms-rate <n>',
    'pushes per second, each to a random room, in the rooms-latency workload (run by --history-cost; in --workloads only when named)',
    positiveInt('--rooms-rate'),
    500,
  )
  .option('--rooms <n>', 'rooms in the room workloads (rooms, rooms-open, rooms-latency) [connections / 100, from 1 to 100]', positiveInt('--rooms'))
  .option('--churn-rate <n>', 'connect-join-receive-disconnect cycles per second [200; 50 with --smoke]', positiveInt('--churn-rate'))
  .option('--concurrency <n>', 'push requests in flight during floods', positiveInt('--concurrency'), 64)
  .option(
    '--open-concurrency <n>',
    'push loops of the closed-loop workloads (broadcast-open, rooms-open): each sends one item, then the next as soon as it is answered',
    positiveInt('--open-concurrency'),
    8,
  )
  .option(
    '--budgets <list>',
    `side by side: after it, restart pushgate with each --max-latency (ms) and run the closed-loop workloads; none to skip [${DEFAULT_BUDGETS.join(',')}; none with --smoke]`,
    parseBudgets,
  )
  .option(
    '--budget-duration <seconds>',
    'side by side: seconds per closed-loop workload and budget [5, or --duration if shorter]',
    positiveInt('--budget-duration'),
  )
  .option(
    '--history-cost <stores>',
    `side by side: after it, pushgate with and without --history '${COST_HISTORY}' on each store, of memory,redis,nats, through rooms-latency and rooms-open; ` +
      'none to skip [memory, and redis when redis-server is installed; memory with --smoke]',
    parseStores('--history-cost'),
  )
  .option(
    '--recovery <stores>',
    `side by side: after it, the recovery proof (--history '${CHURN_HISTORY}') on each store, of memory,redis,nats: clients dropping and ` +
      'reconnecting at random while pushes flow, every room sequence checked; none to skip [as --history-cost]',
    parseStores('--recovery'),
  )
  .option('--recovery-clients <n>', 'clients of the recovery proof [2000; 200 with --smoke]', positiveInt('--recovery-clients'))
  .option('--recovery-rooms <n>', 'rooms of the recovery proof [100; 10 with --smoke]', positiveInt('--recovery-rooms'))
  .option('--recovery-rate <n>', 'pushes per second during the recovery proof', positiveInt('--recovery-rate'), 500)
  .option('--recovery-seconds <s>', 'seconds of pushes and drops in the recovery proof [30; 3 with --smoke]', positiveInt('--recovery-seconds'))
  .option('--item-padding <bytes>', 'extra bytes per pushed item', positiveInt('--item-padding', 0), 0)
  .option('--workloads <list>', `comma-separated, of ${WORKLOADS.join(',')}`, parseWorkloads, [...DEFAULT_WORKLOADS])
  .option('--out <dir>', 'where to write the JSON, markdown and SVG results', 'bench/results')
  .option('--name <name>', 'base name of the result files [bench-DATE; smoke with --smoke; deployment-TIME with --url]')
  .showHelpAfterError()
  .allowExcessArguments(false);

program.parse(process.argv);
const opts = program.opts();
const given = (key: string): boolean => program.getOptionValueSource(key) === 'cli';
const deployment = opts.url !== undefined;
for (const key of deployment ? SIDE_BY_SIDE_ONLY : DEPLOYMENT_ONLY) {
  const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (given(key)) program.error(`error: ${flag} ${deployment ? 'is for the side-by-side run, not with --url' : 'needs --url (a running deployment)'}`);
}
if (deployment && opts.api === undefined) program.error('error: --url needs --api, the push API base URL of the deployment');
if (given('pusherApp') && opts.protocol !== 'pusher') program.error('error: --pusher-app is for --protocol pusher');
let pusherKey = '';
try {
  pusherKey = parsePusherApp(opts.pusherApp).key;
} catch (error) {
  program.error(`error: --pusher-app: ${(error as Error).message}`);
}
const openSelected = (opts.workloads as string[]).some((w) => (OPEN_WORKLOADS as readonly string[]).includes(w));
if (given('budgets') && opts.budgets.length > 0) {
  if (!opts.servers.includes('pushgate')) program.error('error: --budgets restarts pushgate: keep it in --servers');
  if (!openSelected) program.error(`error: --budgets runs the closed-loop workloads: keep ${OPEN_WORKLOADS.join(' or ')} in --workloads`);
}

const smoke = opts.smoke === true;
const connections: number = opts.connections ?? (smoke ? 300 : 10000);
const duration: number = opts.duration ?? (smoke ? 2 : 10);
// The sweep runs after the side-by-side run, pushgate only; by default it adds about 1.5 minutes to a full run.
const budgets: number[] = deployment || !opts.servers.includes('pushgate') || !openSelected ? [] : (opts.budgets ?? (smoke ? [] : DEFAULT_BUDGETS));
const budgetDuration: number = opts.budgetDuration ?? Math.min(5, duration);
// Side by side, the servers take core 0 and the load generator core 1 (when there are two).
const twoCores = availableParallelism() >= 2;
const serverCore = !deployment && twoCores ? 0 : null;
const clientCore: number | null = deployment ? (opts.clientCore ?? null) : twoCores ? 1 : null;
const log = (line: string): void => void process.stderr.write(`${line}\n`);
// The history parts: by default memory and (when installed) Redis; with --smoke, memory alone.
const historyStores: HistoryStore[] = deployment ? [] : (opts.historyCost ?? (smoke ? ['memory'] : defaultStores()));
const recoveryStores: HistoryStore[] = deployment ? [] : (opts.recovery ?? (smoke ? ['memory'] : defaultStores()));

const settings: BenchSettings = {
  connections,
  clientProcesses: opts.clients,
  durationSeconds: duration,
  latencyRate: opts.rate,
  roomsLatencyRate: opts.roomsRate,
  rooms: opts.rooms ?? Math.max(1, Math.min(100, Math.floor(connections / 100))),
  churnRate: opts.churnRate ?? (smoke ? 50 : 200),
  floodConcurrency: opts.concurrency,
  openConcurrency: opts.openConcurrency,
  itemPadding: opts.itemPadding,
  workloads: opts.workloads,
  clientCore,
  clientCores: clientCore !== null ? 1 : availableParallelism(),
  log,
};

if (clientCore !== null) await pinSelf(clientCore);
const startedAt = new Date().toISOString();
let servers: ServerResults[];
let destinations: string[];
let budgetPoints: BudgetPoint[] | undefined;
if (deployment) {
  destinations = opts.url;
  servers = [
    await benchTarget(
      {
        server: opts.protocol === 'socketio' ? 'socketio' : 'external',
        protocol: opts.protocol,
        ...(opts.protocol === 'pusher' ? { pusherApp: opts.pusherApp } : {}),
        // A Pusher client connects to its app's endpoint, /app/<key>.
        wsUrls: opts.protocol === 'pusher' ? (opts.url as string[]).map((base) => pusherUrl(base, pusherKey)) : opts.url,
        api: opts.api,
        pid: opts.serverPid ?? null,
        version: 'unknown',
        command: opts.url.join(' '),
      },
      settings,
    ),
  ];
} else {
  destinations = loopbackDestinations(opts.destinations);
  servers = await benchSideBySide(opts.servers, destinations, serverCore, settings);
  if (budgets.length > 0) budgetPoints = await benchBudgets(budgets, destinations, serverCore, { ...settings, durationSeconds: budgetDuration });
}
let historyCost: HistoryCostPoint[] | undefined;
let recoveryChurn: RecoveryChurnResult[] | undefined;
// A full run waits for other programs to leave the cores and measures again when they did not; a smoke run does not.
const patience: Patience = smoke ? { attempts: 1, quietMs: 0 } : PATIENT;
if (historyStores.length > 0) historyCost = await benchHistoryCost(historyStores, destinations, serverCore, settings, patience);
if (recoveryStores.length > 0) {
  recoveryChurn = await benchRecoveryChurn(
    recoveryStores,
    destinations,
    serverCore,
    {
      clients: opts.recoveryClients ?? (smoke ? 200 : 2000),
      rooms: opts.recoveryRooms ?? (smoke ? 10 : 100),
      durationSeconds: opts.recoverySeconds ?? (smoke ? 3 : 30),
      pushesPerSecond: opts.recoveryRate,
      // A connection lives up to 6 s, then is away up to 1 s: each client drops every ~3.5 s on average.
      maxLifeMs: 6000,
      maxAwayMs: 1000,
      log,
    },
    patience,
  );
}

const pinning =
  clientCore === null
    ? 'not pinned'
    : `${serverCore !== null ? `server on core ${serverCore}, ` : ''}load generator (clients and push driver) on core ${clientCore}`;
const run: BenchRun = {
  startedAt,
  command: process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : 'npm run bench',
  machine: describeMachine(pinning),
  settings: { connections, clientProcesses: settings.clientProcesses, destinations, durationSeconds: duration },
  servers,
  ...(budgetPoints !== undefined ? { budgets: budgetPoints } : {}),
  ...(historyCost !== undefined ? { historyCost } : {}),
  ...(recoveryChurn !== undefined ? { recoveryChurn } : {}),
};
const name: string = opts.name ?? (smoke ? 'smoke' : deployment ? `deployment-${startedAt.replace(/[:.]/g, '-')}` : `bench-${startedAt.slice(0, 10)}`);
const markdown = writeRun(run, opts.out, name);
process.stdout.write(`${renderMarkdown(run)}\nwritten: ${markdown}\n`);
