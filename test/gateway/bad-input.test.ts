import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

describe('bad input from clients', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ maxRooms: 2, maxMessageSize: 1024, maxClientRate: 20 });
  });
  after(() => gw.close());

  it('answers invalid JSON, unknown types and bad rooms with ERROR frames and keeps the connection', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    client.send('{"type": "JOIN", ');
    assert.deepEqual(await client.next(), { type: 'ERROR', data: { code: 'BAD_JSON', message: 'message is not valid JSON' } });
    client.send('[]');
    assert.equal((await client.next()).data.code, 'BAD_REQUEST');
    const unknown = await client.request('SHOUT', {});
    assert.equal(unknown.type, 'ERROR');
    assert.equal(unknown.data.code, 'UNKNOWN_TYPE');
    const missing = await client.request('JOIN', {});
    assert.equal(missing.data.code, 'INVALID_ROOM');
    const invalid = await client.request('LEAVE', { room: 'no spaces' });
    assert.equal(invalid.data.code, 'INVALID_ROOM');
    const tooLong = await client.request('JOIN', { room: 'x'.repeat(129) });
    assert.equal(tooLong.data.code, 'INVALID_ROOM');
    assert.equal((await client.request('PING')).type, 'PONG', 'still connected');
    assert.ok(gw.gateway.stats.errorFrames >= 6);
  });

  it('refuses a join past maxRooms with TOO_MANY_ROOMS', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    assert.equal((await client.request('JOIN', { room: 'a' })).type, 'ACK');
    assert.equal((await client.request('JOIN', { room: 'b' })).type, 'ACK');
    assert.equal((await client.request('JOIN', { room: 'a' })).type, 'ACK', 'joining again is idempotent');
    const third = await client.request('JOIN', { room: 'c' });
    assert.equal(third.type, 'ERROR');
    assert.equal(third.data.code, 'TOO_MANY_ROOMS');
    assert.equal(gw.gateway.hub.members('c'), undefined);
    assert.equal((await client.request('LEAVE', { room: 'a' })).type, 'ACK');
    assert.equal((await client.request('JOIN', { room: 'c' })).type, 'ACK', 'room freed by LEAVE');
  });

  const closes: Array<[string, number, (send: (data: string | Buffer) => void) => void]> = [
    ['a binary frame', 1003, (send) => send(Buffer.from([1, 2, 3]))],
    ['invalid UTF-8 in a text frame', 1007, (send) => send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))],
    ['an oversized message', 1009, (send) => send('x'.repeat(2000))],
    [
      'a flood of messages (abuse)',
      1008,
      (send) => {
        for (let i = 0; i < 200; i++) send('{"type":"PING","data":{}}');
      },
    ],
  ];
  for (const [what, code, misbehave] of closes) {
    it(`closes the connection with ${code} for ${what}, and forgets it`, async () => {
      const client = await gw.connect();
      await client.request('JOIN', { room: `bad-${code}` });
      const disconnectsBefore = gw.gateway.stats.protocolDisconnects;
      misbehave((data) => {
        if (code === 1007) client.ws.send(data, { binary: false });
        else client.send(data);
      });
      const closed = await client.waitClosed();
      assert.equal(closed.code, code);
      await waitFor(() => gw.gateway.hub.members(`bad-${code}`) === undefined, 3000, 'the room to be released');
      assert.equal(gw.gateway.stats.protocolDisconnects, disconnectsBefore + 1);
    });
  }

  it('keeps serving everyone else after all of the above', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    assert.equal((await client.request('PING')).type, 'PONG');
    assert.equal(gw.gateway.isRunning, true);
  });
});
