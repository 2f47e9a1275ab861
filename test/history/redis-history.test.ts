import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createClient } from 'redis';
import { BrokerUnavailableError } from '../../src/broker/broker.js';
import { RedisBroker, type RedisBrokerOptions } from '../../src/broker/redis-broker.js';
import { roomChannel } from '../../src/cluster/channels.js';
import { readStamp } from '../../src/history/history-frame.js';
import type { HistoryPolicy } from '../../src/history/history-policy.js';
import type { HistoryStore, StreamPosition } from '../../src/history/history-store.js';
import { HISTORY_NEEDS_STANDALONE } from '../../src/history/redis-history.js';
import { Inbox, useBrokerService, useBrokers } from '../helpers/broker.js';
import { freeze, type Service, serviceMissing, startRedis } from '../helpers/services.js';
import { outcomeThisTurn, waitFor, waitForAsync, withTimeout } from '../helpers/wait.js';

const missing = serviceMissing('redis-server');

const POLICY: HistoryPolicy = { size: 1000, ttlMs: 300_000 };
/** Fast outage detection for the tests that stop Redis. */
const LIVENESS = { timeoutMs: 300, probeIntervalMs: 100 };

let rooms = 0;
/** A room (and its channel) no other test uses. */
function freshRoom(): { room: string; channel: string } {
  const room = `chat:é/${++rooms}:${process.pid}`;
  return { room, channel: roomChannel(room) };
}

/** The stamped messages `inbox` received, taken apart. */
function stamps(inbox: Inbox, channel: string): Array<{ first: number; epoch: string; body: string }> {
  return inbox.of(channel).map((payload) => {
    const stamp = readStamp(payload);
    assert.ok(stamp !== null, `stamped: ${payload.toString('latin1').slice(0, 60)}`);
    return { first: stamp.first, epoch: stamp.epoch, body: stamp.body.toString('latin1') };
  });
}

const items = (n: number, tag: string): string[] => Array.from({ length: n }, (_, i) => JSON.stringify({ tag, i }));

