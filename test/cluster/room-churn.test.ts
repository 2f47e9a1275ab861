import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { clusterStats, untilCluster } from '../helpers/cluster.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

/**
 * Room churn through real workers: `--workers 2` without an external broker, so every room's
 * subscription goes through the primary's relay. Clients join and leave fresh room names; once they
 * are done, every process must be back where it was: the relay holds only the workers' standing
 * channels, the workers hold no room and no extra subscription, and no process's memory grew with the
 * number of rooms ever used. Memory is read twice per process: its resident size from /proc (reported;
 * it moves with the garbage collector's pace), and its live heap after a full collection, through the
 * process's inspector (asserted: it is what a leak grows).
 */

const CLIENTS = 40;
/** Rooms per client per round (each one joined, then left). */
const ROOMS_PER_ROUND = 50;
const WARMUP_ROUNDS = 5;
const CHURN_ROUNDS = 30;
/**
 * Live-heap growth allowed per process over the measured churn (60,000 rooms). Before the fix the
 * primary kept an empty entry per room ever used: its live heap grew by ~15 MB (its RSS by ~17 MB);
 * fixed, every process's live heap stays within ±0.5 MB.
 */
const HEAP_BOUND_MB = 2;
/** Channels the relay holds for two idle workers: pushgate.all, pushgate.presence and each worker's node channel. */
const STANDING_CHANNELS = 4;
/** Channels each idle worker subscribes to: pushgate.all, pushgate.presence and its node channel. */
const STANDING_SUBSCRIPTIONS = 3;

/** Listens on 127.0.0.1:`port` (0: any); resolves with the server, or null when the port is taken. */
function holdPort(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null)).listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * A port P with P, P+1 and P+2 free on 127.0.0.1: node:cluster gives worker N the inspector port of
 * the primary plus N.
 */
async function freePortRun(length: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const held: Server[] = [];
    const first = await holdPort(0);
    if (first === null) continue;
    held.push(first);
    const base = (first.address() as AddressInfo).port;
    for (let i = 1; i < length && base + i < 65536; i++) {
      const next = await holdPort(base + i);
      if (next === null) break;
      held.push(next);
    }
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
    if (held.length === length) return base;
  }
  throw new Error(`no run of ${length} free ports found`);
}

/** Resident set size of a process, in MB, from /proc. */
function rssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}

/** Asks a process's inspector (ws://127.0.0.1:PORT/ID) for its pid and its live heap after a full collection (MB). */
async function heapAfterGc(url: string): Promise<{ pid: number; heapMb: number }> {
  const ws = new WebSocket(url);
  await withTimeout(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, `the inspector at ${url}`);
  let nextId = 1;
  const replies = new Map<number, (result: any) => void>();
  ws.on('message', (data) => {
    const reply = JSON.parse(data.toString()) as { id?: number; result?: unknown };
    if (reply.id !== undefined) replies.get(reply.id)?.(reply.result);
  });
  const call = (method: string, params: object = {}): Promise<any> => {
    const id = nextId++;
    const answered = new Promise((resolve) => replies.set(id, resolve));
    ws.send(JSON.stringify({ id, method, params }));
    return withTimeout(answered, 10000, `${method} from ${url}`);
  };
  try {
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const { result } = await call('Runtime.evaluate', { expression: 'JSON.stringify([process.pid, process.memoryUsage().heapUsed])', returnByValue: true });
    const [pid, heapUsed] = JSON.parse(result.value) as [number, number];
    return { pid, heapMb: heapUsed / 1024 / 1024 };
  } finally {
    ws.terminate();
  }
}

/**
 * A bare `ws` client that joins fresh rooms and leaves each at once, as fast as it can send; the last
 * JOIN of a round carries an id, and its ACK (sent once the primary holds that subscription, after
 * every earlier message of the worker) paces the rounds so that no backlog builds up anywhere.
 */
