/**
 * A client process of `npm run bench:scale`: holds its share of SDK clients (`pushgate/client`, so
 * reconnects use the SDK's own backoff and rejoin), each in one room, and counts what they receive.
 * Driven over IPC by bench/scale.ts; one process holds at most a few tens of thousands of sockets (the
 * open-file limit).
 */
import { connect, type PushgateClient } from '../../src/client/node.js';
import { Histogram } from '../load/histogram.js';
import { now } from '../load/items.js';
import type { ScaleCommand, ScaleConnectCommand, ScaleReply } from './messages.js';

const clients: PushgateClient[] = [];
let ready = 0;
let failedAttempts = 0;
// Ready clients whose connection closed since `watch`.
let dropped = 0;
let lastReadyAt = 0;
let counting = false;
let items = 0;
let latency = new Histogram();
let spreads = new Map<number, [number, number]>();
let startedAt = 0;
let cpuAtStart = process.cpuUsage();
let peakRss = 0;
let maxAttempt = 0;

function reply(message: ScaleReply): void {
  process.send?.(message);
}

function onPush(pushed: unknown[]): void {
  if (!counting) return;
  const at = now();
  for (const item of pushed) {
    const { t, s } = item as { t: number; s: number };
    items += 1;
    latency.record(at - t / 1000);
    const spread = spreads.get(s);
    if (spread === undefined) spreads.set(s, [at, at]);
    else if (at > spread[1]) spread[1] = at;
  }
}

/** One SDK client in `room`; `onFirstReady` runs at its first `ready` (connected and joined). */
function open(url: string, room: string, onFirstReady: () => void): PushgateClient {
  // The SDK's defaults (backoff 250 ms doubling to 30 s with full jitter, a PING every 20 s), as an app uses it.
  const client = connect(url);
  let first = true;
  let isReady = false;
  client.on('ready', () => {
    if (!isReady) ready += 1;
    isReady = true;
    lastReadyAt = Date.now();
    if (first) {
      first = false;
      onFirstReady();
    }
  });
  client.on('close', () => {
    if (isReady) {
      ready -= 1;
      dropped += 1;
    } else failedAttempts += 1;
    isReady = false;
  });
  // Errors (refused sockets while the server restarts) are counted by their close; the SDK retries.
  client.on('error', () => {});
  client.on('push', onPush);
  client.on('reconnect', (info: { attempt: number }) => {
    if (info.attempt > maxAttempt) maxAttempt = info.attempt;
  });
  void client.join(room).catch(() => {});
  return client;
}

async function connectAll(command: ScaleConnectCommand): Promise<void> {
  const started = Date.now();
  let next = 0;
  let lastProgress = started;
  await new Promise<void>((resolve) => {
    if (command.count === 0) return resolve();
    let done = 0;
    const startOne = (): void => {
      if (next >= command.count) return;
      const index = command.offset + next++;
      clients.push(
        open(command.urls[index % command.urls.length]!, `room-${index % command.rooms}`, () => {
          done += 1;
          if (Date.now() - lastProgress > 1000) {
            lastProgress = Date.now();
            reply({ type: 'progress', ready, attempts: failedAttempts });
          }
          if (done === command.count) resolve();
          else startOne();
        }),
      );
    };
    for (let i = 0; i < Math.min(command.concurrency, command.count); i++) startOne();
  });
  reply({ type: 'connected', ready, attempts: failedAttempts, elapsedMs: Date.now() - started });
}

// Peak memory of this process during a storm (the SDK's per-client cost, for the report).
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 500).unref();

process.on('message', (command: ScaleCommand) => {
  switch (command.type) {
    case 'connect':
      void connectAll(command);
      return;
    case 'measure':
      counting = true;
      items = 0;
      latency = new Histogram();
      spreads = new Map();
      startedAt = Date.now();
      cpuAtStart = process.cpuUsage();
      return;
    case 'report': {
      const cpu = process.cpuUsage(cpuAtStart);
      reply({
        type: 'report',
        items,
        latency,
        spreads: [...spreads].map(([seq, [first, last]]) => [seq, first, last]),
        cpuMs: (cpu.user + cpu.system) / 1000,
        elapsedMs: Date.now() - startedAt,
        notReady: clients.length - ready,
      });
      counting = false;
      return;
    }
    case 'count':
      reply({ type: 'counted', items });
      return;
    case 'watch': {
      failedAttempts = 0;
      dropped = 0;
      lastReadyAt = 0;
      peakRss = 0;
      maxAttempt = 0;
      const total = clients.length;
      // Reports every 250 ms until every client is ready again (the coordinator decides when to stop waiting).
      const timer = setInterval(() => {
        reply({ type: 'watched', ready, dropped, failedAttempts, lastReadyAt, peakRssBytes: peakRss, maxAttempt });
        if (ready === total && dropped >= total) clearInterval(timer);
      }, 250);
      return;
    }
    case 'close':
      counting = false;
      for (const client of clients) client.close();
      clients.length = 0;
      reply({ type: 'closed' });
      process.disconnect?.();
      return;
  }
});
process.on('disconnect', () => process.exit(0));
