import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import Echo from 'laravel-echo';
import Pusher from 'pusher';
import type PusherJs from 'pusher-js';
import { pusherRoom } from '../../src/pusher/pusher-rooms.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import {
  authEndpoint,
  type Client,
  client,
  connected,
  events,
  membersOf,
  PUSHER_APP,
  PUSHER_APP_SPEC,
  PusherClient,
  pusherSocketOptions,
  rawPusher,
  serverSdk,
  subscribed,
  WAIT,
} from '../helpers/pusher.js';
import { type Service, serviceMissing, startNats, startRedis } from '../helpers/services.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const APP = PUSHER_APP;

describe('Pusher Channels: pusher-js and the pusher server SDK, unchanged, against one gateway', () => {
  let gateway: RunningGateway;
  let auth: { url: string; server: Server };
  let wrongAuth: { url: string; server: Server };
  const clients: Client[] = [];
  const open = (authUrl = auth.url, key = APP.key): Client => {
    const c = client(gateway, authUrl, key);
    clients.push(c);
    return c;
  };
  before(async () => {
    gateway = await startGateway({ pusherApps: [PUSHER_APP_SPEC], pusherClientEvents: true });
    auth = await authEndpoint();
    wrongAuth = await authEndpoint('not-the-secret');
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    auth?.server.close();
    wrongAuth?.server.close();
    await gateway?.close();
  });

  it('connects with a Pusher socket id; a public channel gets what the server SDK triggers, data unchanged', async () => {
    const c = open();
    const socketId = await connected(c);
    assert.match(socketId, /^\d+\.\d+$/);
    const news = c.subscribe('news');
    await subscribed(news);
    const got = events(news, 'greeting', 2);
    const sdk = serverSdk(gateway);
    const answer = await sdk.trigger('news', 'greeting', { text: 'hello', n: 1 });
    assert.equal(answer.status, 200);
    await sdk.triggerBatch([{ channel: 'news', name: 'greeting', data: 'plain text' }]);
    assert.deepEqual(await got, [{ text: 'hello', n: 1 }, 'plain text']);
    const counted = gateway.gateway.snapshot();
    assert.ok(counted.pusherConnections >= 1 && counted.pusherEvents >= 2, 'counted in /stats');
    const metrics = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
    assert.match(metrics, /pushgate_pusher_events_total\{[^}]*\} [2-9]/);
  });

  it('authorizes a private channel with the app signature from the auth endpoint, and refuses a wrong one', async () => {
    const c = open();
    await connected(c);
    const mine = c.subscribe('private-orders');
    await subscribed(mine);
    const got = events(mine, 'order-shipped');
    await serverSdk(gateway).trigger('private-orders', 'order-shipped', { id: 7 });
    assert.deepEqual(await got, [{ id: 7 }]);

    const intruder = open(wrongAuth.url);
    await connected(intruder);
    const refused = intruder.subscribe('private-orders');
    const error = await withTimeout(
      new Promise<{ type: string; status: number }>((resolve) => refused.bind('pusher:subscription_error', resolve)),
      WAIT,
      'subscription_error',
    );
    assert.equal(error.status, 401);
    assert.equal(error.type, 'AuthError');
    assert.ok(gateway.gateway.snapshot().pusherSubscriptionsRefused >= 1);
  });

  it('leaves out the socket_id a trigger names, and never echoes a client event to its sender', async () => {
    const a = open();
    const b = open();
    const aId = await connected(a);
    await connected(b);
    const onA = a.subscribe('private-chat');
    const onB = b.subscribe('private-chat');
    await Promise.all([subscribed(onA), subscribed(onB)]);
    const sdk = serverSdk(gateway);
    const aGets = events(onA, 'said', 1);
    const bGets = events(onB, 'said', 2);
    await sdk.trigger('private-chat', 'said', 'not to a', { socket_id: aId });
    await sdk.trigger('private-chat', 'said', 'to everyone');
    // Events reach a connection in trigger order: a's first one is the second trigger.
    assert.deepEqual(await aGets, ['to everyone']);
    assert.deepEqual(await bGets, ['not to a', 'to everyone']);

    const seenByA: string[] = [];
    onA.bind('client-typing', () => seenByA.push('echo'));
    const bTyping = events(onB, 'client-typing');
    const aAfter = events(onA, 'said');
    assert.equal(onA.trigger('client-typing', { who: 'a' }), true);
    assert.deepEqual(await bTyping, [{ who: 'a' }]);
    await sdk.trigger('private-chat', 'said', 'after typing');
    assert.deepEqual(await aAfter, ['after typing']);
    assert.deepEqual(seenByA, [], 'the sender did not get its own client event');
    assert.ok(gateway.gateway.snapshot().pusherClientEvents >= 1);
  });

  it('refuses a wrong app key with the protocol error 4001, and a badly signed API request with 401', async () => {
    const c = open(auth.url, 'no-such-key');
    const error = await withTimeout(
      new Promise<{ error?: { data?: { code?: number } } }>((resolve) => c.connection.bind('error', resolve)),
      WAIT,
      'pusher-js error',
    );
    assert.equal(error.error?.data?.code, 4001, 'the code of the pusher:error before the close');
    const { hostname, port } = new URL(gateway.apiUrl);
    const forged = new Pusher({ appId: APP.id, key: APP.key, secret: 'forged', host: hostname, port, useTLS: false });
    await assert.rejects(forged.trigger('news', 'greeting', 'x'), (rejection: { status?: number }) => rejection.status === 401);
  });

  it('presence channels: the member list on subscribing, member_added and member_removed per user, not per connection', async () => {
    const open = (user: string): Client => {
      const c = client(gateway, auth.url, APP.key, user);
      clients.push(c);
      return c;
    };
    const alice = open('alice');
    const lobbyA = alice.subscribe('presence-lobby');
    await subscribed(lobbyA);
    assert.deepEqual(membersOf(lobbyA), { alice: { name: 'ALICE' } });
    const bob = open('bob');
    const lobbyB = bob.subscribe('presence-lobby');
    const added: Array<{ id: string; info: unknown }> = [];
    const removed: string[] = [];
    lobbyB.bind('pusher:member_added', (member: { id: string; info: unknown }) => added.push(member));
    lobbyB.bind('pusher:member_removed', (member: { id: string }) => removed.push(member.id));
    const aliceSees = withTimeout(new Promise((resolve) => lobbyA.bind('pusher:member_added', resolve)), WAIT, 'alice told of bob');
    await subscribed(lobbyB);
    assert.deepEqual(membersOf(lobbyB), { alice: { name: 'ALICE' }, bob: { name: 'BOB' } });
    assert.deepEqual(await aliceSees, { id: 'bob', info: { name: 'BOB' } });

    // Alice's second connection is no new member, and its going is no member gone.
    const aliceAgain = open('alice');
    const lobbyA2 = aliceAgain.subscribe('presence-lobby');
    await subscribed(lobbyA2);
    const sdk = serverSdk(gateway);
    const tick = events(lobbyB, 'tick');
    await sdk.trigger('presence-lobby', 'tick', 1);
    await tick;
    aliceAgain.disconnect();
    await waitFor(() => (gateway.gateway.hub.members(pusherRoom(APP.id, 'presence-lobby'))?.size ?? 0) === 2, WAIT, 'the second connection gone');
    const tock = events(lobbyB, 'tock');
    await sdk.trigger('presence-lobby', 'tock', 2);
    await tock;
    assert.deepEqual(added, [], "alice's second connection added no member");
    assert.deepEqual(removed, [], 'nor did its going remove one');
    const gone = withTimeout(new Promise((resolve) => lobbyB.bind('pusher:member_removed', resolve)), WAIT, 'alice removed');
    alice.disconnect();
    assert.deepEqual(await gone, { id: 'alice', info: { name: 'ALICE' } });
  });

  it('lists occupied channels and one channel, as the server SDK queries them', async () => {
    const c = open();
    await connected(c);
    await subscribed(c.subscribe('stocks-1'));
    const sdk = serverSdk(gateway);
    const one = await (await sdk.get({ path: '/channels/stocks-1', params: { info: 'subscription_count' } })).json();
    assert.equal(one.occupied, true);
    assert.ok(one.subscription_count >= 1);
    // The WebSocket port serves the API too (one host and port for both, as soketi and Laravel set them).
    const list = await (await serverSdk(gateway, gateway.pageUrl).get({ path: '/channels', params: { filter_by_prefix: 'stocks-' } })).json();
    assert.deepEqual(Object.keys(list.channels), ['stocks-1']);
  });
});

