import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/log.js';
import { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';

const STATS_ROOM = 'pushgate:stats';
const SECRET = 'stats-room-secret';
const KEY = 'the-api-key';

describe('the reserved stats room (the dashboard stream)', () => {
  let closed: RunningGateway;
  let open: RunningGateway;
  let keyed: RunningGateway;
  let keyedOpen: RunningGateway;
  before(async () => {
    // One at a time, so that each one started is closed by `after` should a later one fail.
    closed = await startGateway();
    open = await startGateway({ publicStats: true });
    keyed = await startGateway({ apiKey: KEY, jwtSecret: SECRET });
    keyedOpen = await startGateway({ apiKey: KEY, publicStats: true });
  });
  after(() => Promise.all([closed, open, keyed, keyedOpen].map((gw) => gw?.close())));

  it('is closed by default: an anonymous JOIN gets FORBIDDEN, saying how to open it', async (t) => {
    const client = await closed.connect();
    t.after(() => client.close());
    for (const data of [{ room: STATS_ROOM }, { room: STATS_ROOM, key: 'anything' }]) {
      const refused = await client.request('JOIN', data);
      assert.equal(refused.type, 'ERROR');
      assert.equal(refused.data.code, 'FORBIDDEN');
      assert.match(refused.data.message, /--public-stats/);
      assert.match(refused.data.message, /--api-key/);
    }
    assert.equal(closed.gateway.hub.members(STATS_ROOM), undefined);
    // Other rooms are as open as before.
    assert.equal((await client.request('JOIN', { room: 'news' })).type, 'ACK');
  });

  it('is open to anyone with --public-stats', async (t) => {
    const client = await open.connect();
    t.after(() => client.close());
    assert.equal((await client.request('JOIN', { room: STATS_ROOM })).type, 'ACK');
    assert.equal((await client.nextOfType('PUSH', 3000)).data.room, STATS_ROOM);
  });

  it('needs the API key as data.key when one is set, whatever the token allows', async (t) => {
    const client = await TestClient.open(`${keyed.wsUrl()}?token=${await signToken({ secret: SECRET, sub: 'ivy', rooms: ['news'] })}`);
    t.after(() => client.close());
    const anonymous = await client.request('JOIN', { room: STATS_ROOM });
    assert.equal(anonymous.data.code, 'FORBIDDEN');
    assert.match(anonymous.data.message, /API key/);
    assert.equal((await client.request('JOIN', { room: STATS_ROOM, key: 'wrong' })).data.code, 'FORBIDDEN');
    assert.equal(keyed.gateway.hub.members(STATS_ROOM), undefined);
    assert.equal((await client.request('JOIN', { room: STATS_ROOM, key: KEY })).type, 'ACK');
    assert.equal((await client.nextOfType('PUSH', 3000)).data.room, STATS_ROOM);
  });

  it('with a key and --public-stats, is open to anyone', async (t) => {
    const client = await keyedOpen.connect();
    t.after(() => client.close());
    assert.equal((await client.request('JOIN', { room: STATS_ROOM })).type, 'ACK');
  });

  it('AUTH stays an unknown type without authentication', async (t) => {
    const client = await open.connect();
    t.after(() => client.close());
    assert.equal((await client.request('AUTH', { token: 'x' })).data.code, 'UNKNOWN_TYPE');
  });
});

describe('the start-up line about the dashboard stream', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['closed', {}, /dashboard stream \(pushgate:stats\): closed.*--public-stats.*--api-key/],
    ['keyed', { apiKey: KEY }, /dashboard stream \(pushgate:stats\): needs the API key.*\/dashboard#key=/],
    ['public', { publicStats: true }, /dashboard stream \(pushgate:stats\): public.*--public-stats/],
  ];
  for (const [name, options, line] of cases) {
    it(`says the stream is ${name}, in one line`, async () => {
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      });
      const gateway = new Gateway({ host: '127.0.0.1', port: 0, apiHost: '127.0.0.1', apiPort: 0, ...options }, createLogger('info', 'text', sink));
      try {
        await gateway.listen();
        assert.equal(lines.filter((text) => /dashboard stream/.test(text)).length, 1, lines.join(''));
        assert.ok(
          lines.some((text) => line.test(text)),
          lines.join(''),
        );
      } finally {
        await gateway.close();
      }
    });
  }
});
