import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, describe, it } from 'node:test';
import type { PreparedFrame, PresenceEventBody } from '../../src/protocol/client-protocol.js';
import { encodeEventItem } from '../../src/pusher/pusher-events.js';
import {
  channelNameProblem,
  connectionEstablished,
  decodePusherFrame,
  error,
  memberAdded,
  memberRemoved,
  ping,
  pong,
  signinSuccess,
  subscriptionError,
  subscriptionSucceeded,
} from '../../src/pusher/pusher-frames.js';
import { FOREIGN_ITEM_EVENT, pusherProtocol } from '../../src/pusher/pusher-protocol.js';
import { pusherRoom, pusherUser } from '../../src/pusher/pusher-rooms.js';
import { waitFor } from '../helpers/wait.js';

// The real clients: pusher-js's Node build and ws's frame parser, both CommonJS and partly untyped.
const require = createRequire(import.meta.url);
const Pusher = require('pusher-js');
const { Receiver } = require('ws');

/** One WebSocket frame's header fields, as RFC 6455 5.2 lays them out. */
interface FrameHeader {
  fin: boolean;
  opcode: number;
  masked: boolean;
  length: number;
}

/** Walks the frames of `bytes` by their headers; fails unless they use up every byte. */
function frameHeaders(bytes: Buffer): FrameHeader[] {
  const headers: FrameHeader[] = [];
  let at = 0;
  while (at < bytes.length) {
    const fin = (bytes[at] & 0x80) !== 0;
    const opcode = bytes[at] & 0x0f;
    const masked = (bytes[at + 1] & 0x80) !== 0;
    let length = bytes[at + 1] & 0x7f;
    at += 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    headers.push({ fin, opcode, masked, length });
    at += length + (masked ? 4 : 0);
  }
  assert.equal(at, bytes.length, 'the frames end where the bytes end');
  return headers;
}

/** The text messages a client reads from `frame`, parsed by ws's own receiver (client side: unmasked frames only). */
function texts(frame: PreparedFrame): string[] {
  for (const header of frameHeaders(frame.bytes))
    assert.deepEqual([header.fin, header.opcode, header.masked], [true, 1, false], 'a final, unmasked text frame');
  const receiver = new Receiver({ isServer: false });
  const messages: string[] = [];
  receiver.on('message', (data: Buffer, isBinary: boolean) => {
    assert.equal(isBinary, false);
    messages.push(data.toString());
  });
  receiver.on('error', (cause: Error) => assert.fail(cause));
  receiver.write(frame.bytes);
  assert.equal(receiver._bufferedBytes, 0, 'no bytes left over');
  return messages;
}

/** The one text message of `frame`. */
function text(frame: PreparedFrame): string {
  const messages = texts(frame);
  assert.equal(messages.length, 1);
  return messages[0];
}

/** A WebSocket for pusher-js that the test drives: what the client sends is kept, what it reads is handed in. */
class FakeSocket {
  static readonly all: FakeSocket[] = [];
  readonly sent: string[] = [];
  onopen?: () => void;
  onmessage?: (event: { data: string }) => void;
  onclose?: (event: { code: number; reason: string; wasClean: boolean }) => void;
  onerror?: (error: unknown) => void;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
    setImmediate(() => {
      this.onopen?.();
      this.opened = true;
    });
  }

  /** Whether pusher-js saw the socket open (and so listens for the handshake). */
  opened = false;

  send(data: string): void {
    this.sent.push(data);
  }

  close(): void {
    setImmediate(() => this.onclose?.({ code: 1000, reason: '', wasClean: true }));
  }

  /** Hands every message of `frame` to the client, as its WebSocket would read them. */
  deliver(frame: PreparedFrame): void {
    for (const message of texts(frame)) this.onmessage!({ data: message });
  }

  /** The requests the client sent since the last call, each decoded by decodePusherFrame. */
  requests(): unknown[] {
    return this.sent.splice(0).map((message) => decodePusherFrame(message));
  }
}

Pusher.Runtime.getWebSocketAPI = () => FakeSocket;
const clients: any[] = [];
after(() => {
  for (const client of clients) client.disconnect();
});

