import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { describe, it } from 'node:test';
import { ApiServer } from '../../src/api/api-server.js';
import { type GatewayOptions, resolveOptions } from '../../src/config/options.js';
import type { Gateway, PushResult } from '../../src/gateway/gateway.js';
import { ErrorCode } from '../../src/protocol/codes.js';
import { apiError, PushError } from '../../src/protocol/errors.js';
import { JsonItems } from '../../src/push/items.js';
import { type ProtocolStats, protocolView } from '../../src/stats/protocol-view.js';
import { Stats } from '../../src/stats/stats.js';
import { exchange, type RawAnswer, rawRequest } from '../helpers/fake-http.js';
import { memoryLogger } from '../helpers/log.js';

/** What the fake gateway was asked to push. */
interface PushCall {
  kind: 'all' | 'room' | 'conn' | 'user';
  target?: string;
  items: unknown;
}

/**
 * The push API in front of a fake gateway: it records each push and answers with `answer` (a result,
 * or an error to throw). Requests go through an in-memory socket (no port).
 */
function api(options: Partial<GatewayOptions> = {}) {
  const calls: PushCall[] = [];
  const state = {
    answer: { items: 1, recipients: 2 } as PushResult | Error,
    /** When set, the answer to each call (else `answer`). */
    answerFor: undefined as ((call: PushCall) => PushResult | Error) | undefined,
    running: true,
    broker: 'none',
  };
  const push =
    (kind: PushCall['kind']) =>
    async (...args: unknown[]): Promise<PushResult> => {
      const [target, items] = kind === 'all' ? [undefined, args[0]] : [args[0] as string, args[1]];
      const call = { kind, ...(target === undefined ? {} : { target }), items };
      calls.push(call);
      const answer = state.answerFor?.(call) ?? state.answer;
      if (answer instanceof Error) throw answer;
      return answer;
    };
  const gateway = {
    options: resolveOptions(options),
    apiTls: null,
    stats: new Stats(),
    pushAll: push('all'),
    pushRoom: push('room'),
    pushConn: push('conn'),
    pushUser: push('user'),
    clusterView: () => null,
    snapshot: () => ({ nodeId: 'cafe0001', onlineConnections: 3 }),
    isWorker: false,
    // One process, its own instance: the top level is its own counters.
    instanceView: () => ({
      id: 'cafe0001',
      nodes: [],
      total: { onlineConnections: 3 },
      rooms: { news: 2 },
      roomCount: 1,
      roomCountExact: true,
      maxStalenessMs: 0,
      stale: false,
    }),
    hub: { roomSizes: () => [['news', 2]][Symbol.iterator]() },
    metrics: { contentType: 'text/plain; version=0.0.4', metrics: async () => 'pushgate_up 1\n' },
    get isRunning() {
      return state.running;
    },
    get brokerStatus() {
      return state.broker;
    },
  } as unknown as Gateway;
  const logs = memoryLogger();
  const server = new ApiServer(gateway, logs.log);
  // The HTTP server ApiServer built, never listening: requests are handed to it directly.
  const http = (server as unknown as { server: Server }).server;
  const send = async (method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<RawAnswer & { json: any }> => {
    const answer = await exchange(http, rawRequest(method, path, headers, body));
    return { ...answer, json: answer.headers['content-type']?.startsWith('application/json') ? JSON.parse(answer.body) : undefined };
  };
  return { server, gateway, calls, state, logs, send };
}

const JSON_TYPE = { 'content-type': 'application/json' };
const FORM_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };

