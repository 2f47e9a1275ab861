import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import type { Connection } from '../../src/connection/connection.js';
import { ConnectHook } from '../../src/hooks/connect-hook.js';
import { type HookAnswer, HookCallError, type HookCaller } from '../../src/hooks/hook-client.js';
import { PublishGate } from '../../src/hooks/publish-gate.js';
import { RpcRelay } from '../../src/hooks/rpc-relay.js';
import { SubscribeGate } from '../../src/hooks/subscribe-gate.js';

/** A caller that answers every call with `answer` (or rejects with it), recording the payloads. */
function answering(answer: HookAnswer | HookCallError | (() => Promise<HookAnswer>)) {
  const payloads: unknown[] = [];
  const caller: HookCaller = {
    hook: 'test',
    call(payload) {
      payloads.push(payload);
      if (typeof answer === 'function') return answer();
      return answer instanceof HookCallError ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
  return { caller, payloads };
}

const conn = { id: 'n-1', userId: 'u', auth: null } as unknown as Connection;
const req = {
  url: '/connect?a=1&token=x',
  headers: { cookie: 'c=1', 'x-other': 'no', 'sec-websocket-protocol': 'pushgate, pushgate.token.abc' },
  socket: { remoteAddress: '127.0.0.9' },
} as unknown as IncomingMessage;

describe('what the hooks make of their answers', () => {
  it('connect: the request body carries only the allow-listed headers and never the token (query or subprotocol)', () => {
    const hook = new ConnectHook(answering({ status: 200, body: null }).caller, ['cookie'], 4);
    assert.deepEqual(hook.request(req, 'n-1', 'alice'), {
      conn: 'n-1',
      address: '127.0.0.9',
      path: '/connect',
      headers: { cookie: 'c=1' },
      query: { a: '1' },
      subprotocols: ['pushgate'],
      user: 'alice',
    });
  });

  it('connect: grants, close requests and refusals; a bad grant is BAD_GATEWAY', async () => {
    const ask = (body: unknown, status = 200) => new ConnectHook(answering({ status, body }).caller, [], 2).ask(req, 'n-1', undefined);
    assert.deepEqual(await ask({ user: 'bob', rooms: ['a', 'a', 'b'], data: { x: 1 } }), {
      ok: true,
      user: 'bob',
      rooms: ['a', 'b'],
      data: '{"x":1}',
      disconnect: undefined,
    });
    assert.deepEqual(await ask({ disconnect: { code: 4321, reason: 'no' } }), {
      ok: true,
      user: undefined,
      rooms: [],
      data: undefined,
      disconnect: { code: 4321, reason: 'no' },
    });
    const refused = await ask({ reason: 'nope' }, 403);
    assert.deepEqual([refused.ok, 'status' in refused && refused.status, 'code' in refused && refused.code], [false, 403, 'FORBIDDEN']);
    const unauthorized = await ask(null, 401);
    assert.equal('code' in unauthorized && unauthorized.code, 'UNAUTHORIZED');
    for (const bad of [
      [1],
      { user: 7 },
      { rooms: 'a' },
      { rooms: ['a', 'b', 'c'] },
      { rooms: [''] },
      { disconnect: { code: 1000 } },
      { disconnect: { code: 4000, reason: 'x'.repeat(200) } },
    ]) {
      const answer = await ask(bad);
      assert.deepEqual(['code' in answer && answer.code, 'status' in answer && answer.status], ['BAD_GATEWAY', 502], JSON.stringify(bad));
    }
    const down = await new ConnectHook(answering(new HookCallError('connect', 'timeout', 'no answer within 5 ms')).caller, [], 2).ask(req, 'n-1', undefined);
    assert.deepEqual(
      ['code' in down && down.code, 'status' in down && down.status, 'headers' in down && down.headers?.['Retry-After']],
      ['UNAVAILABLE', 503, '1'],
    );
  });

  it('rpc: results, the backend code of an error, no route, bad answers, the in-flight limit', async () => {
    const result = new RpcRelay(() => answering({ status: 200, body: { result: [1, 2] } }).caller, 8);
    assert.deepEqual(await result.call(conn, 'm', null), { ok: true, result: '[1,2]' });
    const none = new RpcRelay(() => answering({ status: 204, body: null }).caller, 8);
    assert.deepEqual(await none.call(conn, 'm', null), { ok: true, result: 'null' });
    const error = new RpcRelay(() => answering({ status: 200, body: { error: { code: 42, message: 'm' } } }).caller, 8);
    assert.deepEqual(await error.call(conn, 'm', null), { ok: false, error: { code: 'BACKEND_ERROR', message: 'm' }, backendCode: '42' });
    const refused = new RpcRelay(() => answering({ status: 404, body: { reason: 'x' } }).caller, 8);
    assert.deepEqual(await refused.call(conn, 'm', null), {
      ok: false,
      error: { code: 'BACKEND_ERROR', message: 'the backend refused the call (HTTP 404)' },
      backendCode: 'ERROR',
    });
    const bad = new RpcRelay(() => answering({ status: 200, body: 'text' }).caller, 8);
    assert.equal(((await bad.call(conn, 'm', null)) as { error: { code: string } }).error.code, 'BAD_GATEWAY');
    const unrouted = new RpcRelay(() => null, 8);
    assert.equal(((await unrouted.call(conn, 'm', null)) as { error: { code: string } }).error.code, 'UNKNOWN_METHOD');
    let release: (answer: HookAnswer) => void = () => {};
    const held = answering(() => new Promise<HookAnswer>((resolve) => (release = resolve)));
    const limited = new RpcRelay(() => held.caller, 1);
    const first = limited.call(conn, 'm', 1);
    assert.equal(limited.inFlightOf(conn), 1);
    assert.equal(((await limited.call(conn, 'm', 2)) as { error: { code: string } }).error.code, 'TOO_MANY_REQUESTS');
    release({ status: 200, body: { result: 'done' } });
    assert.deepEqual(await first, { ok: true, result: '"done"' });
    assert.equal(limited.inFlightOf(conn), 0, 'the slot is given back');
    assert.deepEqual(held.payloads, [{ conn: 'n-1', user: 'u', method: 'm', data: 1 }], 'the refused call never reached the backend');
  });

  it('publish: the token claim, the hook (as is, replaced, refused), or no one', async () => {
    const allowing = { ...conn, auth: { publish: { allows: (room: string) => room === 'mine' } } } as unknown as Connection;
    const { caller, payloads } = answering({ status: 200, body: { data: 'stamped' } });
    const gate = new PublishGate(caller);
    assert.deepEqual(await gate.decide(allowing, 'mine', 'x'), { ok: true, item: 'x' });
    assert.equal(payloads.length, 0, 'the token decided: the hook is not asked');
    assert.deepEqual(await gate.decide(allowing, 'other', 'x'), { ok: true, item: 'stamped' });
    assert.deepEqual(await new PublishGate(answering({ status: 200, body: {} }).caller).decide(conn, 'r', 'x'), { ok: true, item: 'x' });
    assert.deepEqual(await new PublishGate(answering({ status: 403, body: { reason: 'read only' } }).caller).decide(conn, 'r', 'x'), {
      code: 'FORBIDDEN',
      message: 'read only',
    });
    assert.equal(((await new PublishGate(null).decide(conn, 'r', 'x')) as { code: string }).code, 'FORBIDDEN');
  });

  it('subscribe: asks only without a rooms claim; data back; refusals carry the reason', async () => {
    const gate = new SubscribeGate(answering({ status: 200, body: { data: { n: 1 } } }).caller);
    assert.equal(gate.asks(conn), true);
    assert.equal(gate.asks({ ...conn, auth: { rooms: { allows: () => true } } } as unknown as Connection), false);
    assert.deepEqual(await gate.ask(conn, 'r', null), { ok: true, data: '{"n":1}' });
    const refusing = new SubscribeGate(answering({ status: 403, body: 'plain' }).caller);
    assert.deepEqual(await refusing.ask(conn, 'r', null), { code: 'FORBIDDEN', message: 'the backend refused room "r"' });
    const failing = new SubscribeGate(answering(new HookCallError('subscribe', 'bad-answer', 'answered HTTP 302')).caller);
    assert.deepEqual(await failing.ask(conn, 'r', null), { code: 'BAD_GATEWAY', message: 'the subscribe hook answered badly: answered HTTP 302' });
  });
});
