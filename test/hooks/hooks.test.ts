import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyHookSignature } from '../../src/hooks/hook-signature.js';
import { Backend } from '../helpers/backend.js';
import { refusal, TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';

const SECRET = 'hook-secret-for-tests';

describe('hooks: a plain HTTP backend behind the gateway, in both directions', () => {
  let backend: Backend;
  let gw: RunningGateway;

  before(async () => {
    backend = await Backend.start({
      '/connect': (body) => {
        if (body.query.who === 'nobody') return { status: 401, body: { reason: 'who are you?' } };
        if (body.query.who === 'banned') return { status: 403, body: { reason: 'banned' } };
        if (body.query.who === 'teapot') return { status: 418, raw: 'I am a teapot' };
        if (body.query.who === 'broken') return { status: 500, body: { reason: 'oops' } };
        if (body.query.who === 'garbage') return { status: 200, raw: '{not json' };
        if (body.query.who === 'slow') return 'hang';
        if (body.query.who === 'kick') return { body: { disconnect: { code: 4403, reason: 'go away' } } };
        if (body.query.who === 'anon') return { status: 204 };
        return {
          body: {
            user: `user-${body.query.who}`,
            rooms: ['lobby', `inbox:${body.query.who}`],
            data: { welcome: body.query.who, cookie: body.headers.cookie ?? null },
          },
        };
      },
      '/subscribe': (body) => {
        if (body.room.startsWith('slow:')) return { body: { data: 'late' }, delayMs: 150 };
        if (body.room.startsWith('secret:')) return { status: 403, body: { reason: `no entry to ${body.room}` } };
        return { body: { data: { topic: `about ${body.room}`, asked: body.data } } };
      },
      '/rpc': (body) => {
        switch (body.method) {
          case 'echo':
            return { body: { result: { echoed: body.data, user: body.user } } };
          case 'fail':
            return { body: { error: { code: 'NOT_FOUND', message: 'no such thing' } } };
          case 'refuse':
            return { status: 422, body: { code: 'INVALID', message: 'bad input' } };
          case 'slow':
            return 'hang';
          case 'garbage':
            return { raw: '<html>' };
          case 'huge':
            return { body: { result: 'x'.repeat(100_000) } };
          default:
            return { body: { result: null } };
        }
      },
      '/rpc/sum': (body) => ({ body: { result: (body.data as number[]).reduce((a, b) => a + b, 0) } }),
      '/publish': (body) => {
        if (body.room === 'readonly') return { status: 403, body: { reason: 'read-only room' } };
        if (body.room === 'stamped') return { body: { data: { text: body.data.text, from: body.user } } };
        return { body: {} };
      },
      '/disconnect': () => ({ status: 204 }),
    });
    gw = await startGateway({
      connectHook: `${backend.url}/connect`,
      subscribeHook: `${backend.url}/subscribe`,
      rpcHook: `${backend.url}/rpc`,
      rpcRoutes: [`sum=${backend.url}/rpc/sum`],
      publishHook: `${backend.url}/publish`,
      disconnectHook: `${backend.url}/disconnect`,
      disconnectBatchDelay: 50,
      hookSecret: SECRET,
      hookTimeout: 300,
      maxRpcInFlight: 2,
    });
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  const open = (who: string, headers: Record<string, string> = {}): Promise<TestClient> => TestClient.open(`${gw.wsUrl()}?who=${who}`, { headers });

  it('connect: the backend names the user, the rooms and the data; CONNECTED is the first frame; the rooms get pushes', async () => {
    const client = await open('ann', { cookie: 'session=s1', 'x-secret-header': 'not for the backend' });
    const connected = await client.next();
    assert.equal(connected.type, 'CONNECTED');
    assert.equal(connected.data.user, 'user-ann');
    assert.deepEqual(connected.data.rooms, ['lobby', 'inbox:ann']);
    assert.deepEqual(connected.data.data, { welcome: 'ann', cookie: 'session=s1' });
    const request = backend.on('/connect').find((r) => r.body.query.who === 'ann');
    assert.ok(request !== undefined);
    assert.equal(request.body.conn, connected.data.conn, 'the hook is told the id the connection gets');
    assert.equal(request.body.address, '127.0.0.1');
    assert.equal(request.body.path, '/connect');
    assert.equal(request.body.user, null);
    assert.equal(request.body.headers.cookie, 'session=s1');
    assert.equal(request.body.headers['x-secret-header'], undefined, 'only the allow-listed headers go to the backend');
    assert.equal(request.headers['x-pushgate-hook'], 'connect');
    assert.ok(verifyHookSignature(SECRET, request.raw, request.headers['x-pushgate-timestamp'], request.headers['x-pushgate-signature']), 'signed');
    assert.equal(verifyHookSignature('another secret', request.raw, request.headers['x-pushgate-timestamp'], request.headers['x-pushgate-signature']), false);
    assert.equal(
      verifyHookSignature(SECRET, `${request.raw} `, request.headers['x-pushgate-timestamp'], request.headers['x-pushgate-signature']),
      false,
      'a changed body fails',
    );
    const stale = Number(request.headers['x-pushgate-timestamp']) + 600_000;
    assert.equal(
      verifyHookSignature(SECRET, request.raw, request.headers['x-pushgate-timestamp'], request.headers['x-pushgate-signature'], { now: () => stale }),
      false,
      'a replay later fails',
    );
    const pushed = await fetch(`${gw.apiUrl}/push/room`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: 'inbox:ann', items: ['hi'] }),
    });
    assert.equal(pushed.status, 200);
    assert.deepEqual((await client.nextOfType('PUSH')).data, { room: 'inbox:ann', items: ['hi'] });
    const toUser = await fetch(`${gw.apiUrl}/push/user`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'user-ann', items: [1] }),
    });
    assert.equal(((await toUser.json()) as { recipients: number }).recipients, 1, 'the hook named the user');
    assert.deepEqual((await client.nextOfType('PUSH')).data.items, [1]);
    client.close();
  });

  it('connect: an empty 2xx accepts an anonymous connection', async () => {
    const client = await open('anon');
    const connected = await client.next();
    assert.deepEqual([connected.type, connected.data.user, connected.data.rooms, 'data' in connected.data], ['CONNECTED', null, [], false]);
    client.close();
  });

  it('connect: 401 and 403 refuse the handshake with their status and reason; other 4xx with 403', async () => {
    const unauthorized = await refusal(open('nobody'));
    assert.deepEqual([unauthorized.status, unauthorized.body.error.code, unauthorized.body.error.message], [401, 'UNAUTHORIZED', 'who are you?']);
    const forbidden = await refusal(open('banned'));
    assert.deepEqual([forbidden.status, forbidden.body.error.code, forbidden.body.error.message], [403, 'FORBIDDEN', 'banned']);
    const teapot = await refusal(open('teapot'));
    assert.deepEqual([teapot.status, teapot.body.error.code, teapot.body.error.message], [403, 'FORBIDDEN', 'I am a teapot']);
  });

  it('connect: a 5xx or a timeout refuses with 503 and Retry-After; a bad answer with 502', async () => {
    const broken = await refusal(open('broken'));
    assert.deepEqual([broken.status, broken.body.error.code], [503, 'UNAVAILABLE']);
    assert.match(broken.body.error.message, /HTTP 500/);
    const slow = await refusal(open('slow'));
    assert.deepEqual([slow.status, slow.body.error.code], [503, 'UNAVAILABLE']);
    assert.match(slow.body.error.message, /300 ms/);
    const garbage = await refusal(open('garbage'));
    assert.deepEqual([garbage.status, garbage.body.error.code], [502, 'BAD_GATEWAY']);
    const res = await new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
      import('node:http').then(({ get }) => {
        const req = get(`${gw.pageUrl}/connect?who=broken`, {
          headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
        });
        req.on('response', (r) => {
          r.resume();
          resolve({ status: r.statusCode ?? 0, retryAfter: r.headers['retry-after'] as string | undefined });
        });
        req.on('error', reject);
      }, reject);
    });
    assert.deepEqual(res, { status: 503, retryAfter: '1' });
  });

  it('connect: a disconnect answer closes the connection with its code after the upgrade', async () => {
    const client = await open('kick');
    assert.deepEqual(await client.waitClosed(), { code: 4403, reason: 'go away' });
  });

  it('subscribe: the backend allows with per-room data, or refuses with its reason', async () => {
    const client = await open('bob');
    await client.nextOfType('CONNECTED');
    const ack = await client.request('JOIN', { room: 'news', data: { since: 5 } });
    assert.equal(ack.type, 'ACK');
    assert.deepEqual(ack.data.data, { topic: 'about news', asked: { since: 5 } });
    const asked = backend.on('/subscribe').find((r) => r.body.room === 'news');
    assert.deepEqual(asked?.body, { conn: ack.data.conn, user: 'user-bob', room: 'news', data: { since: 5 } });
    const refused = await client.request('JOIN', { room: 'secret:plans' });
    assert.deepEqual([refused.type, refused.data.code, refused.data.message], ['ERROR', 'FORBIDDEN', 'no entry to secret:plans']);
    const res = await fetch(`${gw.apiUrl}/push/room`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: 'secret:plans', items: [1] }),
    });
    assert.equal(((await res.json()) as { recipients: number }).recipients, 0, 'a refused JOIN joins nothing');
    client.close();
  });

  it('subscribe: a LEAVE sent while the hook is asked about the JOIN wins (requests take effect in order)', async () => {
    const client = await open('ben');
    await client.nextOfType('CONNECTED');
    client.send({ type: 'JOIN', id: 'j', data: { room: 'slow:one' } });
    client.send({ type: 'LEAVE', id: 'l', data: { room: 'slow:one' } });
    const first = await client.next();
    const second = await client.next();
    assert.deepEqual(
      [first.type, first.id, second.type, second.id, second.data.data],
      ['ACK', 'l', 'ACK', 'j', 'late'],
      'the JOIN is answered, after the LEAVE',
    );
    const res = await fetch(`${gw.apiUrl}/push/room`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: 'slow:one', items: [1] }),
    });
    assert.equal(((await res.json()) as { recipients: number }).recipients, 0, 'left, as the client said last');
    client.send({ type: 'JOIN', id: 'j2', data: { room: 'slow:one' } });
    assert.equal((await client.next()).id, 'j2');
    const again = await fetch(`${gw.apiUrl}/push/room`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: 'slow:one', items: [2] }),
    });
    assert.equal(((await again.json()) as { recipients: number }).recipients, 1, 'a JOIN alone joins');
    client.close();
  });

  it('rpc: a round trip, routes per method, backend errors with their code, bad answers', async () => {
    const client = await open('cat');
    await client.nextOfType('CONNECTED');
    const reply = await client.request('RPC', { method: 'echo', data: { n: 1 } });
    assert.deepEqual([reply.type, reply.data], ['REPLY', { result: { echoed: { n: 1 }, user: 'user-cat' } }]);
    assert.deepEqual((await client.request('RPC', { method: 'sum', data: [1, 2, 3] })).data, { result: 6 }, 'rpcRoutes sends sum to its own URL');
    assert.equal(backend.on('/rpc/sum').length, 1);
    const failed = await client.request('RPC', { method: 'fail' });
    assert.deepEqual([failed.type, failed.data], ['ERROR', { code: 'BACKEND_ERROR', message: 'no such thing', backendCode: 'NOT_FOUND' }]);
    const refused = await client.request('RPC', { method: 'refuse' });
    assert.deepEqual(refused.data, { code: 'BACKEND_ERROR', message: 'bad input', backendCode: 'INVALID' });
    const garbage = await client.request('RPC', { method: 'garbage' });
    assert.equal(garbage.data.code, 'BAD_GATEWAY');
    const huge = await client.request('RPC', { method: 'huge' });
    assert.equal(huge.data.code, 'BAD_GATEWAY');
    assert.match(huge.data.message, /65536 bytes/);
    const noId = await client.request('PING');
    assert.equal(noId.type, 'PONG', 'the connection is kept through every failure');
    client.send({ type: 'RPC', data: { method: 'echo' } });
    assert.equal((await client.nextOfType('ERROR')).data.code, 'BAD_REQUEST', 'an RPC needs an id');
    client.close();
  });

  it('rpc: a slow backend times out (TIMEOUT), and the in-flight limit answers TOO_MANY_REQUESTS', async () => {
    const client = await open('dan');
    await client.nextOfType('CONNECTED');
    client.send({ type: 'RPC', id: 'a', data: { method: 'slow' } });
    client.send({ type: 'RPC', id: 'b', data: { method: 'slow' } });
    const third = await client.request('RPC', { method: 'echo' });
    assert.deepEqual([third.type, third.data.code], ['ERROR', 'TOO_MANY_REQUESTS']);
    const answers = [await client.nextOfType('ERROR', 3000), await client.nextOfType('ERROR', 3000)];
    assert.deepEqual(answers.map((a) => [a.id, a.data.code]).sort(), [
      ['a', 'TIMEOUT'],
      ['b', 'TIMEOUT'],
    ]);
    assert.equal((await client.request('RPC', { method: 'echo' })).type, 'REPLY', 'slots are given back');
    client.close();
  });

  it('publish: allowed as is, rewritten by the backend, or refused; pushed to every member', async () => {
    const reader = await open('eve');
    await reader.nextOfType('CONNECTED');
    const writer = await open('fay');
    await writer.nextOfType('CONNECTED');
    for (const room of ['open', 'stamped', 'readonly']) assert.equal((await reader.request('JOIN', { room })).type, 'ACK');
    assert.equal((await writer.request('PUBLISH', { room: 'open', data: { text: 'hello' } })).type, 'ACK');
    assert.deepEqual((await reader.nextOfType('PUSH')).data, { room: 'open', items: [{ text: 'hello' }] });
    assert.equal((await writer.request('PUBLISH', { room: 'stamped', data: { text: 'signed' } })).type, 'ACK');
    assert.deepEqual((await reader.nextOfType('PUSH')).data, { room: 'stamped', items: [{ text: 'signed', from: 'user-fay' }] }, 'the hook replaced the data');
    const refused = await writer.request('PUBLISH', { room: 'readonly', data: 1 });
    assert.deepEqual([refused.type, refused.data.code, refused.data.message], ['ERROR', 'FORBIDDEN', 'read-only room']);
    const asked = backend.on('/publish').find((r) => r.body.room === 'open');
    assert.deepEqual(asked?.body.data, { text: 'hello' });
    assert.ok(gw.gateway.snapshot().clientPublishes >= 2);
    reader.close();
    writer.close();
  });

  it('disconnect: closed connections are posted in a batch with their rooms, code, side and duration', async () => {
    const before = backend.on('/disconnect').length;
    const one = await open('gil');
    const two = await open('hal');
    const ids = [(await one.nextOfType('CONNECTED')).data.conn, (await two.nextOfType('CONNECTED')).data.conn];
    one.ws.close(4100, 'bye');
    two.ws.close(1000);
    await one.waitClosed();
    await two.waitClosed();
    const records = async () => (await backend.received('/disconnect', before + 1)).slice(before).flatMap((r) => r.body.disconnects);
    let seen = await records();
    for (let i = 0; seen.filter((d: { conn: string }) => ids.includes(d.conn)).length < 2 && i < 2; i++) {
      await backend.received('/disconnect', before + 2 + i);
      seen = await records();
    }
    const gil = seen.find((d: { conn: string }) => d.conn === ids[0]);
    assert.ok(gil !== undefined, 'the first close was posted');
    assert.equal(gil.user, 'user-gil');
    assert.deepEqual(gil.rooms.sort(), ['inbox:gil', 'lobby']);
    assert.deepEqual([gil.code, gil.reason, gil.by], [4100, 'bye', 'client']);
    assert.ok(gil.durationMs >= 0 && Date.parse(gil.closedAt) >= Date.parse(gil.connectedAt));
    assert.ok(seen.some((d: { conn: string }) => d.conn === ids[1]));
    const stats = (await (await fetch(`${gw.apiUrl}/stats`)).json()) as any;
    assert.ok(stats.disconnectsNotified >= 2);
    assert.ok(stats.hooks.calls.rpc.calls > 0, '/stats shows each hook');
    assert.equal(stats.hooks.breakers.find((b: { hook: string }) => b.hook === 'connect').state, 'closed');
    const metrics = await (await fetch(`${gw.apiUrl}/metrics`)).text();
    assert.match(metrics, /pushgate_hook_calls_total\{hook="rpc",outcome="ok",node="[0-9a-f]+"\} [1-9]/);
    assert.match(metrics, /pushgate_hook_duration_seconds_bucket\{le="0\.1",node="[0-9a-f]+",hook="connect"\} [1-9]/);
  });
});

