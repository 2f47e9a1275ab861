import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstreamManager, type StoredMsg } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { BrokerUnavailableError } from '../../src/broker/broker.js';
import { NatsBroker, type NatsBrokerOptions } from '../../src/broker/nats-broker.js';
import { roomChannel } from '../../src/cluster/channels.js';
import { decodePushEnvelope, encodePushEnvelope } from '../../src/cluster/envelope.js';
import { readStamp } from '../../src/history/history-frame.js';
import type { HistoryPolicy } from '../../src/history/history-policy.js';
import type { HistoryPage, HistoryStore, StreamPosition } from '../../src/history/history-store.js';
import { HISTORY_STREAM, historySubject } from '../../src/history/jetstream-history.js';
import { Inbox, useBrokerService } from '../helpers/broker.js';
import { freeze, type JetStreamService, serviceMissing, startNats, startNatsJetStream } from '../helpers/services.js';
import { waitFor, waitForAsync, withTimeout } from '../helpers/wait.js';

// Against a real nats-server run with -js. Without one installed the suite is skipped loudly (an error in CI).
const missing = serviceMissing('nats-server');

const POLICY: HistoryPolicy = { size: 1000, ttlMs: 600_000 };
/** Short liveness timing, so that a stalled server is noticed within a test. */
const QUICK: NatsBrokerOptions = { liveness: { timeoutMs: 1000, probeIntervalMs: 200 } };

let rooms = 0;
/** A room of its own for each test (the stream is shared by the tests of a server). */
function freshRoom(name: string): string {
  rooms += 1;
  return `${name}:${rooms}:${Date.now()}`;
}

function append(store: HistoryStore, room: string, items: string[], policy = POLICY, deadline?: number): Promise<StreamPosition> {
  return store.append(room, policy, items, roomChannel(room), encodePushEnvelope({ kind: 'room', room, items }), deadline);
}

/** What a handler got, taken apart: each message's first offset, epoch and items. */
function received(inbox: Inbox, room: string): Array<{ first: number; epoch: string; items: readonly string[] }> {
  return inbox.of(roomChannel(room)).map((payload) => {
    const stamp = readStamp(payload);
    assert.ok(stamp !== null, `stamped: ${payload.toString().slice(0, 60)}`);
    const decoded = decodePushEnvelope(stamp.body);
    assert.ok(decoded !== null && decoded.push.kind === 'room', 'a room push');
    return { first: stamp.first, epoch: stamp.epoch, items: decoded.push.items };
  });
}

