#!/usr/bin/env node
// Soak test: a real gateway process under bounded connect/join/push/disconnect churn, then checks that
// it returned to where it started: no connections, rooms, queued items or extra handles, and memory
// growth within bounds. Exits 0 when every check passes, 1 with the failed checks listed otherwise.
//
//   npm run soak                                  # 5 minutes, 200 clients
//   npm run soak -- --duration 60 --clients 100   # shorter
//
// Needs a build (npm run build). Only loopback addresses are used; the gateway is this script's own
// child and is stopped by its PID.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const HELP = `usage: npm run soak -- [--duration SECONDS] [--clients N] [--rooms N] [--rss-mb MB] [--heap-mb MB]`;

function parseArgs(argv) {
  const options = { duration: 300, clients: 200, rooms: 40, rssMb: 64, heapMb: 32 };
  const names = { '--duration': 'duration', '--clients': 'clients', '--rooms': 'rooms', '--rss-mb': 'rssMb', '--heap-mb': 'heapMb' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--help' || argv[i] === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    const key = names[argv[i]];
    const value = Number(argv[i + 1]);
    if (key === undefined || !Number.isFinite(value) || value <= 0) {
      console.error(`soak: bad argument ${argv[i]} ${argv[i + 1] ?? ''}\n${HELP}`);
      process.exit(2);
    }
    options[key] = value;
    i += 1;
  }
  options.clients = Math.min(Math.floor(options.clients), 5000);
  options.duration = Math.min(options.duration, 24 * 3600);
  return options;
}

const opts = parseArgs(process.argv.slice(2));
const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = (n) => Math.floor(Math.random() * n);
const log = (line) => console.log(`[soak ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const t0 = Date.now();

// --- the gateway under test ------------------------------------------------------------------------

function startGateway() {
  const child = spawn(
    process.execPath,
    [
      '--max-semi-space-size=2',
      CLI,
      '--workers',
      '1',
      '--port',
      '0',
      '--api-port',
      '0',
      '--host',
      '127.0.0.1',
      '--api-host',
      '127.0.0.1',
      '--log-level',
      'warn',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const listening = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const match = /listening ws=127\.0\.0\.1:(\d+) api=127\.0\.0\.1:(\d+)/.exec(output);
      if (match) resolve({ ws: Number(match[1]), api: Number(match[2]) });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`the gateway exited (${code}) before listening:\n${output}`)));
    setTimeout(() => reject(new Error(`the gateway did not start within 10 s:\n${output}`)), 10000).unref();
  });
  return { child, exited, listening, output: () => output };
}

const gateway = startGateway();
let ports;
try {
  ports = await gateway.listening;
} catch (error) {
  console.error(`soak: ${error.message}`);
  if (gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
  process.exit(1);
}
log(`gateway pid ${gateway.child.pid}: ws port ${ports.ws}, api port ${ports.api}; ${opts.duration}s, ${opts.clients} clients, ${opts.rooms} rooms`);

// Pushes share a few keep-alive sockets; measurements use a fresh connection each (Connection: close),
// so the agent's sockets can be closed before the final measurement.
const pushAgent = new Agent({ keepAlive: true, maxSockets: 4 });

function api(method, path, body, agent = false) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers =
      payload === undefined ? { connection: agent ? 'keep-alive' : 'close' } : { 'content-type': 'application/json', 'content-length': String(payload.length) };
    const req = request({ host: '127.0.0.1', port: ports.api, method, path, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, text }));
      res.on('error', reject);
    });
    req.setTimeout(10000, () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function measure() {
  const stats = JSON.parse((await api('GET', '/stats')).text);
  const metricsText = (await api('GET', '/metrics')).text;
  const metric = (name, labels = '') => {
    const re = new RegExp(`^${name}\\{${labels}[^}]*\\} ([0-9.e+-]+)$`, 'm');
    const match = re.exec(metricsText);
    return match ? Number(match[1]) : undefined;
  };
  return {
    stats,
    rss: metric('process_resident_memory_bytes'),
    heapUsed: metric('nodejs_heap_size_used_bytes'),
    handles: metric('nodejs_active_handles_total'),
    resources: metric('nodejs_active_resources_total'),
    timers: metric('nodejs_active_resources', 'type="Timeout",') ?? 0,
  };
}

// --- the churn -------------------------------------------------------------------------------------

const counts = {
  opened: 0,
  openFailed: 0,
  closed: 0,
  terminated: 0,
  abandoned: 0,
  joins: 0,
  leaves: 0,
  pings: 0,
  pushes: 0,
  push503: 0,
  pushFailed: 0,
  pushItems: 0,
  frames: 0,
  pushFrames: 0,
  errors: 0,
  unexpectedClose: 0,
};
const unexpected = [];
const clients = new Set();

function openClient() {
  const ws = new WebSocket(`ws://127.0.0.1:${ports.ws}/connect`);
  const client = { ws, rooms: new Set(), nextId: 1, open: false, diesAt: Date.now() + 200 + pick(20000), goodbye: false };
  clients.add(client);
  ws.on('open', () => {
    client.open = true;
    counts.opened += 1;
  });
  ws.on('message', (data) => {
    counts.frames += 1;
    const frame = JSON.parse(data.toString());
    if (frame.type === 'PUSH') counts.pushFrames += 1;
    else if (frame.type === 'ERROR') {
      counts.errors += 1;
      if (frame.data?.code !== 'TOO_MANY_ROOMS' && unexpected.length < 20) unexpected.push(`ERROR frame ${JSON.stringify(frame)}`);
    }
  });
  ws.on('error', () => {
    if (!client.open) counts.openFailed += 1;
  });
  ws.on('close', (code) => {
    clients.delete(client);
    // The gateway closes clients only for their own faults or at shutdown: none should happen here.
    if (!client.goodbye && client.open) {
      counts.unexpectedClose += 1;
      if (unexpected.length < 20) unexpected.push(`client closed by the server with ${code}`);
    }
  });
  return client;
}

