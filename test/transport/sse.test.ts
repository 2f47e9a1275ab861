import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { Backend } from '../helpers/backend.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { RawStream, RecordedStream, streamRequest } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'sse-test-secret';

describe('Server-Sent Events: GET /sse on the WebSocket port', () => {
  const gateways: RunningGateway[] = [];
  const streams: Array<{ close(): void }> = [];
  const start = async (options: Parameters<typeof startGateway>[0] = {}): Promise<RunningGateway> => {
    const gateway = await startGateway(options);
    gateways.push(gateway);
    return gateway;
  };
  const track = <T extends { close(): void }>(stream: T): T => {
    streams.push(stream);
    return stream;
  };
  after(async () => {
    for (const stream of streams) stream.close();
    await Promise.all(gateways.map((gateway) => gateway.close()));
  });

  describe('a gateway without authentication', () => {
    let gw: RunningGateway;
    before(async () => {
      gw = await start({ history: ['chat:*=100/300s'], sseHeartbeat: 1 });
    });

    it('receives the pushes to its rooms, as push events with the go-push PUSH body', async () => {
      const stream = track(new RecordedStream(`${gw.pageUrl}/sse?rooms=a,b`));
      await stream.until('ack', (event) => event.data.id === 'rooms:1');
      const [{ conn, secret }] = stream.connections;
      assert.match(conn, /^[\w-]+$/);
      assert.equal(Buffer.from(secret, 'base64url').length, 32);
      assert.deepEqual([...(gw.gateway.hub.roomsOf(gw.gateway.hub.get(conn)!) ?? [])].sort(), ['a', 'b']);
      await postJson(`${gw.apiUrl}/push/room`, { room: 'c', items: [{ n: 0 }] });
      await postJson(`${gw.apiUrl}/push/room`, { room: 'a', items: [{ n: 1 }, 'two'] });
      await postJson(`${gw.apiUrl}/push/room`, { room: 'b', items: [{ n: 3 }] });
      await postJson(`${gw.apiUrl}/push/all`, { items: [{ all: true }] });
      const pushes = await stream.until('push', () => true, 3);
      const bodies = pushes.map((event) => event.data);
      assert.deepEqual(
        bodies.find((body) => body.room === 'a'),
        { room: 'a', items: [{ n: 1 }, 'two'] },
      );
      assert.deepEqual(
        bodies.find((body) => body.room === 'b'),
        { room: 'b', items: [{ n: 3 }] },
      );
      assert.deepEqual(
        bodies.find((body) => body.room === undefined),
        { items: [{ all: true }] },
      );
      assert.equal(
        bodies.some((body) => body.room === 'c'),
        false,
        'no push of a room it is not in',
      );
      const stats = gw.gateway.snapshot();
      assert.ok(stats.sseConnections >= 1 && stats.connectionsTotal >= stats.sseConnections);
      assert.ok(stats.onlineConnections >= 1);
      const metrics = await (await fetch(`${gw.apiUrl}/metrics`)).text();
      assert.match(metrics, /pushgate_sse_connections_total\{[^}]*\} [1-9]/);
    });

    it('keeps the exact text of items, line breaks included', async () => {
      const stream = track(new RecordedStream(`${gw.pageUrl}/sse?rooms=text`));
      await stream.until('ack');
      const res = await fetch(`${gw.apiUrl}/push/room`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"room":"text","items":[{"a" :\n 1,"big":9007199254740993}]}',
      });
      assert.equal(res.status, 200);
      await stream.until('push');
      const raw = track(await RawStream.open(`${gw.pageUrl}/sse?rooms=text`));
      await raw.until((s) => s.text.includes('event: ack'), 5000, 'the ack');
      await fetch(`${gw.apiUrl}/push/room`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"room":"text","items":[{"a" :\n 2}]}',
      });
      await raw.until((s) => s.text.includes('event: push'), 5000, 'the push');
      assert.match(raw.text, /event: push\ndata: \{"room":"text","items":\[\{"a" :\ndata: {2}2\}\]\}\n\n/);
    });

    it('recovers what it missed after a dropped connection, from Last-Event-ID: no gap, no duplicate', async () => {
      const stream = track(new RecordedStream(`${gw.pageUrl}/sse?rooms=chat:1`));
      const [first] = await stream.until('ack');
      assert.equal(first.data.stream.offset, 0);
      assert.match(first.lastEventId, /^[\w-]+:0$/, 'the ack sets the stream position');
      for (const n of [1, 2]) await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:1', items: [n] });
      await stream.until('push', () => true, 2);
      assert.match(stream.all('push')[1].lastEventId, /^[\w-]+:2$/);
      // The server cuts the stream; items pushed meanwhile are only in the room's history.
      const conn = gw.gateway.hub.get(stream.connections[0].conn);
      assert.ok(conn !== undefined);
      conn.terminate();
      for (const n of [3, 4]) await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:1', items: [n] });
      const [, again] = await stream.until('ack', () => true, 2, 8000);
      assert.equal(stream.connections.length, 2, 'EventSource reconnected by itself');
      assert.equal(again.data.stream.recovered, true);
      assert.equal(again.data.stream.replayed, 2);
      await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:1', items: [5] });
      await stream.until('push', (event) => event.data.items.includes(5));
      const items = stream.all('push').flatMap((event) => event.data.items);
      assert.deepEqual(items, [1, 2, 3, 4, 5]);
      const offsets = stream.all('push').map((event) => event.data.offset);
      assert.deepEqual(offsets, [1, 2, 4, 5], 'the replay is one push, numbered by its last item');
      assert.ok(gw.gateway.snapshot().itemsReplayed >= 2);
    });

    it('recovers from ?lastEventId= too, and says recovered: false for another epoch', async () => {
      const first = track(new RecordedStream(`${gw.pageUrl}/sse?rooms=chat:2`));
      const [ack] = await first.until('ack');
      await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:2', items: ['x', 'y'] });
      await first.until('push');
      first.close();
      const raw = track(await RawStream.open(`${gw.pageUrl}/sse?rooms=chat:2&lastEventId=${encodeURIComponent(ack.lastEventId)}`));
      await raw.until((s) => s.text.includes('event: ack'), 5000, 'the ack');
      assert.match(raw.text, /event: push\nid: [\w-]+:2\ndata: \{"room":"chat:2","items":\["x","y"\],"offset":2,"epoch":"[\w-]+"\}\n\n/);
      assert.match(raw.text, /"recovered":true,"replayed":2/);
      const other = track(await RawStream.open(`${gw.pageUrl}/sse?rooms=chat:2`, { 'Last-Event-ID': 'AAAAAAAAAAAA:1' }));
      await other.until((s) => s.text.includes('event: ack'), 5000, 'the ack');
      assert.match(other.text, /"recovered":false/);
      assert.doesNotMatch(other.text, /event: push/);
    });

    it('sends a comment line every sseHeartbeat seconds', async () => {
      const raw = track(await RawStream.open(`${gw.pageUrl}/sse`));
      assert.equal(raw.status, 200);
      assert.match(String(raw.headers['content-type']), /^text\/event-stream/);
      await raw.connected();
      await raw.until((s) => s.text.split(': ping\n\n').length >= 3, 4000, 'two heartbeats');
      assert.match(raw.text, /^retry: \d+\nevent: connected\n/);
    });

    it('joins and leaves over HTTP with the stream secret, and refuses a wrong one', async () => {
      const stream = track(new RecordedStream(`${gw.pageUrl}/sse`));
      const [{ data }] = await stream.until('connected');
      const { conn, secret } = data as { conn: string; secret: string };
      const hub = gw.gateway.hub;
      const joined = await streamRequest(gw.pageUrl, conn, 'join', { room: 'later', id: 7 }, secret);
      assert.deepEqual(joined, { status: 202, body: { ok: true, id: 7 } });
      await stream.until('ack', (event) => event.data.id === 7);
      assert.equal(stream.all('ack', (event) => event.data.id === 7)[0].data.conn, conn);
      await postJson(`${gw.apiUrl}/push/room`, { room: 'later', items: ['hello'] });
      await stream.until('push', (event) => event.data.room === 'later');

      const wrong = await streamRequest(gw.pageUrl, conn, 'leave', { room: 'later' }, Buffer.alloc(32, 1).toString('base64url'));
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error.code, 'UNAUTHORIZED');
      const none = await streamRequest(gw.pageUrl, conn, 'leave', { room: 'later' }, null);
      assert.equal(none.status, 401);
      const elsewhere = await streamRequest(gw.pageUrl, conn, 'leave', { room: 'later' }, secret, { origin: 'http://evil.example' });
      assert.equal(elsewhere.status, 403);
      assert.equal(elsewhere.body.error.code, 'ORIGIN_NOT_ALLOWED');
      const unknown = await streamRequest(gw.pageUrl, 'nobody-1', 'leave', { room: 'later' }, secret);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, 'CONN_NOT_FOUND');
      assert.equal(hub.roomsOf(hub.get(conn)!)?.has('later'), true, 'refused requests changed nothing');

      const left = await streamRequest(gw.pageUrl, conn, 'leave', { room: 'later' }, secret);
      assert.equal(left.status, 202);
      await stream.until('ack', (event) => event.data.id === left.body.id);
      assert.equal(hub.roomsOf(hub.get(conn)!)?.has('later') ?? false, false);

      const bad = await streamRequest(gw.pageUrl, conn, 'join', { room: 'no spaces' }, secret);
      assert.equal(bad.status, 202);
      const [refused] = await stream.until('refused', (event) => event.data.id === bad.body.id);
      assert.equal(refused.data.code, 'INVALID_ROOM');
      const rpc = await streamRequest(gw.pageUrl, conn, 'rpc', { id: 'r1', method: 'm', data: {} }, secret);
      assert.equal(rpc.status, 202);
      const [noMethod] = await stream.until('refused', (event) => event.data.id === 'r1');
      assert.equal(noMethod.data.code, 'UNKNOWN_METHOD');
      const notJson = await fetch(`${gw.pageUrl}/sse/${conn}/join`, { method: 'POST', headers: { authorization: `Bearer ${secret}` }, body: '{' });
      assert.equal(notJson.status, 400);
      const get = await fetch(`${gw.pageUrl}/sse/${conn}/join`);
      assert.equal(get.status, 405);
      const other = await fetch(`${gw.pageUrl}/sse/${conn}/explode`, { method: 'POST' });
      assert.equal(other.status, 404);
    });

    it('answers a cross-origin preflight only for allowed origins', async () => {
      const denied = await fetch(`${gw.pageUrl}/sse/x/join`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
      assert.equal(denied.status, 403);
      const refused = await fetch(`${gw.pageUrl}/sse`, { headers: { origin: 'http://evil.example' } });
      assert.equal(refused.status, 403);
      assert.equal((await refused.json()).error.code, 'ORIGIN_NOT_ALLOWED');
    });
  });

  it('refuses a stream without a valid token when authentication is on, as a handshake is', async () => {
    const gw = await start({ jwtSecret: SECRET });
    const none = track(await RawStream.open(`${gw.pageUrl}/sse?rooms=a`));
    assert.equal(none.status, 401);
    assert.match(String(none.headers['content-type']), /^application\/json/);
    assert.equal((await none.json()).error.code, 'UNAUTHORIZED');
    const bad = track(await RawStream.open(`${gw.pageUrl}/sse?rooms=a&token=nope`));
    assert.equal(bad.status, 401);
    assert.equal((await bad.json()).error.code, 'UNAUTHORIZED');
    const expired = await signToken({ sub: 'u', secret: SECRET, ttl: -10 });
    const old = track(await RawStream.open(`${gw.pageUrl}/sse?token=${expired}`));
    assert.equal(old.status, 401);
    const token = await signToken({ sub: 'alice', rooms: ['a'], secret: SECRET });
    const stream = track(new RecordedStream(`${gw.pageUrl}/sse?rooms=a,b&token=${token}`));
    const [connected] = await stream.until('connected');
    assert.equal(connected.data.user, 'alice');
    await stream.until('ack', (event) => event.data.id === 'rooms:0');
    const [refused] = await stream.until('refused', (event) => event.data.id === 'rooms:1');
    assert.equal(refused.data.code, 'FORBIDDEN', "the token's rooms claim holds");
    const header = track(await RawStream.open(`${gw.pageUrl}/sse`, { authorization: `Bearer ${token}` }));
    assert.equal(header.status, 200);
    assert.equal((await header.connected()).user, 'alice');
    await postJson(`${gw.apiUrl}/push/user`, { user: 'alice', items: ['for alice'] });
    await stream.until('push', (event) => event.data.items[0] === 'for alice');
    assert.ok(gw.gateway.snapshot().handshakesRefused >= 3);
  });

  it('asks the connect, subscribe and rpc hooks as for a WebSocket, and refuses as they say', async () => {
    const backend = await Backend.start({
      '/connect': (body) => {
        if (body.query.who === 'banned') return { status: 403, body: { reason: 'banned' } };
        if (body.query.who === 'kick') return { body: { disconnect: { code: 4403, reason: 'go away' } } };
        return { body: { user: `user-${body.query.who}`, rooms: [`inbox:${body.query.who}`], data: { welcome: body.query.who } } };
      },
      '/subscribe': (body) => (body.room.startsWith('secret:') ? { status: 403, body: { reason: 'no entry' } } : { body: { data: { topic: body.room } } }),
      '/rpc': (body) => ({ body: { result: { echoed: body.data, user: body.user } } }),
    });
    try {
      const gw = await start({ connectHook: `${backend.url}/connect`, subscribeHook: `${backend.url}/subscribe`, rpcHook: `${backend.url}/rpc` });
      const banned = track(await RawStream.open(`${gw.pageUrl}/sse?who=banned`));
      assert.equal(banned.status, 403);
      assert.deepEqual((await banned.json()).error, { code: 'FORBIDDEN', message: 'banned' });
      const kicked = track(await RawStream.open(`${gw.pageUrl}/sse?who=kick`));
      assert.equal(kicked.status, 403);
      const stream = track(new RecordedStream(`${gw.pageUrl}/sse?who=ann&rooms=news,secret:x`));
      const [connected] = await stream.until('connected');
      assert.deepEqual(
        { ...connected.data, conn: undefined, secret: undefined },
        {
          conn: undefined,
          secret: undefined,
          user: 'user-ann',
          rooms: ['inbox:ann'],
          data: { welcome: 'ann' },
        },
      );
      const [ack] = await stream.until('ack', (event) => event.data.id === 'rooms:0');
      assert.deepEqual(ack.data.data, { topic: 'news' }, "the subscribe hook's data");
      const [refused] = await stream.until('refused', (event) => event.data.id === 'rooms:1');
      assert.equal(refused.data.code, 'FORBIDDEN');
      assert.equal(stream.all('connected').length, 1, 'one connected event, the hook told in it');
      const { conn, secret } = connected.data;
      const call = await streamRequest(gw.pageUrl, conn, 'rpc', { id: 5, method: 'echo', data: { x: 1 } }, secret);
      assert.equal(call.status, 202);
      const [reply] = await stream.until('reply', (event) => event.data.id === 5);
      assert.deepEqual(reply.data.result, { echoed: { x: 1 }, user: 'user-ann' });
      await postJson(`${gw.apiUrl}/push/room`, { room: 'inbox:ann', items: ['mail'] });
      await stream.until('push', (event) => event.data.room === 'inbox:ann');
    } finally {
      await backend.close();
    }
  });

  it('counts streams against maxConnectionsPerIp with the WebSockets of the address', async () => {
    const gw = await start({ maxConnectionsPerIp: 2 });
    const one = track(await RawStream.open(`${gw.pageUrl}/sse`));
    assert.equal(one.status, 200);
    const ws = track(await gw.connect());
    const third = track(await RawStream.open(`${gw.pageUrl}/sse`));
    assert.equal(third.status, 429);
    assert.equal((await third.json()).error.code, 'TOO_MANY_CONNECTIONS');
    ws.close();
    // One count for the port: the stream still holds its share.
    await waitFor(() => gw.gateway.connectionsFrom('127.0.0.1') === 1, 5000, 'the WebSocket to be gone');
    const again = track(await RawStream.open(`${gw.pageUrl}/sse`));
    assert.equal(again.status, 200);
    // And the other way: two streams fill the address's share, so a WebSocket handshake is refused.
    const refused = await gw.connect().then(
      (socket) => {
        socket.close();
        return false;
      },
      () => true,
    );
    assert.equal(refused, true, 'a WebSocket refused while streams hold the limit');
    one.close();
    await waitFor(() => gw.gateway.hub.size === 1, 5000, 'the first stream to be gone');
  });

  it('keeps a silent stream alive through the heartbeat sweep (it answers probes by reading)', async () => {
    const gw = await start({ heartbeatInterval: 0.4, sseHeartbeat: 60, handshakeTimeout: 0.5 });
    const raw = track(await RawStream.open(`${gw.pageUrl}/sse`));
    const { conn } = await raw.connected();
    // A WebSocket opened after the stream that never answers a ping: once the sweep has closed it for
    // its silence, the sweep has also looked at the (older) stream, past the same interval.
    const silent = new WebSocket(`${gw.pageUrl.replace(/^http/, 'ws')}/connect`, { autoPong: false });
    await new Promise((resolve, reject) => silent.once('open', resolve).once('error', reject));
    await waitFor(() => gw.gateway.snapshot().heartbeatDisconnects === 1, 5000, 'the silent WebSocket closed by the sweep');
    assert.ok(gw.gateway.hub.get(conn) !== undefined, 'still connected');
    assert.equal(raw.ended, false);
    assert.equal(gw.gateway.snapshot().heartbeatDisconnects, 1, 'only the silent WebSocket');
    silent.terminate();
  });

  it('cuts a slow consumer once its response queues more than maxQueueBytes', async () => {
    const gw = await start({ maxQueueBytes: 64 * 1024 });
    const raw = track(await RawStream.open(`${gw.pageUrl}/sse?rooms=firehose`));
    await raw.until((s) => s.text.includes('event: ack'), 5000, 'the ack');
    raw.res.pause(); // the client stops reading
    const item = 'x'.repeat(60_000);
    const deadline = Date.now() + 20_000;
    while (gw.gateway.snapshot().slowConsumerDisconnects === 0) {
      assert.ok(Date.now() < deadline, 'cut within 20 s');
      await Promise.all(Array.from({ length: 8 }, () => postJson(`${gw.apiUrl}/push/room`, { room: 'firehose', items: [item] })));
    }
    assert.equal(gw.gateway.hub.members('firehose')?.size ?? 0, 0);
    const closed = gw.gateway.connections;
    assert.ok(closed !== undefined);
  });

  it('ends the stream with a close event when the gateway shuts down', async () => {
    const gw = await startGateway({ shutdownTimeout: 5 });
    const raw = await RawStream.open(`${gw.pageUrl}/sse?rooms=a`);
    await raw.until((s) => s.text.includes('event: ack'), 5000, 'the ack');
    const recorded = new RecordedStream(`${gw.pageUrl}/sse?rooms=a`);
    await recorded.until('ack');
    const closing = gw.close();
    await raw.until((s) => s.ended, 5000, 'the end of the stream');
    assert.match(raw.text, /event: close\ndata: \{"code":1001,"reason":"server shutting down"\}\n\n$/);
    await recorded.until('close');
    recorded.close();
    await closing;
    assert.equal(gw.gateway.hub.size, 0);
  });
});
