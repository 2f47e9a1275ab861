import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { LOADED_HOLD_MS, Merger, type PushTarget } from '../../src/merger/merger.js';
import type { PreparedFrame } from '../../src/protocol/client-protocol.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';

/** One end of an event-loop turn: the merger's end-of-turn flush (a setImmediate queued earlier) has run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const room = (name: string): PushTarget => ({ kind: 'room', room: name });

/**
 * A merger on a clock the test sets, recording each flushed frame as the PUSH message it carries.
 * `unwritten` frames keep `remaining` > 0 after the flush, as the dispatcher leaves a frame that some
 * recipient has not been written yet; `written()` marks every frame delivered.
 */
function merger(maxBatchItems = 100, maxBatchDelayMs = 0) {
  const clock = { ms: 0 };
  const flushed: Array<{ target: PushTarget; message: { type: string; data: { room?: string; items: unknown[] } }; frame: PreparedFrame }> = [];
  const options = { unwritten: false };
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

  describe(`under load: a batch waits while its target's previous frame is unwritten, at most LOADED_HOLD_MS (${LOADED_HOLD_MS} ms)`, () => {
    it('holds the next batch of a target whose frame is still being written, merging what comes meanwhile, until the hold runs out', async () => {
      const { merger: m, clock, options, items } = merger();
      options.unwritten = true;
      m.add('r:a', room('a'), ['1']);
      await turn();
      assert.deepEqual(items(), [[1]], 'no previous frame: flushed at the end of the turn');

      clock.ms = 100;
      m.add('r:a', room('a'), ['2']);
      await turn();
      assert.deepEqual(items(), [[1]], 'held: the previous frame is unwritten');
      m.add('r:a', room('a'), ['3']);
      clock.ms = 100 + LOADED_HOLD_MS - 0.1;
      await turn();
      await turn();
      assert.deepEqual(items(), [[1]], 'still held just short of the bound, however many turns pass');
      assert.equal(m.pendingItems, 2);
      clock.ms = 100 + LOADED_HOLD_MS;
      await turn();
      assert.deepEqual(items(), [[1], [2, 3]], 'flushed once the batch is LOADED_HOLD_MS old, with what came meanwhile');
    });

    it('flushes the held batch at the end of the turn in which its previous frame has been written', async () => {
      const { merger: m, clock, options, items, written } = merger();
      options.unwritten = true;
      m.add('r:a', room('a'), ['1']);
      await turn();
      m.add('r:a', room('a'), ['2']);
      await turn();
      assert.deepEqual(items(), [[1]]);
      clock.ms = 1; // well within the hold
      written();
      await turn();
      assert.deepEqual(items(), [[1], [2]]);
    });

    it('does not hold a batch whose previous frame was written, nor other targets, nor a full batch', async () => {
      const { merger: m, options, items, written } = merger(3);
      options.unwritten = true;
      m.add('r:a', room('a'), ['1']);
      await turn();
      // Another target has no frame of its own in flight: it goes at the end of the turn.
      m.add('r:b', room('b'), ['10']);
      m.add('r:a', room('a'), ['2']);
      await turn();
      assert.deepEqual(items(), [[1], [10]], 'b went, a is held');
      // A batch that fills up goes at once, hold or not.
      m.add('r:a', room('a'), ['3', '4']);
      assert.deepEqual(items(), [[1], [10], [2, 3, 4]]);
      // Once written, the next batch is not held.
      written();
      options.unwritten = false;
      m.add('r:a', room('a'), ['5']);
      await turn();
      assert.deepEqual(items(), [[1], [10], [2, 3, 4], [5]]);
    });

    it('flushAll (shutdown) sends a held batch at once', async () => {
      const { merger: m, options, items } = merger();
      options.unwritten = true;
      m.add('r:a', room('a'), ['1']);
      await turn();
      m.add('r:a', room('a'), ['2']);
      await turn();
      m.flushAll();
      assert.deepEqual(items(), [[1], [2]]);
      assert.equal(m.pendingItems, 0);
    });
  });

  it('with maxBatchDelay waits that long for more, across turns (fake timers)', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
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