/** The offsets a sequence of received pushes covers, in order. */
function offsetsOf(pushes: Array<{ first: number; items: readonly string[] }>): number[] {
  return pushes.flatMap((p) => p.items.map((_, i) => p.first + i));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

function isUnavailable(err: unknown): boolean {
  assert.ok(err instanceof BrokerUnavailableError, `expected BrokerUnavailableError, got ${String(err)}`);
  return true;
}

async function connected(...brokers: NatsBroker[]): Promise<void> {
  await withTimeout(Promise.all(brokers.map((b) => b.connect())), 10000, 'connect');
}

async function upAgain(...brokers: NatsBroker[]): Promise<void> {
  await waitFor(() => brokers.every((b) => b.status === 'up'), 20000, 'the brokers to be up again');
}

describe('JetStream history against nats-server -js', { skip: missing ?? false }, () => {
  const brokers = useBrokerService(startNatsJetStream, NatsBroker);

  it('gives contiguous offsets across appends; a subscriber of the room channel gets each push stamped, in order', { timeout: 30000 }, async () => {
    const a = brokers.make(brokers.service.url);
    await connected(a);
    const store = a.history();
    assert.equal(store.kind, 'jetstream');
    const room = freshRoom('chat');
    const inbox = new Inbox();
    await a.subscribe(roomChannel(room), inbox.handler);

    const p1 = await append(store, room, ['"a"']);
    const p2 = await append(store, room, ['"b"', '{"c":[1,2]}', '3']);
    const p3 = await append(store, room, ['"d"', 'null']);
    assert.deepEqual([p1.offset, p2.offset, p3.offset], [1, 4, 6]);
    assert.ok(p1.epoch === p2.epoch && p2.epoch === p3.epoch, 'one epoch');
    // Concurrent appends from one node: each gets its own offsets.
    const concurrent = await withTimeout(Promise.all(range(1, 20).map((i) => append(store, room, [String(i)]))), 10000, '20 concurrent appends');
    assert.deepEqual(
      concurrent.map((p) => p.offset).sort((x, y) => x - y),
      range(7, 26),
    );

    await inbox.waitForCount(23, 10000);
    const pushes = received(inbox, room);
    assert.deepEqual(offsetsOf(pushes), range(1, 26), 'every offset once, in order');
    assert.ok(
      pushes.every((p) => p.epoch === p1.epoch),
      'stamped with the epoch',
    );
    assert.deepEqual(pushes[1]!.items, ['"b"', '{"c":[1,2]}', '3'], 'the items as appended');

    const page = await store.read(room, POLICY, { limit: 100, reverse: false });
    assert.equal(page.epoch, p1.epoch);
    assert.equal(page.top, 26);
    assert.equal(page.first, 1);
    assert.deepEqual(
      page.entries.map((e) => e.offset),
      range(1, 26),
    );
    assert.deepEqual(
      page.entries.slice(0, 6).map((e) => e.item),
      ['"a"', '"b"', '{"c":[1,2]}', '3', '"d"', 'null'],
    );
  });

  it('leaves channels of rooms without history to core NATS, and delivers nothing to channels nobody subscribes', { timeout: 30000 }, async () => {
    const a = brokers.make(brokers.service.url);
    const b = brokers.make(brokers.service.url);
    await connected(a, b);
    const store = a.history();
    b.history();
    const plain = freshRoom('plain');
    const kept = freshRoom('kept');
    const other = freshRoom('other');
    const inbox = new Inbox();
    await b.subscribe(roomChannel(plain), inbox.handler);
    await b.subscribe(roomChannel(kept), inbox.handler);
    await a.publish(roomChannel(plain), Buffer.from('plain push'));
    await append(store, other, ['"not for b"']);
    await append(store, kept, ['"kept"']);
    await waitFor(() => inbox.messages.length >= 2, 10000, 'both pushes');
    assert.deepEqual(inbox.of(roomChannel(plain)), [Buffer.from('plain push')], 'a core-NATS publish arrives as it was sent');
    assert.deepEqual(
      received(inbox, kept).map((p) => p.items),
      [['"kept"']],
    );
    assert.deepEqual(inbox.channels().sort(), [roomChannel(kept), roomChannel(plain)].sort(), 'nothing of the room nobody subscribes to');
  });

  it('two nodes appending to one room at once: disjoint contiguous offsets, and every subscriber sees one order', { timeout: 30000 }, async () => {
    const a = brokers.make(brokers.service.url);
    const b = brokers.make(brokers.service.url);
    await connected(a, b);
    const room = freshRoom('race');
    const atA = new Inbox();
    const atB = new Inbox();
    await a.subscribe(roomChannel(room), atA.handler);
    await b.subscribe(roomChannel(room), atB.handler);
    const storeA = a.history();
    const storeB = b.history();
    const positions = await withTimeout(
      Promise.all([...range(1, 60).map((i) => append(storeA, room, [`"a${i}"`])), ...range(1, 60).map((i) => append(storeB, room, [`"b${i}"`, `"b${i}+"`]))]),
      20000,
      '120 appends from two nodes',
    );
    const epochs = new Set(positions.map((p) => p.epoch));
    assert.equal(epochs.size, 1, 'one epoch');
    // Item i of a push of n has offset last - (n - 1 - i): the pushes' ranges tile 1..180.
    const covered = positions.flatMap((p, k) => (k < 60 ? [p.offset] : [p.offset - 1, p.offset])).sort((x, y) => x - y);
    assert.deepEqual(covered, range(1, 180));

    await atA.waitForCount(120, 10000);
    await atB.waitForCount(120, 10000);
    const seenA = received(atA, room);
    const seenB = received(atB, room);
    assert.deepEqual(offsetsOf(seenA), range(1, 180), 'node a: in offset order, none missing or twice');
    assert.deepEqual(seenB, seenA, 'node b saw the same pushes in the same order');
    const page = await storeB.read(room, POLICY, { limit: 1000, reverse: false });
    assert.deepEqual(
      page.entries.map((e) => e.item),
      seenA.flatMap((p) => p.items),
      'history holds what went out live',
    );
  });

  it('reads since/limit/reverse, keeps the last `size` items (cutting a push), and drops items past the TTL but keeps the epoch', {
    timeout: 30000,
  }, async () => {
    const a = brokers.make(brokers.service.url);
    await connected(a);
    const store = a.history();
    const small: HistoryPolicy = { size: 5, ttlMs: 600_000 };
    const room = freshRoom('trim');
    for (let i = 1; i <= 6; i++) await append(store, room, [`"${i}"`], small);
    const last = await append(store, room, ['"7"', '"8"', '"9"'], small); // offsets 7..9
    assert.equal(last.offset, 9);
    const read = (since: number | undefined, limit: number, reverse: boolean) => store.read(room, small, { since, limit, reverse });

    const all = await read(undefined, 100, false);
    assert.equal(all.top, 9);
    assert.equal(all.first, 5, 'the last 5 items');
    assert.equal(all.epoch, last.epoch);
    assert.deepEqual(
      all.entries.map((e) => [e.offset, e.item]),
      [
        [5, '"5"'],
        [6, '"6"'],
        [7, '"7"'],
        [8, '"8"'],
        [9, '"9"'],
      ],
    );
    assert.deepEqual(
      (await read(5, 2, false)).entries.map((e) => e.offset),
      [6, 7],
    );
    assert.deepEqual(
      (await read(6, 100, false)).entries.map((e) => e.offset),
      [7, 8, 9],
      'from inside a push',
    );
    assert.deepEqual(
      (await read(undefined, 2, true)).entries.map((e) => e.offset),
      [9, 8],
    );
    assert.deepEqual(
      (await read(8, 10, true)).entries.map((e) => e.offset),
      [7, 6, 5],
    );
    assert.deepEqual((await read(9, 10, false)).entries, [], 'nothing after the top');
    assert.deepEqual(
      (await read(1, 2, false)).entries.map((e) => e.offset),
      [5, 6],
      'a client behind `first` gets what is held',
    );

    // A room nobody appended to: its epoch is made by the read, and is the one its first push gets.
    const fresh = freshRoom('fresh');
    const empty = await store.read(fresh, small, { limit: 10, reverse: false });
    assert.deepEqual({ top: empty.top, first: empty.first, entries: empty.entries }, { top: 0, first: 1, entries: [] });
    const again = await store.read(fresh, small, { limit: 10, reverse: false });
    assert.equal(again.epoch, empty.epoch, 'reading again keeps it');
    const firstPush = await append(store, fresh, ['"x"'], small);
    assert.deepEqual(firstPush, { offset: 1, epoch: empty.epoch });

    // TTL: items older than the policy's are gone from reads; the epoch and the top stay.
    const brief: HistoryPolicy = { size: 100, ttlMs: 400 };
    const ttlRoom = freshRoom('ttl');
    await append(store, ttlRoom, ['"old1"'], brief);
    const old = await append(store, ttlRoom, ['"old2"'], brief);
    let expired: HistoryPage | undefined;
    await waitForAsync(
      async () => {
        expired = await store.read(ttlRoom, brief, { limit: 10, reverse: false });
        return expired.entries.length === 0;
      },
      10000,
      'the items to expire',
    );
    assert.ok(expired !== undefined);
    assert.deepEqual(
      { top: expired.top, first: expired.first, entries: expired.entries, epoch: expired.epoch },
      { top: 2, first: 3, entries: [], epoch: old.epoch },
    );
    const after = await append(store, ttlRoom, ['"new"'], brief);
    assert.deepEqual(after, { offset: 3, epoch: old.epoch }, 'the stream goes on where it was');
    const page = await store.read(ttlRoom, brief, { limit: 10, reverse: false });
    assert.deepEqual(
      page.entries.map((e) => [e.offset, e.item]),
      [[3, '"new"']],
    );
  });

  it("packs one node's concurrent appends to a room into few messages; each push still goes out, and reads, on its own", { timeout: 30000 }, async () => {
    const a = brokers.make(brokers.service.url);
    await connected(a);
    const store = a.history();
    const room = freshRoom('packed');
    const inbox = new Inbox();
    await a.subscribe(roomChannel(room), inbox.handler);
    const positions = await withTimeout(Promise.all(range(1, 50).map((i) => append(store, room, [`"p${i}"`, `"q${i}"`]))), 10000, '50 concurrent appends');
    assert.deepEqual(
      positions.map((p) => p.offset),
      range(1, 50).map((i) => 2 * i),
      'in call order',
    );
    const nc = await natsConnect({ servers: brokers.service.url });
    try {
      const jsm = await jetstreamManager(nc);
      const subject = historySubject(roomChannel(room));
      const info = await jsm.streams.info(HISTORY_STREAM, { subjects_filter: subject });
      const messages = info.state.subjects?.[subject] ?? 0;
      assert.ok(messages >= 1 && messages < 50, `${messages} messages for 50 pushes`);
    } finally {
      await nc.close();
    }
    await inbox.waitForCount(50, 10000);
    const pushes = received(inbox, room);
    assert.deepEqual(
      pushes.map((p) => [p.first, ...p.items]),
      range(1, 50).map((i) => [2 * i - 1, `"p${i}"`, `"q${i}"`]),
    );
    const page = await store.read(room, POLICY, { since: 45, limit: 4, reverse: false });
    assert.deepEqual(
      page.entries.map((e) => [e.offset, e.item]),
      [
        [46, '"q23"'],
        [47, '"p24"'],
        [48, '"q24"'],
        [49, '"p25"'],
      ],
    );
    const back = await store.read(room, POLICY, { since: 4, limit: 10, reverse: true });
    assert.deepEqual(
      back.entries.map((e) => e.item),
      ['"p2"', '"q1"', '"p1"'],
    );
  });

  it('sets the stream up as documented, and raises its per-room limit for a larger policy', { timeout: 30000 }, async () => {
    const a = brokers.make(brokers.service.url);
    await connected(a);
    const store = a.history();
    const room = freshRoom('limits');
    await append(store, room, ['1'], { size: 1234, ttlMs: 2 * 3_600_000 });
    const nc = await natsConnect({ servers: brokers.service.url });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(HISTORY_STREAM);
      assert.deepEqual(info.config.subjects, ['pushgate.hist.>']);
      assert.equal(info.config.storage, 'file');
      assert.equal(info.config.discard, 'old');
      assert.equal(info.config.allow_direct, true);
      assert.ok(info.config.max_msgs_per_subject >= 1234, `max_msgs_per_subject ${info.config.max_msgs_per_subject}`);
      assert.ok(info.config.max_age >= 2 * 3_600_000 * 1e6, `max_age ${info.config.max_age}`);
      const last = await jsm.direct.getMessage(HISTORY_STREAM, { last_by_subj: historySubject(roomChannel(room)) });
      assert.ok(last !== null);
      assert.equal(last.header.get('Pushgate-Count'), '1');
      assert.equal(readStamp(Buffer.from(last.data))?.first, 1);
    } finally {
      await nc.close();
    }
  });
});