const ALICE = JSON.stringify({ user_id: 'alice', user_info: { name: 'Alice' } });

/** A real pusher-js client over a FakeSocket, past the handshake (our connection_established). */
async function connect(): Promise<{ client: any; socket: FakeSocket }> {
  const before = FakeSocket.all.length;
  const client = new Pusher('app-key', {
    cluster: 'mt1',
    wsHost: 'pushgate.invalid',
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: { customHandler: (_params: unknown, callback: any) => callback(null, { auth: 'app-key:sig', channel_data: ALICE }) },
    userAuthentication: { customHandler: (_params: unknown, callback: any) => callback(null, { auth: 'app-key:usig', user_data: '{"id":"alice"}' }) },
  });
  clients.push(client);
  await waitFor(() => FakeSocket.all.length > before && FakeSocket.all[before].opened, 2000, 'the socket to open');
  const socket = FakeSocket.all[before];
  socket.deliver(connectionEstablished('123.456', 30));
  await waitFor(() => client.connection.state === 'connected', 2000, 'pusher-js to take the handshake');
  return { client, socket };
}

/** Waits for the client's deferred sends. */
const sent = (socket: FakeSocket, count: number): Promise<void> => waitFor(() => socket.sent.length >= count, 2000, `${count} messages from the client`);

