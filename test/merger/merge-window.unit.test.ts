import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { Connection, type ConnectionHandler } from '../../src/connection/connection.js';
import { Hub } from '../../src/hub/hub.js';
import { Dispatcher } from '../../src/merger/dispatcher.js';
import { BUSY_LOOP, MergeWindow, QUIET_LOOP, WINDOW_SHARE, WINDOW_TICK_MS } from '../../src/merger/merge-window.js';
import { Merger } from '../../src/merger/merger.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { FakeTransport } from '../helpers/fake-transport.js';

/**
 * A window on a fake clock and a fake event loop: each `tick(busy)` advances the clock by one window
 * tick, of which the loop was busy `busy` (0 … 1), then asks for the window.
 */
function fakeWindow(budgetMs: number) {
  const clock = { ms: 0 };
  const loop = { active: 0, idle: 0 };
  const gauges = { clientLag: 0 };
  const window = new MergeWindow(budgetMs, { loopTime: () => ({ ...loop }), clientLagMs: () => gauges.clientLag }, () => clock.ms);
  const advance = (ms: number, busy: number) => {
    clock.ms += ms;
    loop.active += ms * busy;
    loop.idle += ms * (1 - busy);
  };
  const tick = (busy: number, ms = WINDOW_TICK_MS) => {
    advance(ms, busy);
    return window.windowMs();
  };
  return { window, clock, gauges, advance, tick };
}

describe('MergeWindow: the rule', () => {
  it('is 0 at rest: a lone push is not held', () => {
    const { tick } = fakeWindow(100);
    for (let i = 0; i < 10; i++) assert.equal(tick(0.2), 0);
  });

  it(`widens by half a tick while the loop is busy ${BUSY_LOOP * 100} % or more, up to ${WINDOW_SHARE * 100} % of the budget`, () => {
    const { tick } = fakeWindow(100);
    const seen = [tick(0.95), tick(0.95), tick(0.95), tick(1)];
    assert.deepEqual(seen, [1, 1.5, 2.25, 3.375]);
    let last = 0;
    for (let i = 0; i < 30; i++) {
      const now = tick(1);
      assert.ok(now >= last, 'never narrows while busy');
      last = now;
    }
    assert.equal(last, 100 * WINDOW_SHARE, 'capped: the rest of the budget is for the pass and the network');
  });

  it('narrows by 30 % a tick when the loop is quiet, down to 0', () => {
    const { tick } = fakeWindow(100);
    for (let i = 0; i < 30; i++) tick(1);
    assert.equal(tick(0.5), 100 * WINDOW_SHARE * 0.7);
    let ticks = 1;
    while (tick(0.5) > 0) ticks += 1;
    assert.ok(ticks < 20, `back to 0 in ${ticks} ticks`);
  });

  it(`holds between ${QUIET_LOOP * 100} % and ${BUSY_LOOP * 100} % busy: the load it has adapted to is still there`, () => {
    const { tick } = fakeWindow(100);
    for (let i = 0; i < 5; i++) tick(1);
    const held = tick(1);
    for (let i = 0; i < 10; i++) assert.equal(tick(0.8), held);
  });

  it('is not reconsidered within a tick; after a quiet spell it has narrowed for every tick of it', () => {
    const { tick, advance, window } = fakeWindow(100);
    for (let i = 0; i < 30; i++) tick(1);
    advance(WINDOW_TICK_MS / 2, 0);
    assert.equal(window.windowMs(), 100 * WINDOW_SHARE, 'half a tick: unchanged');
    assert.equal(tick(0, 40 * WINDOW_TICK_MS), 0, 'forty quiet ticks at once');
  });

  it('widens when the clients lag more than a quarter of the budget, even on a quiet loop', () => {
    const { tick, gauges } = fakeWindow(200);
    gauges.clientLag = 60;
    assert.equal(tick(0.1), 1);
    assert.equal(tick(0.1), 1.5);
    gauges.clientLag = 30;
    assert.equal(tick(0.1), 1.5, 'lag between an eighth and a quarter: held');
    gauges.clientLag = 10;
    assert.equal(tick(0.1), 1.5 * 0.7);
  });

  it('without a budget stays 0', () => {
    const { tick } = fakeWindow(0);
    for (let i = 0; i < 10; i++) assert.equal(tick(1), 0);
  });
});

/**
 * The delivery path on mocked timers and `Date`: a merger whose window is a MergeWindow over a fake
 * event loop, flushing into a dispatcher that writes to `members` connections of room `r` over fake
 * transports.
 */