describe('JetStream history against a nats-server without JetStream', { skip: missing ?? false }, () => {
  const brokers = useBrokerService(startNats, NatsBroker);

  it('appends and reads reject with BrokerUnavailableError saying so; plain publishes still work', { timeout: 30000 }, async () => {
    const a = brokers.make(brokers.service.url);
    await connected(a);
    const store = a.history();
    const room = freshRoom('nojs');
    await assert.rejects(append(store, room, ['1']), (err: unknown) => isUnavailable(err) && /-js/.test((err as Error).message));
    await assert.rejects(store.read(room, POLICY, { limit: 1, reverse: false }), isUnavailable);
    const inbox = new Inbox();
    await a.subscribe(roomChannel(room), inbox.handler);
    await a.publish(roomChannel(room), Buffer.from('core'));
    await inbox.waitForText('core');
  });
});

describe('JetStream history when nats-server loses its store', { skip: missing ?? false }, () => {
  const brokers = useBrokerService<JetStreamService, NatsBroker, NatsBrokerOptions>(startNatsJetStream, NatsBroker);

  it('starts a new epoch from offset 1, and the subscribers follow the new stream from its first message', { timeout: 60000 }, async () => {
    const service = brokers.service;
    const a = brokers.make(service.url, QUICK);
    const b = brokers.make(service.url, QUICK);
    await connected(a, b);
    const room = freshRoom('wiped');
    const busy = freshRoom('busy');
    const inbox = new Inbox();
    await a.subscribe(roomChannel(room), inbox.handler);
    const storeA = a.history();
    const storeB = b.history();
    for (let i = 0; i < 3; i++) await append(storeA, room, [`"before${i}"`]);
    // Push the stream's sequence well past what the new stream will reach: a consumer resumed "after
    // sequence N" on the new stream would skip its first N messages.
    for (let i = 0; i < 20; i++) await append(storeB, busy, [`${i}`]);
    await inbox.waitForCount(3, 10000);
    const before = received(inbox, room);

    await service.stop();
    service.wipe();
    await service.restart();
    await upAgain(a, b);
    // Node b appends first: it recreates the stream; node a's consumer must notice the new stream.
    const after: StreamPosition[] = [];
    for (let i = 0; i < 3; i++) after.push(await withTimeout(append(storeB, room, [`"after${i}"`]), 10000, 'append after the wipe'));
    assert.deepEqual(
      after.map((p) => p.offset),
      [1, 2, 3],
      'offsets from 1',
    );
    assert.notEqual(after[0]!.epoch, before[0]!.epoch, 'a new epoch');
    await inbox.waitForCount(6, 20000);
    const seen = received(inbox, room).slice(3);
    assert.deepEqual(
      seen.map((p) => [p.first, p.epoch, p.items[0]]),
      after.map((p, i) => [i + 1, p.epoch, `"after${i}"`]),
    );
    const page = await storeA.read(room, POLICY, { limit: 10, reverse: false });
    assert.deepEqual({ epoch: page.epoch, top: page.top, first: page.first }, { epoch: after[0]!.epoch, top: 3, first: 1 });
  });
});

