import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { Merger, type PushTarget } from '../../src/merger/merger.js';
import type { PreparedFrame } from '../../src/protocol/client-protocol.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';

/** One end of an event-loop turn: the merger's end-of-turn flush (a setImmediate queued earlier) has run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const room = (name: string): PushTarget => ({ kind: 'room', room: name });

/**
 * A merger on `Date` (mocked by the tests that need time), recording each flushed frame as the
 * PUSH message it carries; its merge window is `window.ms`, its longest hold `window.hold`.
 * `unwritten` frames keep `remaining` > 0 after the flush, as the dispatcher leaves a frame that some
 * recipient has not been written yet; `written()` marks every frame delivered.
 */
function merger(maxBatchItems = 100, maxBatchDelayMs = 0) {
  const window = { ms: 0, hold: 16 };
  const options = { unwritten: false };
  const flushed: Array<{ target: PushTarget; message: { type: string; data: { room?: string; items: unknown[] } }; frame: PreparedFrame }> = [];
  const m = new Merger(
    maxBatchItems,
    maxBatchDelayMs,
    (batch, target) => {
      const frame = batch.frameFor(goPushProtocol);
      // The frame is one unmasked text frame: a 2-byte header for short payloads, 4 bytes up to 64 KiB.
      const length = frame.bytes[1]! & 0x7f;
      const payload = frame.bytes.subarray(length === 126 ? 4 : 2).toString();
      flushed.push({ target, message: JSON.parse(payload), frame });
      if (options.unwritten) frame.remaining = 1;
    },
    {
      windowMs: () => window.ms,
      get maxHoldMs() {
        return window.hold;
      },
    },
    () => Date.now(),
  );
  return {
    merger: m,
    window,
    options,
    flushed,
    items: () => flushed.map((f) => f.message.data.items),
    written: () => flushed.forEach((f) => (f.frame.remaining = 0)),
  };
}

