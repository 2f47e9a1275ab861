/**
 * A load-generator process: opens its share of WebSocket clients and counts what they receive. It is
 * forked by the coordinator (bench/load/load-generator.ts) and driven over IPC; it does nothing else, so
 * that its CPU use tells whether the clients kept up.
 */
import { WebSocket } from 'ws';
import { Histogram } from './histogram.js';
import { now } from './items.js';
import type { ChurnCommand, ConnectCommand, WorkerCommand, WorkerReply } from './messages.js';
import { type ClientProtocol, protocolByName } from './protocols.js';

const sockets: WebSocket[] = [];
let protocol: ClientProtocol = protocolByName('pushgate');
let counting = false;
let items = 0;
let frames = 0;
let disconnects = 0;
let errors = 0;
let startedAt = 0;
let cpuAtStart = process.cpuUsage();
let timeline: number[] = [];
let latency: Histogram | null = null;
// seq → [first receipt, last receipt]: how long one push took to reach every client of this process.
let spreads: Map<number, [number, number]> | null = null;
let primed: Set<WebSocket> | null = null;
/**
 * Floods time one client in this many (the others only count their items): reading every item's
 * timestamp was about a quarter of a client process's time, and the percentiles of a seventh of the
 * clients, spread over every room (7 is prime to the room counts used), are the same. The runs that
 * measure a push's spread over the clients (the pass floor) time every client.
 */
const TIMED_ONE_IN = 7;
let timedOneIn = 1;
/** Each socket's index in the whole run (rooms and destinations follow it). */
const indexOf = new WeakMap<WebSocket, number>();
let closing = false;
let ticker: NodeJS.Timeout | null = null;
// The second of the measurement, kept by the ticker: cheaper than reading the clock for every frame.
let second = 0;

function reply(message: WorkerReply): void {
  process.send?.(message);
}

function onItem(sentAt: number, seq: number): void {
  const at = now();
  latency?.record(at - sentAt);
  if (spreads !== null) {
    const spread = spreads.get(seq);
    if (spread === undefined) spreads.set(seq, [at, at]);
    else spread[1] = at;
  }
}

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  if (isBinary || protocol.control(this, data)) return;
  if (primed !== null) primed.add(this);
  if (!counting) return;
  const count = latency !== null && (indexOf.get(this) ?? 0) % timedOneIn === 0 ? protocol.items.read(data, onItem) : protocol.items.count(data);
  if (count === 0) return;
  frames += 1;
  items += count;
  timeline[second] = (timeline[second] ?? 0) + count;
}

