import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { postForm, postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';

async function send(url: string, init: RequestInit): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

describe('push API', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ maxBodySize: 4096 });
  });
  after(() => gw.close());

  it('accepts go-push form bodies and JSON bodies for /push/all and /push/room', async () => {
    assert.deepEqual(await postForm(`${gw.apiUrl}/push/all`, { items: '[1,{"a":2}]' }), { status: 200, body: { ok: true, items: 2, recipients: 0 } });
    assert.deepEqual(await postForm(`${gw.apiUrl}/push/all`, { msg: '{"single":true}' }), { status: 200, body: { ok: true, items: 1, recipients: 0 } });
    assert.deepEqual((await postJson(`${gw.apiUrl}/push/room`, { room: 'r', items: ['x'] })).body, { ok: true, items: 1, recipients: 0 });
    const charset = await send(`${gw.apiUrl}/push/all`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: '{"items":["é"]}',
    });
    assert.equal(charset.status, 200);
  });

  const bad: Array<[string, string, string, string, number, string]> = [
    ['malformed JSON', '/push/all', 'application/json', '{"items": [', 400, 'INVALID_BODY'],
    ['a JSON array body', '/push/all', 'application/json', '[1]', 400, 'INVALID_BODY'],
    ['missing items', '/push/all', 'application/json', '{}', 400, 'INVALID_BODY'],
    ['empty items', '/push/all', 'application/json', '{"items":[]}', 400, 'INVALID_BODY'],
    ['items not an array', '/push/all', 'application/json', '{"items":"x"}', 400, 'INVALID_BODY'],
    ['form items not JSON', '/push/all', 'application/x-www-form-urlencoded', 'items=%5Bnope', 400, 'INVALID_BODY'],
    ['form without items', '/push/all', 'application/x-www-form-urlencoded', 'room=r', 400, 'INVALID_BODY'],
    ['room missing', '/push/room', 'application/json', '{"items":[1]}', 400, 'INVALID_BODY'],
    ['room invalid', '/push/room', 'application/json', '{"room":"a b","items":[1]}', 400, 'INVALID_ROOM'],
    ['conn missing', '/push/conn', 'application/json', '{"items":[1]}', 400, 'INVALID_BODY'],
    ['text/plain', '/push/all', 'text/plain', 'items=[1]', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['no content type', '/push/all', '', '{"items":[1]}', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a body over maxBodySize', '/push/all', 'application/json', `{"items":["${'x'.repeat(5000)}"]}`, 413, 'BODY_TOO_LARGE'],
  ];
  for (const [what, path, type, body, status, code] of bad) {
    it(`answers ${status} ${code} for ${what}`, async () => {
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      const res = await send(`${gw.apiUrl}${path}`, { method: 'POST', headers, body: type ? body : Buffer.from(body) });
      assert.equal(res.status, status);
      assert.equal(res.body.ok, false);
      assert.equal(res.body.error.code, code);
      assert.equal(typeof res.body.error.message, 'string');
    });
  }

  it('answers 413 for a streamed body without Content-Length that grows past the limit', async () => {
    const { port } = new URL(gw.apiUrl);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/push/all', method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
      req.write('{"items":["');
      for (let i = 0; i < 10; i++) req.write('y'.repeat(1000));
      req.end('"]}');
    });
    assert.equal(status, 413);
  });

  it('answers 404 for unknown routes and 405 (with Allow) for wrong methods', async () => {
    const missing = await send(`${gw.apiUrl}/push/everyone`, { method: 'POST' });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'NOT_FOUND');
    const wrong = await send(`${gw.apiUrl}/push/all`, { method: 'GET' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    assert.equal(wrong.body.error.code, 'METHOD_NOT_ALLOWED');
    assert.equal((await send(`${gw.apiUrl}/stats`, { method: 'DELETE' })).status, 405);
  });

  it("serves go-push's counters and ours at /stats", async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    await client.request('JOIN', { room: 'stats-room' });
    await postForm(`${gw.apiUrl}/push/room`, { room: 'stats-room', items: '[1,2,3]' });
    await client.nextOfType('PUSH');
    const { status, body } = await send(`${gw.apiUrl}/stats`, {});
    assert.equal(status, 200);
    for (const key of [
      'onlineConnections',
      'roomCount',
      'sendMessageTotal',
      'sendMessageFail',
      'dispatchPending',
      'mergerPending',
      'itemsDelivered',
      'slowConsumerDisconnects',
      'pushRejected',
    ]) {
      assert.equal(typeof body[key], 'number', key);
    }
    assert.equal(body.onlineConnections, 1);
    assert.equal(body.roomCount, 1);
    assert.ok(body.sendMessageTotal >= 1);
    assert.ok(body.itemsDelivered >= 3);
  });

  it('serves Prometheus metrics at /metrics and health at /healthz', async () => {
    const metrics = await send(`${gw.apiUrl}/metrics`, {});
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(metrics.body, /^# TYPE pushgate_frames_sent_total counter$/m);
    assert.match(metrics.body, /^pushgate_online_connections\{node="[0-9a-f]+"\} \d+$/m);
    assert.match(metrics.body, /^pushgate_items_dropped_total\{node="[0-9a-f]+"\} \d+$/m);
    assert.match(metrics.body, /^process_resident_memory_bytes\{node="[0-9a-f]+"\} \d+/m);
    assert.deepEqual((await send(`${gw.apiUrl}/healthz`, {})).body, { ok: true, status: 'running', broker: 'none' });
  });
});

