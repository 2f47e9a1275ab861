import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DisconnectNotifier, type DisconnectRecord } from '../../src/hooks/disconnect-notifier.js';
import { type HookAnswer, HookCallError, type HookCaller } from '../../src/hooks/hook-client.js';
import { silentLogger } from '../../src/log.js';

function record(conn: string): DisconnectRecord {
  const at = new Date(0).toISOString();
  return { conn, user: null, address: null, rooms: [], code: 1000, reason: '', by: 'client', connectedAt: at, closedAt: at, durationMs: 0 };
}

/** A caller whose answers the test scripts: each call takes the next answer (or error). */
function caller(answers: Array<HookAnswer | HookCallError>) {
  const calls: Array<{ disconnects: DisconnectRecord[] }> = [];
  const fake: HookCaller = {
    hook: 'disconnect',
    call(payload) {
      calls.push(payload as { disconnects: DisconnectRecord[] });
      const next = answers.shift() ?? { status: 204, body: null };
      return next instanceof HookCallError ? Promise.reject(next) : Promise.resolve(next);
    },
  };
  return { fake, calls };
}

const flushMicrotasks = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('DisconnectNotifier', () => {
  it('batches up to the size at once, or what waits after the delay; one batch in flight', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { fake, calls } = caller([]);
    const counters = { disconnectsNotified: 0, disconnectsDropped: 0 };
    const notifier = new DisconnectNotifier(fake, { batchSize: 3, delayMs: 100, maxQueued: 100, tries: 3, retryDelayMs: 10 }, silentLogger(), counters);
    for (const id of ['a', 'b', 'c', 'd']) notifier.closed(record(id));
    assert.deepEqual(
      calls.map((c) => c.disconnects.map((d) => d.conn)),
      [['a', 'b', 'c']],
      'a full batch goes at once',
    );
    await flushMicrotasks();
    assert.equal(calls.length, 1, 'the rest waits for the delay');
    t.mock.timers.tick(100);
    await flushMicrotasks();
    assert.deepEqual(
      calls[1].disconnects.map((d) => d.conn),
      ['d'],
    );
    await flushMicrotasks();
    assert.equal(counters.disconnectsNotified, 4);
    assert.equal(notifier.queued, 0);
  });

  it('retries a failed batch with doubling waits, then drops and counts it; a full queue drops and counts', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const down = new HookCallError('disconnect', 'unavailable', 'answered HTTP 503');
    const { fake, calls } = caller([down, { status: 400, body: null }, down]);
    const counters = { disconnectsNotified: 0, disconnectsDropped: 0 };
    const notifier = new DisconnectNotifier(fake, { batchSize: 1, delayMs: 0, maxQueued: 2, tries: 3, retryDelayMs: 10 }, silentLogger(), counters);
    notifier.closed(record('a'));
    notifier.closed(record('b'));
    notifier.closed(record('c'));
    assert.equal(counters.disconnectsDropped, 0, "'a' is in flight, 'b' and 'c' wait: the queue is full");
    notifier.closed(record('d'));
    assert.equal(counters.disconnectsDropped, 1, 'over maxQueued: dropped at once');
    await flushMicrotasks();
    assert.equal(calls.length, 1);
    t.mock.timers.tick(9);
    await flushMicrotasks();
    assert.equal(calls.length, 1, 'the first retry waits retryDelayMs');
    t.mock.timers.tick(1);
    await flushMicrotasks();
    assert.equal(calls.length, 2, 'a 4xx is retried too: the backend did not take the batch');
    t.mock.timers.tick(19);
    await flushMicrotasks();
    assert.equal(calls.length, 2, 'the second retry waits twice as long');
    t.mock.timers.tick(1);
    await flushMicrotasks();
    assert.deepEqual(
      calls.map((c) => c.disconnects[0].conn),
      ['a', 'a', 'a', 'b', 'c'],
      "'a' tried three times, then dropped; the next batches go",
    );
    assert.deepEqual(counters, { disconnectsNotified: 2, disconnectsDropped: 2 });
  });

  it('flush posts what waits without the delay', async () => {
    const { fake, calls } = caller([]);
    const notifier = new DisconnectNotifier(fake, { batchSize: 10, delayMs: 60_000, maxQueued: 100, tries: 3, retryDelayMs: 10 }, silentLogger());
    notifier.closed(record('a'));
    notifier.closed(record('b'));
    await notifier.flush();
    assert.deepEqual(
      calls.map((c) => c.disconnects.length),
      [2],
    );
    const counters = notifier.counters;
    const dropped = counters.disconnectsDropped;
    notifier.closed(record('c'));
    assert.equal(calls.length, 1, 'after a flush (shutdown) nothing more is scheduled');
    assert.equal(counters.disconnectsDropped, dropped + 1, 'and what comes then is counted as dropped');
  });
});