function onClose(this: WebSocket): void {
  if (!closing) disconnects += 1;
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // The bench's frames are ASCII it made itself: validating their UTF-8 would only load the clients.
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10000, skipUTF8Validation: true });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: HTTP ${res.statusCode}`)));
    // A session refused after the upgrade (a Pusher app key unknown) closes before it is ready.
    const closedEarly = (): void => reject(new Error('closed before the session was ready'));
    ws.once('close', closedEarly);
    ws.on('message', onMessage);
    const done = (): void => {
      ws.off('error', reject);
      ws.off('close', closedEarly);
      ws.on('error', () => {
        errors += 1;
      });
      resolve(ws);
    };
    if (protocol.ready(ws)) ws.once('open', done);
    else ws.once('ready', done);
  });
}

async function connect(command: ConnectCommand): Promise<void> {
  protocol = protocolByName(command.protocol);
  const started = Date.now();
  let next = 0;
  let lastProgress = started;
  const opener = async (): Promise<void> => {
    while (next < command.count) {
      const index = command.offset + next++;
      const url = protocol.url(command.urls[index % command.urls.length]);
      try {
        const ws = await open(url);
        ws.on('close', onClose);
        indexOf.set(ws, index);
        if (command.rooms > 0) protocol.join(ws, `room-${index % command.rooms}`);
        if (protocol.everyone !== null) protocol.join(ws, protocol.everyone);
        sockets.push(ws);
      } catch {
        errors += 1;
      }
      if (Date.now() - lastProgress > 1000) {
        lastProgress = Date.now();
        reply({ type: 'progress', connected: sockets.length, errors });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.concurrency, command.count) }, opener));
  reply({ type: 'connected', connected: sockets.length, errors, elapsedMs: Date.now() - started });
}

function report(): void {
  const cpu = process.cpuUsage(cpuAtStart);
  reply({
    type: 'report',
    items,
    frames,
    disconnects,
    errors,
    cpuMs: (cpu.user + cpu.system) / 1000,
    elapsedMs: Date.now() - startedAt,
    timeline: Array.from(timeline, (value) => value ?? 0),
    latency: latency ?? new Histogram(),
    spreads: spreads === null ? [] : [...spreads].map(([seq, [first, last]]) => [seq, first, last]),
  });
}

/** Connect, join, receive one push, disconnect — `rate` times a second for `durationMs`. */
async function churn(command: ChurnCommand): Promise<void> {
  const churnProtocol = protocolByName(command.protocol);
  const cycleLatency = new Histogram();
  const cpuStart = process.cpuUsage();
  let completed = 0;
  let failed = 0;
  let firstError: string | null = null;
  let index = 0;
  const cycle = (): Promise<void> =>
    new Promise((resolve) => {
      const started = now();
      const url = churnProtocol.url(command.urls[index++ % command.urls.length]);
      const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: command.timeoutMs });
      let settled = false;
      const finish = (error: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === null) {
          completed += 1;
          cycleLatency.record(now() - started);
        } else {
          failed += 1;
          firstError ??= error;
        }
        ws.terminate();
        resolve();
      };
      const timer = setTimeout(() => finish('timed out waiting for the push'), command.timeoutMs);
      const join = (): void => churnProtocol.join(ws, command.room);
      if (churnProtocol.ready(ws)) ws.once('open', join);
      else ws.once('ready', join);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary || churnProtocol.control(ws, data)) return;
        if (churnProtocol.items.count(data) > 0) finish(null);
      });
      ws.once('error', (error) => finish(error.message));
      ws.once('close', () => finish('closed by the server'));
    });
  const pending: Array<Promise<void>> = [];
  const interval = 1000 / command.rate;
  const end = Date.now() + command.durationMs;
  let due = Date.now();
  while (Date.now() < end) {
    pending.push(cycle());
    due += interval;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await Promise.all(pending);
  const cpu = process.cpuUsage(cpuStart);
  reply({ type: 'churned', completed, errors: failed, cpuMs: (cpu.user + cpu.system) / 1000, latency: cycleLatency, firstError });
}

// Keeps pushgate- and Pusher-protocol connections alive across long runs (the gateway closes clients silent for 60 s).
setInterval(() => {
  if (protocol.keepAlive === null) return;
  for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(protocol.keepAlive);
}, 20000).unref();

process.on('message', (command: WorkerCommand) => {
  switch (command.type) {
    case 'connect':
      void connect(command);
      return;
    case 'prime':
      // Counts clients that have received anything since: the coordinator pushes until all have.
      primed ??= new Set();
      reply({ type: 'primed', primed: primed.size });
      return;
    case 'measure':
      primed = null;
      ticker ??= setInterval(() => {
        second = Math.floor((Date.now() - startedAt) / 1000);
        if (counting) reply({ type: 'tick', items });
      }, 50);
      second = 0;
      counting = true;
      items = 0;
      frames = 0;
      disconnects = 0;
      errors = 0;
      timeline = [];
      startedAt = Date.now();
      cpuAtStart = process.cpuUsage();
      latency = command.latency ? new Histogram() : null;
      spreads = command.latency && command.spreads ? new Map() : null;
      timedOneIn = spreads === null ? TIMED_ONE_IN : 1;
      return;
    case 'report':
      report();
      return;
    case 'churn':
      void churn(command);
      return;
    case 'close':
      closing = true;
      counting = false;
      if (ticker !== null) clearInterval(ticker);
      for (const ws of sockets) ws.terminate();
      sockets.length = 0;
      reply({ type: 'closed' });
      process.disconnect?.();
      return;
  }
});
process.on('disconnect', () => process.exit(0));