describe('ApiServer routing (fake gateway, in-memory requests)', () => {
  it("routes each push to the gateway with its target and the items' exact texts, and answers 200 with the counts", async () => {
    const { send, calls } = api();
    const answers = [
      await send('POST', '/push/all', JSON_TYPE, '{"items":[1, {"a" : 2}]}'),
      await send('POST', '/push/room', JSON_TYPE, '{"room":"news","items":["x"]}'),
      await send('POST', '/push/conn', FORM_TYPE, 'conn=cafe0001-1&items=%5B%22dm%22%5D'),
      await send('POST', '/push/user', JSON_TYPE, '{"user":"alice","items":[true]}'),
    ];
    for (const answer of answers) {
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(answer.json, { ok: true, items: 1, recipients: 2 });
    }
    assert.deepEqual(
      calls.map(({ kind, target }) => [kind, target]),
      [
        ['all', undefined],
        ['room', 'news'],
        ['conn', 'cafe0001-1'],
        ['user', 'alice'],
      ],
    );
    assert.ok(calls[0]!.items instanceof JsonItems);
    assert.deepEqual((calls[0]!.items as JsonItems).texts, ['1', '{"a" : 2}'], 'items kept as written');
    assert.deepEqual((calls[2]!.items as JsonItems).texts, ['"dm"']);
  });

  it('answers 404 for an unknown path and 405 with Allow for a wrong method, as JSON errors', async () => {
    const { send, calls } = api();
    const missing = await send('GET', '/nowhere');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json.error.code, 'NOT_FOUND');
    assert.equal(missing.json.ok, false);
    const wrong = await send('GET', '/push/all');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'POST');
    assert.equal(wrong.json.error.code, 'METHOD_NOT_ALLOWED');
    assert.deepEqual(calls, []);
  });

  it('refuses bodies it cannot use before reaching the gateway: 415, 400 for a missing field or bad JSON, 413 closing the connection', async () => {
    const { send, calls } = api({ maxBodySize: 64 });
    const text = await send('POST', '/push/all', { 'content-type': 'text/plain' }, 'hello');
    assert.equal(text.status, 415);
    assert.equal(text.json.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    const noRoom = await send('POST', '/push/room', JSON_TYPE, '{"items":[1]}');
    assert.equal(noRoom.status, 400);
    assert.match(noRoom.json.error.message, /field room/);
    const bad = await send('POST', '/push/all', JSON_TYPE, '{"items":[1,]}');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'INVALID_BODY');
    const twice = await send('POST', '/push/room', JSON_TYPE, '{"room":"a","room":"b","items":[1]}');
    assert.equal(twice.status, 400, 'a member given twice is refused, not silently the last');
    const big = await send('POST', '/push/all', JSON_TYPE, `{"items":["${'x'.repeat(100)}"]}`);
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 'BODY_TOO_LARGE');
    assert.equal(big.headers.connection, 'close');
    assert.deepEqual(calls, []);
  });

  it('answers a refused push with its status and code; 503 with Retry-After', async () => {
    const { send, state } = api();
    state.answer = new PushError(ErrorCode.QUEUE_FULL, 'full', 503);
    const full = await send('POST', '/push/all', JSON_TYPE, '{"items":[1]}');
    assert.equal(full.status, 503);
    assert.equal(full.headers['retry-after'], '1');
    assert.deepEqual(full.json, { ok: false, error: { code: 'QUEUE_FULL', message: 'full' } });
    state.answer = new PushError(ErrorCode.CONN_NOT_FOUND, 'gone', 404);
    const gone = await send('POST', '/push/conn', JSON_TYPE, '{"conn":"x-1","items":[1]}');
    assert.equal(gone.status, 404);
    assert.equal(gone.headers['retry-after'], undefined);
  });

  it('answers 500 INTERNAL_ERROR for an unexpected failure, without its details, and logs it as an error', async () => {
    const { send, state, logs } = api();
    state.answer = new Error('secret detail');
    const failed = await send('POST', '/push/all', JSON_TYPE, '{"items":[1]}');
    assert.equal(failed.status, 500);
    assert.deepEqual(failed.json, { ok: false, error: { code: 'INTERNAL_ERROR', message: 'internal error' } });
    const errors = logs.lines().filter((line) => line.level === 50);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.msg, 'push API request failed');
  });

  it('with an API key, answers 401 with WWW-Authenticate unless it is sent, and keeps /healthz open', async () => {
    const { send, calls } = api({ apiKey: 'the-key' });
    const without = await send('POST', '/push/all', JSON_TYPE, '{"items":[1]}');
    assert.equal(without.status, 401);
    assert.equal(without.headers['www-authenticate'], 'Bearer realm="pushgate"');
    assert.equal((await send('POST', '/push/all', { ...JSON_TYPE, authorization: 'Bearer wrong' }, '{"items":[1]}')).status, 401);
    assert.equal((await send('GET', '/stats')).status, 401, 'stats need the key too');
    assert.equal((await send('GET', '/healthz')).status, 200);
    assert.equal((await send('POST', '/push/all', { ...JSON_TYPE, authorization: 'Bearer the-key' }, '{"items":[1]}')).status, 200);
    assert.equal(calls.length, 1);
  });

  it('serves /healthz (503 while the broker is down or the gateway stops), /stats and /metrics', async () => {
    const { send, state } = api();
    assert.deepEqual((await send('GET', '/healthz')).json, { ok: true, status: 'running', broker: 'none' });
    state.broker = 'down';
    const down = await send('GET', '/healthz');
    assert.equal(down.status, 503);
    assert.deepEqual(down.json, { ok: false, status: 'running', broker: 'down' });
    state.broker = 'none';
    state.running = false;
    assert.deepEqual((await send('GET', '/healthz')).json, { ok: false, status: 'stopping', broker: 'none' });
    assert.deepEqual((await send('GET', '/stats')).json, {
      nodeId: 'cafe0001',
      onlineConnections: 3,
      roomCount: 1,
      roomCountExact: true,
      protocols: protocolView({ onlineConnections: 3 } as ProtocolStats),
      instance: 'cafe0001',
      maxStalenessMs: 0,
      stale: false,
    });
    const cluster = await send('GET', '/stats?scope=cluster');
    assert.equal(cluster.json.scope, 'cluster');
    assert.deepEqual(cluster.json.rooms, { news: 2 });
    assert.equal(cluster.json.stale, false);
    const metrics = await send('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4');
    assert.equal(metrics.body, 'pushgate_up 1\n');
  });

  it('while draining, answers every request with Connection: close', async () => {
    const { send, server } = api();
    server.drain();
    const answer = await send('GET', '/healthz', { connection: 'keep-alive' });
    assert.equal(answer.headers.connection, 'close');
  });
});