describe('Pusher Channels: Laravel Echo (broadcaster pusher), unchanged', () => {
  let gateway: RunningGateway;
  let auth: { url: string; server: Server };
  const echoes: Array<{ disconnect(): void }> = [];
  before(async () => {
    gateway = await startGateway({ pusherApps: [PUSHER_APP_SPEC], pusherClientEvents: true });
    auth = await authEndpoint();
  });
  after(async () => {
    for (const echo of echoes) echo.disconnect();
    auth?.server.close();
    await gateway?.close();
  });

  /** Echo as a Laravel app configures it, with pusher-js handed over instead of a window global. */
  function echo(user?: string) {
    const made = new Echo({
      broadcaster: 'pusher',
      key: APP.key,
      ...pusherSocketOptions(gateway.pageUrl),
      authEndpoint: auth.url,
      // Echo hands `auth` to pusher-js's authorizer, which posts its `params` too (Echo's types name only headers).
      ...(user === undefined ? {} : { auth: { headers: {}, params: { user } } as { headers: Record<string, string> } }),
      Pusher: PusherClient as unknown as typeof PusherJs,
    });
    echoes.push(made);
    return made;
  }

  const subscribedTo = (channel: { subscribed(callback: () => void): unknown }, name: string) =>
    withTimeout(new Promise<void>((resolve) => channel.subscribed(() => resolve())), WAIT, `Echo subscribed to ${name}`);

  it('listens on public and private channels to events the server SDK triggers, and whispers to the others', async () => {
    const a = echo();
    const b = echo();
    const news = a.channel('news');
    const orders = a.private('orders');
    const ordersB = b.private('orders');
    await Promise.all([subscribedTo(news, 'news'), subscribedTo(orders, 'private-orders'), subscribedTo(ordersB, 'private-orders')]);
    const got = withTimeout(
      Promise.all([new Promise((resolve) => news.listen('.greeting', resolve)), new Promise((resolve) => orders.listen('.shipped', resolve))]),
      WAIT,
      'Echo events',
    );
    const sdk = serverSdk(gateway);
    await sdk.trigger('news', 'greeting', { text: 'hello' });
    await sdk.trigger('private-orders', 'shipped', { id: 7 });
    assert.deepEqual(await got, [{ text: 'hello' }, { id: 7 }]);
    const whispered = withTimeout(new Promise((resolve) => ordersB.listenForWhisper('typing', resolve)), WAIT, 'whisper');
    orders.whisper('typing', { who: 'a' });
    assert.deepEqual(await whispered, { who: 'a' });
  });

  it('joins a presence channel: here() lists the members, joining() and leaving() follow them', async () => {
    const alice = echo('alice');
    const here = withTimeout(new Promise<unknown[]>((resolve) => alice.join('team').here(resolve)), WAIT, 'alice here()');
    assert.deepEqual(await here, [{ name: 'ALICE' }]);
    const joined = withTimeout(new Promise((resolve) => alice.join('team').joining(resolve)), WAIT, 'bob joining');
    const bob = echo('bob');
    const bobHere = withTimeout(new Promise<unknown[]>((resolve) => bob.join('team').here(resolve)), WAIT, 'bob here()');
    assert.deepEqual(await joined, { name: 'BOB' });
    assert.deepEqual((await bobHere).map((member) => (member as { name: string }).name).sort(), ['ALICE', 'BOB']);
    const left = withTimeout(new Promise((resolve) => alice.join('team').leaving(resolve)), WAIT, 'bob leaving');
    bob.leave('team');
    assert.deepEqual(await left, { name: 'BOB' });
    const events = withTimeout(new Promise((resolve) => alice.join('team').listen('.moved', resolve)), WAIT, 'a presence channel event');
    await serverSdk(gateway).trigger('presence-team', 'moved', { to: 'b2' });
    assert.deepEqual(await events, { to: 'b2' });
  });
});