function send(client, type, data) {
  if (client.ws.readyState !== WebSocket.OPEN) return;
  client.ws.send(JSON.stringify({ type, id: client.nextId++, data }));
}

function act(client, now) {
  if (!client.open || client.goodbye) return;
  if (now >= client.diesAt) {
    client.goodbye = true;
    const how = pick(3);
    if (how === 0) {
      client.ws.close(1000);
      counts.closed += 1;
    } else if (how === 1) {
      client.ws.terminate(); // TCP reset, no closing handshake
      counts.terminated += 1;
    } else {
      // Leave its rooms first, then close without waiting for anything.
      for (const room of client.rooms) send(client, 'LEAVE', { room });
      client.ws.close(4001 + pick(900));
      counts.abandoned += 1;
    }
    return;
  }
  const roll = Math.random();
  if (roll < 0.05) {
    const room = `room-${pick(opts.rooms)}`;
    client.rooms.add(room);
    send(client, 'JOIN', { room });
    counts.joins += 1;
  } else if (roll < 0.07 && client.rooms.size > 0) {
    const room = [...client.rooms][pick(client.rooms.size)];
    client.rooms.delete(room);
    send(client, 'LEAVE', { room });
    counts.leaves += 1;
  } else if (roll < 0.09) {
    send(client, 'PING', {});
    counts.pings += 1;
  }
}

let inFlight = 0;
function push() {
  if (inFlight >= 8) return;
  inFlight += 1;
  const items = Array.from({ length: 1 + pick(5) }, (_, i) => ({ n: counts.pushes, i, pad: 'x'.repeat(pick(200)) }));
  const toAll = Math.random() < 0.1;
  const body = toAll ? { items } : { room: `room-${pick(opts.rooms)}`, items };
  api('POST', toAll ? '/push/all' : '/push/room', body, pushAgent)
    .then(
      ({ status, text }) => {
        if (status === 200) {
          counts.pushes += 1;
          counts.pushItems += items.length;
        } else if (status === 503) counts.push503 += 1;
        else {
          counts.pushFailed += 1;
          if (unexpected.length < 20) unexpected.push(`push answered ${status}: ${text.slice(0, 200)}`);
        }
      },
      (error) => {
        counts.pushFailed += 1;
        if (unexpected.length < 20) unexpected.push(`push failed: ${error.message}`);
      },
    )
    .finally(() => {
      inFlight -= 1;
    });
}

const baseline = await measure();
log(
  `baseline: rss ${mb(baseline.rss)} MB, heap ${mb(baseline.heapUsed)} MB, handles ${baseline.handles}, resources ${baseline.resources}, timers ${baseline.timers}`,
);

const deadline = Date.now() + opts.duration * 1000;
const progressEvery = Math.max(5000, Math.min(30000, (opts.duration * 1000) / 8));
let nextProgress = Date.now() + progressEvery;
let peakRss = baseline.rss;
// Bounded: one tick every 20 ms until the deadline (at most duration * 50 ticks).
for (let tick = 0; Date.now() < deadline && tick < opts.duration * 50 + 1; tick++) {
  const now = Date.now();
  // Top up to the target, at most 20 new connections per tick.
  for (let i = 0; i < 20 && clients.size < opts.clients; i++) openClient();
  for (const client of clients) act(client, now);
  for (let i = 0; i < 3; i++) push();
  if (now >= nextProgress) {
    nextProgress = now + progressEvery;
    const m = await measure();
    peakRss = Math.max(peakRss, m.rss);
    log(
      `clients ${clients.size}, online ${m.stats.onlineConnections}, rooms ${m.stats.roomCount}; opened ${counts.opened}, closed ${counts.closed + counts.abandoned}, terminated ${counts.terminated}; pushes ${counts.pushes} (503: ${counts.push503}), frames received ${counts.frames}; rss ${mb(m.rss)} MB, heap ${mb(m.heapUsed)} MB`,
    );
  }
  await sleep(20);
}