describe('Pusher frames, as pusher-js reads them', () => {
  it('encodes the server frames exactly so', () => {
    assert.equal(
      text(connectionEstablished('123.456', 120)),
      '{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"123.456\\",\\"activity_timeout\\":120}"}',
    );
    assert.throws(() => connectionEstablished('1.2', 0), RangeError, 'pusher-js refuses a handshake without activity_timeout');
    assert.equal(text(pong()), '{"event":"pusher:pong","data":{}}');
    assert.equal(pong(), pong(), 'framed once for all');
    assert.equal(text(ping()), '{"event":"pusher:ping","data":{}}');
    assert.equal(text(subscriptionSucceeded('news')), '{"event":"pusher_internal:subscription_succeeded","channel":"news","data":"{}"}');
    assert.equal(
      text(subscriptionSucceeded('presence-r', { ids: ['a', 'b'], hash: { a: { n: 1 }, b: undefined }, count: 2 })),
      '{"event":"pusher_internal:subscription_succeeded","channel":"presence-r","data":"{\\"presence\\":{\\"ids\\":[\\"a\\",\\"b\\"],\\"hash\\":{\\"a\\":{\\"n\\":1},\\"b\\":null},\\"count\\":2}}"}',
    );
    assert.equal(
      text(subscriptionError('private-x', { type: 'AuthError', error: 'bad signature', status: 401 })),
      '{"event":"pusher:subscription_error","channel":"private-x","data":{"type":"AuthError","error":"bad signature","status":401}}',
    );
    assert.equal(text(error(null, 'no "x"')), '{"event":"pusher:error","data":{"code":null,"message":"no \\"x\\""}}');
    assert.equal(text(error(4301, 'slow down')), '{"event":"pusher:error","data":{"code":4301,"message":"slow down"}}');
    assert.equal(
      text(memberAdded('presence-r', 'u1', { name: 'U' })),
      '{"event":"pusher_internal:member_added","channel":"presence-r","data":"{\\"user_id\\":\\"u1\\",\\"user_info\\":{\\"name\\":\\"U\\"}}"}',
    );
    assert.equal(
      text(memberRemoved('presence-r', 'u1')),
      '{"event":"pusher_internal:member_removed","channel":"presence-r","data":"{\\"user_id\\":\\"u1\\"}"}',
    );
    assert.equal(text(signinSuccess('{"id":"u1"}')), '{"event":"pusher:signin_success","data":{"user_data":"{\\"id\\":\\"u1\\"}"}}');
    for (const frame of [pong(), subscriptionSucceeded('news'), error(null, 'x')]) assert.deepEqual([frame.items, frame.remaining], [0, 0]);
  });

  it('connection_established passes pusher-js handshake: socket id and the smaller activity timeout', async () => {
    const { client } = await connect();
    assert.equal(client.connection.socket_id, '123.456');
    assert.equal(client.connection.activityTimeout, 30_000, 'ours (30 s) is below pusher-js default (120 s)');
  });

  it('subscribes as pusher-js asks, public, private and presence, and pusher-js takes the answers', async () => {
    const { client, socket } = await connect();
    const news = client.subscribe('news');
    const secret = client.subscribe('private-secret');
    const room = client.subscribe('presence-room');
    await sent(socket, 3);
    assert.deepEqual(socket.requests(), [
      { type: 'subscribe', channel: 'news' },
      { type: 'subscribe', channel: 'private-secret', auth: 'app-key:sig', channelData: ALICE },
      { type: 'subscribe', channel: 'presence-room', auth: 'app-key:sig', channelData: ALICE },
    ]);
    let newsSucceeded = false;
    news.bind('pusher:subscription_succeeded', () => (newsSucceeded = true));
    let refused: unknown;
    secret.bind('pusher:subscription_error', (data: unknown) => (refused = data));
    let members: any;
    room.bind('pusher:subscription_succeeded', (m: unknown) => (members = m));

    socket.deliver(subscriptionSucceeded('news'));
    socket.deliver(subscriptionError('private-secret', { type: 'AuthError', error: 'bad signature', status: 403 }));
    socket.deliver(subscriptionSucceeded('presence-room', { ids: ['alice', 'bob'], hash: { alice: { name: 'Alice' }, bob: { name: 'Bob' } }, count: 2 }));
    assert.ok(newsSucceeded && news.subscribed);
    assert.deepEqual(refused, { type: 'AuthError', error: 'bad signature', status: 403 }, 'what Echo’s channel.error() receives');
    assert.equal(members.count, 2);
    assert.deepEqual(members.me, { id: 'alice', info: { name: 'Alice' } }, 'pusher-js found itself by the user id of its channel_data');
    assert.deepEqual(members.get('bob'), { id: 'bob', info: { name: 'Bob' } });

    client.unsubscribe('news');
    await sent(socket, 1);
    assert.deepEqual(socket.requests(), [{ type: 'unsubscribe', channel: 'news' }]);
  });

  it('presence events of the engine are the member events pusher-js keeps its members by', async () => {
    const { client, socket } = await connect();
    const room = client.subscribe('presence-lobby');
    await sent(socket, 1);
    socket.requests();
    const lobby = pusherRoom('app1', 'presence-lobby');
    const state: PresenceEventBody = {
      room: lobby,
      event: 'state',
      partial: false,
      connections: [
        { conn: 'c1', user: pusherUser('app1', 'alice'), node: 'n1', info: '{"name":"Alice"}' },
        { conn: 'c2', user: pusherUser('app1', 'alice'), node: 'n1' },
        { conn: 'c3', user: null, node: 'n1' },
        { conn: 'c4', user: pusherUser('app1', 'carol'), node: 'n2' },
        // A user of another app, or of go-push, is no member of this app's channel.
        { conn: 'c5', user: pusherUser('app2', 'dave'), node: 'n2' },
        { conn: 'c6', user: 'erin', node: 'n2' },
      ],
    };
    assert.equal(
      text(pusherProtocol.presenceEvent(state)),
      '{"event":"pusher_internal:subscription_succeeded","channel":"presence-lobby","data":"{\\"presence\\":{\\"ids\\":[\\"alice\\",\\"carol\\"],\\"hash\\":{\\"alice\\":{\\"name\\":\\"Alice\\"},\\"carol\\":null},\\"count\\":2}}"}',
      'users, not connections; anonymous connections are no members',
    );
    socket.deliver(pusherProtocol.presenceEvent(state));
    assert.equal(room.members.count, 2);
    assert.deepEqual(room.members.me, { id: 'alice', info: { name: 'Alice' } });

    const added: unknown[] = [];
    const removed: unknown[] = [];
    room.bind('pusher:member_added', (member: unknown) => added.push(member));
    room.bind('pusher:member_removed', (member: unknown) => removed.push(member));
    const join: PresenceEventBody = { room: lobby, event: 'join', conn: 'c5', user: pusherUser('app1', 'bob'), node: 'n2', info: '{"name":"Bob"}' };
    const second: PresenceEventBody = { ...join, conn: 'c6', sole: false };
    assert.equal(pusherProtocol.presenceEvent(second).bytes.length, 0, "a user's second connection is no new member");
    socket.deliver(pusherProtocol.presenceEvent(join));
    socket.deliver(pusherProtocol.presenceEvent({ room: lobby, event: 'leave', conn: 'c4', user: pusherUser('app1', 'carol'), node: 'n2' }));
    assert.deepEqual(added, [{ id: 'bob', info: { name: 'Bob' } }]);
    assert.deepEqual(removed, [{ id: 'carol', info: null }]);
    assert.equal(room.members.count, 2);

    for (const nothing of [
      pusherProtocol.presenceEvent({ room: lobby, event: 'join', conn: 'c6', user: null, node: 'n1' }),
      pusherProtocol.presenceEvent({ room: 'go-push-room', event: 'join', conn: 'c7', user: 'dave', node: 'n1' }),
    ]) {
      assert.equal(nothing.bytes.length, 0, 'no frame for an anonymous member or a room that is no Pusher channel');
    }
    const overflow = JSON.parse(text(pusherProtocol.presenceEvent({ room: lobby, event: 'overflow', count: 5000 })));
    assert.deepEqual([overflow.event, overflow.data.code], ['pusher:error', null]);
  });

  it('a push of N events is N text frames in one write, each event with its channel and its data unchanged', async () => {
    const { client, socket } = await connect();
    const room = client.subscribe('presence-chat');
    await sent(socket, 1);
    socket.requests();
    const items = [
      encodeEventItem({ event: 'message', data: '{"text":"hi"}' }),
      encodeEventItem({ event: 'note', data: 'plain text, not JSON' }),
      encodeEventItem({ event: 'client-typing', dataJson: '{"a":1}', userId: 'bob' }),
      encodeEventItem({ event: 'big', data: 'x'.repeat(70_000) }),
    ];
    const frame = pusherProtocol.push(items, pusherRoom('app1', 'presence-chat'), { offset: 9, epoch: 'e' });
    assert.equal(frame.items, 4);
    assert.deepEqual(
      frameHeaders(frame.bytes).map((header) => header.length),
      items.map((item) => Buffer.byteLength(item) + ',"channel":"presence-chat"'.length),
      'one frame per event, the 7-, 16- and 64-bit lengths alike',
    );
    const messages = texts(frame).map((message) => JSON.parse(message));
    assert.deepEqual(messages[0], { event: 'message', data: '{"text":"hi"}', channel: 'presence-chat' });
    assert.deepEqual(messages[1], { event: 'note', data: 'plain text, not JSON', channel: 'presence-chat' });
    assert.deepEqual(messages[2], { event: 'client-typing', data: { a: 1 }, user_id: 'bob', channel: 'presence-chat' });
    assert.equal(messages[3].data.length, 70_000);

    const received: unknown[] = [];
    for (const event of ['message', 'note', 'client-typing', 'big']) {
      room.bind(event, (data: unknown, metadata: unknown) =>
        received.push([event, typeof data === 'string' && data.length > 100 ? data.length : data, metadata]),
      );
    }
    socket.deliver(frame);
    assert.deepEqual(received, [
      ['message', { text: 'hi' }, {}],
      ['note', 'plain text, not JSON', {}],
      ['client-typing', { a: 1 }, { user_id: 'bob' }],
      ['big', 70_000, {}],
    ]);
  });

  it('relays a client event as pusher-js sent it: the same data value, with the sender on presence channels', async () => {
    const { client, socket } = await connect();
    const channel = client.subscribe('private-doc');
    await sent(socket, 1);
    socket.requests();
    socket.deliver(subscriptionSucceeded('private-doc'));
    channel.trigger('client-edit', { a: 1, nested: [true, null] });
    channel.trigger('client-say', 'just a string');
    await sent(socket, 2);
    const requests = socket.requests() as { type: string; channel: string; event: string; data: string }[];
    assert.deepEqual(requests, [
      { type: 'client-event', channel: 'private-doc', event: 'client-edit', data: '{"a":1,"nested":[true,null]}' },
      { type: 'client-event', channel: 'private-doc', event: 'client-say', data: '"just a string"' },
    ]);
    const items = requests.map((request) => encodeEventItem({ event: request.event, dataJson: request.data, userId: 'alice' }));
    const received: unknown[] = [];
    channel.bind('client-edit', (data: unknown) => received.push(data));
    channel.bind('client-say', (data: unknown) => received.push(data));
    socket.deliver(pusherProtocol.push(items, pusherRoom('app1', 'private-doc')));
    assert.deepEqual(received, [{ a: 1, nested: [true, null] }, 'just a string']);
  });

  it('signs in as pusher-js asks, and the user’s server-to-user channel gets its events', async () => {
    const { client, socket } = await connect();
    client.signin();
    await sent(socket, 1);
    assert.deepEqual(socket.requests(), [{ type: 'signin', auth: 'app-key:usig', userData: '{"id":"alice"}' }]);
    socket.deliver(signinSuccess('{"id":"alice"}'));
    assert.deepEqual(client.user.user_data, { id: 'alice' });
    await sent(socket, 1);
    assert.deepEqual(socket.requests(), [{ type: 'subscribe', channel: '#server-to-user-alice' }]);
    socket.deliver(subscriptionSucceeded('#server-to-user-alice'));
    const received: unknown[] = [];
    client.user.bind('invoice', (data: unknown) => received.push(data));
    socket.deliver(pusherProtocol.push([encodeEventItem({ event: 'invoice', data: '{"n":7}' })], pusherRoom('app1', '#server-to-user-alice')));
    assert.deepEqual(received, [{ n: 7 }]);
  });

  it('pings and pongs both ways, and pusher:error reaches the connection’s error handlers', async () => {
    const { client, socket } = await connect();
    let pongs = 0;
    client.connection.connection.bind('pong', () => pongs++);
    client.connection.connection.ping();
    await sent(socket, 1);
    assert.deepEqual(socket.requests(), [{ type: 'ping' }]);
    socket.deliver(pusherProtocol.pong(undefined));
    assert.equal(pongs, 1);
    socket.deliver(ping());
    await sent(socket, 1);
    assert.deepEqual(socket.requests(), [{ type: 'pong' }]);

    const errors: unknown[] = [];
    client.connection.bind('error', (e: unknown) => errors.push(e));
    socket.deliver(pusherProtocol.error(undefined, 'FORBIDDEN', 'not allowed'));
    socket.deliver(pusherProtocol.warning('TOKEN_EXPIRING', 'soon', { expiresIn: 5 }));
    assert.deepEqual(errors, [
      { type: 'PusherError', data: { code: null, message: 'not allowed' } },
      { type: 'PusherError', data: { code: null, message: 'TOKEN_EXPIRING: soon' } },
    ]);
    assert.equal(client.connection.state, 'connected', 'a plain error keeps the connection');
  });

  it('a push without a room carries no channel: pusher-js gives it to its global bindings', async () => {
    const { client, socket } = await connect();
    const received: unknown[] = [];
    client.bind('notice', (data: unknown) => received.push(data));
    client.bind(FOREIGN_ITEM_EVENT, (data: unknown) => received.push(data));
    const frame = pusherProtocol.push(
      [encodeEventItem({ event: 'notice', data: '{"x":1}' }), '{"hello":[1,2]}', '  {"event":"notice" , "data":"y"}'],
      undefined,
    );
    assert.deepEqual(texts(frame), [
      '{"event":"notice","data":"{\\"x\\":1}"}',
      '{"event":"pushgate:push","data":"{\\"hello\\":[1,2]}"}',
      '{"event":"notice","data":"y"}',
    ]);
    socket.deliver(frame);
    assert.deepEqual(received, [{ x: 1 }, { hello: [1, 2] }, 'y']);
  });
});

