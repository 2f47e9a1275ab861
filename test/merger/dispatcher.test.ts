import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Connection, SendResult } from '../../src/connection/connection.js';
import { Dispatcher } from '../../src/merger/dispatcher.js';
import { prepareFrame, type PreparedFrame } from '../../src/protocol/encode.js';
import { withTimeout } from '../helpers/wait.js';

/** A stand-in recipient that records the frames written to it (the dispatcher only calls sendPrepared). */
function recipient(log: string[], name: string, result: SendResult = 'sent'): Connection {
  return { sendPrepared: (frame: PreparedFrame) => { log.push(`${name}:${frame.bytes.subarray(2).toString()}`); return result; } } as unknown as Connection;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Dispatcher', () => {
  it('writes a large fan-out in slices, frames in order, and counts each write', async () => {
    const log: string[] = [];
    const counts = { sent: 0, failed: 0 };
    const dispatcher = new Dispatcher({ sent: () => void counts.sent++, failed: () => void counts.failed++ }, 3);
    const everyone = ['a', 'b', 'c', 'd', 'e'].map((name) => recipient(log, name));
    dispatcher.enqueue(prepareFrame('1', 1), everyone);
    dispatcher.enqueue(prepareFrame('2', 1), everyone.slice(0, 2));
    assert.equal(dispatcher.pendingFrames, 2);
    assert.equal(dispatcher.pendingItems, 2);
    await turn();
    assert.deepEqual(log, ['a:1', 'b:1', 'c:1'], 'first slice stops at three writes');
    assert.equal(dispatcher.pendingFrames, 2);
    await turn();
    assert.deepEqual(log.slice(3), ['d:1', 'e:1', 'a:2']);
    await withTimeout((async () => { while (dispatcher.pendingFrames > 0) await turn(); })(), 1000, 'the dispatch');
    assert.deepEqual(log.slice(6), ['b:2']);
    assert.deepEqual(counts, { sent: 7, failed: 0 });
    assert.equal(dispatcher.pendingItems, 0);
  });

  it('counts writes refused by closed or slow recipients as failed', async () => {
    const log: string[] = [];
    const counts = { sent: 0, failed: 0 };
    const dispatcher = new Dispatcher({ sent: () => void counts.sent++, failed: () => void counts.failed++ });
    dispatcher.enqueue(prepareFrame('x', 1), [recipient(log, 'ok'), recipient(log, 'gone', 'closed'), recipient(log, 'slow', 'slow')]);
    dispatcher.drain();
    assert.deepEqual(counts, { sent: 1, failed: 2 });
    assert.equal(dispatcher.pendingFrames, 0);
  });
});