describe('RedisHistory against redis-server', { skip: missing ?? false }, () => {
  const brokers = useBrokerService(startRedis, RedisBroker);
  const broker = async (url = brokers.service.url, options: RedisBrokerOptions = {}): Promise<RedisBroker> => {
    const made = brokers.make(url, options);
    await made.connect();
    return made;
  };
  let inspector: ReturnType<typeof createClient> | undefined;
  /** A plain client on the test's Redis, to look at the keys. */
  const inspect = async (): Promise<ReturnType<typeof createClient>> => {
    if (inspector === undefined) {
      inspector = createClient({ url: brokers.service.url });
      inspector.on('error', () => {});
      await inspector.connect();
    }
    return inspector;
  };
  after(() => inspector?.destroy());

  it('assigns contiguous offsets and publishes each append stamped, in order, byte for byte', async () => {
    const publisher = await broker();
    const subscriber = await broker();
    const history = publisher.history();
    assert.equal(history.kind, 'redis');
    assert.equal(publisher.history(), history, 'one store per broker');
    const { room, channel } = freshRoom();
    const inbox = new Inbox();
    await subscriber.subscribe(channel, inbox.handler);

    const payloads = [Buffer.from('first'), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('\r\n$-1\r\n#9:x\n\0')];
    const sizes = [1, 3, 2];
    const positions: StreamPosition[] = [];
    for (const [i, payload] of payloads.entries()) positions.push(await history.append(room, POLICY, items(sizes[i]!, `p${i}`), channel, payload));
    assert.deepEqual(
      positions.map((p) => p.offset),
      [1, 4, 6],
      'each append resolves with the offset of its last item',
    );
    const epoch = positions[0]!.epoch;
    assert.ok(
      positions.every((p) => p.epoch === epoch),
      'one epoch',
    );

    await waitFor(() => inbox.of(channel).length === payloads.length, 5000, 'every stamped push');
    const got = stamps(inbox, channel);
    assert.deepEqual(
      got.map((s) => [s.first, s.epoch]),
      [
        [1, epoch],
        [2, epoch],
        [5, epoch],
      ],
    );
    for (const [i, payload] of payloads.entries()) assert.ok(readStamp(inbox.of(channel)[i]!)!.body.equals(payload), `payload ${i} arrives byte for byte`);

    const page = await history.read(room, POLICY, { limit: 100, reverse: false });
    assert.equal(page.epoch, epoch);
    assert.equal(page.top, 6);
    assert.equal(page.first, 1);
    assert.deepEqual(
      page.entries,
      [...items(1, 'p0'), ...items(3, 'p1'), ...items(2, 'p2')].map((item, i) => ({ offset: i + 1, item })),
    );
  });

  it('reads after an offset, before one (reversed), and at most the limit', async () => {
    const history = (await broker()).history();
    const { room, channel } = freshRoom();
    for (let i = 1; i <= 10; i++) await history.append(room, POLICY, [`{"n":${i}}`], channel, Buffer.from(`push ${i}`));
    const offsets = async (query: Parameters<HistoryStore['read']>[2]): Promise<number[]> => {
      const page = await history.read(room, POLICY, query);
      assert.equal(page.top, 10);
      assert.equal(page.first, 1);
      for (const entry of page.entries) assert.equal(entry.item, `{"n":${entry.offset}}`);
      return page.entries.map((e) => e.offset);
    };
    assert.deepEqual(await offsets({ limit: 100, reverse: false }), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(await offsets({ since: 3, limit: 4, reverse: false }), [4, 5, 6, 7]);
    assert.deepEqual(await offsets({ since: 0, limit: 2, reverse: false }), [1, 2]);
    assert.deepEqual(await offsets({ since: 10, limit: 5, reverse: false }), []);
    assert.deepEqual(await offsets({ since: 99, limit: 5, reverse: false }), []);
    assert.deepEqual(await offsets({ limit: 3, reverse: true }), [10, 9, 8]);
    assert.deepEqual(await offsets({ since: 5, limit: 10, reverse: true }), [4, 3, 2, 1]);
    assert.deepEqual(await offsets({ since: 2, limit: 10, reverse: true }), [1]);
    assert.deepEqual(await offsets({ since: 1, limit: 10, reverse: true }), []);
    assert.deepEqual(await offsets({ since: 0, limit: 10, reverse: true }), []);
    assert.deepEqual(await offsets({ since: 3, limit: 0, reverse: false }), [4], 'a limit below 1 reads one');
    await assert.rejects(history.read(room, POLICY, { since: -1, limit: 1, reverse: false }), RangeError);
  });

  it('reading a room never appended to creates its epoch, which then stays', async () => {
    const history = (await broker()).history();
    const { room, channel } = freshRoom();
    const empty = await history.read(room, POLICY, { limit: 10, reverse: false });
    assert.deepEqual({ ...empty, epoch: '' }, { epoch: '', top: 0, first: 1, entries: [] });
    assert.equal((await history.read(room, POLICY, { limit: 10, reverse: true })).epoch, empty.epoch, 'the epoch the read made is kept');
    const position = await history.append(room, POLICY, ['1'], channel, Buffer.from('x'));
    assert.deepEqual(position, { offset: 1, epoch: empty.epoch }, 'the first append continues the epoch the read made');
  });

  it('keeps the last SIZE items: first moves up, offsets go on', async () => {
    const history = (await broker()).history();
    const { room, channel } = freshRoom();
    const policy = { size: 5, ttlMs: 300_000 };
    await history.append(room, policy, items(4, 'a'), channel, Buffer.from('a'));
    const last = await history.append(room, policy, items(8, 'b'), channel, Buffer.from('b'));
    assert.equal(last.offset, 12);
    const page = await history.read(room, policy, { since: 2, limit: 100, reverse: false });
    assert.equal(page.top, 12);
    assert.equal(page.first, 8, 'items 1..7 were trimmed');
    assert.deepEqual(
      page.entries.map((e) => e.offset),
      [8, 9, 10, 11, 12],
      'a read from before first gets what is held (the caller sees since + 1 < first)',
    );
    assert.equal(page.entries[0]!.item, items(8, 'b')[3]);
    const redis = await inspect();
    assert.equal(await redis.xLen(`pushgate.hist.${Buffer.from(room).toString('base64url')}`), 5, 'the stream holds SIZE entries');
    // A smaller policy (the configuration changed) trims on read as well.
    const smaller = await history.read(room, { size: 2, ttlMs: 300_000 }, { limit: 100, reverse: false });
    assert.equal(smaller.first, 11);
    assert.deepEqual(
      smaller.entries.map((e) => e.offset),
      [11, 12],
    );
  });

  it('expires items after the TTL, keeps the epoch and top, and sets key expiries', async () => {
    const history = (await broker()).history();
    const { room, channel } = freshRoom();
    const policy = { size: 100, ttlMs: 1000 };
    const { epoch } = await history.append(room, policy, items(3, 'old'), channel, Buffer.from('old'));
    const name = Buffer.from(room).toString('base64url');
    const redis = await inspect();
    const streamTtl = await redis.pTTL(`pushgate.hist.${name}`);
    const metaTtl = await redis.pTTL(`pushgate.hmeta.${name}`);
    assert.ok(streamTtl > 0 && streamTtl <= 1000, `the stream expires with its last item: ${streamTtl}`);
    assert.ok(metaTtl > 3_600_000 && metaTtl <= 3_601_000, `the meta outlives it by an hour: ${metaTtl}`);
    const fresh = await history.read(room, policy, { limit: 10, reverse: false });
    assert.equal(fresh.entries.length, 3);

    await waitForAsync(
      async () => {
        const page = await history.read(room, policy, { limit: 10, reverse: false });
        assert.equal(page.epoch, epoch);
        assert.equal(page.top, 3);
        return page.entries.length === 0 && page.first === 4;
      },
      5000,
      'the items to expire',
    );
    const next = await history.append(room, policy, ['"new"'], channel, Buffer.from('new'));
    assert.deepEqual(next, { offset: 4, epoch }, 'offsets go on in the same epoch after the items expired');
    const page = await history.read(room, policy, { limit: 10, reverse: false });
    assert.deepEqual(page.entries, [{ offset: 4, item: '"new"' }]);
    assert.equal(page.first, 4);
  });

  it('expires each item TTL after its own append, not with the stream', async () => {
    const history = (await broker()).history();
    const { room, channel } = freshRoom();
    const policy = { size: 100, ttlMs: 1000 };
    const appendedAt = Date.now();
    await history.append(room, policy, ['"old"'], channel, Buffer.from('old'));
    // The second append renews the stream's key expiry: only the per-item times can drop the first.
    await waitFor(() => Date.now() >= appendedAt + policy.ttlMs / 2, 5000, 'half the TTL');
    const { offset } = await history.append(room, policy, ['"new"'], channel, Buffer.from('new'));
    await waitForAsync(
      async () => {
        const page = await history.read(room, policy, { limit: 10, reverse: false });
        return page.first === offset && page.entries.length === 1 && page.entries[0]!.item === '"new"';
      },
      5000,
      'the older item alone to expire',
    );
  });

  it('a room whose meta was lost (evicted) starts a new epoch and drops the old items', async () => {
    const history = (await broker()).history();
    const { room, channel } = freshRoom();
    const old = await history.append(room, POLICY, items(3, 'old'), channel, Buffer.from('old'));
    const redis = await inspect();
    assert.equal(await redis.del(`pushgate.hmeta.${Buffer.from(room).toString('base64url')}`), 1);
    const next = await history.append(room, POLICY, ['"new"'], channel, Buffer.from('new'));
    assert.equal(next.offset, 1);
    assert.notEqual(next.epoch, old.epoch);
    const page = await history.read(room, POLICY, { limit: 10, reverse: false });
    assert.deepEqual(page, { epoch: next.epoch, top: 1, first: 1, entries: [{ offset: 1, item: '"new"' }] });
  });

  it('two gateways appending to one room get disjoint contiguous offsets, published in offset order', async () => {
    const nodeA = await broker();
    const nodeB = await broker();
    const subscriber = await broker();
    const { room, channel } = freshRoom();
    const inbox = new Inbox();
    await subscriber.subscribe(channel, inbox.handler);
    const appends: Array<Promise<{ n: number; tag: string; position: StreamPosition }>> = [];
    for (let i = 0; i < 150; i++) {
      for (const [node, name] of [
        [nodeA, 'A'],
        [nodeB, 'B'],
      ] as const) {
        const n = 1 + ((i * 7 + name.length) % 3);
        const tag = `${name}${i}`;
        appends.push(
          node
            .history()
            .append(room, POLICY, items(n, tag), channel, Buffer.from(tag))
            .then((position) => ({ n, tag, position })),
        );
      }
    }
    const done = await Promise.all(appends);
    const total = done.reduce((sum, d) => sum + d.n, 0);
    const epochs = new Set(done.map((d) => d.position.epoch));
    assert.equal(epochs.size, 1, 'one epoch');
    // The ranges [last - n + 1, last] tile 1..total exactly.
    const ranges = done.map((d) => ({ from: d.position.offset - d.n + 1, to: d.position.offset, tag: d.tag })).sort((a, b) => a.from - b.from);
    let expected = 1;
    for (const range of ranges) {
      assert.equal(range.from, expected, `no gap or overlap at ${range.tag}`);
      expected = range.to + 1;
    }
    assert.equal(expected, total + 1);

    await waitFor(() => inbox.of(channel).length === done.length, 10000, `${done.length} pushes`);
    const got = stamps(inbox, channel);
    assert.deepEqual(
      got.map((s) => [s.first, s.body]),
      ranges.map((r) => [r.from, r.tag]),
      'every push arrives once, in offset order, with the offset of its first item',
    );
    const page = await nodeA.history().read(room, POLICY, { limit: 1000, reverse: false });
    assert.equal(page.top, total);
    assert.deepEqual(
      page.entries.map((e) => e.offset),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    for (const range of ranges) assert.equal(page.entries[range.from - 1]!.item, JSON.stringify({ tag: range.tag, i: 0 }));
  });
});

describe('RedisHistory when Redis fails', { skip: missing ?? false }, () => {
  const brokers = useBrokers(RedisBroker);
  const services: Service[] = [];
  after(async () => {
    for (const service of services) await service.stop();
  });
  const setup = async (): Promise<{ redis: Service; publisher: RedisBroker; subscriber: RedisBroker; history: HistoryStore }> => {
    const redis = await startRedis();
    services.push(redis);
    const publisher = brokers.make(redis.url, { liveness: LIVENESS });
    const subscriber = brokers.make(redis.url, { liveness: LIVENESS });
    await Promise.all([publisher.connect(), subscriber.connect()]);
    return { redis, publisher, subscriber, history: publisher.history() };
  };

  it('a Redis restarted without persistence starts a new epoch at offset 1; appends while down are refused at once', async () => {
    const { redis, publisher, subscriber, history } = await setup();
    const { room, channel } = freshRoom();
    const inbox = new Inbox();
    await subscriber.subscribe(channel, inbox.handler);
    const before = await history.append(room, POLICY, items(3, 'before'), channel, Buffer.from('before'));
    assert.equal(before.offset, 3);

    await redis.kill();
    await waitFor(() => publisher.status === 'down', 10000, 'the broker to go down');
    const refused = await outcomeThisTurn(history.append(room, POLICY, ['"during"'], channel, Buffer.from('during')));
    assert.ok(refused.settled && refused.error instanceof BrokerUnavailableError, `append refused at once: ${JSON.stringify(refused)}`);
    const unread = await outcomeThisTurn(history.read(room, POLICY, { limit: 10, reverse: false }));
    assert.ok(unread.settled && unread.error instanceof BrokerUnavailableError, 'read refused at once');

    await redis.restart();
    await waitFor(() => publisher.status === 'up' && subscriber.status === 'up', 10000, 'both brokers to come back up');
    // Redis lost its script cache too: EVALSHA answers NOSCRIPT and the store sends the script.
    const later = await history.append(room, POLICY, ['"after"'], channel, Buffer.from('after'));
    assert.equal(later.offset, 1, 'offsets restart at 1');
    assert.notEqual(later.epoch, before.epoch, 'in a new epoch');
    const page = await history.read(room, POLICY, { limit: 10, reverse: false });
    assert.deepEqual(page, { epoch: later.epoch, top: 1, first: 1, entries: [{ offset: 1, item: '"after"' }] });
    await waitFor(() => inbox.of(channel).length === 2, 5000, 'the push after the restart');
    assert.deepEqual(
      stamps(inbox, channel).map((s) => [s.first, s.epoch, s.body]),
      [
        [1, before.epoch, 'before'],
        [1, later.epoch, 'after'],
      ],
      'the push refused while down was never published',
    );
  });

  it('a reader at the old epoch learns it is gone after the restart', async () => {
    const { redis, publisher, history } = await setup();
    const { room, channel } = freshRoom();
    const { epoch } = await history.append(room, POLICY, items(2, 'x'), channel, Buffer.from('x'));
    await redis.kill();
    await redis.restart();
    await waitFor(() => publisher.status === 'up', 10000, 'the broker to come back up');
    // Once up, a read goes to the new server (the client reconnected), whose script cache is empty.
    const page = await history.read(room, POLICY, { since: 2, limit: 10, reverse: false });
    assert.notEqual(page.epoch, epoch);
    assert.deepEqual({ ...page, epoch: '' }, { epoch: '', top: 0, first: 1, entries: [] });
  });

  it('an append Redis does not answer in time is refused, and its deadline keeps Redis from taking it later', async () => {
    const { redis, publisher, subscriber, history } = await setup();
    const { room, channel } = freshRoom();
    const inbox = new Inbox();
    await subscriber.subscribe(channel, inbox.handler);
    const before = await history.append(room, POLICY, ['"before"'], channel, Buffer.from('before'));
    await waitFor(() => inbox.of(channel).length === 1, 5000, 'the push before the stall');

    await freeze(redis.pid);
    try {
      // As the cluster layer does: the deadline is when the publisher has given up (here before the timeout).
      const stalled = history.append(room, POLICY, ['"stalled"'], channel, Buffer.from('stalled'), Date.now() + LIVENESS.timeoutMs / 3);
      await assert.rejects(withTimeout(stalled, 5000, 'the append to be refused'), BrokerUnavailableError);
      assert.equal(publisher.status, 'down', 'an unanswered append turns the broker down');
      const refused = await outcomeThisTurn(history.append(room, POLICY, ['"while-down"'], channel, Buffer.from('while-down')));
      assert.ok(refused.settled && refused.error instanceof BrokerUnavailableError, 'refused at once while down');
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
    await waitFor(() => publisher.status === 'up' && subscriber.status === 'up', 10000, 'both brokers to come back up');
    // Redis ran the stalled script on resuming, past its deadline: it took no step.
    const next = await history.append(room, POLICY, ['"next"'], channel, Buffer.from('next'));
    assert.deepEqual(next, { offset: 2, epoch: before.epoch }, 'the stalled item took no offset');
    await waitFor(() => inbox.of(channel).length >= 2, 5000, 'the push after the stall');
    assert.deepEqual(
      stamps(inbox, channel).map((s) => [s.first, s.body]),
      [
        [1, 'before'],
        [2, 'next'],
      ],
      'the stalled push was never published',
    );
    const page = await history.read(room, POLICY, { limit: 10, reverse: false });
    assert.deepEqual(
      page.entries.map((e) => e.item),
      ['"before"', '"next"'],
    );
  });

  it('refuses Redis Cluster: history() throws there, and connect() fails once history was asked for', async () => {
    const node = await startRedis(['--cluster-enabled', 'yes']);
    services.push(node);
    const admin = createClient({ url: node.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await admin.sendCommand(['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
      await waitForAsync(async () => /cluster_state:ok/.test(String(await admin.sendCommand(['CLUSTER', 'INFO']))), 10000, 'cluster_state:ok');
    } finally {
      admin.destroy();
    }
    const clustered = brokers.make(node.url);
    await clustered.connect();
    assert.equal(clustered.kind, 'redis-cluster');
    assert.throws(() => clustered.history(), { message: HISTORY_NEEDS_STANDALONE });

    const early = brokers.make(node.url);
    early.history();
    await assert.rejects(early.connect(), (err: Error) => err instanceof BrokerUnavailableError && err.message.includes(HISTORY_NEEDS_STANDALONE));
  });
});
