import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { HookBatcher } from '../../src/hooks/hook-batcher.js';
import { type HookAnswer, HookCallError, type HookClient } from '../../src/hooks/hook-client.js';
import { withTimeout } from '../helpers/wait.js';

/** One end of an event-loop turn: the batcher's end-of-turn flush (a setImmediate queued earlier) has run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** One POST the fake client was asked for, answered (or failed) by the test. */
interface Posted {
  payload: { calls: unknown[] };
  headers: Readonly<Record<string, string>>;
  resolve(answer: HookAnswer): void;
  reject(error: unknown): void;
}

/** A HookClient whose calls the test answers: each call() is recorded in `posted` and settles when told. */
function fakeClient() {
  const posted: Posted[] = [];
  const client = {
    hook: 'rpc',
    call(payload: unknown, headers: Readonly<Record<string, string>> = {}): Promise<HookAnswer> {
      return new Promise((resolve, reject) => posted.push({ payload: payload as Posted['payload'], headers, resolve, reject }));
    },
  };
  return { client: client as unknown as HookClient, posted };
}

/** Answers a POST 200 with these results. */
function answer(post: Posted, results: unknown): void {
  post.resolve({ status: 200, body: { results } });
}

/** How each promise settled, within a bounded time (a call left pending fails the test). */
async function outcomes(promises: Array<Promise<HookAnswer>>): Promise<Array<PromiseSettledResult<HookAnswer>>> {
  return withTimeout(Promise.allSettled(promises), 2000, 'every call to settle');
}

function rejectedWith(outcome: PromiseSettledResult<HookAnswer>, kind: string): void {
  assert.equal(outcome.status, 'rejected');
  const reason = (outcome as PromiseRejectedResult).reason;
  assert.ok(reason instanceof HookCallError, `a HookCallError, got ${reason}`);
  assert.equal(reason.kind, kind);
  assert.equal(reason.hook, 'rpc');
}