describe('JetStream history when nats-server is down or stalls', { skip: missing ?? false }, () => {
  const brokers = useBrokerService<JetStreamService, NatsBroker, NatsBrokerOptions>(startNatsJetStream, NatsBroker);

  it('a server that is down: the append rejects, and once it is back the item is neither in history nor delivered', { timeout: 60000 }, async () => {
    const service = brokers.service;
    const a = brokers.make(service.url, QUICK);
    await connected(a);
    const store = a.history();
    const room = freshRoom('down');
    const inbox = new Inbox();
    await a.subscribe(roomChannel(room), inbox.handler);
    await append(store, room, ['"one"']);

    await service.kill();
    await assert.rejects(append(store, room, ['"lost"']), isUnavailable);
    await assert.rejects(store.read(room, POLICY, { limit: 10, reverse: false }), isUnavailable);
    await service.restart();
    await upAgain(a);
    const two = await withTimeout(append(store, room, ['"two"']), 10000, 'append after the restart');
    assert.equal(two.offset, 2, 'the refused item took no offset');
    await inbox.waitForCount(2, 10000);
    assert.deepEqual(
      received(inbox, room).map((p) => p.items[0]),
      ['"one"', '"two"'],
    );
    const page = await store.read(room, POLICY, { limit: 10, reverse: false });
    assert.deepEqual(
      page.entries.map((e) => e.item),
      ['"one"', '"two"'],
    );
  });

  it('a server that stalls with the publish unread: the append rejects, and the message stored on resuming is void', { timeout: 60000 }, async () => {
    const service = brokers.service;
    const a = brokers.make(service.url, QUICK);
    await connected(a);
    const store = a.history();
    const room = freshRoom('stall');
    const inbox = new Inbox();
    await a.subscribe(roomChannel(room), inbox.handler);
    await append(store, room, ['"one"']);

    await freeze(service.pid);
    try {
      await assert.rejects(append(store, room, ['"late"'], POLICY, Date.now() + 500), isUnavailable);
    } finally {
      process.kill(service.pid, 'SIGCONT');
    }
    await upAgain(a);
    const subject = historySubject(roomChannel(room));
    const nc = await natsConnect({ servers: service.url });
    try {
      const jsm = await jetstreamManager(nc);
      // The server did store it, once it resumed: after its deadline.
      let late = null as StoredMsg | null;
      await waitForAsync(
        async () => {
          late = await jsm.direct.getMessage(HISTORY_STREAM, { last_by_subj: subject });
          return late?.string().includes('"late"') === true;
        },
        10000,
        'the stalled publish to reach the stream',
      );
      assert.ok(late !== null);
      // (Its time has nanoseconds; a Date keeps whole ms: in the deadline's ms or later.)
      assert.ok(
        late.time.getTime() >= Number(late.header.get('Pushgate-Deadline')),
        `stored after its deadline: at ${late.timestamp}, deadline ${late.header.get('Pushgate-Deadline')}`,
      );
    } finally {
      await nc.close();
    }
    const two = await withTimeout(append(store, room, ['"two"']), 10000, 'append after the stall');
    assert.equal(two.offset, 2, 'the void message gave its offset back');
    await inbox.waitForCount(2, 10000);
    assert.deepEqual(
      received(inbox, room).map((p) => [p.first, p.items[0]]),
      [
        [1, '"one"'],
        [2, '"two"'],
      ],
    );
    const page = await store.read(room, POLICY, { limit: 10, reverse: false });
    assert.deepEqual(
      page.entries.map((e) => [e.offset, e.item]),
      [
        [1, '"one"'],
        [2, '"two"'],
      ],
    );
  });

  it('a subscriber whose connection drops and comes back (server restarted with its store) misses nothing and gets nothing twice', {
    timeout: 60000,
  }, async () => {
    const service = brokers.service;
    const sub = brokers.make(service.url, QUICK);
    const pub = brokers.make(service.url, QUICK);
    await connected(sub, pub);
    const room = freshRoom('resume');
    const inbox = new Inbox();
    sub.history();
    await sub.subscribe(roomChannel(room), inbox.handler);
    const store = pub.history();

    const accepted: number[] = [];
    let stop = false;
    let n = 0;
    const appending = (async () => {
      while (!stop) {
        n += 1;
        try {
          accepted.push((await append(store, room, [String(n)])).offset);
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20)); // refused while down: try the next one
        }
      }
    })();
    await waitFor(() => accepted.length >= 30, 10000, '30 appends before the restart');
    await service.stop();
    await service.restart();
    await upAgain(sub, pub);
    const resumedAt = accepted.length;
    await waitFor(() => accepted.length >= resumedAt + 30, 20000, '30 appends after the restart');
    stop = true;
    await appending;

    const page = await store.read(room, POLICY, { limit: 10_000, reverse: false });
    const top = page.top;
    assert.ok(top >= 60, `top ${top}, ${accepted.length} accepted, last accepted ${accepted.at(-1)}, epoch ${page.epoch}`);
    assert.deepEqual(
      page.entries.map((e) => e.offset),
      range(1, top),
      'history: contiguous',
    );
    for (const offset of accepted) assert.ok(offset <= top, `accepted offset ${offset} is in history`);
    await waitFor(() => offsetsOf(received(inbox, room)).length >= top, 20000, `${top} items at the subscriber`);
    const got = received(inbox, room);
    assert.deepEqual(offsetsOf(got), range(1, top), 'the subscriber: every item once, in order, across the reconnection');
    assert.deepEqual(
      got.flatMap((p) => p.items),
      page.entries.map((e) => e.item),
      'what it got is what history holds',
    );
  });
});