class Churner {
  private nextId = 1;
  private refused: string | null = null;
  private waiting: { id: number; resolve: () => void } | null = null;
  private constructor(
    private readonly ws: WebSocket,
    private readonly number: number,
  ) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; id?: number; data?: { code?: string } };
      if (frame.type === 'ERROR') this.refused ??= `client ${number}: ERROR ${frame.data?.code}`;
      if (frame.id !== undefined && frame.id === this.waiting?.id) this.waiting.resolve();
    });
  }

  static open(url: string, number: number): Promise<Churner> {
    const ws = new WebSocket(url);
    return withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', () => resolve(new Churner(ws, number)));
        ws.once('error', reject);
      }),
      5000,
      `client ${number} to connect`,
    );
  }

  /** Joins and leaves `count` fresh rooms; resolves once the gateway has handled every request. */
  async round(round: number, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const room = `churn-${this.number}-${round}-${i}`;
      if (i === count - 1) await this.request({ type: 'JOIN', data: { room } });
      else this.ws.send(JSON.stringify({ type: 'JOIN', data: { room } }));
      this.ws.send(JSON.stringify({ type: 'LEAVE', data: { room } }));
    }
    // Answered once the worker has handled the LEAVE before it.
    await this.request({ type: 'PING', data: {} });
    if (this.refused !== null) throw new Error(this.refused);
  }

  private request(message: { type: string; data: unknown }): Promise<void> {
    const id = this.nextId++;
    const answered = new Promise<void>((resolve) => {
      this.waiting = { id, resolve };
    });
    this.ws.send(JSON.stringify({ ...message, id }));
    return withTimeout(answered, 10000, `client ${this.number}: the answer to ${message.type}`);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

describe('room churn through --workers 2 (the primary relays)', () => {
  let primary: Child | undefined;
  const clients: Churner[] = [];
  after(async () => {
    clients.forEach((client) => client.terminate());
    await primary?.stop(15000);
  });

  it('leaves no trace of rooms that were used: relay channels and subscriptions back to the standing ones, heap flat in every process', {
    timeout: 60000,
  }, async () => {
    const inspectPort = await freePortRun(3);
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--presence-interval', '0.2', '--max-client-rate', '0', '--log-level', 'warn'], {
      NODE_OPTIONS: `--max-semi-space-size=2 --inspect=127.0.0.1:${inspectPort}`,
    });
    const [, ws, api] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
    const inspectors = [...primary.output().matchAll(/Debugger listening on (ws:\/\/\S+)/g)].map((match) => match[1]);
    assert.equal(inspectors.length, 3, `an inspector per process:\n${primary.output()}`);
    const cluster = await untilCluster(api, (s) => s.nodes?.length === 2, 'both workers reporting');
    const names = new Map<number, string>([[primary.child.pid ?? 0, 'primary']]);
    for (const node of cluster.nodes as Array<{ worker: number; stats: { pid: number } }>) names.set(node.stats.pid, `worker ${node.worker}`);
    const measure = async (): Promise<Map<string, { heapMb: number; rssMb: number }>> => {
      const sizes = new Map<string, { heapMb: number; rssMb: number }>();
      for (const url of inspectors) {
        const { pid, heapMb } = await heapAfterGc(url);
        sizes.set(names.get(pid) ?? `pid ${pid}`, { heapMb, rssMb: rssMb(pid) });
      }
      return sizes;
    };

    for (let i = 0; i < CLIENTS; i++) clients.push(await Churner.open(`ws://${ws}/connect`, i));
    let round = 0;
    const rounds = async (count: number): Promise<void> => {
      for (let r = 0; r < count; r++, round++) await Promise.all(clients.map((client) => client.round(round, ROOMS_PER_ROUND)));
    };
    // Only the channels every idle worker holds: read from both workers' reports (the relay's count
    // comes with each answer of the primary, at least once per presence interval).
    const standing = (s: any): boolean =>
      s.roomCount === 0 &&
      s.nodes.length === 2 &&
      s.nodes.every(
        (n: { stats: Record<string, number> }) => n.stats.relayChannels === STANDING_CHANNELS && n.stats.brokerSubscriptions === STANDING_SUBSCRIPTIONS,
      );
    await rounds(WARMUP_ROUNDS);
    await untilCluster(api, (s) => s.roomCount === 0, 'the warm-up rooms to be left');
    const before = await measure();

    const started = Date.now();
    await rounds(CHURN_ROUNDS);
    const churnMs = Date.now() - started;
    const settled = await untilCluster(api, standing, 'every room left and only the standing channels subscribed', 10000).then(
      () => null,
      (error: Error) => error,
    );
    const after = await measure();
    const counts = (await clusterStats(api)).nodes
      .map(
        (n: { worker: number; stats: Record<string, number> }) =>
          `worker ${n.worker}: rooms ${n.stats.roomCount}, subscriptions ${n.stats.brokerSubscriptions}, relay channels ${n.stats.relayChannels}`,
      )
      .join('; ');
    const growth = [...after]
      .map(([name, { heapMb, rssMb: rss }]) => {
        const was = before.get(name);
        return `${name}: heap ${was?.heapMb.toFixed(1)} → ${heapMb.toFixed(1)} MB, rss ${was?.rssMb.toFixed(1)} → ${rss.toFixed(1)} MB`;
      })
      .join('; ');
    process.stderr.write(
      `room churn: ${CLIENTS * ROOMS_PER_ROUND * CHURN_ROUNDS} rooms in ${churnMs} ms after a warm-up of ${CLIENTS * ROOMS_PER_ROUND * WARMUP_ROUNDS}; ${growth}; ${counts}\n`,
    );
    assert.equal(after.size, 3);
    for (const [name, { heapMb }] of after) {
      const grown = heapMb - (before.get(name)?.heapMb ?? 0);
      assert.ok(grown < HEAP_BOUND_MB, `${name}: live heap grew by ${grown.toFixed(1)} MB, over ${HEAP_BOUND_MB} MB (${growth})`);
    }
    assert.equal(settled, null, `${settled?.message}: ${counts}`);
  });
});