describe('HookBatcher', () => {
  afterEach(() => mock.timers.reset());

  it('posts a burst of calls made in one turn as ONE batch, in order, and gives each call its own entry', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0 });
    assert.equal(batcher.hook, 'rpc');
    const calls = [1, 2, 3, 4, 5].map((n) => batcher.call({ n }));
    assert.equal(posted.length, 0, 'nothing before the end of the turn');
    assert.equal(batcher.waitingCalls, 5);
    await turn();
    assert.equal(posted.length, 1);
    assert.deepEqual(posted[0]!.payload, { calls: [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }] });
    assert.deepEqual(posted[0]!.headers, { 'x-pushgate-batch': '5' });
    assert.equal(batcher.waitingCalls, 0);
    assert.equal(batcher.batchesInFlight, 1);
    answer(posted[0]!, [
      { status: 200, body: { result: 10 } },
      { status: 403, body: { reason: 'no' } },
      { status: 200 },
      { status: 201, body: [1] },
      { status: 200, body: { result: 50 } },
    ]);
    const settled = await outcomes(calls);
    assert.deepEqual(
      settled.map((s) => (s.status === 'fulfilled' ? s.value : s.reason)),
      [
        { status: 200, body: { result: 10 } },
        { status: 403, body: { reason: 'no' } },
        { status: 200, body: null },
        { status: 201, body: [1] },
        { status: 200, body: { result: 50 } },
      ],
    );
    assert.equal(batcher.batchesInFlight, 0);
  });

  it('posts a lone call in the batch shape too (one shape for the backend)', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0 });
    const call = batcher.call({ alone: true });
    await turn();
    assert.equal(posted.length, 1);
    assert.deepEqual(posted[0]!.payload, { calls: [{ alone: true }] });
    assert.deepEqual(posted[0]!.headers, { 'x-pushgate-batch': '1' });
    answer(posted[0]!, [{ status: 200, body: { ok: 1 } }]);
    assert.deepEqual(await withTimeout(call, 2000, 'the call'), { status: 200, body: { ok: 1 } });
  });

  it('splits at maxCalls: a full batch goes at once, the rest at the end of the turn', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 3, delayMs: 0 });
    const calls = [0, 1, 2, 3, 4, 5, 6].map((n) => batcher.call(n));
    assert.equal(posted.length, 2, 'two full batches posted in the same turn');
    assert.deepEqual(
      posted.map((p) => p.payload.calls),
      [
        [0, 1, 2],
        [3, 4, 5],
      ],
    );
    await turn();
    assert.equal(posted.length, 3);
    assert.deepEqual(posted[2]!.payload.calls, [6]);
    assert.deepEqual(
      posted.map((p) => p.headers['x-pushgate-batch']),
      ['3', '3', '1'],
    );
    for (const post of posted)
      answer(
        post,
        post.payload.calls.map((n) => ({ status: 200, body: n })),
      );
    const settled = await outcomes(calls);
    assert.deepEqual(
      settled.map((s) => (s as PromiseFulfilledResult<HookAnswer>).value.body),
      [0, 1, 2, 3, 4, 5, 6],
    );
  });

  it('with delayMs, waits that long after the first call and takes the calls made meanwhile', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 10 });
    const first = batcher.call('a');
    await turn();
    assert.equal(posted.length, 0, 'not at the end of the turn');
    mock.timers.tick(6);
    const second = batcher.call('b');
    mock.timers.tick(3);
    await turn();
    assert.equal(posted.length, 0, 'not before 10 ms');
    mock.timers.tick(1);
    assert.equal(posted.length, 1);
    assert.deepEqual(posted[0]!.payload.calls, ['a', 'b']);
    answer(posted[0]!, [
      { status: 200, body: 'A' },
      { status: 200, body: 'B' },
    ]);
    assert.deepEqual(await withTimeout(Promise.all([first, second]), 2000, 'both calls'), [
      { status: 200, body: 'A' },
      { status: 200, body: 'B' },
    ]);
  });

  it('with delayMs, a batch that fills up goes at once, and its timer does not post the next one early', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 2, delayMs: 10 });
    void batcher.call(1);
    mock.timers.tick(5);
    void batcher.call(2);
    assert.equal(posted.length, 1, 'full: posted without waiting');
    void batcher.call(3);
    mock.timers.tick(5);
    assert.equal(posted.length, 1, 'the new batch waits its own 10 ms');
    mock.timers.tick(5);
    assert.equal(posted.length, 2);
    assert.deepEqual(posted[1]!.payload.calls, [3]);
  });

  it('fails every call of a batch whose results array has the wrong length, and leaves nothing pending', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0 });
    const calls = [1, 2, 3].map((n) => batcher.call(n));
    await turn();
    answer(posted[0]!, [
      { status: 200, body: 1 },
      { status: 200, body: 2 },
    ]);
    const settled = await outcomes(calls);
    for (const outcome of settled) rejectedWith(outcome, 'bad-answer');
    assert.match((settled[0] as PromiseRejectedResult).reason.message, /2 results for 3 calls/);
    assert.equal(batcher.waitingCalls, 0);
    assert.equal(batcher.batchesInFlight, 0);
  });

  for (const [what, reply] of [
    ['a non-200 answer to the whole batch (404)', { status: 404, body: { reason: 'no such route' } }],
    ['a 204 to the whole batch', { status: 204, body: null }],
    ['no results array', { status: 200, body: { result: [] } }],
    ['an entry that is not an object', { status: 200, body: { results: [{ status: 200 }, 'x'] } }],
    ['an entry without a status', { status: 200, body: { results: [{ status: 200 }, { body: 1 }] } }],
    ['an entry with a 3xx status', { status: 200, body: { results: [{ status: 200 }, { status: 302 }] } }],
    ['an entry with a fractional status', { status: 200, body: { results: [{ status: 200 }, { status: 200.5 }] } }],
    ['an entry with a status out of range', { status: 200, body: { results: [{ status: 200 }, { status: 600 }] } }],
  ] as const) {
    it(`fails every call as bad-answer on ${what}`, async () => {
      const { client, posted } = fakeClient();
      const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0 });
      const calls = [batcher.call(1), batcher.call(2)];
      await turn();
      posted[0]!.resolve(reply);
      for (const outcome of await outcomes(calls)) rejectedWith(outcome, 'bad-answer');
      assert.equal(batcher.batchesInFlight, 0);
    });
  }

  it("fails every call of a batch whose POST times out with the client's error", async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0 });
    const calls = [1, 2, 3, 4].map((n) => batcher.call(n));
    await turn();
    posted[0]!.reject(new HookCallError('rpc', 'timeout', 'no answer within 5000 ms'));
    const settled = await outcomes(calls);
    for (const outcome of settled) rejectedWith(outcome, 'timeout');
    assert.match((settled[3] as PromiseRejectedResult).reason.message, /no answer within 5000 ms/);
    assert.equal(batcher.waitingCalls, 0);
    assert.equal(batcher.batchesInFlight, 0);
  });

  it('fails every call as unavailable when the client throws something that is not a HookCallError', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0 });
    const calls = [batcher.call(1), batcher.call(2)];
    await turn();
    posted[0]!.reject(new Error('ECONNRESET'));
    for (const outcome of await outcomes(calls)) rejectedWith(outcome, 'unavailable');
  });

  it('fails every call when the client throws synchronously', async () => {
    const client = {
      hook: 'rpc',
      call(): Promise<HookAnswer> {
        throw new HookCallError('rpc', 'unavailable', 'breaker open');
      },
    } as unknown as HookClient;
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0 });
    const calls = [batcher.call(1), batcher.call(2)];
    for (const outcome of await outcomes(calls)) rejectedWith(outcome, 'unavailable');
    assert.equal(batcher.batchesInFlight, 0);
  });

  it('fails only the call whose entry is a 5xx, as unavailable', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0 });
    const calls = [1, 2, 3].map((n) => batcher.call(n));
    await turn();
    answer(posted[0]!, [
      { status: 200, body: 'one' },
      { status: 503, body: { reason: 'overloaded' } },
      { status: 404, body: { code: 'NOPE' } },
    ]);
    const settled = await outcomes(calls);
    assert.deepEqual(settled[0], { status: 'fulfilled', value: { status: 200, body: 'one' } });
    rejectedWith(settled[1]!, 'unavailable');
    assert.match((settled[1] as PromiseRejectedResult).reason.message, /503/);
    assert.deepEqual(settled[2], { status: 'fulfilled', value: { status: 404, body: { code: 'NOPE' } } });
  });

  it('keeps a due batch open while maxInFlight batches are out, gathering calls, and posts it when one settles', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0, maxInFlight: 2 });
    const a = batcher.call('a');
    await turn();
    const b = batcher.call('b');
    await turn();
    assert.equal(posted.length, 2, 'two batches in flight');
    const waiting = ['c', 'd'].map((x) => batcher.call(x));
    await turn();
    waiting.push(batcher.call('e'));
    await turn();
    assert.equal(posted.length, 2, 'the third batch waits while two are out');
    assert.equal(batcher.waitingCalls, 3);
    answer(posted[0]!, [{ status: 200, body: 'A' }]);
    assert.deepEqual(await withTimeout(a, 2000, 'a'), { status: 200, body: 'A' });
    await turn();
    assert.equal(posted.length, 3, 'posted as soon as one settled');
    assert.deepEqual(posted[2]!.payload.calls, ['c', 'd', 'e']);
    assert.equal(posted[2]!.headers['x-pushgate-batch'], '3');
    posted[1]!.reject(new HookCallError('rpc', 'unavailable', 'answered HTTP 502'));
    answer(
      posted[2]!,
      ['C', 'D', 'E'].map((body) => ({ status: 200, body })),
    );
    rejectedWith((await outcomes([b]))[0]!, 'unavailable');
    const settled = await outcomes(waiting);
    assert.deepEqual(
      settled.map((s) => (s as PromiseFulfilledResult<HookAnswer>).value.body),
      ['C', 'D', 'E'],
    );
    assert.equal(batcher.batchesInFlight, 0);
    assert.equal(batcher.waitingCalls, 0);
  });

  it('posts a full batch at once even while maxInFlight batches are out', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 2, delayMs: 0, maxInFlight: 1 });
    void batcher.call(1);
    await turn();
    assert.equal(posted.length, 1);
    void batcher.call(2);
    await turn();
    assert.equal(posted.length, 1, 'the second (partial) batch waits');
    void batcher.call(3);
    assert.equal(posted.length, 2, 'full: posted at once');
    assert.deepEqual(posted[1]!.payload.calls, [2, 3]);
    assert.equal(batcher.batchesInFlight, 2);
  });

  it('a batch whose POST fails while another waits still lets the waiting one go', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0, maxInFlight: 1 });
    const first = batcher.call(1);
    await turn();
    const second = batcher.call(2);
    await turn();
    assert.equal(posted.length, 1);
    posted[0]!.reject(new HookCallError('rpc', 'timeout', 'no answer within 5000 ms'));
    rejectedWith((await outcomes([first]))[0]!, 'timeout');
    await turn();
    assert.equal(posted.length, 2);
    answer(posted[1]!, [{ status: 200, body: 2 }]);
    assert.deepEqual(await withTimeout(second, 2000, 'the second call'), { status: 200, body: 2 });
  });

  it('flush() posts the open batch at once', async () => {
    const { client, posted } = fakeClient();
    const batcher = new HookBatcher(client, { maxCalls: 100, delayMs: 0 });
    void batcher.call(1);
    batcher.flush();
    assert.equal(posted.length, 1);
    await turn();
    assert.equal(posted.length, 1, 'the end-of-turn timer was cancelled');
    batcher.flush();
    assert.equal(posted.length, 1, 'an empty batch is not posted');
  });

  it('refuses a maxCalls below 1', () => {
    const { client } = fakeClient();
    assert.throws(() => new HookBatcher(client, { maxCalls: 0, delayMs: 0 }), RangeError);
  });
});