describe('hooks: a backend that is down, and the circuit breaker', () => {
  let backend: Backend;
  let gw: RunningGateway;
  let healthy = false;

  before(async () => {
    backend = await Backend.start({ '/rpc': () => (healthy ? { body: { result: 'ok' } } : { status: 503, body: { reason: 'down' } }) });
    gw = await startGateway({ rpcHook: `${backend.url}/rpc`, hookBreakerFailures: 3, hookBreakerCooldown: 300, maxClientRate: 0 });
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  it('fails RPCs with UNAVAILABLE, opens after 3 failures in a row (no more requests), then closes on a good probe', async () => {
    const client = await gw.connect();
    for (let i = 0; i < 3; i++) {
      const failed = await client.request('RPC', { method: 'x' });
      assert.deepEqual([failed.data.code, /HTTP 503/.test(failed.data.message)], ['UNAVAILABLE', true]);
    }
    assert.equal(backend.on('/rpc').length, 3);
    const fast = await client.request('RPC', { method: 'x' });
    assert.equal(fast.data.code, 'UNAVAILABLE');
    assert.match(fast.data.message, /3 times in a row/);
    assert.equal(backend.on('/rpc').length, 3, 'an open breaker does not call the backend');
    healthy = true;
    const deadline = Date.now() + 5000;
    let answer = fast;
    while (answer.type !== 'REPLY' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      answer = await client.request('RPC', { method: 'x' });
    }
    assert.deepEqual([answer.type, answer.data], ['REPLY', { result: 'ok' }], 'the breaker closed once the backend answered');
    assert.equal(backend.on('/rpc').length, 4, 'exactly one probe after the cool-down');
    client.close();
  });

  it('a backend that is not listening at all: UNAVAILABLE, connection kept', async () => {
    const dead = await startGateway({ rpcHook: 'http://127.0.0.1:9/rpc', hookTimeout: 2000 });
    try {
      const client = await dead.connect();
      const failed = await client.request('RPC', { method: 'x' });
      assert.equal(failed.data.code, 'UNAVAILABLE');
      assert.equal((await client.request('PING')).type, 'PONG');
      assert.equal((await client.request('RPC', { method: 'x' })).data.code, 'UNAVAILABLE');
      client.close();
    } finally {
      await dead.close();
    }
  });
});

describe('hooks and tokens', () => {
  let backend: Backend;
  let gw: RunningGateway;
  const secret = 'jwt-secret-for-hook-tests';

  before(async () => {
    backend = await Backend.start({
      '/subscribe': () => ({ status: 403, body: { reason: 'the hook says no' } }),
      '/connect': (body) =>
        body.query.hooked === '1' ? { body: { user: 'hooked', rooms: ['team:x', 'pushgate:stats'] } } : { body: { data: { tokenUser: body.user } } },
    });
    gw = await startGateway({ jwtSecret: secret, subscribeHook: `${backend.url}/subscribe`, connectHook: `${backend.url}/connect` });
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  it("the connect hook runs after the token and is told its user; the token's rooms claim skips the subscribe hook; its publish claim allows PUBLISH without a hook", async () => {
    const token = await signToken({ sub: 'ivy', rooms: ['team:*'], secret, publish: ['team:*'] });
    const client = await TestClient.open(`${gw.wsUrl()}?token=${token}`);
    const connected = await client.nextOfType('CONNECTED');
    assert.deepEqual([connected.data.user, connected.data.data], ['ivy', { tokenUser: 'ivy' }]);
    const before = backend.on('/subscribe').length;
    assert.equal((await client.request('JOIN', { room: 'team:a' })).type, 'ACK');
    assert.equal(backend.on('/subscribe').length, before, 'the token decided: no hook call');
    assert.equal((await client.request('JOIN', { room: 'other' })).data.code, 'FORBIDDEN');
    assert.equal((await client.request('PUBLISH', { room: 'team:a', data: 'x' })).type, 'ACK');
    assert.deepEqual((await client.nextOfType('PUSH')).data, { room: 'team:a', items: ['x'] });
    const refused = await client.request('PUBLISH', { room: 'elsewhere', data: 'x' });
    assert.equal(refused.data.code, 'FORBIDDEN');
    client.close();
    const anonymous = await refusal(TestClient.open(gw.wsUrl()));
    assert.equal(anonymous.status, 401, 'no token: refused before the hook');
  });

  it("an AUTH-first connection joins the hook's rooms only once it authenticates, keeps the hook's user, and may not publish to the stats room", async () => {
    const client = await TestClient.open(`${gw.wsUrl()}?hooked=1`, {}, ['pushgate.auth']);
    const connected = await client.nextOfType('CONNECTED');
    assert.deepEqual([connected.data.user, connected.data.rooms], ['hooked', ['team:x']], 'the stats room is never joined by a hook');
    const toRoom = async () =>
      (
        (await (
          await fetch(`${gw.apiUrl}/push/room`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ room: 'team:x', items: [1] }),
          })
        ).json()) as { recipients: number }
      ).recipients;
    assert.equal(await toRoom(), 0, 'no push reaches a connection before its AUTH');
    const token = await signToken({ sub: 'someone-else', secret, publish: ['*'] });
    assert.equal((await client.request('AUTH', { token })).type, 'ACK');
    assert.equal(await toRoom(), 1, "joined the hook's room once authenticated");
    const toUser = await fetch(`${gw.apiUrl}/push/user`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'hooked', items: [2] }),
    });
    assert.equal(((await toUser.json()) as { recipients: number }).recipients, 1, "the hook's user wins over the token's sub");
    const renewed = await signToken({ sub: 'someone-else', secret });
    assert.equal((await client.request('AUTH', { token: renewed })).type, 'ACK', 'a fresh token renews the connection of the hook user');
    const stats = await client.request('PUBLISH', { room: 'pushgate:stats', data: 'fake' });
    assert.equal(stats.data.code, 'FORBIDDEN', 'even a publish claim of * does not open the stats room');
    client.close();
    await client.waitClosed();
  });

  it('without a rooms claim, the subscribe hook decides', async () => {
    const token = await signToken({ sub: 'jay', secret });
    const client = await TestClient.open(`${gw.wsUrl()}?token=${token}`);
    await client.nextOfType('CONNECTED');
    const refused = await client.request('JOIN', { room: 'any' });
    assert.deepEqual([refused.data.code, refused.data.message], ['FORBIDDEN', 'the hook says no']);
    client.close();
  });
});

