import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import Pusher from 'pusher';
import { parsePusherApp } from '../../src/pusher/apps.js';
import { signApiRequest } from '../../src/pusher/signatures.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import {
  authEndpoint,
  type Client,
  client,
  connected,
  events,
  PUSHER_APP,
  PUSHER_APP_SPEC,
  rawPusher,
  serverSdk,
  subscribed,
  WAIT,
} from '../helpers/pusher.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

// A second app, from the config file's object form: a small member limit, the same user ids as the first.
const SMALL = { id: 'app2', key: 'key2', secret: 'secret2', maxPresenceMembers: 2 };

/** A signature pusher-js's user authentication would get for `socketId`, signed by `app`. */
function signin(app: { id: string; key: string; secret: string }, socketId: string, id: string): { auth: string; user_data: string } {
  return new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1' }).authenticateUser(socketId, { id });
}

function presenceAuth(app: { id: string; key: string; secret: string }, socketId: string, channel: string, user: string) {
  return new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1' }).authorizeChannel(socketId, channel, {
    user_id: user,
    user_info: { name: user },
  });
}

describe('Pusher users: sign-in, events to a user, terminate_connections, presence users and limits', () => {
  let gateway: RunningGateway;
  let auth: { url: string; server: Server };
  const clients: Client[] = [];
  const open = (user: string): Client => {
    const c = client(gateway, auth.url, PUSHER_APP.key, user);
    clients.push(c);
    return c;
  };
  before(async () => {
    gateway = await startGateway({ pusherApps: [PUSHER_APP_SPEC, SMALL] });
    auth = await authEndpoint();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    auth?.server.close();
    await gateway?.close();
  });

  it('signs pusher-js in; sendToUser reaches every connection of that user and no one else', async () => {
    const alice = open('alice');
    const alice2 = open('alice');
    const bob = open('bob');
    await Promise.all([connected(alice), connected(alice2), connected(bob)]);
    const signedIn = (c: Client) =>
      withTimeout(new Promise<void>((resolve) => c.bind('pusher:signin_success', () => resolve())), WAIT, 'pusher:signin_success');
    const signins = [signedIn(alice), signedIn(alice2), signedIn(bob)];
    for (const c of [alice, alice2, bob]) c.signin();
    await Promise.all(signins);
    // pusher-js subscribes to #server-to-user-<id> once signed in: wait for those rooms.
    const room = (id: string) => `#pusher:${PUSHER_APP.id}:#server-to-user-${id}`;
    const members = (id: string) => gateway.gateway.hub.members(room(id))?.size ?? 0;
    await waitFor(() => members('alice') === 2 && members('bob') === 1, WAIT, 'the server-to-user channels subscribed');
    const got: unknown[] = [];
    const bobGot: unknown[] = [];
    const both = withTimeout(
      new Promise<void>((resolve) => {
        for (const c of [alice, alice2])
          c.user.bind('order', (data: unknown) => {
            got.push(data);
            if (got.length === 2) resolve();
          });
      }),
      WAIT,
      "alice's two connections",
    );
    bob.user.bind('order', (data: unknown) => bobGot.push(data));
    const sdk = serverSdk(gateway);
    assert.equal((await sdk.sendToUser('alice', 'order', { id: 7 })).status, 200);
    await both;
    assert.deepEqual(got, [{ id: 7 }, { id: 7 }]);
    // Bob's own event comes after alice's would have, on the same gateway: none of alice's reached him.
    const bobsOwn = events(bob.user as never, 'order');
    await sdk.sendToUser('bob', 'order', { id: 8 });
    assert.deepEqual(await bobsOwn, [{ id: 8 }]);
    assert.deepEqual(bobGot, [{ id: 8 }]);
    const stats = gateway.gateway.snapshot();
    assert.ok(stats.pusherSignins >= 3 && stats.pusherUserEvents >= 2, 'sign-ins and user events counted');
  });

  it('refuses a bad sign-in with 4009 and a server-to-user channel not its own, and keeps the connection', async () => {
    const raw = await rawPusher(gateway);
    raw.send('pusher:signin', { auth: `${PUSHER_APP.key}:${'0'.repeat(64)}`, user_data: '{"id":"mallory"}' });
    const refused = await raw.next('pusher:error');
    assert.equal(refused.data.code, 4009);
    raw.send('pusher:subscribe', { channel: '#server-to-user-alice' });
    const error = await raw.next('pusher:subscription_error');
    assert.equal(error.channel, '#server-to-user-alice');
    assert.equal(error.data.status, 403);
    // Signed in as carol, carol's own channel opens; alice's stays shut.
    raw.send('pusher:signin', signin(PUSHER_APP, raw.socketId, 'carol'));
    const success = await raw.next('pusher:signin_success');
    assert.equal(JSON.parse(success.data.user_data).id, 'carol');
    raw.send('pusher:subscribe', { channel: '#server-to-user-carol' });
    assert.equal((await raw.next('pusher_internal:subscription_succeeded')).channel, '#server-to-user-carol');
    raw.send('pusher:subscribe', { channel: '#server-to-user-alice' });
    assert.equal((await raw.next('pusher:subscription_error')).data.status, 403);
    // A signature of another app's is no sign-in here.
    raw.send('pusher:signin', signin(SMALL, raw.socketId, 'carol'));
    assert.equal((await raw.next('pusher:error')).data.code, 4009);
    raw.ws.close();
  });

  it("terminate_connections closes the user's connections with 4009, and no other app's user of that id", async () => {
    const first = await rawPusher(gateway);
    const second = await rawPusher(gateway);
    const otherApp = await rawPusher(gateway, SMALL.key);
    first.send('pusher:signin', signin(PUSHER_APP, first.socketId, 'dave'));
    second.send('pusher:signin', signin(PUSHER_APP, second.socketId, 'dave'));
    otherApp.send('pusher:signin', signin(SMALL, otherApp.socketId, 'dave'));
    await Promise.all([first.next('pusher:signin_success'), second.next('pusher:signin_success'), otherApp.next('pusher:signin_success')]);
    const answer = await serverSdk(gateway).terminateUserConnections('dave');
    assert.equal(answer.status, 200);
    assert.deepEqual(await withTimeout(Promise.all([first.closed, second.closed]), WAIT, 'both closed'), [4009, 4009]);
    // The other app's dave is still there: it answers a ping.
    otherApp.send('pusher:ping', {});
    await otherApp.next('pusher:pong');
    assert.equal(otherApp.ws.readyState, otherApp.ws.OPEN);
    assert.ok(gateway.gateway.snapshot().pusherTerminations >= 2);
    otherApp.ws.close();
  });

  it('lists a presence channel’s users and counts them (user_count, subscription_count)', async () => {
    const sdk = serverSdk(gateway);
    const joined: Array<Promise<unknown>> = [];
    for (const user of ['erin', 'frank', 'frank']) {
      const c = open(user);
      const channel = c.subscribe('presence-team');
      joined.push(subscribed(channel));
    }
    await Promise.all(joined);
    const users = await (await sdk.get({ path: '/channels/presence-team/users' })).json();
    assert.deepEqual(users.users.map((user: { id: string }) => user.id).sort(), ['erin', 'frank']);
    const info = await (await sdk.get({ path: '/channels/presence-team', params: { info: 'user_count,subscription_count' } })).json();
    assert.deepEqual(info, { occupied: true, user_count: 2, subscription_count: 3 });
    const list = await (await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
    assert.deepEqual(list.channels['presence-team'], { user_count: 2 });
    // Users of a public channel, and a user count without the presence prefix, are refused as Pusher refuses them.
    await assert.rejects(sdk.get({ path: '/channels/news/users' }), (error: { status: number }) => error.status === 400);
    await assert.rejects(sdk.get({ path: '/channels', params: { info: 'user_count' } }), (error: { status: number }) => error.status === 400);
  });

  it("holds a presence channel to its app's maxPresenceMembers users; a member's second connection still joins", async () => {
    const subscribe = async (user: string) => {
      const raw = await rawPusher(gateway, SMALL.key);
      raw.send('pusher:subscribe', { channel: 'presence-small', ...presenceAuth(SMALL, raw.socketId, 'presence-small', user) });
      return raw;
    };
    const one = await subscribe('u1');
    await one.next('pusher_internal:subscription_succeeded');
    const two = await subscribe('u2');
    await two.next('pusher_internal:subscription_succeeded');
    const three = await subscribe('u3');
    const refused = await three.next('pusher:subscription_error');
    assert.equal(refused.data.type, 'LimitReached');
    assert.equal(refused.data.status, 4100);
    const again = await subscribe('u1');
    const state = await again.next('pusher_internal:subscription_succeeded');
    assert.equal(state.data.presence.count, 2);
    // The other app's presence channel of the same name is its own: app1 has no such limit and no such members.
    const sdk = serverSdk(gateway, gateway.apiUrl, SMALL);
    const users = await (await sdk.get({ path: '/channels/presence-small/users' })).json();
    assert.deepEqual(users.users.map((user: { id: string }) => user.id).sort(), ['u1', 'u2']);
    const none = await (await serverSdk(gateway).get({ path: '/channels/presence-small/users' })).json();
    assert.deepEqual(none.users, []);
    for (const raw of [one, two, three, again]) raw.ws.close();
  });

  it('refuses a signed request replayed after the 600 s window, and one whose body was changed', async () => {
    const body = JSON.stringify({ name: 'e', data: '{}', channels: ['news'] });
    const path = `/apps/${PUSHER_APP.id}/events`;
    const send = (query: string, sent = body) =>
      fetch(`${gateway.apiUrl}${path}?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sent });
    const app = parsePusherApp(PUSHER_APP_SPEC);
    const old = await send(signApiRequest(app, 'POST', path, {}, body, Date.now() / 1000 - 601));
    assert.equal(old.status, 401);
    assert.match((await old.json()).error, /Timestamp expired/);
    const fresh = signApiRequest(app, 'POST', path, {}, body, Date.now() / 1000);
    assert.equal((await send(fresh)).status, 200);
    const tampered = await send(fresh, body.replace('news', 'admin'));
    assert.equal(tampered.status, 401);
  });
});
