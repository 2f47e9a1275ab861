import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roomNameProblem } from '../../src/protocol/room-name.js';
import { decodeEventItem, encodeEventItem } from '../../src/pusher/pusher-events.js';
import { parsePusherRoom, pusherRoom } from '../../src/pusher/pusher-rooms.js';

describe('Pusher rooms', () => {
  it('names a channel of an app #pusher:<appId>:<channel>, and reads it back', () => {
    assert.equal(pusherRoom('app1', 'private-chat'), '#pusher:app1:private-chat');
    assert.deepEqual(parsePusherRoom('#pusher:app1:private-chat'), { appId: 'app1', channel: 'private-chat' });
    for (const channel of ['presence-a;b=c@d,e.f', '#server-to-user-auth0|42', 'x:y:z']) {
      assert.deepEqual(parsePusherRoom(pusherRoom('7', channel)), { appId: '7', channel }, channel);
    }
  });

  it('can never be a go-push room name, whatever the channel', () => {
    assert.notEqual(roomNameProblem(pusherRoom('app', 'news')), null);
    assert.equal(roomNameProblem('pusher:app:news'), null, 'without the # it would be a valid go-push room');
    assert.equal(parsePusherRoom('pusher:app:news'), null);
  });

  it('reads no other room as a Pusher channel', () => {
    for (const room of ['news', '#pusher:', '#pusher:app', '#pusher::news', '#pusher:app:', '#other:app:news']) {
      assert.equal(parsePusherRoom(room), null, room);
    }
  });

  it('refuses an app id with a colon or empty parts: the first colon ends the app id', () => {
    assert.throws(() => pusherRoom('a:b', 'news'), RangeError);
    assert.throws(() => pusherRoom('', 'news'), RangeError);
    assert.throws(() => pusherRoom('app', ''), RangeError);
  });
});

describe('Pusher event items', () => {
  it('encodes a server event with its data string kept a string', () => {
    assert.equal(encodeEventItem({ event: 'order-shipped', data: '{"id":1}' }), '{"event":"order-shipped","data":"{\\"id\\":1}"}');
    assert.equal(encodeEventItem({ event: 'e', data: 'plain "text"' }), '{"event":"e","data":"plain \\"text\\""}');
  });

  it('encodes a client event with its data as the same JSON value, and user_id on presence channels', () => {
    assert.equal(encodeEventItem({ event: 'client-typing', dataJson: '{"a":1}' }), '{"event":"client-typing","data":{"a":1}}');
    assert.equal(encodeEventItem({ event: 'client-typing', dataJson: '"hi"', userId: 'u1' }), '{"event":"client-typing","data":"hi","user_id":"u1"}');
  });

  it('decodes what it encodes, and nothing that is no event', () => {
    for (const input of [
      { event: 'e', data: '{"x":[1,2]}' },
      { event: 'client-x', dataJson: '[1,{"b":null}]', userId: 'u-9' },
      { event: 'client-y', dataJson: '3.5' },
    ]) {
      const item = encodeEventItem(input);
      const decoded = decodeEventItem(item);
      assert.ok(decoded !== null);
      assert.equal(encodeEventItem(decoded), item, 'a decoded item encodes to the same text');
    }
    assert.deepEqual(decodeEventItem('{"event":"e","data":"s","user_id":"u"}'), { event: 'e', dataJson: '"s"', userId: 'u' });
    for (const text of ['nope', '[]', 'null', '{"data":"x"}', '{"event":1,"data":"x"}', '{"event":"e"}', '{"event":"e","data":1,"user_id":2}']) {
      assert.equal(decodeEventItem(text), null, text);
    }
  });
});
