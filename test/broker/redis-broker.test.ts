import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type BrokerStatus, BrokerUnavailableError } from '../../src/broker/broker.js';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import { Inbox, useBrokerService } from '../helpers/broker.js';
import { freePort, freeze, serviceMissing, startRedis } from '../helpers/services.js';
import { outcomeThisTurn, waitFor, waitForAsync, withTimeout } from '../helpers/wait.js';

const missing = serviceMissing('redis-server');

/** Runs redis-cli with `args` (bounded) and returns its stdout. */
function redisCli(args: string[], ms = 10000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: ms }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function numsub(port: number, channel: string): Promise<number> {
  const out = (await redisCli(['-p', String(port), 'pubsub', 'numsub', channel])).trim().split('\n');
  return Number(out[1]);
}

describe('RedisBroker against redis-server', { skip: missing ?? false }, () => {
  const brokers = useBrokerService(startRedis, RedisBroker);
  const broker = async (url = brokers.service.url, options: ConstructorParameters<typeof RedisBroker>[1] = {}): Promise<RedisBroker> => {
    const created = brokers.make(url, options);
    await created.connect();
    return created;
  };

  it('publishes and subscribes between two brokers with binary-safe payloads', async () => {
    const publisher = await broker();
    const subscriber = await broker();
    assert.equal(publisher.kind, 'redis');
    assert.equal(publisher.status, 'up');
    const seen = new Inbox();
    await subscriber.subscribe('bin.test-1', seen.handler);
    const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const payloads = [allBytes, Buffer.alloc(0), Buffer.from('\r\n$-1\r\n*3\r\n\0'), randomBytes(256 * 1024), Buffer.from('é€😀', 'utf8')];
    for (const payload of payloads) await publisher.publish('bin.test-1', payload);
    await waitFor(() => seen.of('bin.test-1').length === payloads.length, 10000, 'every payload');
    const got = seen.of('bin.test-1');
    payloads.forEach((payload, i) => {
      assert.ok(Buffer.isBuffer(got[i]), `payload ${i} is a Buffer`);
      assert.ok(payload.equals(got[i]!), `payload ${i} arrives byte for byte`);
    });
    assert.deepEqual(seen.channels(), ['bin.test-1'], 'the handler is given the channel name');
    // The publisher itself subscribing works too (its subscriptions use their own connection).
    const own = new Inbox();
    await publisher.subscribe('bin.test-1', own.handler);
    await publisher.publish('bin.test-1', Buffer.from('self'));
    await waitFor(() => own.of('bin.test-1').length === 1 && seen.of('bin.test-1').length === payloads.length + 1, 10000, 'the message on both');
  });

  it('keeps the per-channel order of 1000 messages', async () => {
    const publisher = await broker();
    const subscriber = await broker();
    const seen = new Inbox();
    await subscriber.subscribe('order.a', seen.handler);
    await subscriber.subscribe('order.b', seen.handler);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) {
      sends.push(publisher.publish('order.a', Buffer.from(`a${i}`)));
      sends.push(publisher.publish('order.b', Buffer.from(`b${i}`)));
    }
    await Promise.all(sends);
    await waitFor(() => seen.of('order.a').length === 1000 && seen.of('order.b').length === 1000, 10000, '2 × 1000 messages');
    assert.deepEqual(
      seen.of('order.a').map(String),
      Array.from({ length: 1000 }, (_, i) => `a${i}`),
    );
    assert.deepEqual(
      seen.of('order.b').map(String),
      Array.from({ length: 1000 }, (_, i) => `b${i}`),
    );
  });

  it('stops delivering after unsubscribe, and a second subscribe replaces the handler', async () => {
    const publisher = await broker();
    const subscriber = await broker();
    const first = new Inbox();
    const second = new Inbox();
    await subscriber.subscribe('unsub.a', first.handler);
    await subscriber.subscribe('unsub.a', second.handler);
    await subscriber.subscribe('unsub.b', second.handler);
    assert.equal(subscriber.subscriptionCount, 2, 'one entry per channel');
    assert.equal(await numsub(brokers.service.port, 'unsub.a'), 1, 'one Redis subscription for the channel');
    await publisher.publish('unsub.a', Buffer.from('one'));
    await waitFor(() => second.of('unsub.a').length === 1, 10000, 'the message on the replacing handler');
    assert.equal(first.of('unsub.a').length, 0, 'the replaced handler gets nothing');

    await subscriber.unsubscribe('unsub.a');
    await subscriber.unsubscribe('unsub.never-subscribed');
    assert.equal(await numsub(brokers.service.port, 'unsub.a'), 0, 'the Redis subscription is gone');
    assert.equal(subscriber.subscriptionCount, 1, 'and its entry with it');
    await publisher.publish('unsub.a', Buffer.from('two'));
    // Same publishing and subscribing connections: a delivery on unsub.a would come before this marker.
    await publisher.publish('unsub.b', Buffer.from('marker'));
    await waitFor(() => second.of('unsub.b').length === 1, 10000, 'the marker');
    assert.deepEqual(second.of('unsub.a').map(String), ['one']);

    // Unsubscribe then subscribe at once (no await between) ends subscribed.
    const again = new Inbox();
    const pending = subscriber.unsubscribe('unsub.b');
    await subscriber.subscribe('unsub.b', again.handler);
    await pending;
    await publisher.publish('unsub.b', Buffer.from('back'));
    await waitFor(() => again.of('unsub.b').length === 1, 10000, 'the message after re-subscribing');
  });

  it('rejects connect() within the timeout when nothing listens, and close() then', async () => {
    const port = await freePort();
    const failing = brokers.make(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 500 });
    // Only a connect() that never gives up outlasts this bound (20 × its timeout).
    await assert.rejects(withTimeout(failing.connect(), 10_000, 'connect() to give up'), (err: unknown) => {
      assert.ok(err instanceof BrokerUnavailableError, String(err));
      assert.ok(err.cause instanceof Error, 'the cause is given');
      assert.match(err.message, /ECONNREFUSED|connect/i);
      return true;
    });
    assert.equal(failing.status, 'connecting');
    await assert.rejects(failing.publish('x', Buffer.from('x')), BrokerUnavailableError);
    await failing.close();
    assert.equal(failing.status, 'closed');

    // close() during a connect() that would take its whole (60 s) timeout ends it: long before that timeout.
    const closing = brokers.make(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 60_000 });
    const connecting = closing.connect();
    await closing.close();
    await assert.rejects(withTimeout(connecting, 10_000, 'connect() to end on close()'), BrokerUnavailableError);
  });

  it('close() is idempotent and rejects pending and later calls', async () => {
    const closing = await broker();
    await closing.subscribe('close.a', () => {});
    const pending = closing.publish('close.a', Buffer.from('in flight'));
    const statuses: BrokerStatus[] = [];
    closing.onStatus((status) => statuses.push(status));
    const first = closing.close();
    const second = closing.close();
    await assert.rejects(pending, BrokerUnavailableError);
    await Promise.all([first, second]);
    await closing.close();
    assert.equal(closing.status, 'closed');
    assert.deepEqual(statuses, ['closed'], 'one status change');
    await assert.rejects(closing.publish('close.a', Buffer.from('late')), BrokerUnavailableError);
    await assert.rejects(
      closing.subscribe('close.b', () => {}),
      BrokerUnavailableError,
    );
    await assert.rejects(closing.connect(), BrokerUnavailableError);
    await waitForAsync(async () => (await numsub(brokers.service.port, 'close.a')) === 0, 5000, 'the subscriber connection to close');
  });
});