function engine(members: number, budgetMs: number) {
  const hub = new Hub(members + 1, 'node');
  const loop = { busy: 0, active: 0, idle: 0, at: Date.now() };
  // The fake loop was busy `loop.busy` of the time since last read.
  const loopTime = () => {
    const elapsed = Date.now() - loop.at;
    loop.at = Date.now();
    loop.active += elapsed * loop.busy;
    loop.idle += elapsed * (1 - loop.busy);
    return { active: loop.active, idle: loop.idle };
  };
  const window = new MergeWindow(budgetMs, { loopTime, clientLagMs: () => 0 }, () => Date.now());
  const dispatcher = new Dispatcher({ sent() {}, failed() {} }, 4, () => Date.now());
  const merger = new Merger(
    1000,
    0,
    (batch) => dispatcher.enqueue(batch, hub.members('r') ?? []),
    window,
    () => Date.now(),
  );
  const handler: ConnectionHandler = { onMessage() {}, onClose: (conn) => hub.remove(conn) };
  const transports: FakeTransport[] = [];
  for (let i = 0; i < members; i++) {
    const transport = new FakeTransport();
    const conn = new Connection(transport, hub.nextId(), goPushProtocol, { maxQueueBytes: 1 << 24, maxInboundMessages: 8, maxClientRate: 0 }, handler);
    hub.add(conn);
    hub.join(conn, 'r');
    transports.push(transport);
  }
  /** Pushes one item a millisecond for `ms` milliseconds, numbered from `from`, then lets everything settle. */
  const offer = (from: number, ms: number) => {
    for (let i = 0; i < ms; i++) {
      merger.add('r:r', { kind: 'room', room: 'r' }, [String(from + i)]);
      mock.timers.tick(1);
    }
    // By single milliseconds: the mocked clock reads the end of a tick in every callback it runs.
    for (let i = 0; i < budgetMs * 2; i++) mock.timers.tick(1);
  };
  /** What each member got: its frames' item lists. */
  const received = () => transports.map((t) => t.payloads().map((p) => JSON.parse(p).data.items as number[]));
  return { loop, window, offer, received };
}

describe('MergeWindow: through the merger and a fake transport', () => {
  afterEach(() => mock.timers.reset());

  it('items per frame rise with load, and fall back to one per push when it goes; every item arrives once, in order', () => {
    mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'], now: 10_000 });
    const { loop, window, offer, received } = engine(5, 100);

    loop.busy = 0.3;
    offer(0, 200);
    const quiet = received()[0]!.length;
    assert.equal(quiet, 200, 'a quiet loop: every push its own frame, none held');

    loop.busy = 0.97;
    offer(200, 1000);
    const loaded = received()[0]!.slice(quiet);
    assert.ok(loaded.length < 100, `a busy loop: ${loaded.length} frames for 1,000 pushes`);
    const tail = loaded.slice(-6, -1).map((items) => items.length);
    for (const size of tail) assert.ok(size >= 60, `full frames once the window has opened: ${tail}`);
    assert.equal(window.lastMs, 100 * WINDOW_SHARE, 'the window reached its cap');

    loop.busy = 0.3;
    offer(1200, 1000);
    const after = received()[0]!.slice(quiet + loaded.length);
    assert.deepEqual(
      after.slice(-100).map((items) => items.length),
      new Array(100).fill(1),
      'quiet again: back to one frame per push',
    );

    for (const frames of received()) {
      const items = frames.flat();
      assert.deepEqual(
        items,
        Array.from({ length: 2200 }, (_, i) => i),
        'every member got every item once, in order',
      );
    }
  });

  it('no item waits in the merger longer than the window cap (plus a timer tick)', () => {
    mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'], now: 10_000 });
    const window = new MergeWindow(40, { loopTime: () => ({ active: Date.now(), idle: 0 }), clientLagMs: () => 0 }, () => Date.now());
    const flushedAt: number[] = [];
    const addedAt = new Map<string, number>();
    let worst = 0;
    const merger = new Merger(
      1000,
      0,
      (batch) => {
        flushedAt.push(Date.now());
        for (const item of batch.items) worst = Math.max(worst, Date.now() - addedAt.get(item)!);
      },
      window,
      () => Date.now(),
    );
    for (let i = 0; i < 500; i++) {
      addedAt.set(String(i), Date.now());
      merger.add('r:r', { kind: 'room', room: 'r' }, [String(i)]);
      mock.timers.tick(1);
    }
    for (let i = 0; i < 100; i++) mock.timers.tick(1);
    assert.ok(flushedAt.length < 100, `${flushedAt.length} frames for 500 pushes`);
    assert.ok(worst <= 40 * WINDOW_SHARE + 1, `the longest wait was ${worst} ms`);
    assert.ok(worst >= 40 * WINDOW_SHARE - 1, `the window did open: ${worst} ms`);
  });
});
