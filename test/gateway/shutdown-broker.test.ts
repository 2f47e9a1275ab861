import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { after, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { type Service, serviceMissing, startNats, startRedis } from '../helpers/services.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

/**
 * A graceful shutdown under a stream of pushes, with a network broker between the push API and the
 * clients: every push answered 200 must reach every client before it is closed with 1001, and every
 * other request must get an answer (503 SHUTTING_DOWN, JSON) — not a reset keep-alive connection.
 */

const CLIENTS = 30;
/** Concurrent pushers, each on its own keep-alive connection, each sending its next push as soon as the last is answered. */
const PUSHERS = 8;
/** Pushes answered 200 before close() is called. */
const BEFORE_CLOSE = 150;
const ITERATIONS = 4;
const CLI_ITERATIONS = 3;
/** Bound on each pusher's loop (it stops at its first 503 or failure). */
const MAX_PUSHES_PER_PUSHER = 2000;

type Outcome = { kind: 'answer'; status: number; body: any; connection: string | undefined; at: number } | { kind: 'failed'; code: string; at: number };

/** POSTs JSON on a keep-alive agent; never rejects: a failure is an outcome. */
function push(agent: Agent, url: string, body: unknown, order: { next: number }): Promise<Outcome> {
  return new Promise((resolve) => {
    const text = JSON.stringify(body);
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (data += chunk));
      res.on('end', () => {
        let parsed: unknown = null;
        try {
          parsed = JSON.parse(data);
        } catch {
          parsed = { unparsed: data };
        }
        resolve({ kind: 'answer', status: res.statusCode ?? 0, body: parsed, connection: res.headers.connection, at: order.next++ });
      });
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'failed', code: error.code ?? error.message, at: order.next++ }));
    });
    req.setTimeout(10000, () => req.destroy(new Error('request timed out')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'failed', code: error.code ?? error.message, at: order.next++ }));
    req.end(text);
  });
}

/** Every item a client received in PUSH frames, in order. */
function itemsOf(client: TestClient): string[] {
  return client.frames.filter((frame) => frame.type === 'PUSH').flatMap((frame) => frame.data.items as string[]);
}

/** What is shut down: its two URLs, and how to stop it (resolves once it has stopped). */
interface Target {
  apiUrl: string;
  wsUrl: string;
  close(): Promise<unknown>;
}

/** An in-process gateway joined to `brokerUrl`; `close()` is Gateway.close(). */
async function inProcess(brokerUrl: string): Promise<Target> {
  // No latency budget: the flood may legitimately be refused OVERLOADED before the shutdown, and this
  // test is about the shutdown's answers (test/gateway/overload.test.ts is about the budget's).
  const gw: RunningGateway = await startGateway({ broker: brokerUrl, presenceInterval: 0.1, shutdownTimeout: 5, maxClientRate: 0, maxLatency: 0 });
  return { apiUrl: gw.apiUrl, wsUrl: gw.wsUrl(), close: () => gw.close() };
}

/** The PIDs of a process's children (Linux: /proc/PID/task/PID/children). */
function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number);
}

/**
 * `pushgate --workers 2` (with `args`); `close()` is SIGTERM to the primary — or, with `ctrlC`, SIGINT to
 * the primary and its workers at once, as a terminal's Ctrl-C signals the whole process group — resolved
 * once the primary exited 0.
 */
async function cliWorkers(args: string[], ctrlC = false): Promise<Target> {
  const child = startNode(CLI, [
    ...WORKERS_ON_LOOPBACK,
    '--presence-interval',
    '0.1',
    '--shutdown-timeout',
    '5',
    '--max-client-rate',
    '0',
    // As inProcess: no latency budget in a test of the shutdown's answers.
    '--max-latency',
    '0',
    '--log-level',
    'warn',
    ...args,
  ]);
  children.push(child);
  const [, ws, api] = await child.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
  return {
    apiUrl: `http://${api}`,
    wsUrl: `ws://${ws}/connect`,
    async close() {
      if (ctrlC) {
        const pids = [child.child.pid!, ...childPids(child.child.pid!)];
        assert.equal(pids.length, 3, 'the primary and its two workers');
        for (const pid of pids) process.kill(pid, 'SIGINT');
      } else {
        child.child.kill('SIGTERM');
      }
      assert.equal(await withTimeout(child.exited, 15000, 'the primary to exit'), 0, child.output());
    },
  };
}

/** CLI processes started here, stopped in `after` whatever happened. */
const children: Child[] = [];
after(async () => {
  await Promise.all(children.map((child) => child.stop(15000).catch(() => undefined)));
});