describe('push API with hostile items', () => {
  it('answers 400 ITEM_TOO_DEEP, not 500, for an item nested 200,000 deep', async (t) => {
    const gw = await startGateway();
    t.after(() => gw.close());
    const depth = 200000;
    const res = await send(`${gw.apiUrl}/push/all`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"items":[${'['.repeat(depth)}${']'.repeat(depth)}]}`,
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'ITEM_TOO_DEEP');
    assert.match(res.body.error.message, /items\[0\] is nested 200000 deep; the limit is 64/);
  });

  it('refuses values of library use nested past maxItemDepth, or too deep to encode at all', async (t) => {
    const gw = await startGateway({ maxItemDepth: 3 });
    t.after(() => gw.close());
    assert.deepEqual(
      await gw.gateway.pushAll([[[[1]]]]).then(
        () => 'accepted',
        (e) => e.code,
      ),
      'accepted',
    );
    assert.match(
      await gw.gateway.pushAll([1, [[[[1]]]]]).then(
        () => '',
        (e) => `${e.code} ${e.message}`,
      ),
      /^ITEM_TOO_DEEP items\[1\] is nested 4 deep; the limit is 3/,
    );
    let deep: unknown = 1;
    for (let i = 0; i < 200000; i++) deep = [deep];
    assert.match(
      await gw.gateway.pushAll([deep]).then(
        () => '',
        (e) => `${e.code} ${e.message}`,
      ),
      /^ITEM_TOO_DEEP items\[0\] is nested too deeply to encode/,
    );
  });
});

describe('push API when the queues are full', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ maxPendingItems: 10, maxBatchDelay: 60000, maxBatchItems: 1000 });
  });
  after(() => gw.close());

  it('answers 503 QUEUE_FULL with Retry-After instead of dropping, and counts it', async () => {
    // With a one-minute batch delay, accepted items stay pending: the 11th cannot be taken.
    assert.equal((await postJson(`${gw.apiUrl}/push/all`, { items: Array.from({ length: 10 }, (_, i) => i) })).status, 200);
    const refused = await postJson(`${gw.apiUrl}/push/room`, { room: 'r', items: [11] });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'QUEUE_FULL');
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(gw.gateway.stats.pushRejected, 1);
    assert.equal(gw.gateway.snapshot().mergerPending, 10);
  });

  it('answers 413 TOO_MANY_ITEMS, not a retry, for one push larger than the whole queue', async () => {
    const refused = await postJson(`${gw.apiUrl}/push/all`, { items: Array.from({ length: 11 }, (_, i) => i) });
    assert.equal(refused.status, 413);
    assert.equal(refused.body.error.code, 'TOO_MANY_ITEMS');
  });
});
