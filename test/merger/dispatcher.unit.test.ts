import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Connection, SendResult } from '../../src/connection/connection.js';
import { Dispatcher } from '../../src/merger/dispatcher.js';
import type { PreparedFrame } from '../../src/protocol/client-protocol.js';
import { prepareFrame as prepare } from '../../src/protocol/prepared-frame.js';
import { waitFor } from '../helpers/wait.js';

/** A stand-in recipient recording each write: one entry per write, with the frames it carried. */
function recipient(writes: string[], name: string, result: SendResult = 'sent'): Connection {
  const text = (frame: PreparedFrame): string => frame.bytes.subarray(2).toString();
  return {
    outbox: null,
    sendPrepared(frame: PreparedFrame) {
      writes.push(`${name}:${text(frame)}`);
      return result;
    },
    sendPreparedBatch(frames: PreparedFrame[]) {
      writes.push(`${name}:${frames.map(text).join('+')}`);
      return result;
    },
  } as unknown as Connection;
}

/** A batch of one frame, whatever the recipient's protocol. */
const prepareFrame = (text: string, items: number) => {
  const frame = prepare(text, items);
  return { frameFor: () => frame };
};

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const counters = () => {
  const counts = { sent: 0, failed: 0 };
  return { counts, sink: { sent: () => void counts.sent++, failed: () => void counts.failed++ } };
};

describe('Dispatcher', () => {
  it('gives each connection all its queued frames in one write, in order', async () => {
    const writes: string[] = [];
    const { counts, sink } = counters();
    const dispatcher = new Dispatcher(sink);
    const [a, b] = [recipient(writes, 'a'), recipient(writes, 'b')];
    dispatcher.enqueue(prepareFrame('1', 1), [a, b]);
    dispatcher.enqueue(prepareFrame('2', 2), [a]);
    dispatcher.enqueue(prepareFrame('3', 1), [a, b]);
    assert.equal(dispatcher.pendingFrames, 3);
    assert.equal(dispatcher.pendingItems, 4);
    await turn();
    assert.deepEqual(writes, ['a:1+2+3', 'b:1+3']);
    assert.deepEqual(counts, { sent: 5, failed: 0 });
    assert.equal(dispatcher.pendingFrames, 0);
    assert.equal(dispatcher.pendingItems, 0);
  });

  it('writes in time slices, and a frame queued mid-pass reaches the connections not yet written in that pass', async () => {
    const writes: string[] = [];
    const { counts, sink } = counters();
    // A clock that moves on 10 ms at each reading, and 4 ms slices: the clock is read every 32 writes, so
    // each pass stops after its first 32.
    let clock = 0;
    const dispatcher = new Dispatcher(sink, 4, () => (clock += 10));
    const everyone = Array.from({ length: 40 }, (_, i) => recipient(writes, `c${i}`));
    dispatcher.enqueue(prepareFrame('x', 1), everyone);
    await turn();
    assert.equal(writes.length, 32, 'first slice');
    dispatcher.enqueue(prepareFrame('y', 1), everyone);
    await waitFor(() => dispatcher.pendingFrames === 0, 2000, 'the dispatch');
    assert.equal(writes[32], 'c32:x+y', 'not yet written: both frames in one write');
    assert.equal(writes[39], 'c39:x+y');
    assert.equal(writes[40], 'c0:y', 'already written: the new frame in the next pass');
    assert.equal(writes.length, 72);
    assert.deepEqual(counts, { sent: 80, failed: 0 });
  });

  it('writes everything in one pass while its slice has time left', async () => {
    const writes: string[] = [];
    const { counts, sink } = counters();
    const dispatcher = new Dispatcher(sink, 4, () => 0); // a clock that stands still
    dispatcher.enqueue(
      prepareFrame('x', 1),
      Array.from({ length: 100 }, (_, i) => recipient(writes, `c${i}`)),
    );
    await turn();
    assert.equal(writes.length, 100);
    assert.deepEqual(counts, { sent: 100, failed: 0 });
    assert.equal(dispatcher.pendingFrames, 0);
  });

  it('counts writes refused by closed or slow recipients as failed', () => {
    const writes: string[] = [];
    const { counts, sink } = counters();
    const dispatcher = new Dispatcher(sink);
    dispatcher.enqueue(prepareFrame('x', 1), [recipient(writes, 'ok'), recipient(writes, 'gone', 'closed'), recipient(writes, 'slow', 'slow')]);
    dispatcher.drain();
    assert.deepEqual(counts, { sent: 1, failed: 2 });
    assert.equal(dispatcher.pendingFrames, 0);
    assert.equal(dispatcher.pendingItems, 0);
  });

  it('queues nothing for a target with no recipients', () => {
    const { counts, sink } = counters();
    const dispatcher = new Dispatcher(sink);
    dispatcher.enqueue(prepareFrame('x', 3), []);
    assert.equal(dispatcher.pendingItems, 0);
    dispatcher.drain();
    assert.deepEqual(counts, { sent: 0, failed: 0 });
  });
});
