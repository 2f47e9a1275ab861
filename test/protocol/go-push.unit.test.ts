import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goPushProtocol } from '../../src/protocol/go-push.js';

/** One unmasked final text frame of `payload`, built by hand (RFC 6455 5.2). */
function textFrame(payload: string): Buffer {
  const body = Buffer.from(payload);
  if (body.length < 126) return Buffer.concat([Buffer.from([0x81, body.length]), body]);
  const header = Buffer.from([0x81, 126, 0, 0]);
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

describe('the go-push protocol', () => {
  it('decodes text requests and refuses binary frames with 1003', () => {
    assert.deepEqual(goPushProtocol.decode('{"type":"PING","id":1}'), { type: 'PING', id: 1 });
    assert.deepEqual(goPushProtocol.decode('{"type":"JOIN","data":{"room":"news","key":"k"}}'), { type: 'JOIN', id: undefined, room: 'news', key: 'k' });
    assert.deepEqual(goPushProtocol.decode('{"type":"LEAVE","id":"x","data":{"room":"news"}}'), { type: 'LEAVE', id: 'x', room: 'news' });
    assert.deepEqual(goPushProtocol.decode('{"type":"AUTH","data":{"token":"t"}}'), { type: 'AUTH', id: undefined, token: 't' });
    const noToken = goPushProtocol.decode('{"type":"AUTH","id":2,"data":{}}');
    assert.deepEqual([noToken.type, (noToken as { id: unknown }).id, (noToken as { code: string }).code], ['INVALID', 2, 'BAD_REQUEST']);
    assert.equal((goPushProtocol.decode('{nope') as { code: string }).code, 'BAD_JSON');
    assert.equal((goPushProtocol.decode('{"type":"SHOUT"}') as { code: string }).code, 'UNKNOWN_TYPE');
    const refused = goPushProtocol.decode(Buffer.from('{"type":"PING"}'));
    assert.equal(refused.type, 'REFUSED');
    assert.equal((refused as { close: number }).close, 1003);
  });

  it('encodes server messages as exactly these frames', () => {
    assert.deepEqual(goPushProtocol.ack(7, 'n-1').bytes, textFrame('{"type":"ACK","id":7,"data":{"conn":"n-1"}}'));
    assert.deepEqual(goPushProtocol.pong('p').bytes, textFrame('{"type":"PONG","id":"p","data":{}}'));
    assert.deepEqual(goPushProtocol.pong(undefined).bytes, textFrame('{"type":"PONG","data":{}}'));
    assert.equal(goPushProtocol.pong(undefined), goPushProtocol.pong(undefined), 'a PONG without id is framed once for all');
    assert.deepEqual(
      goPushProtocol.error(undefined, 'FORBIDDEN', 'no "x"').bytes,
      textFrame('{"type":"ERROR","data":{"code":"FORBIDDEN","message":"no \\"x\\""}}'),
    );
    assert.deepEqual(
      goPushProtocol.warning('TOKEN_EXPIRING', 'soon', { expiresIn: 5 }).bytes,
      textFrame('{"type":"WARNING","data":{"code":"TOKEN_EXPIRING","message":"soon","expiresIn":5}}'),
    );
    const push = goPushProtocol.push(['1', '{"a":2}'], 'news');
    assert.deepEqual(push.bytes, textFrame('{"type":"PUSH","data":{"room":"news","items":[1,{"a":2}]}}'));
    assert.equal(push.items, 2);
    assert.equal(push.remaining, 0);
    assert.equal(goPushProtocol.ack(1, 'c').items, 0);
    const big = ['"'.concat('x'.repeat(300), '"')];
    assert.deepEqual(goPushProtocol.push(big, undefined).bytes, textFrame(`{"type":"PUSH","data":{"items":[${big[0]}]}}`), 'a 16-bit length');
  });
});