describe('ApiServer POST /push/batch (fake gateway, in-memory requests)', () => {
  it('makes one call per push, in order, with its target and exact items, and answers each push in its place', async () => {
    const { send, calls, state } = api();
    state.answerFor = (call) =>
      call.target === 'gone-1'
        ? apiError.CONN_NOT_FOUND.notConnected('gone-1')
        : call.target === 'busy'
          ? apiError.QUEUE_FULL.full(5, 5)
          : { items: (call.items as JsonItems).texts.length, recipients: call.kind === 'all' ? 9 : 1 };
    const body = JSON.stringify({
      pushes: [
        { room: 'news', items: [1, { a: 2 }] },
        { all: true, items: ['x'] },
        { conn: 'gone-1', items: [1] },
        { room: 'a b', room2: 'x', items: [1] },
        { user: 'alice', items: [true] },
        { room: 'busy', items: [1] },
      ],
    });
    const answer = await send('POST', '/push/batch', JSON_TYPE, body);
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.headers['retry-after'], undefined, 'the batch itself is not refused');
    assert.deepEqual(answer.json, {
      ok: true,
      results: [
        { ok: true, items: 2, recipients: 1 },
        { ok: true, items: 1, recipients: 9 },
        { ok: false, error: { code: 'CONN_NOT_FOUND', message: 'connection gone-1 is not connected' } },
        { ok: false, error: { code: 'INVALID_BODY', message: 'member "room2" is not one of all, room, conn, user, items' } },
        { ok: true, items: 1, recipients: 1 },
        { ok: false, error: { code: 'QUEUE_FULL', message: '5 items are waiting for delivery (limit 5); retry later' } },
      ],
    });
    assert.deepEqual(
      calls.map(({ kind, target }) => [kind, target]),
      [
        ['room', 'news'],
        ['all', undefined],
        ['conn', 'gone-1'],
        ['user', 'alice'],
        ['room', 'busy'],
      ],
    );
    assert.deepEqual((calls[0]!.items as JsonItems).texts, ['1', '{"a":2}']);
  });

  it('answers an unexpected failure of one push as its INTERNAL_ERROR, logged, the others standing', async () => {
    const { send, state, logs } = api();
    state.answerFor = (call) => (call.kind === 'user' ? new Error('secret detail') : { items: 1, recipients: 0 });
    const answer = await send('POST', '/push/batch', JSON_TYPE, '{"pushes":[{"user":"u","items":[1]},{"all":true,"items":[1]}]}');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json.results, [
      { ok: false, error: { code: 'INTERNAL_ERROR', message: 'internal error' } },
      { ok: true, items: 1, recipients: 0 },
    ]);
    assert.equal(logs.lines().filter((line) => line.level === 50).length, 1);
  });

  it('refuses a body that is not a batch document whole, before any push: 415, 400, 413 for too many pushes or bytes', async () => {
    const { send, calls } = api({ maxBatchPushes: 2, maxBodySize: 256 });
    const one = '{"all":true,"items":[1]}';
    const refusals: Array<[Record<string, string>, string, number, string]> = [
      [FORM_TYPE, 'pushes=1', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [JSON_TYPE, '{"pushes":[1', 400, 'INVALID_BODY'],
      [JSON_TYPE, '{"pushes":[]}', 400, 'INVALID_BODY'],
      [JSON_TYPE, `{"pushes":[${one}],"extra":1}`, 400, 'INVALID_BODY'],
      [JSON_TYPE, `{"pushes":[${one},${one},${one}]}`, 413, 'TOO_MANY_PUSHES'],
      [JSON_TYPE, `{"pushes":[{"all":true,"items":["${'x'.repeat(300)}"]}]}`, 413, 'BODY_TOO_LARGE'],
    ];
    for (const [headers, body, status, code] of refusals) {
      const answer = await send('POST', '/push/batch', headers, body);
      assert.equal(answer.status, status, body);
      assert.equal(answer.json.ok, false);
      assert.equal(answer.json.error.code, code);
    }
    assert.deepEqual(calls, []);
    assert.equal((await send('POST', '/push/batch', JSON_TYPE, `{"pushes":[${one},${one}]}`)).json.results.length, 2, 'maxBatchPushes itself is taken');
    assert.equal((await send('GET', '/push/batch')).headers.allow, 'POST');
  });

  it('needs the API key like every push route', async () => {
    const { send, calls } = api({ apiKey: 'the-key' });
    const body = '{"pushes":[{"all":true,"items":[1]}]}';
    assert.equal((await send('POST', '/push/batch', JSON_TYPE, body)).status, 401);
    assert.equal((await send('POST', '/push/batch', { ...JSON_TYPE, authorization: 'Bearer the-key' }, body)).status, 200);
    assert.equal(calls.length, 1);
  });
});
