import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PushBatch } from '../../src/merger/push-batch.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { closeEvent, connectedEvent, parseStreamEventId, SSE_PING, sseEvent, sseProtocol, streamEventId } from '../../src/protocol/sse-protocol.js';

const text = (frame: { bytes: Buffer }): string => frame.bytes.toString('utf8');

/**
 * What an EventSource makes of a stream (the HTML standard's "interpret an event stream", for the
 * fields used here): each event's name, data (its `data:` lines joined with LF) and last event id.
 */
function parseStream(stream: string): Array<{ event: string; data: string; id: string }> {
  const events: Array<{ event: string; data: string; id: string }> = [];
  let lastId = '';
  let event = '';
  let data: string[] = [];
  for (const line of stream.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length > 0) events.push({ event: event || 'message', data: data.join('\n'), id: lastId });
      event = '';
      data = [];
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') lastId = value;
  }
  return events;
}

describe('the SSE protocol', () => {
  it("encodes a PUSH as one push event with go-push's PUSH body, and the stream position as its id", () => {
    assert.equal(text(sseProtocol.push(['1', '{"a":2}'], undefined)), 'event: push\ndata: {"items":[1,{"a":2}]}\n\n');
    assert.equal(text(sseProtocol.push(['"x"'], 'news')), 'event: push\ndata: {"room":"news","items":["x"]}\n\n');
    const stamped = sseProtocol.push(['1', '2'], 'chat:1', { offset: 12, epoch: 'Ab-_9' });
    assert.equal(text(stamped), 'event: push\nid: Ab-_9:12\ndata: {"room":"chat:1","items":[1,2],"offset":12,"epoch":"Ab-_9"}\n\n');
    assert.equal(stamped.items, 2);
    assert.equal(stamped.remaining, 0);
    // The data is the go-push frame's own body.
    const goPush = JSON.parse(goPushProtocol.push(['1', '2'], 'chat:1', { offset: 12, epoch: 'Ab-_9' }).bytes.subarray(2).toString());
    assert.deepEqual(JSON.parse(parseStream(text(stamped))[0].data), goPush.data);
  });

  it('keeps line breaks inside items: one data line each, joined again by the client', () => {
    const frame = sseProtocol.push(['{"a" :\n 1}', '[\r\n2]'], 'r');
    assert.equal(text(frame), 'event: push\ndata: {"room":"r","items":[{"a" :\ndata:  1},[\ndata: 2]]}\n\n');
    const [event] = parseStream(text(frame));
    assert.equal(event.data, '{"room":"r","items":[{"a" :\n 1},[\n2]]}');
    assert.deepEqual(JSON.parse(event.data), { room: 'r', items: [{ a: 1 }, [2]] });
  });

  it('encodes answers as named events, the request id in their data', () => {
    assert.equal(text(sseProtocol.ack(7, 'n-1')), 'event: ack\ndata: {"id":7,"conn":"n-1"}\n\n');
    assert.equal(text(sseProtocol.ack('j', 'n-1', '{"x":1}')), 'event: ack\ndata: {"id":"j","conn":"n-1","data":{"x":1}}\n\n');
    assert.equal(
      text(sseProtocol.ack('rooms:0', 'n-1', undefined, { offset: 4, epoch: 'E', recovered: true, replayed: 2 })),
      'event: ack\nid: E:4\ndata: {"id":"rooms:0","conn":"n-1","stream":{"offset":4,"epoch":"E","recovered":true,"replayed":2}}\n\n',
    );
    assert.equal(
      text(sseProtocol.error(3, 'FORBIDDEN', 'no "x"', { backendCode: 'b' })),
      'event: refused\ndata: {"id":3,"code":"FORBIDDEN","message":"no \\"x\\"","backendCode":"b"}\n\n',
    );
    assert.equal(text(sseProtocol.error(undefined, 'INVALID_ROOM', 'bad')), 'event: refused\ndata: {"code":"INVALID_ROOM","message":"bad"}\n\n');
    assert.equal(text(sseProtocol.reply('r', '{"ok":1}')), 'event: reply\ndata: {"id":"r","result":{"ok":1}}\n\n');
    assert.equal(text(sseProtocol.pong(5)), 'event: pong\ndata: {"id":5}\n\n');
    assert.equal(sseProtocol.pong(undefined).bytes.length, 0, 'a PING without id gets nothing');
    assert.equal(
      text(sseProtocol.warning('TOKEN_EXPIRING', 'soon', { expiresIn: 5 })),
      'event: warning\ndata: {"code":"TOKEN_EXPIRING","message":"soon","expiresIn":5}\n\n',
    );
    assert.equal(
      text(sseProtocol.presenceEvent({ room: 'r', event: 'join', conn: 'c', user: null, node: 'n', sole: true })),
      'event: presence\ndata: {"room":"r","event":"join","conn":"c","user":null,"node":"n"}\n\n',
    );
    assert.equal(
      text(sseProtocol.connected({ conn: 'c', user: 'u', rooms: ['a'], data: '{"k":1}' })),
      'event: connected\ndata: {"conn":"c","user":"u","rooms":["a"],"data":{"k":1}}\n\n',
    );
  });

  it("writes the endpoint's own events: connected with the secret, close, the heartbeat comment", () => {
    assert.equal(
      connectedEvent({ conn: 'c', user: undefined, rooms: [], data: undefined }, 's3'),
      'event: connected\ndata: {"conn":"c","secret":"s3","user":null,"rooms":[]}\n\n',
    );
    assert.equal(closeEvent(1001, 'server shutting down'), 'event: close\ndata: {"code":1001,"reason":"server shutting down"}\n\n');
    assert.equal(SSE_PING.toString(), ': ping\n\n');
    assert.deepEqual(parseStream(`${SSE_PING}${sseEvent('x', 'y', 'E:1')}${SSE_PING}`), [{ event: 'x', data: 'y', id: 'E:1' }]);
  });

  it('reads back the stream positions it wrote, and nothing else', () => {
    assert.equal(streamEventId({ epoch: 'Ab-_9', offset: 12 }), 'Ab-_9:12');
    assert.deepEqual(parseStreamEventId('Ab-_9:12'), { epoch: 'Ab-_9', offset: 12 });
    assert.deepEqual(parseStreamEventId(' E:0 '), { epoch: 'E', offset: 0 });
    for (const bad of [undefined, null, '', 'E', ':1', 'E:', 'E:-1', 'E:1.5', 'a:b:1', 'E:1234567890123456', 'é:1']) {
      assert.equal(parseStreamEventId(bad), undefined, String(bad));
    }
  });

  it('decodes go-push requests (the endpoint turns HTTP requests into them) and refuses binary messages', () => {
    assert.deepEqual(sseProtocol.decode('{"type":"JOIN","id":1,"data":{"room":"a","offset":3,"epoch":"E"}}'), {
      type: 'JOIN',
      id: 1,
      room: 'a',
      since: { offset: 3, epoch: 'E' },
    });
    assert.deepEqual(sseProtocol.decode('{"type":"LEAVE","id":"h1","data":{"room":"a"}}'), { type: 'LEAVE', id: 'h1', room: 'a' });
    assert.equal((sseProtocol.decode('{"type":"JOIN","data":{"room":"a b"}}') as { code: string }).code, 'INVALID_ROOM');
    const refused = sseProtocol.decode(Buffer.from('{}'));
    assert.equal(refused.type, 'REFUSED');
    assert.equal((refused as { close: number }).close, 1003);
    assert.deepEqual(sseProtocol.keepAlive, { closeCode: 4000 });
    assert.equal(sseProtocol.name, 'sse');
  });

  it('is encoded once per batch, beside go-push, for every recipient of its protocol', () => {
    const batch = new PushBatch(['1'], 'r', { offset: 1, epoch: 'E' });
    const sse = batch.frameFor(sseProtocol);
    assert.equal(batch.frameFor(sseProtocol), sse);
    const ws = batch.frameFor(goPushProtocol);
    assert.notEqual(ws, sse);
    assert.equal(batch.frameFor(sseProtocol), sse);
    assert.equal(batch.encodings, 2);
  });
});
