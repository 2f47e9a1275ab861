import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { readBody } from '../../src/api/body.js';
import { apiError } from '../../src/protocol/errors.js';
import { PusherApps, parsePusherApp } from '../../src/pusher/apps.js';
import { PusherApi, TERMINATED } from '../../src/pusher/pusher-api.js';
import { pusherRoom, pusherUser } from '../../src/pusher/pusher-rooms.js';
import { signApiRequest } from '../../src/pusher/signatures.js';
import { exchange } from '../helpers/fake-http.js';

const APP = parsePusherApp('app1:key1:secret1');

/** A PusherApi over fakes: `refuse` names the rooms whose publish the broker refuses (503). */
function api(refuse: ReadonlySet<string> = new Set()) {
  const published: string[] = [];
  const closed: Array<{ user: string; code: number }> = [];
  const stats = { pusherEvents: 0, pusherUserEvents: 0, pusherApiRequests: 0, pusherApiRefused: 0, pusherTerminations: 0 };
  const pusher = new PusherApi({
    apps: new PusherApps([APP]),
    stats,
    maxBodyBytes: 65536,
    publish: async (room) => {
      if (refuse.has(room)) throw apiError.BROKER_UNAVAILABLE.unreachable();
      published.push(room);
      return {};
    },
    rooms: () => ({ rooms: [], total: 0, exact: true }),
    presence: async (room) => ({ room, count: 0, userCount: 0, partial: false, connections: [], users: [] }),
    closeUser: async (user, close) => {
      closed.push({ user, code: close.code });
      return { closed: 2, partial: false, unanswered: [] };
    },
    readBody: (req: IncomingMessage, limit: number) => readBody(req, limit),
  });
  const server = createServer((req, res) => void pusher.serve(req, res));
  const post = async (path: string, body: unknown) => {
    const text = JSON.stringify(body);
    const query = signApiRequest(APP, 'POST', path, {}, text, Date.now() / 1000);
    const answer = await exchange(
      server,
      `POST ${path}?${query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
    return { status: answer.status, json: JSON.parse(answer.body), headers: answer.headers };
  };
  return { post, published, closed, stats };
}

describe('PusherApi (fake gateway, in-memory requests)', () => {
  it('answers 503 naming the channels accepted and refused when the broker took some of an event', async () => {
    const { post, published, stats } = api(new Set([pusherRoom('app1', 'b')]));
    const answer = await post('/apps/app1/events', { name: 'e', data: '{}', channels: ['a', 'b', 'c'] });
    assert.equal(answer.status, 503);
    assert.equal(answer.headers['retry-after'], '1');
    assert.deepEqual(answer.json.channels_accepted, ['a', 'c']);
    assert.deepEqual(answer.json.channels_refused, ['b']);
    assert.match(answer.json.error, /2 of 3 channel events were accepted/);
    assert.deepEqual(published, [pusherRoom('app1', 'a'), pusherRoom('app1', 'c')]);
    assert.equal(stats.pusherEvents, 2, 'what was accepted is counted');
    assert.equal(stats.pusherApiRefused, 1);
  });

  it('names the batch events not wholly accepted; a batch refused whole names nothing', async () => {
    const { post } = api(new Set([pusherRoom('app1', 'b')]));
    const partly = await post('/apps/app1/batch_events', {
      batch: [
        { name: 'e', data: '1', channel: 'a' },
        { name: 'e', data: '2', channel: 'b' },
      ],
    });
    assert.equal(partly.status, 503);
    assert.deepEqual(partly.json.events_refused, [1]);
    const whole = await post('/apps/app1/batch_events', { batch: [{ name: 'e', data: '2', channel: 'b' }] });
    assert.equal(whole.status, 503);
    assert.equal(whole.json.events_refused, undefined);
  });

  it("terminate_connections closes the app's own user with 4009, and counts the connections closed", async () => {
    const { post, closed, stats } = api();
    const answer = await post('/apps/app1/users/u%2F1/terminate_connections', {});
    assert.equal(answer.status, 200);
    assert.deepEqual(closed, [{ user: pusherUser('app1', 'u/1'), code: TERMINATED.code }]);
    assert.equal(TERMINATED.code, 4009);
    assert.equal(stats.pusherTerminations, 2);
  });

  it('sends to a user through its #server-to-user channel, counted as a user event', async () => {
    const { post, published, stats } = api();
    assert.equal((await post('/apps/app1/events', { name: 'e', data: '{}', channels: ['#server-to-user-u1'] })).status, 200);
    assert.deepEqual(published, [pusherRoom('app1', '#server-to-user-u1')]);
    assert.equal(stats.pusherUserEvents, 1);
  });
});
