/**
 * How many requests and items per second the push API takes when nobody is connected: the cost of
 * the way in alone (HTTP, body, admission, publish), with no delivery behind it.
 *
 *   node dist/bench/api-rate.js [--mode single|batch|both] [--concurrency 8] [--batch 100] [--duration 5]
 *     [--pipeline 1] [--server-core 0] [--client-core 1] [--cpu-prof DIR] [--api http://host:port]
 *
 * Without `--api` it starts pushgate (`dist/src/cli/main.js`, one process, its launchers' V8 flag),
 * pinned with taskset when cores are given, and with `--cpu-prof DIR` writes the server's CPU profile
 * there when it stops. The client is a raw-socket HTTP/1.1 load loop (requests prebuilt, answers only
 * framed by Content-Length), so that it costs a fraction of what the server spends per request:
 * `--concurrency` keep-alive connections, each with `--pipeline` requests in flight.
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { processCpuSeconds } from './load/procstat.js';
import { builtScript } from './paths.js';
import { type Child, startNode } from './server-process.js';
import { PUSHGATE_V8_FLAGS } from './v8-flags.js';

interface Load {
  /** Requests answered (all 200: any other status stops the run). */
  requests: number;
  /** Items those requests carried. */
  items: number;
  seconds: number;
  /** CPU seconds the server spent meanwhile (null when it is not a child of this run). */
  serverCpu: number | null;
}

/** One push request as bytes: `path` with its JSON body, keep-alive. */
function requestBytes(host: string, path: string, body: string): Buffer {
  return Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i;

/**
 * Keeps `pipeline` requests in flight on one socket until `until`; calls `answered` per 200. Answers
 * are found by their header block and Content-Length only.
 */
function drive(socket: Socket, request: Buffer, pipeline: number, until: number, answered: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    const send = (): void => {
      while (inFlight < pipeline && Date.now() < until) {
        inFlight += 1;
        socket.write(request);
      }
      if (inFlight === 0) {
        socket.end();
        resolve();
      }
    };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) break;
        const head = pending.toString('latin1', 0, end);
        const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) break;
        if (!head.startsWith('HTTP/1.1 200')) {
          reject(new Error(`answer ${head.split('\r\n', 1)[0]}: ${pending.toString('utf8', end + 4, end + 4 + length)}`));
          socket.destroy();
          return;
        }
        pending = pending.subarray(end + 4 + length);
        inFlight -= 1;
        answered();
      }
      send();
    });
    socket.on('error', reject);
    send();
  });
}

/**
 * Runs `concurrency` connections against `api` for `seconds`, each request `body` to `path`, `items`
 * items each; `pid` the server's, to read the CPU it spent.
 */
async function measure(
  api: URL,
  path: string,
  body: string,
  items: number,
  { concurrency, pipeline, seconds, pid }: { concurrency: number; pipeline: number; seconds: number; pid: number | null },
): Promise<Load> {
  const request = requestBytes(api.host, path, body);
  const sockets = await Promise.all(
    Array.from(
      { length: concurrency },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(Number(api.port), api.hostname, () => resolve(socket));
          socket.setNoDelay(true);
          socket.once('error', reject);
        }),
    ),
  );
  let requests = 0;
  const cpu = pid === null ? null : processCpuSeconds(pid);
  const started = Date.now();
  await Promise.all(sockets.map((socket) => drive(socket, request, pipeline, started + seconds * 1000, () => (requests += 1))));
  const elapsed = (Date.now() - started) / 1000;
  const cpuAfter = pid === null ? null : processCpuSeconds(pid);
  return { requests, items: requests * items, seconds: elapsed, serverCpu: cpu === null || cpuAfter === null ? null : cpuAfter - cpu };
}

/**
 * One line per measurement: the rates seen, and (for a server started here) its CPU per request and
 * the rates that CPU cost gives for one core fully busy — the figure that does not depend on how busy
 * the machine or the client was.
 */
function show(what: string, load: Load): void {
  const number = (n: number): string => Math.round(n).toLocaleString('en-US');
  let line = `${what.padEnd(38)} ${number(load.requests / load.seconds).padStart(8)} requests/s ${number(load.items / load.seconds).padStart(10)} items/s`;
  if (load.serverCpu !== null && load.requests > 0) {
    const perRequest = load.serverCpu / load.requests;
    line += ` | server ${Math.round((100 * load.serverCpu) / load.seconds)}% CPU, ${(perRequest * 1e6).toFixed(1)} µs/request: per core ${number(1 / perRequest)} requests/s ${number(load.items / load.requests / perRequest)} items/s`;
  }
  console.log(line);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'both' },
      concurrency: { type: 'string', default: '8' },
      batch: { type: 'string', default: '100' },
      duration: { type: 'string', default: '5' },
      pipeline: { type: 'string', default: '1' },
      warmup: { type: 'string', default: '1' },
      'server-core': { type: 'string' },
      'client-core': { type: 'string' },
      'cpu-prof': { type: 'string' },
      api: { type: 'string' },
    },
  });
  const concurrency = Number(values.concurrency);
  const batchSize = Number(values.batch);
  const seconds = Number(values.duration);
  const pipeline = Number(values.pipeline);
  const warmup = Number(values.warmup);
  const mode = values.mode;
  if (mode !== 'single' && mode !== 'batch' && mode !== 'both') throw new Error('--mode is single, batch or both');
  if (values['client-core'] !== undefined) {
    // Pins this process (the client) to its core; the server gets its own.
    const { execFileSync } = await import('node:child_process');
    execFileSync('taskset', ['-p', '-c', values['client-core'], String(process.pid)], { stdio: 'ignore' });
  }
  let child: Child | null = null;
  let api: URL;
  if (values.api === undefined) {
    const nodeArgs = [...PUSHGATE_V8_FLAGS, ...(values['cpu-prof'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']])];
    // At info only the start-up lines are logged (the listening line gives the API's address).
    const args = ['--workers', '1', '--port', '0', '--api-port', '0', '--log-level', 'info'];
    const core = values['server-core'] === undefined ? null : Number(values['server-core']);
    child = startNode(builtScript('src/cli/main.js'), args, core, nodeArgs);
    const [, address] = await child.waitForLine(/listening ws=\S+ api=(\S+)/, 15000);
    api = new URL(`http://${address}`);
  } else {
    api = new URL(values.api);
  }
  try {
    const single = '{"room":"bench","items":[{"n":1}]}';
    const batch = JSON.stringify({ pushes: Array.from({ length: batchSize }, (_, i) => ({ room: `bench-${i % 10}`, items: [{ n: i }] })) });
    console.log(`push API at ${api.host}, no recipients; ${concurrency} keep-alive connections, ${pipeline} request(s) in flight on each`);
    const pid = child?.pid ?? null;
    const run = { concurrency, pipeline, seconds, pid };
    if (mode !== 'batch') {
      if (warmup > 0) await measure(api, '/push/room', single, 1, { ...run, seconds: warmup });
      show('POST /push/room, 1 item', await measure(api, '/push/room', single, 1, run));
    }
    if (mode !== 'single') {
      if (warmup > 0) await measure(api, '/push/batch', batch, batchSize, { ...run, seconds: warmup });
      show(`POST /push/batch, ${batchSize} pushes of 1 item`, await measure(api, '/push/batch', batch, batchSize, run));
    }
  } finally {
    await child?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