describe('hooks with --hook-batch: calls made together go as one POST', () => {
  let backend: Backend;
  let gw: RunningGateway;

  before(async () => {
    backend = await Backend.start({
      '/rpc': (body) => ({
        body: {
          results: (body.calls as Array<{ method: string; data: number; user: string | null }>).map((call) =>
            call.method === 'no' ? { status: 422, body: { code: 'NOPE', message: 'refused' } } : { status: 200, body: { result: call.data * 2 } },
          ),
        },
      }),
    });
    gw = await startGateway({ rpcHook: `${backend.url}/rpc`, hookBatch: true, maxRpcInFlight: 16 });
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  it('a burst of RPCs in one turn is one backend request; each caller gets its own answer', async () => {
    const client = await gw.connect();
    // Ten frames in one write: the gateway reads them in one turn.
    const frames = Array.from({ length: 10 }, (_, i) => JSON.stringify({ type: 'RPC', id: i, data: { method: i === 3 ? 'no' : 'double', data: i } }));
    (client.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket.cork();
    for (const frame of frames) client.send(frame);
    (client.ws as unknown as { _socket: { uncork(): void } })._socket.uncork();
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await client.next());
    const byId = new Map(answers.map((a) => [a.id, a]));
    for (let i = 0; i < 10; i++) {
      if (i === 3) assert.deepEqual(byId.get(3)?.data, { code: 'BACKEND_ERROR', message: 'refused', backendCode: 'NOPE' });
      else assert.deepEqual([byId.get(i)?.type, byId.get(i)?.data], ['REPLY', { result: i * 2 }]);
    }
    const requests = backend.on('/rpc');
    assert.equal(requests.length, 1, 'one POST for the burst');
    assert.equal(requests[0].headers['x-pushgate-batch'], '10');
    assert.deepEqual(
      requests[0].body.calls.map((call: { method: string; data: number }) => call.data),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      'in the order the client sent them',
    );
    client.close();
  });
});