describe('RedisBroker through a Redis outage', { skip: missing ?? false }, () => {
  const brokers = useBrokerService(startRedis, RedisBroker);
  let fake: Server | undefined;
  const fakeSockets = new Set<Socket>();

  after(async () => {
    for (const socket of fakeSockets) socket.destroy();
    if (fake?.listening) await new Promise((resolve) => fake!.close(resolve));
  });

  it('goes down, fails publishes fast, comes back with its subscriptions, and replays nothing', async () => {
    const redis = brokers.service;
    const logs: Array<{ who: string; msg: string; err?: Error }> = [];
    const statuses: Array<{ who: string; status: BrokerStatus; err?: Error }> = [];
    const make = async (who: string): Promise<RedisBroker> => {
      const created = brokers.make(redis.url, { log: (msg, err) => logs.push({ who, msg, err }) });
      created.onStatus((status, err) => statuses.push({ who, status, err }));
      await created.connect();
      return created;
    };
    const publisher = await make('publisher');
    const subscriber = await make('subscriber');
    const seen = new Inbox();
    await subscriber.subscribe('outage.ch', seen.handler);
    await subscriber.subscribe('outage.gone', seen.handler);
    await publisher.publish('outage.ch', Buffer.from('before'));
    await waitFor(() => seen.of('outage.ch').length === 1, 10000, 'the message before the outage');

    await redis.kill();
    await waitFor(() => publisher.status === 'down' && subscriber.status === 'down', 10000, 'both brokers to go down');
    for (const who of ['publisher', 'subscriber']) {
      const down = statuses.find((s) => s.who === who && s.status === 'down');
      assert.ok(down?.err instanceof Error, `${who} reports the error with its down status`);
    }

    // Refused at once: before the event loop turns, so no timeout (nor any I/O) was waited for.
    for (const [broker, text] of [
      [publisher, 'during-1'],
      [subscriber, 'during-2'],
    ] as const) {
      const outcome = await outcomeThisTurn(broker.publish('outage.ch', Buffer.from(text)));
      assert.ok(outcome.settled && outcome.error instanceof BrokerUnavailableError, `publish refused at once: ${JSON.stringify(outcome)}`);
    }

    // (Un)subscriptions asked for during the outage take effect on the way back up.
    await subscriber.subscribe('outage.late', seen.handler);
    await subscriber.unsubscribe('outage.gone');

    // Keep the outage going through several failed reconnection attempts: a stand-in on the port
    // accepts each connection and drops it at once. The log must not grow with them.
    let attempts = 0;
    fake = createServer((socket) => {
      attempts++;
      fakeSockets.add(socket);
      socket.on('error', () => {});
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => fake!.once('error', reject).listen(redis.port, '127.0.0.1', resolve));
    await waitFor(() => attempts >= 8, 10000, 'several reconnection attempts');
    assert.equal(publisher.status, 'down');
    assert.equal(subscriber.status, 'down');
    await assert.rejects(publisher.publish('outage.ch', Buffer.from('during-3')), BrokerUnavailableError);
    await new Promise((resolve) => fake!.close(resolve));
    for (const socket of fakeSockets) socket.destroy();

    await redis.restart();
    await waitFor(() => publisher.status === 'up' && subscriber.status === 'up', 10000, 'both brokers to come back up');

    for (const who of ['publisher', 'subscriber']) {
      const mine = logs.filter((l) => l.who === who);
      assert.equal(mine.filter((l) => l.err !== undefined).length, 1, `${who} logged the outage once: ${JSON.stringify(mine.map((l) => l.msg))}`);
      assert.deepEqual(
        statuses.filter((s) => s.who === who).map((s) => s.status),
        ['up', 'down', 'up'],
      );
    }

    // The subscription came back without re-subscribing by hand, and those asked for while down hold.
    assert.equal(await numsub(redis.port, 'outage.ch'), 1);
    assert.equal(await numsub(redis.port, 'outage.late'), 1);
    assert.equal(await numsub(redis.port, 'outage.gone'), 0);
    await publisher.publish('outage.gone', Buffer.from('not for us'));
    await publisher.publish('outage.late', Buffer.from('late'));
    await publisher.publish('outage.ch', Buffer.from('after'));
    await waitFor(() => seen.of('outage.ch').length >= 2 && seen.of('outage.late').length === 1, 10000, 'messages after the outage');
    // Nothing published during the outage shows up (a replay would have come before "after").
    assert.deepEqual(seen.of('outage.ch').map(String), ['before', 'after']);
    assert.deepEqual(seen.of('outage.gone').map(String), []);
    assert.deepEqual(seen.of('outage.late').map(String), ['late']);
  });
});

/** A TCP relay to `port` whose connections can be frozen: bytes held both ways, the sockets kept open. */
interface FreezingProxy {
  port: number;
  /** Relayed connections in the order they were opened; `subscriber` once SUBSCRIBE went through. */
  links: Array<{ subscriber: boolean; freeze(): void; thaw(): void }>;
  close(): Promise<void>;
}

async function freezingProxy(port: number): Promise<FreezingProxy> {
  const sockets = new Set<Socket>();
  const links: FreezingProxy['links'] = [];
  const server = createServer((client) => {
    const upstream = netConnect(port, '127.0.0.1');
    let frozen = false;
    const held: Array<[Socket, Buffer]> = [];
    const link = {
      subscriber: false,
      freeze: () => {
        frozen = true;
      },
      thaw: () => {
        frozen = false;
        for (const [to, data] of held.splice(0)) to.write(data);
      },
    };
    links.push(link);
    const relay = (from: Socket, to: Socket, fromClient: boolean): void => {
      sockets.add(from);
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
      from.on('data', (data: Buffer) => {
        if (fromClient && /SUBSCRIBE/i.test(data.toString('latin1'))) link.subscriber = true;
        if (frozen) held.push([to, data]);
        else to.write(data);
      });
    };
    relay(client, upstream, true);
    relay(upstream, client, false);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    links,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('RedisBroker when a connection stops answering (it stays open)', { skip: missing ?? false }, () => {
  const brokers = useBrokerService(startRedis, RedisBroker);
  const proxies: FreezingProxy[] = [];
  after(async () => {
    await Promise.all(proxies.map((p) => p.close()));
  });
  const liveness = { timeoutMs: 300, probeIntervalMs: 100 };
  const throughProxy = async (): Promise<{ broker: RedisBroker; proxy: FreezingProxy; statuses: BrokerStatus[] }> => {
    const proxy = await freezingProxy(brokers.service.port);
    proxies.push(proxy);
    const broker = brokers.make(`redis://127.0.0.1:${proxy.port}`, { liveness });
    const statuses: BrokerStatus[] = [];
    broker.onStatus((status) => statuses.push(status));
    await broker.connect();
    return { broker, proxy, statuses };
  };

  it('rejects a publish not answered within the timeout and goes down; back up once the connection answers', async () => {
    const { broker, proxy, statuses } = await throughProxy();
    const seen = new Inbox();
    await broker.subscribe('stall.pub', seen.handler);
    const commands = proxy.links.find((l) => !l.subscriber)!;
    commands.freeze();
    try {
      await assert.rejects(withTimeout(broker.publish('stall.pub', Buffer.from('during')), 5000, 'the publish to be refused'), BrokerUnavailableError);
      assert.equal(broker.status, 'down');
      await assert.rejects(withTimeout(broker.publish('stall.pub', Buffer.from('refused')), 1000, 'a refusal'), BrokerUnavailableError);
    } finally {
      commands.thaw();
    }
    await waitFor(() => broker.status === 'up', 10000, 'the broker to come back up');
    await broker.publish('stall.pub', Buffer.from('after'));
    await seen.waitForText('after');
    assert.deepEqual(statuses, ['up', 'down', 'up']);
  });

  it('goes down when only its subscriber connection stops answering (PINGed too), and back up when it answers', async () => {
    const { broker, proxy, statuses } = await throughProxy();
    const seen = new Inbox();
    await broker.subscribe('stall.sub', seen.handler);
    const subscriber = proxy.links.find((l) => l.subscriber);
    assert.ok(subscriber !== undefined, 'the subscriber connection is relayed');
    subscriber.freeze();
    try {
      await waitFor(() => broker.status === 'down', 5000, 'the probe of the subscriber connection to take the broker down');
      await assert.rejects(withTimeout(broker.publish('stall.sub', Buffer.from('refused')), 1000, 'a refusal'), BrokerUnavailableError);
    } finally {
      subscriber.thaw();
    }
    await waitFor(() => broker.status === 'up', 10000, 'the broker to come back up');
    await broker.publish('stall.sub', Buffer.from('after'));
    await seen.waitForText('after');
    assert.deepEqual(statuses, ['up', 'down', 'up']);
  });
});

/** A Redis Cluster of `count` masters on free loopback ports, started by the test. */
interface RedisCluster {
  ports: number[];
  /** The PID of the node on `port`. */
  pid(port: number): number;
  /** Kills the node on `port` by PID, as a crash would. */
  kill(port: number): Promise<void>;
  /** Starts the node on `port` again, with its nodes.conf (it rejoins the cluster). */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count && tries < 100; tries++) ports.add(await freePort());
  if (ports.size < count) throw new Error('cannot find free ports');
  return [...ports];
}

async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid!, 'SIGKILL');
  await withTimeout(exited, 10000, `redis-server ${child.pid} to die`);
}

async function startRedisCluster(count = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-redis-cluster-'));
  // Client ports and cluster bus ports (the default, port + 10000, may be out of range or taken).
  const free = await distinctFreePorts(2 * count);
  const ports = free.slice(0, count);
  const busPorts = free.slice(count);
  const children = new Map<number, ChildProcess>();
  const launch = async (i: number): Promise<void> => {
    const port = ports[i]!;
    children.set(
      port,
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-port',
          String(busPorts[i]),
        ],
        { stdio: 'ignore' },
      ),
    );
    await waitForAsync(() => portOpen(port), 10000, `redis-server on ${port}`);
  };
  const clusterOk = async (): Promise<void> => {
    for (const port of ports) {
      await waitForAsync(async () => /cluster_state:ok/.test(await redisCli(['-p', String(port), 'cluster', 'info'])), 10000, `cluster_state:ok on ${port}`);
    }
  };
  const cluster: RedisCluster = {
    ports,
    pid: (port) => children.get(port)?.pid ?? 0,
    kill: (port) => killChild(children.get(port)),
    async restart(port) {
      await launch(ports.indexOf(port));
      await clusterOk();
    },
    async stop() {
      await Promise.all([...children.values()].map(killChild));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(ports.map((_, i) => launch(i)));
    await redisCli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    await clusterOk();
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** The port of the master owning each slot range, from CLUSTER NODES. */
async function slotOwners(port: number): Promise<Array<{ from: number; to: number; port: number }>> {
  const owners: Array<{ from: number; to: number; port: number }> = [];
  for (const line of (await redisCli(['-p', String(port), 'cluster', 'nodes'])).trim().split('\n')) {
    const fields = line.split(' ');
    if (!fields[2]?.includes('master')) continue;
    const nodePort = Number(/:(\d+)@/.exec(fields[1] ?? '')?.[1]);
    for (const range of fields.slice(8)) {
      const [from, to] = range.split('-').map(Number);
      if (from !== undefined && !Number.isNaN(from)) owners.push({ from, to: to ?? from, port: nodePort });
    }
  }
  return owners;
}

describe('RedisBroker against a Redis Cluster', { skip: missing ?? false }, () => {
  const brokers = useBrokerService(() => startRedisCluster(3), RedisBroker);

  /** A channel name per shard, keyed by the port of the master that owns it. */
  async function channelPerShard(prefix: string): Promise<Map<number, string>> {
    const ports = brokers.service.ports;
    const owners = await slotOwners(ports[0]!);
    const channelOf = new Map<number, string>();
    for (let i = 0; channelOf.size < ports.length && i < 200; i++) {
      const channel = `${prefix}-${i}`;
      const slot = Number((await redisCli(['-p', String(ports[0]), 'cluster', 'keyslot', channel])).trim());
      const owner = owners.find((o) => slot >= o.from && slot <= o.to)!.port;
      if (!channelOf.has(owner)) channelOf.set(owner, channel);
    }
    assert.equal(channelOf.size, ports.length, 'found a channel on every shard');
    return channelOf;
  }

  async function shardNumSub(port: number, channel: string): Promise<number> {
    return Number((await redisCli(['-p', String(port), 'pubsub', 'shardnumsub', channel])).trim().split('\n')[1]);
  }

  it('uses sharded pub/sub, each channel on the shard that owns it', async () => {
    const ports = brokers.service.ports;
    const publisher = brokers.make(`redis://127.0.0.1:${ports[0]}`);
    const subscriber = brokers.make(`redis://127.0.0.1:${ports[1]}`);
    await Promise.all([publisher.connect(), subscriber.connect()]);
    assert.equal(publisher.kind, 'redis-cluster');
    assert.equal(subscriber.kind, 'redis-cluster');

    const channelOf = await channelPerShard('room.shard');
    const seen = new Inbox();
    for (const channel of channelOf.values()) await subscriber.subscribe(channel, seen.handler);
    for (const [owner, channel] of channelOf) {
      for (const port of ports) {
        assert.equal(await shardNumSub(port, channel), port === owner ? 1 : 0, `${channel} subscribed on ${owner} only (checked ${port})`);
      }
    }
    const sent = new Map<string, Buffer>();
    for (const channel of channelOf.values()) {
      const payload = Buffer.concat([Buffer.from(channel), Buffer.from([0, 255, 13, 10]), randomBytes(32)]);
      sent.set(channel, payload);
      await publisher.publish(channel, payload);
    }
    await waitFor(() => [...channelOf.values()].every((c) => seen.of(c).length === 1), 10000, 'a message on every shard');
    for (const [channel, payload] of sent) assert.ok(payload.equals(seen.of(channel)[0]!), `${channel} delivered byte for byte`);

    // Unsubscribing drops the shard subscription.
    const [firstOwner, firstChannel] = [...channelOf][0]!;
    await subscriber.unsubscribe(firstChannel);
    assert.equal(await shardNumSub(firstOwner, firstChannel), 0);
    await publisher.publish(firstChannel, Buffer.from('dropped'));
    const [, secondChannel] = [...channelOf][1]!;
    await publisher.publish(secondChannel, Buffer.from('marker'));
    await waitFor(() => seen.of(secondChannel).length === 2, 10000, 'the marker');
    assert.equal(seen.of(firstChannel).length, 1);
  });

  it('goes down when a node dies and comes back up with its sharded subscriptions', async () => {
    const ports = brokers.service.ports;
    const logs: string[] = [];
    const publisher = brokers.make(`redis://127.0.0.1:${ports[2]}`, { log: (msg) => logs.push(msg) });
    const subscriber = brokers.make(`redis://127.0.0.1:${ports[0]}`);
    await Promise.all([publisher.connect(), subscriber.connect()]);
    const channelOf = await channelPerShard('room.crash');
    const seen = new Inbox();
    for (const channel of channelOf.values()) await subscriber.subscribe(channel, seen.handler);

    const victim = ports[1]!;
    const channel = channelOf.get(victim)!;
    await brokers.service.kill(victim);
    await waitFor(() => publisher.status === 'down' && subscriber.status === 'down', 10000, 'both brokers to go down');
    const outcome = await outcomeThisTurn(publisher.publish(channel, Buffer.from('during')));
    assert.ok(outcome.settled && outcome.error instanceof BrokerUnavailableError, `publish refused at once: ${JSON.stringify(outcome)}`);

    await brokers.service.restart(victim);
    await waitFor(() => publisher.status === 'up' && subscriber.status === 'up', 10000, 'both brokers to come back up');
    assert.equal(logs.filter((l) => /lost/.test(l)).length, 1, `one outage logged: ${JSON.stringify(logs)}`);
    assert.equal(await shardNumSub(victim, channel), 1, 'the subscription is back on the restarted node');
    for (const c of channelOf.values()) await publisher.publish(c, Buffer.from(`after ${c}`));
    await waitFor(() => [...channelOf.values()].every((c) => seen.of(c).length === 1), 10000, 'a message on every shard');
    assert.deepEqual(seen.of(channel).map(String), [`after ${channel}`]);
  });

  it('goes down within the timeout when one master stops answering (SIGSTOP), and back up on SIGCONT', async () => {
    const ports = brokers.service.ports;
    const liveness = { timeoutMs: 300, probeIntervalMs: 100 };
    const publisher = brokers.make(`redis://127.0.0.1:${ports[0]}`, { liveness });
    const subscriber = brokers.make(`redis://127.0.0.1:${ports[2]}`, { liveness });
    await Promise.all([publisher.connect(), subscriber.connect()]);
    const channelOf = await channelPerShard('room.stall');
    const seen = new Inbox();
    for (const channel of channelOf.values()) await subscriber.subscribe(channel, seen.handler);

    const victim = ports[1]!;
    const pid = brokers.service.pid(victim);
    await freeze(pid);
    try {
      await assert.rejects(
        withTimeout(publisher.publish(channelOf.get(victim)!, Buffer.from('during')), 5000, 'the publish to be refused'),
        BrokerUnavailableError,
      );
      await waitFor(() => publisher.status === 'down' && subscriber.status === 'down', 5000, 'both brokers to go down');
      // Down for every shard: the cluster's pushes are refused as a whole.
      await assert.rejects(withTimeout(publisher.publish(channelOf.get(ports[0]!)!, Buffer.from('refused')), 1000, 'a refusal'), BrokerUnavailableError);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(() => publisher.status === 'up' && subscriber.status === 'up', 10000, 'both brokers to come back up');
    for (const c of channelOf.values()) await publisher.publish(c, Buffer.from(`after ${c}`));
    await waitFor(() => [...channelOf.values()].every((c) => seen.texts().includes(`after ${c}`)), 10000, 'a message on every shard');
  });
});