async function shutdownUnderPushes(target: Target, iteration: number): Promise<{ accepted: number; refused: number }> {
  const gw = target;
  const clients: TestClient[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: PUSHERS });
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const client = await TestClient.open(gw.wsUrl);
      clients.push(client);
      assert.equal((await client.request('JOIN', { room: 'news' })).type, 'ACK');
    }
    const order = { next: 0 };
    const outcomes: Array<{ item: string; outcome: Outcome }> = [];
    let answered200 = 0;
    let stop = false;
    const pusher = async (p: number): Promise<void> => {
      for (let n = 0; n < MAX_PUSHES_PER_PUSHER && !stop; n++) {
        const item = `${iteration}.${p}.${n}`;
        // Alternate the room and all: both go through the broker and back.
        const route = n % 2 === 0 ? '/push/room' : '/push/all';
        const outcome = await push(agent, `${gw.apiUrl}${route}`, route === '/push/room' ? { room: 'news', items: [item] } : { items: [item] }, order);
        outcomes.push({ item, outcome });
        if (outcome.kind === 'answer' && outcome.status === 200) answered200 += 1;
        else return;
      }
    };
    const pushing = Promise.all(Array.from({ length: PUSHERS }, (_, p) => pusher(p)));
    await waitFor(
      () => answered200 >= BEFORE_CLOSE || outcomes.some((o) => o.outcome.kind !== 'answer' || o.outcome.status !== 200),
      20000,
      `${BEFORE_CLOSE} pushes answered`,
    );
    const closing = gw.close();
    await withTimeout(pushing, 20000, 'the pushers to stop');
    stop = true;
    await withTimeout(closing, 15000, 'close()');
    const closes = await Promise.all(clients.map((client) => client.waitClosed(10000)));
    for (const close of closes) assert.equal(close.code, 1001);

    const accepted = outcomes.filter((o) => o.outcome.kind === 'answer' && o.outcome.status === 200).map((o) => o.item);
    const others = outcomes.filter((o) => !(o.outcome.kind === 'answer' && o.outcome.status === 200));
    const first503 = Math.min(...others.flatMap((o) => (o.outcome.kind === 'answer' && o.outcome.status === 503 ? [o.outcome.at] : [])));
    const failedEarly = others.filter((o) => o.outcome.kind === 'failed' && !(o.outcome.at > first503));
    assert.deepEqual(
      failedEarly.map((o) => o.outcome),
      [],
      'no request failed (reset, closed) before the first 503',
    );
    for (const { outcome } of others) {
      if (outcome.kind === 'failed') continue;
      assert.equal(outcome.status, 503, `a push answered ${outcome.status}: ${JSON.stringify(outcome.body)}`);
      assert.equal(outcome.body?.ok, false);
      assert.equal(outcome.body?.error?.code, 'SHUTTING_DOWN');
      assert.equal(outcome.connection, 'close', 'a 503 while draining closes its connection');
    }
    assert.ok(
      others.some((o) => o.outcome.kind === 'answer'),
      'pushes made while stopping were answered 503',
    );
    clients.forEach((client, i) => {
      const received = itemsOf(client);
      const got = new Set(received);
      const missing = accepted.filter((item) => !got.has(item));
      assert.deepEqual(missing, [], `client ${i} missed ${missing.length} of the ${accepted.length} pushes answered 200`);
      assert.equal(received.length, got.size, `client ${i} got some push twice`);
    });
    return { accepted: accepted.length, refused: others.length };
  } finally {
    agent.destroy();
    clients.forEach((client) => client.terminate());
  }
}

for (const [kind, binary, start] of [
  ['Redis', 'redis-server', startRedis],
  ['NATS', 'nats-server', startNats],
] as const) {
  describe(`graceful shutdown under pushes, with a ${kind} broker`, { skip: serviceMissing(binary) ?? false }, () => {
    let broker: Service | undefined;
    after(async () => {
      await broker?.stop();
    });

    it(`delivers every push answered 200 to every client, answers the rest 503 SHUTTING_DOWN, resets no request (${ITERATIONS} runs)`, {
      timeout: 90000,
    }, async () => {
      broker = await start();
      for (let i = 0; i < ITERATIONS; i++) {
        const target = await inProcess(broker.url);
        try {
          const { accepted, refused } = await shutdownUnderPushes(target, i);
          process.stderr.write(`${kind} run ${i}: ${accepted} pushes answered 200, ${refused} refused, all delivered to ${CLIENTS} clients\n`);
        } finally {
          await target.close();
        }
      }
    });
  });
}

for (const [signalled, ctrlC] of [
  ['SIGTERM to the primary', false],
  ['Ctrl-C (SIGINT to the primary and every worker at once)', true],
] as const) {
  describe(`graceful shutdown under pushes of pushgate --workers 2, ${signalled}`, () => {
    for (const [label, args] of [
      ['the primary relaying', []],
      ['a Redis broker', null],
    ] as const) {
      it(`over ${label}: every push answered 200 reaches the clients of both workers, the rest get 503 (${CLI_ITERATIONS} runs)`, {
        timeout: 90000,
        skip: args === null ? (serviceMissing('redis-server') ?? false) : false,
      }, async (t) => {
        let redis: Service | undefined;
        if (args === null) {
          redis = await startRedis();
          t.after(() => redis?.stop());
        }
        for (let i = 0; i < CLI_ITERATIONS; i++) {
          const target = await cliWorkers(args === null ? ['--broker', redis!.url] : [...args], ctrlC);
          const { accepted, refused } = await shutdownUnderPushes(target, i);
          process.stderr.write(
            `workers over ${label}, ${signalled}, run ${i}: ${accepted} pushes answered 200, ${refused} refused, all delivered to ${CLIENTS} clients\n`,
          );
        }
      });
    }
  });
}