describe('decodePusherFrame', () => {
  const plainError = (message: string, extra: object = {}) => ({ type: 'error', code: null, message, ...extra });

  it('takes data as an object or as the JSON text of one', () => {
    assert.deepEqual(decodePusherFrame('{"event":"pusher:subscribe","data":"{\\"channel\\":\\"news\\"}"}'), { type: 'subscribe', channel: 'news' });
    assert.deepEqual(decodePusherFrame('{"event":"pusher:unsubscribe","data":{"channel":"news"}}'), { type: 'unsubscribe', channel: 'news' });
    assert.deepEqual(decodePusherFrame('{"event":"pusher:ping"}'), { type: 'ping' });
    assert.deepEqual(decodePusherFrame('{"event":"pusher:subscribe","data":{"channel":"news","auth":null,"channel_data":null}}'), {
      type: 'subscribe',
      channel: 'news',
    });
  });

  it('keeps a client event’s string data a string, not the JSON it may hold', () => {
    assert.deepEqual(decodePusherFrame('{"event":"client-x","channel":"presence-r","data":"{\\"a\\":1}"}'), {
      type: 'client-event',
      channel: 'presence-r',
      event: 'client-x',
      data: '"{\\"a\\":1}"',
    });
  });

  it('refuses binary frames with a close, 1003', () => {
    assert.deepEqual(
      decodePusherFrame(Buffer.from('{"event":"pusher:ping"}')),
      plainError('binary frames are not supported; send JSON text frames', { close: 1003 }),
    );
  });

  it('answers every malformed frame with a plain error (code null)', () => {
    const cases: [string, string, object?][] = [
      ['{nope', 'message is not valid JSON'],
      ['[1]', 'message must be a JSON object {"event": ..., "data": ...}'],
      ['"pusher:ping"', 'message must be a JSON object {"event": ..., "data": ...}'],
      ['{"data":{}}', 'event must be a string'],
      ['{"event":7}', 'event must be a string'],
      ['{"event":"pusher:subscribe"}', 'pusher:subscribe needs data, an object (or the JSON text of one)'],
      ['{"event":"pusher:subscribe","data":[]}', 'pusher:subscribe needs data, an object (or the JSON text of one)'],
      ['{"event":"pusher:subscribe","data":"{not json"}', 'pusher:subscribe needs data, an object (or the JSON text of one)'],
      ['{"event":"pusher:subscribe","data":"[\\"news\\"]"}', 'pusher:subscribe needs data, an object (or the JSON text of one)'],
      ['{"event":"pusher:subscribe","data":{}}', 'pusher:subscribe: channel must be a non-empty string'],
      ['{"event":"pusher:subscribe","data":{"channel":5}}', 'pusher:subscribe: channel must be a non-empty string'],
      [
        '{"event":"pusher:subscribe","data":{"channel":"a b"}}',
        'pusher:subscribe: invalid channel name "a b": use only letters, digits and _ - = @ , . ;',
        { channel: 'a b' },
      ],
      [`{"event":"pusher:subscribe","data":{"channel":"${'c'.repeat(165)}"}}`, 'longer than 164 characters', { channel: 'c'.repeat(165) }],
      ['{"event":"pusher:subscribe","data":{"channel":"private-x","auth":1}}', 'pusher:subscribe data.auth must be a string', { channel: 'private-x' }],
      [
        '{"event":"pusher:subscribe","data":{"channel":"presence-x","auth":"k:s","channel_data":{"user_id":"u"}}}',
        'pusher:subscribe data.channel_data must be a string',
        { channel: 'presence-x' },
      ],
      [
        '{"event":"pusher:subscribe","data":{"channel":"#server-to-user-"}}',
        'pusher:subscribe: invalid channel name "#server-to-user-"',
        { channel: '#server-to-user-' },
      ],
      ['{"event":"pusher:unsubscribe","data":{}}', 'pusher:unsubscribe needs data.channel, a non-empty string'],
      ['{"event":"pusher:unsubscribe"}', 'pusher:unsubscribe needs data, an object (or the JSON text of one)'],
      ['{"event":"pusher:signin","data":{"user_data":"{}"}}', 'pusher:signin needs data.auth, a non-empty string'],
      ['{"event":"pusher:signin","data":{"auth":"k:s"}}', 'pusher:signin needs data.user_data, a non-empty string (JSON text)'],
      ['{"event":"client-x","data":{}}', 'client event "client-x" needs channel, a non-empty string'],
      [
        '{"event":"client-x","channel":"news","data":{}}',
        'client event "client-x" rejected: client events are only supported on private and presence channels',
      ],
      [
        '{"event":"client-x","channel":"#server-to-user-u","data":{}}',
        'client event "client-x" rejected: client events are only supported on private and presence channels',
      ],
      ['{"event":"client-x","channel":"private-x"}', 'client event "client-x" needs data'],
      [`{"event":"client-${'e'.repeat(200)}","channel":"private-x","data":1}`, 'longer than 200 characters'],
      ['{"event":"pusher:cache_miss","data":{}}', 'unsupported event "pusher:cache_miss"'],
      ['{"event":"pusher_internal:member_added","data":{}}', 'unsupported event "pusher_internal:member_added"'],
      ['{"event":"my-event","channel":"private-x","data":{}}', 'unsupported event "my-event"'],
    ];
    for (const [message, expected, extra] of cases) {
      const decoded = decodePusherFrame(message) as { type: string; code: unknown; message: string; close?: number };
      assert.equal(decoded.type, 'error', message);
      assert.equal(decoded.code, null, message);
      assert.ok(decoded.message.startsWith(expected) || decoded.message.includes(expected), `${message}: ${decoded.message}`);
      assert.equal(decoded.close, undefined, `${message} keeps the connection`);
      const { type: _t, code: _c, message: _m, ...rest } = decoded;
      assert.deepEqual(rest, extra ?? {}, `${message}: the channel, only for a subscribe that named one`);
    }
  });

  it('checks channel names as Pusher does, and lets a server-to-user channel end with any user id', () => {
    for (const ok of ['news', 'private-a_b-c=d@e,f.g;h', 'presence-X9', 'c'.repeat(164), '#server-to-user-auth0|42', '#server-to-user-ü']) {
      assert.equal(channelNameProblem(ok), null, ok);
    }
    for (const bad of ['', 'a:b', 'a/b', 'é', '#other', '#server-to-user-a\nb', 'c'.repeat(165)]) assert.notEqual(channelNameProblem(bad), null, bad);
  });
});

