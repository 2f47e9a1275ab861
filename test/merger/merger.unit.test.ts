import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { Merger, type PushTarget } from '../../src/merger/merger.js';
import type { PreparedFrame } from '../../src/protocol/encode.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';

/** One end of an event-loop turn: the merger's end-of-turn flush (a setImmediate queued earlier) has run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const room = (name: string): PushTarget => ({ kind: 'room', room: name });

/**
 * A merger on a clock the test sets, recording each flushed frame as the PUSH message it carries.
 * `unwritten` frames keep `remaining` > 0 after the flush, as the dispatcher leaves a frame that some
 * recipient has not been written yet; `written()` marks every frame delivered.
 */
function merger(maxBatchItems = 100, windowMs = 0) {
  const clock = { ms: 0, window: windowMs };
  const flushed: Array<{ target: PushTarget; message: { type: string; data: { room?: string; items: unknown[] } }; frame: PreparedFrame }> = [];
  const options = { unwritten: false };
  const m = new Merger(
    maxBatchItems,
    () => clock.window,
    (batch, target) => {
      const frame = batch.frameFor(goPushProtocol);
      // The frame is one unmasked text frame: a 2-byte header for short payloads, 4 bytes up to 64 KiB.
      const length = frame.bytes[1]! & 0x7f;
      const payload = frame.bytes.subarray(length === 126 ? 4 : 2).toString();
      flushed.push({ target, message: JSON.parse(payload), frame });
      if (options.unwritten) frame.remaining = 1;
    },
    () => clock.ms,
  );
  return {
    merger: m,
    clock,
    flushed,
    options,
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

  describe('under load (a merge window above 0, as the latency budget sets it; fake timers)', () => {
    it('holds each batch until it is as old as the window, merging what comes meanwhile, then sends it', async () => {
      mock.timers.enable({ apis: ['setTimeout'] });
      const { merger: m, clock, items } = merger(100, 30);
      m.add('r:a', room('a'), ['1']);
      await turn();
      clock.ms = 10;
      m.add('r:a', room('a'), ['2']);
      await turn();
      mock.timers.tick(29);
      assert.deepEqual(items(), [], 'held short of the window, however many turns pass');
      assert.equal(m.oldestAgeMs(), 10);
      clock.ms = 30;
      mock.timers.tick(1);
      assert.deepEqual(items(), [[1, 2]], 'flushed once 30 ms old, with what came meanwhile');
      assert.equal(m.pendingItems, 0);
      assert.equal(m.oldestAgeMs(), 0);
    });

    it('keeps each target on its own clock, sends a full batch at once, and follows the window as it changes', async () => {
      mock.timers.enable({ apis: ['setTimeout'] });
      const { merger: m, clock, items } = merger(3, 40);
      m.add('r:a', room('a'), ['1']);
      clock.ms = 20;
      m.add('r:b', room('b'), ['10']);
      m.add('r:a', room('a'), ['2', '3']);
      assert.deepEqual(items(), [[1, 2, 3]], 'a full batch does not wait');
      m.add('r:a', room('a'), ['4']);
      clock.ms = 40;
      mock.timers.tick(40);
      assert.deepEqual(items(), [[1, 2, 3]], 'b was opened at 20 and a again at 20: both wait until 60');
      clock.ms = 60;
      mock.timers.tick(20);
      assert.deepEqual(items(), [[1, 2, 3], [10], [4]]);
      // Load gone: the window is 0 again, and a lone push goes at the end of its turn.
      clock.window = 0;
      m.add('r:a', room('a'), ['5']);
      await turn();
      assert.deepEqual(items().at(-1), [5]);
    });

    it('flushAll (shutdown) sends a held batch at once', async () => {
      mock.timers.enable({ apis: ['setTimeout'] });
      const { merger: m, items } = merger(100, 50);
      m.add('r:a', room('a'), ['1']);
      await turn();
      assert.deepEqual(items(), []);
      m.flushAll();
      assert.deepEqual(items(), [[1]]);
      assert.equal(m.pendingItems, 0);
    });
  });
});