describe('Pusher Channels with --workers 2', () => {
  let primary: Child;
  const clients: Client[] = [];
  after(async () => {
    for (const c of clients) c.disconnect();
    await primary?.stop(15000);
  });

  it('an event triggered on the API reaches every pusher-js client, whichever worker holds it', async () => {
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--pusher-apps', PUSHER_APP_SPEC]);
    const [, ws, api] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
    const received: number[] = [];
    const waits: Promise<unknown>[] = [];
    for (let i = 0; i < 4; i++) {
      const c = new PusherClient(APP.key, pusherSocketOptions(`http://${ws}`));
      clients.push(c);
      const news = c.subscribe('news');
      await subscribed(news);
      waits.push(events(news, 'flash', 3).then(() => received.push(i)));
    }
    const [host, port] = api.split(':');
    const sdk = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host, port, useTLS: false });
    for (let k = 0; k < 3; k++) await sdk.trigger('news', 'flash', { k });
    await Promise.all(waits);
    assert.deepEqual(received.sort(), [0, 1, 2, 3], 'every client got all 3 events');
  });
});

for (const [name, binary, start] of [
  ['Redis', 'redis-server', startRedis],
  ['NATS', 'nats-server', startNats],
] as const) {
  describe(`Pusher Channels across two gateways over ${name}`, { skip: serviceMissing(binary) ?? false }, () => {
    let broker: Service;
    const nodes: RunningGateway[] = [];
    let auth: { url: string; server: Server };
    const clients: Client[] = [];
    before(async () => {
      broker = await start();
      for (let i = 0; i < 2; i++) nodes.push(await startGateway({ pusherApps: [PUSHER_APP_SPEC], broker: broker.url }));
      // Presence lists other nodes' members once this node's view of the cluster is current.
      for (const node of nodes)
        await waitFor(
          () => node.gateway.clusterView()?.nodes.length === 2 && node.gateway.clusterView()?.stale === false,
          WAIT,
          'a current view of both nodes',
        );
      auth = await authEndpoint();
    });
    after(async () => {
      for (const c of clients) c.disconnect();
      auth?.server.close();
      for (const node of nodes) await node.close();
      await broker?.stop();
    });

    it('an event triggered on one node reaches pusher-js clients of the other, on public and private channels', async () => {
      const c = client(nodes[1], auth.url);
      clients.push(c);
      await connected(c);
      const pub = c.subscribe('news');
      const priv = c.subscribe('private-news');
      await Promise.all([subscribed(pub), subscribed(priv)]);
      const got = Promise.all([events(pub, 'flash'), events(priv, 'flash')]);
      await serverSdk(nodes[0]).trigger(['news', 'private-news'], 'flash', { v: 1 });
      assert.deepEqual(await got, [[{ v: 1 }], [{ v: 1 }]]);
    });

    it('presence members and member events across the two nodes', async () => {
      const alice = client(nodes[0], auth.url, APP.key, 'alice');
      const bob = client(nodes[1], auth.url, APP.key, 'bob');
      clients.push(alice, bob);
      const lobbyA = alice.subscribe('presence-lobby');
      await subscribed(lobbyA);
      const aliceSees = withTimeout(new Promise((resolve) => lobbyA.bind('pusher:member_added', resolve)), WAIT, 'alice told of bob');
      const lobbyB = bob.subscribe('presence-lobby');
      await subscribed(lobbyB);
      assert.deepEqual(membersOf(lobbyB), { alice: { name: 'ALICE' }, bob: { name: 'BOB' } }, "bob's node lists alice, held by the other");
      assert.deepEqual(await aliceSees, { id: 'bob', info: { name: 'BOB' } });
      const gone = withTimeout(new Promise((resolve) => lobbyA.bind('pusher:member_removed', resolve)), WAIT, 'bob removed');
      bob.disconnect();
      assert.deepEqual(await gone, { id: 'bob', info: { name: 'BOB' } });
    });

    it("a user's events reach its connections on either node; terminate_connections closes them on both", async () => {
      const onA = await rawPusher(nodes[0]);
      const onB = await rawPusher(nodes[1]);
      const sdk = serverSdk(nodes[0]);
      for (const raw of [onA, onB]) {
        raw.send('pusher:signin', sdk.authenticateUser(raw.socketId, { id: 'erin' }));
        await raw.next('pusher:signin_success');
        raw.send('pusher:subscribe', { channel: '#server-to-user-erin' });
        await raw.next('pusher_internal:subscription_succeeded');
      }
      await sdk.sendToUser('erin', 'note', { n: 1 });
      const [a, b] = await Promise.all([onA.next('note'), onB.next('note')]);
      assert.deepEqual([a.data, b.data], [{ n: 1 }, { n: 1 }]);
      await serverSdk(nodes[1]).terminateUserConnections('erin');
      assert.deepEqual(await withTimeout(Promise.all([onA.closed, onB.closed]), WAIT, 'both closed'), [4009, 4009]);
    });
  });
}