describe('the Pusher ClientProtocol', () => {
  it('is named pusher and keeps its clients alive, closing a silent one with 4201', () => {
    assert.equal(pusherProtocol.name, 'pusher');
    assert.deepEqual(pusherProtocol.keepAlive, { closeCode: 4201 });
  });

  it('refuses frames decoded through it: they are decodePusherFrame’s', () => {
    assert.deepEqual(pusherProtocol.decode(Buffer.from('x')), {
      type: 'REFUSED',
      close: 1003,
      reason: 'binary frames are not supported; send JSON text frames',
    });
    const refused = pusherProtocol.decode('{"event":"pusher:ping"}') as { type: string; close: number; reason: string };
    assert.deepEqual([refused.type, refused.close], ['REFUSED', 1011]);
    assert.match(refused.reason, /decodePusherFrame/);
    assert.ok(Buffer.byteLength(refused.reason) <= 123, 'a close reason fits its frame');
  });

  it('sends nothing for what Pusher has no frame for, and the handshake for connected', () => {
    for (const frame of [pusherProtocol.ack(1, 'c1', '{}'), pusherProtocol.reply(2, '{"ok":true}')]) {
      assert.deepEqual([frame.bytes.length, frame.items, frame.remaining], [0, 0, 0]);
    }
    assert.equal(
      text(pusherProtocol.connected({ conn: '1.2', user: undefined, rooms: [], data: undefined })),
      '{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"1.2\\",\\"activity_timeout\\":120}"}',
    );
    assert.equal(pusherProtocol.pong('id'), pong());
  });

  it('frames a room push with the channel last, so that an item’s own channel cannot redirect it', () => {
    const frame = pusherProtocol.push(['{"event":"e","data":"d","channel":"private-other"}'], pusherRoom('a', 'news'));
    assert.equal(JSON.parse(text(frame)).channel, 'news');
    assert.deepEqual(texts(pusherProtocol.push([], pusherRoom('a', 'news'))), []);
  });
});