describe('Merger', () => {
  afterEach(() => mock.timers.reset());

  it('merges the items added to one key in one turn into one frame, in order, and counts them pending until then', async () => {
    const { merger: m, flushed, items } = merger();
    m.add('r:a', room('a'), ['1']);
    m.add('r:a', room('a'), ['2', '{"three":3}']);
    assert.equal(m.pendingItems, 3);
    assert.equal(flushed.length, 0, 'nothing before the end of the turn');
    await turn();
    assert.deepEqual(items(), [[1, 2, { three: 3 }]]);
    assert.deepEqual(flushed[0]!.message, { type: 'PUSH', data: { room: 'a', items: [1, 2, { three: 3 }] } });
    assert.deepEqual(flushed[0]!.frame.items, 3);
    assert.equal(m.pendingItems, 0);
  });

  it('closes a batch when the connection its items leave out changes, and says which one each frame leaves out', async () => {
    const excepts: Array<string | undefined> = [];
    const m = new Merger(100, 0, (batch) => excepts.push(batch.except));
    m.add('r:a', room('a'), ['1']);
    m.add('r:a', room('a'), ['2'], undefined, 'n-1');
    m.add('r:a', room('a'), ['3'], undefined, 'n-1');
    m.add('r:a', room('a'), ['4']);
    await turn();
    assert.deepEqual(excepts, [undefined, 'n-1', undefined], 'three frames, in push order: 1 | 2, 3 without n-1 | 4');
  });

  it('keeps keys apart: one frame per target, a push to all without a room', async () => {
    const { merger: m, flushed } = merger();
    m.add('*', { kind: 'all' }, ['"x"']);
    m.add('r:a', room('a'), ['"y"']);
    m.add('*', { kind: 'all' }, ['"z"']);
    await turn();
    assert.deepEqual(
      flushed.map((f) => f.message.data),
      [{ items: ['x', 'z'] }, { room: 'a', items: ['y'] }],
    );
  });

  it('flushes a batch at once when it reaches maxBatchItems, and keeps the order across frames', async () => {
    const { merger: m, items } = merger(2);
    m.add('r:a', room('a'), ['1', '2', '3']);
    assert.deepEqual(items(), [[1, 2]], 'the full batch went synchronously');
    m.add('r:a', room('a'), ['4', '5']);
    assert.deepEqual(items(), [
      [1, 2],
      [3, 4],
    ]);
    await turn();
    assert.deepEqual(items(), [[1, 2], [3, 4], [5]]);
    assert.equal(m.pendingItems, 0);
  });

  it('flushAll sends every open batch now; cancel() leaves them open', async () => {
    const { merger: m, items } = merger();
    m.add('r:a', room('a'), ['1']);
    m.cancel();
    await turn();
    assert.deepEqual(items(), [], 'cancelled: no end-of-turn flush');
    assert.equal(m.pendingItems, 1);
    m.flushAll();
    assert.deepEqual(items(), [[1]]);
  });

  describe('under load: the merge window is the least time between two frames to one target (fake timers)', () => {
    const fakeTime = () => mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'], now: 1000 });

    it('holds the next batch of a target until the window has passed since its last frame, merging what comes meanwhile', () => {
      fakeTime();
      const { merger: m, window, items } = merger();
      window.ms = 20;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(0);
      assert.deepEqual(items(), [[1]], 'no previous frame: flushed at the end of the turn, window or not');
      mock.timers.tick(5);
      m.add('r:a', room('a'), ['2']);
      mock.timers.tick(5);
      m.add('r:a', room('a'), ['3']);
      mock.timers.tick(9);
      assert.deepEqual(items(), [[1]], 'held while the window runs, however many turns pass');
      assert.equal(m.pendingItems, 2);
      assert.equal(m.oldestAgeMs(), 14, 'the held batch is as old as its first item');
      mock.timers.tick(1);
      assert.deepEqual(items(), [[1], [2, 3]], '20 ms after the last frame: one frame with what came meanwhile');
      assert.equal(m.pendingItems, 0);
    });

    it('sends a lone push at once when the window has passed since its target last got a frame', () => {
      fakeTime();
      const { merger: m, window, items } = merger();
      window.ms = 20;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(0);
      mock.timers.tick(25);
      m.add('r:a', room('a'), ['2']);
      mock.timers.tick(0);
      assert.deepEqual(items(), [[1], [2]], 'a push after a quiet spell waits for nothing but the end of its turn');
    });

    it('holds per target: another target, and a full batch, go at once', () => {
      fakeTime();
      const { merger: m, window, items } = merger(3);
      window.ms = 50;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(0);
      m.add('r:b', room('b'), ['10']);
      m.add('r:a', room('a'), ['2']);
      mock.timers.tick(0);
      assert.deepEqual(items(), [[1], [10]], 'b had no frame of its own: it went; a is held');
      m.add('r:a', room('a'), ['3', '4']);
      assert.deepEqual(items(), [[1], [10], [2, 3, 4]], 'a batch that fills up goes at once');
      m.add('r:a', room('a'), ['5']);
      mock.timers.tick(49);
      assert.deepEqual(items().length, 3, 'the full batch was a frame too: the window counts from it');
      mock.timers.tick(1);
      assert.deepEqual(items(), [[1], [10], [2, 3, 4], [5]]);
    });

    it("a new target's first push goes at the end of its turn while another target is held", () => {
      fakeTime();
      const { merger: m, window, items } = merger();
      window.ms = 50;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(0);
      m.add('r:a', room('a'), ['2']);
      mock.timers.tick(1);
      assert.deepEqual(items(), [[1]], 'a is held for its window');
      m.add('r:b', room('b'), ['10']);
      mock.timers.tick(0);
      assert.deepEqual(items(), [[1], [10]], "b had no frame of its own: it does not wait for a's window");
      mock.timers.tick(49);
      assert.deepEqual(items(), [[1], [10], [2]]);
    });

    it('does not hold a push to all: its frames are a write pass apart anyway', () => {
      fakeTime();
      const { merger: m, window, items } = merger();
      window.ms = 50;
      m.add('*', { kind: 'all' }, ['1']);
      mock.timers.tick(0);
      m.add('*', { kind: 'all' }, ['2']);
      mock.timers.tick(0);
      assert.deepEqual(items(), [[1], [2]]);
    });

    it('a narrower window applies at once; with window 0 nothing is held', () => {
      fakeTime();
      const { merger: m, window, items } = merger();
      window.ms = 1000;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(0);
      m.add('r:a', room('a'), ['2']);
      mock.timers.tick(10);
      window.ms = 0;
      m.add('r:a', room('a'), ['3']);
      // The timer set for the old window still runs; the next end-of-turn check sees the new one.
      mock.timers.tick(1000);
      assert.deepEqual(items(), [[1], [2, 3]]);
      m.add('r:a', room('a'), ['4']);
      mock.timers.tick(0);
      assert.deepEqual(items(), [[1], [2, 3], [4]]);
    });

    it('maxBatchDelay stays a floor: a batch waits that long from its first item, and the window from the last frame', () => {
      fakeTime();
      const { merger: m, window, items } = merger(100, 30);
      window.ms = 50;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(29);
      assert.deepEqual(items(), []);
      mock.timers.tick(1);
      assert.deepEqual(items(), [[1]], 'the floor: 30 ms');
      m.add('r:a', room('a'), ['2']);
      mock.timers.tick(30);
      assert.deepEqual(items(), [[1]], 'its 30 ms are up, but not the 50 ms window since the last frame');
      mock.timers.tick(20);
      assert.deepEqual(items(), [[1], [2]]);
    });

    it('flushAll (shutdown) sends a held batch at once', () => {
      fakeTime();
      const { merger: m, window, items } = merger();
      window.ms = 100;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(0);
      m.add('r:a', room('a'), ['2']);
      mock.timers.tick(0);
      m.flushAll();
      assert.deepEqual(items(), [[1], [2]]);
      assert.equal(m.pendingItems, 0);
    });
  });

  describe("under load: a due batch waits while its target's previous frame is unwritten, at most maxHoldMs (fake timers)", () => {
    const fakeTime = () => mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'], now: 1000 });

    it('holds the next batch of a target whose frame is still being written, merging what comes meanwhile, until the hold runs out', () => {
      fakeTime();
      const { merger: m, window, options, items } = merger();
      window.hold = 30;
      options.unwritten = true;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(0);
      assert.deepEqual(items(), [[1]], 'no previous frame: flushed at the end of the turn');
      m.add('r:a', room('a'), ['2']);
      for (let i = 0; i < 29; i++) {
        mock.timers.tick(1);
        if (i === 10) m.add('r:a', room('a'), ['3']);
      }
      assert.deepEqual(items(), [[1]], 'held just short of the bound, however many turns pass');
      assert.equal(m.pendingItems, 2);
      mock.timers.tick(1);
      assert.deepEqual(items(), [[1], [2, 3]], 'flushed once the batch is maxHoldMs old, with what came meanwhile');
    });

    it('flushes the held batch at the end of the turn in which its previous frame has been written', () => {
      fakeTime();
      const { merger: m, options, items, written } = merger();
      options.unwritten = true;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(0);
      m.add('r:a', room('a'), ['2']);
      mock.timers.tick(1);
      assert.deepEqual(items(), [[1]]);
      written();
      mock.timers.tick(1);
      assert.deepEqual(items(), [[1], [2]]);
    });

    it('does not hold a batch whose previous frame was written, nor other targets, nor a full batch', () => {
      fakeTime();
      const { merger: m, options, items, written } = merger(3);
      options.unwritten = true;
      m.add('r:a', room('a'), ['1']);
      mock.timers.tick(0);
      m.add('r:b', room('b'), ['10']);
      m.add('r:a', room('a'), ['2']);
      mock.timers.tick(0);
      assert.deepEqual(items(), [[1], [10]], 'b went, a is held');
      m.add('r:a', room('a'), ['3', '4']);
      assert.deepEqual(items(), [[1], [10], [2, 3, 4]], 'a batch that fills up goes at once');
      written();
      options.unwritten = false;
      m.add('r:a', room('a'), ['5']);
      mock.timers.tick(1); // the look again a millisecond after the hold
      assert.deepEqual(items(), [[1], [10], [2, 3, 4], [5]]);
    });
  });

  it('with maxBatchDelay waits that long for more, across turns (fake timers)', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { merger: m, items } = merger(100, 150);
    m.add('r:d', room('d'), ['"first"']);
    await turn();
    await turn();
    m.add('r:d', room('d'), ['"second"']);
    mock.timers.tick(149);
    assert.deepEqual(items(), [], 'not before the delay');
    mock.timers.tick(1);
    assert.deepEqual(items(), [['first', 'second']]);
  });
});
