import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeAck, encodeError, encodePong, encodePush } from '../../src/protocol/encode.js';
import { decodeClientMessage } from '../../src/protocol/messages.js';
import { prepareFrame } from '../../src/protocol/prepared-frame.js';
import { MAX_ROOM_NAME_LENGTH, roomNameProblem } from '../../src/protocol/room-name.js';

describe('decodeClientMessage', () => {
  it('decodes go-push requests', () => {
    assert.deepEqual(decodeClientMessage('{"type":"PING","data":{}}'), { type: 'PING', id: undefined });
    assert.deepEqual(decodeClientMessage('{"type":"PING"}'), { type: 'PING', id: undefined });
    assert.deepEqual(decodeClientMessage('{"type":"JOIN","data":{"room":"默认房间"}}'), { type: 'JOIN', id: undefined, room: '默认房间' });
    assert.deepEqual(decodeClientMessage('{"type":"LEAVE","id":"a1","data":{"room":"r"}}'), { type: 'LEAVE', id: 'a1', room: 'r' });
    assert.deepEqual(decodeClientMessage('{"type":"JOIN","id":7,"data":{"room":"r"}}'), { type: 'JOIN', id: 7, room: 'r' });
  });

  it('names what is wrong, keeping the id when there is one', () => {
    const cases: Array<[string, string, unknown]> = [
      ['{nope', 'BAD_JSON', undefined],
      ['[1,2]', 'BAD_REQUEST', undefined],
      ['"PING"', 'BAD_REQUEST', undefined],
      ['null', 'BAD_REQUEST', undefined],
      ['{"data":{}}', 'BAD_REQUEST', undefined],
      ['{"type":"PING","id":{"x":1}}', 'BAD_REQUEST', undefined],
      ['{"type":"PING","id":1,"data":[1]}', 'BAD_REQUEST', 1],
      ['{"type":"SHOUT","id":2,"data":{}}', 'UNKNOWN_TYPE', 2],
      ['{"type":"JOIN","id":3,"data":{}}', 'INVALID_ROOM', 3],
      ['{"type":"JOIN","id":3}', 'INVALID_ROOM', 3],
      ['{"type":"JOIN","data":{"room":""}}', 'INVALID_ROOM', undefined],
      ['{"type":"LEAVE","data":{"room":"a b"}}', 'INVALID_ROOM', undefined],
      ['{"type":"JOIN","data":{"room":42}}', 'INVALID_ROOM', undefined],
    ];
    for (const [text, code, id] of cases) {
      const decoded = decodeClientMessage(text);
      assert.equal(decoded.type, 'INVALID', text);
      assert.equal((decoded as { code: string }).code, code, text);
      assert.equal(decoded.id, id, text);
    }
  });
});

describe('room names', () => {
  it('accepts letters and digits of any script and a few separators', () => {
    for (const room of ['news', 'user:42', 'a-b_c.d@e/f', '默认房间', 'हिन्दी', 'caf\u00e9', 'x'.repeat(MAX_ROOM_NAME_LENGTH)]) {
      assert.equal(roomNameProblem(room), null, room);
    }
  });

  it('refuses empty, long, spaced, quoted and control-character names', () => {
    for (const room of [
      '',
      'x'.repeat(MAX_ROOM_NAME_LENGTH + 1),
      'a b',
      'a"b',
      'a\nb',
      'a\u0000b',
      '<script>',
      'cafe\u0301',
      'news\uFE0F',
      'news\u034F',
      '\u0300',
      'a\u{E0100}',
      undefined,
      5,
    ]) {
      assert.notEqual(roomNameProblem(room), null, String(room));
    }
  });
});

describe('encoding', () => {
  it('builds go-push frames that parse as JSON', () => {
    assert.deepEqual(JSON.parse(encodePong(undefined)), { type: 'PONG', data: {} });
    assert.deepEqual(JSON.parse(encodePong('x')), { type: 'PONG', id: 'x', data: {} });
    assert.deepEqual(JSON.parse(encodeAck(1, 'n-1')), { type: 'ACK', id: 1, data: { conn: 'n-1' } });
    assert.deepEqual(JSON.parse(encodeError(2, 'BAD_JSON', 'say "hi"')), { type: 'ERROR', id: 2, data: { code: 'BAD_JSON', message: 'say "hi"' } });
    assert.deepEqual(JSON.parse(encodePush(['1', '{"a":"b"}'], undefined)), { type: 'PUSH', data: { items: [1, { a: 'b' }] } });
    assert.deepEqual(JSON.parse(encodePush(['"x"'], 'r"1')), { type: 'PUSH', data: { room: 'r"1', items: ['x'] } });
  });

  it('frames a message once as an unmasked final text frame', () => {
    for (const size of [10, 200, 70000]) {
      const text = 'x'.repeat(size);
      const { bytes } = prepareFrame(text);
      assert.equal(bytes[0], 0x81);
      const headerLength = size < 126 ? 2 : size < 65536 ? 4 : 10;
      assert.equal(bytes.length, headerLength + size);
      assert.equal(bytes.subarray(headerLength).toString(), text);
    }
  });
});