// --- wind down and check ---------------------------------------------------------------------------

log(`churn over: closing the ${clients.size} remaining clients`);
let i = 0;
for (const client of clients) {
  client.goodbye = true;
  if (i++ % 2 === 0) client.ws.close(1000);
  else client.ws.terminate();
}
const settleDeadline = Date.now() + 10000;
while ((clients.size > 0 || inFlight > 0) && Date.now() < settleDeadline) await sleep(50);
pushAgent.destroy();

// Settle: wait (bounded) for the gateway to report itself idle, then give lingering sockets a moment.
let end = await measure();
for (let attempt = 0; attempt < 40; attempt++) {
  const s = end.stats;
  if (s.onlineConnections === 0 && s.roomCount === 0 && s.dispatchPending === 0 && s.mergerPending === 0 && end.handles <= baseline.handles) break;
  await sleep(250);
  end = await measure();
}
await sleep(1000);
end = await measure();

const failures = [];
const expectEq = (what, actual, wanted) => actual !== wanted && failures.push(`${what} is ${actual}, expected ${wanted}`);
const expectLe = (what, actual, bound) => !(actual <= bound) && failures.push(`${what} is ${actual}, expected at most ${bound}`);
const s = end.stats;
expectEq('onlineConnections', s.onlineConnections, 0);
expectEq('roomCount', s.roomCount, 0);
expectEq('dispatchPending', s.dispatchPending, 0);
expectEq('mergerPending', s.mergerPending, 0);
expectEq('pendingItems', s.pendingItems, 0);
expectLe('active handles (nodejs_active_handles_total) vs start', end.handles, baseline.handles);
expectLe('active resources (nodejs_active_resources_total) vs start', end.resources, baseline.resources);
expectLe('active timers (nodejs_active_resources{type="Timeout"}) vs start', end.timers, baseline.timers);
expectLe('RSS growth (MB)', mb(end.rss - baseline.rss), opts.rssMb);
expectLe('heap growth (MB)', mb(end.heapUsed - baseline.heapUsed), opts.heapMb);
if (s.connectionsTotal < counts.opened) failures.push(`the gateway counted ${s.connectionsTotal} connections, the clients opened ${counts.opened}`);
if (counts.opened === 0 || counts.pushes === 0 || counts.pushFrames === 0) failures.push(`no real load: ${JSON.stringify(counts)}`);
if (counts.openFailed > 0) failures.push(`${counts.openFailed} connections failed to open`);
if (counts.pushFailed > 0 || counts.unexpectedClose > 0) failures.push(`unexpected events:\n    ${unexpected.join('\n    ')}`);

log(`client side: ${JSON.stringify(counts)}`);
log(
  `gateway: connectionsTotal ${s.connectionsTotal}, itemsAccepted ${s.itemsAccepted}, itemsDelivered ${s.itemsDelivered}, itemsDropped ${s.itemsDropped}, protocolDisconnects ${s.protocolDisconnects}, slowConsumerDisconnects ${s.slowConsumerDisconnects}, heartbeatDisconnects ${s.heartbeatDisconnects}`,
);
log(
  `end: rss ${mb(end.rss)} MB (start ${mb(baseline.rss)}, peak ${mb(peakRss)}, bound +${opts.rssMb}), heap ${mb(end.heapUsed)} MB (start ${mb(baseline.heapUsed)}, bound +${opts.heapMb}), handles ${end.handles} (start ${baseline.handles}), resources ${end.resources} (start ${baseline.resources}), timers ${end.timers} (start ${baseline.timers})`,
);

// Stop the gateway (our child, by PID): a graceful shutdown must exit 0.
gateway.child.kill('SIGTERM');
const exitCode = await Promise.race([gateway.exited, sleep(15000).then(() => 'timeout')]);
if (exitCode === 'timeout') {
  gateway.child.kill('SIGKILL');
  failures.push('the gateway did not exit within 15 s of SIGTERM');
} else if (exitCode !== 0) failures.push(`the gateway exited with ${exitCode}:\n${gateway.output().slice(-2000)}`);

if (failures.length > 0) {
  console.error(`soak FAILED:\n  - ${failures.join('\n  - ')}`);
  process.exit(1);
}
log('soak passed: back to baseline after churn');
process.exit(0);

function mb(bytes) {
  return Math.round((bytes / 1048576) * 10) / 10;
}
