import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Pusher from 'pusher';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { PUSHER_APP, type RawPusher, rawPusher, WAIT } from '../helpers/pusher.js';
import { type Service, serviceMissing, startRedis } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

/** One webhook event as the backend got it, with whether its POST's signature held. */
interface Received {
  name: string;
  channel: string;
  user_id?: string;
  event?: string;
  data?: string;
  socket_id?: string;
}

/** A backend's webhook endpoint, checking each POST with the `pusher` SDK as a backend does. */
async function webhookBackend(): Promise<{ url: string; server: Server; events: Received[]; invalid: () => number }> {
  const sdk = new Pusher({ appId: PUSHER_APP.id, key: PUSHER_APP.key, secret: PUSHER_APP.secret, host: '127.0.0.1' });
  const events: Received[] = [];
  let invalid = 0;
  const server = createServer((req, res) => {
    let rawBody = '';
    req.on('data', (chunk) => {
      rawBody += chunk;
    });
    req.on('end', () => {
      const webhook = sdk.webhook({ headers: req.headers as Record<string, string>, rawBody });
      if (!webhook.isValid()) invalid += 1;
      else events.push(...(webhook.getEvents() as Received[]));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/pusher/webhooks`, server, events, invalid: () => invalid };
}

/** The app with its webhook, as the config file's `pusherApps` gives it. */
const appWith = (url: string) => ({ ...PUSHER_APP, enableClientMessages: true, webhooks: [{ url }] });

function signed(socketId: string, channel: string, member?: { user_id: string }) {
  const sdk = new Pusher({ appId: PUSHER_APP.id, key: PUSHER_APP.key, secret: PUSHER_APP.secret, host: '127.0.0.1' });
  return sdk.authorizeChannel(socketId, channel, member);
}

async function subscribe(raw: RawPusher, channel: string, user?: string): Promise<void> {
  const auth =
    channel.startsWith('presence-') || channel.startsWith('private-') ? signed(raw.socketId, channel, user === undefined ? undefined : { user_id: user }) : {};
  raw.send('pusher:subscribe', { channel, ...auth });
  await raw.next('pusher_internal:subscription_succeeded');
}

const names = (events: Received[], channel: string) =>
  events.filter((event) => event.channel === channel).map((event) => (event.user_id === undefined ? event.name : `${event.name}:${event.user_id}`));

// A channel's events less its client events: what the member and occupancy webhooks told.
const members = (events: Received[], channel: string) => names(events, channel).filter((name) => !name.startsWith('client_event'));

describe('Pusher webhooks from one gateway, checked by the pusher SDK', () => {
  let gateway: RunningGateway;
  let backend: Awaited<ReturnType<typeof webhookBackend>>;
  before(async () => {
    backend = await webhookBackend();
    gateway = await startGateway({ pusherApps: [appWith(backend.url)] });
  });
  after(async () => {
    await gateway?.close();
    backend?.server.close();
  });

  it('channel_occupied and channel_vacated once per channel, whatever its subscribers', async () => {
    const a = await rawPusher(gateway);
    const b = await rawPusher(gateway);
    await subscribe(a, 'news');
    await subscribe(b, 'news');
    await waitFor(() => names(backend.events, 'news').length === 1, WAIT, 'news occupied');
    a.send('pusher:unsubscribe', { channel: 'news' });
    b.ws.close();
    await waitFor(() => names(backend.events, 'news').length === 2, WAIT, 'news vacated');
    assert.deepEqual(names(backend.events, 'news'), ['channel_occupied', 'channel_vacated']);
    a.ws.close();
  });

  it("member_added for a user's first connection, member_removed for its last; client events with their sender", async () => {
    const alice1 = await rawPusher(gateway);
    const alice2 = await rawPusher(gateway);
    const bob = await rawPusher(gateway);
    await subscribe(alice1, 'presence-room', 'alice');
    await subscribe(alice2, 'presence-room', 'alice');
    await subscribe(bob, 'presence-room', 'bob');
    await waitFor(() => names(backend.events, 'presence-room').length === 3, WAIT, 'occupied and two members');
    bob.send('client-typing', { on: true }, 'presence-room');
    await waitFor(() => backend.events.some((event) => event.name === 'client_event'), WAIT, 'the client event');
    const clientEvent = backend.events.find((event) => event.name === 'client_event');
    assert.deepEqual(clientEvent, {
      name: 'client_event',
      channel: 'presence-room',
      event: 'client-typing',
      data: '{"on":true}',
      socket_id: bob.socketId,
      user_id: 'bob',
    });
    alice1.ws.close();
    bob.ws.close();
    await waitFor(() => members(backend.events, 'presence-room').length === 4, WAIT, 'bob removed');
    alice2.ws.close();
    await waitFor(() => members(backend.events, 'presence-room').length === 6, WAIT, 'alice removed, vacated');
    assert.deepEqual(members(backend.events, 'presence-room'), [
      'channel_occupied',
      'member_added:alice',
      'member_added:bob',
      'member_removed:bob',
      'member_removed:alice',
      'channel_vacated',
    ]);
    assert.equal(backend.invalid(), 0, 'every POST signed with the app secret');
    // The backend has them; the gateway counts them delivered once their POSTs' answers are back.
    await waitFor(() => gateway.gateway.snapshot().webhookEventsDelivered >= backend.events.length, WAIT, 'the deliveries counted');
    assert.equal(gateway.gateway.snapshot().webhookEventsDropped, 0);
  });
});

const redisMissing = serviceMissing('redis-server');

describe('Pusher webhooks across two gateways over Redis: each transition told once', { skip: redisMissing ?? false }, () => {
  let redis: Service;
  let backend: Awaited<ReturnType<typeof webhookBackend>>;
  const nodes: RunningGateway[] = [];
  before(async () => {
    redis = await startRedis();
    backend = await webhookBackend();
    for (let i = 0; i < 2; i++) nodes.push(await startGateway({ pusherApps: [appWith(backend.url)], broker: redis.url, presenceInterval: 0.2 }));
    for (const node of nodes)
      await waitFor(() => node.gateway.clusterView()?.nodes.length === 2 && node.gateway.clusterView()?.stale === false, WAIT, 'a current view of both nodes');
  });
  after(async () => {
    for (const node of nodes) await node.close();
    backend?.server.close();
    await redis?.stop();
  });

  it('occupied by the first node to hold a channel, vacated by the last; a user on both nodes is one member', async () => {
    const onA = await rawPusher(nodes[0]);
    const onB = await rawPusher(nodes[1]);
    await subscribe(onA, 'presence-shared', 'carol');
    await waitFor(() => names(backend.events, 'presence-shared').length === 2, WAIT, 'occupied, carol added');
    await subscribe(onB, 'presence-shared', 'carol');
    onA.ws.close();
    // A's leave and B's join are told of nothing (carol and the channel stay): the next webhook is B's leave.
    await waitFor(() => nodes[0].gateway.hub.members('#pusher:app1:presence-shared') === undefined, WAIT, "A's member gone");
    onB.ws.close();
    await waitFor(() => names(backend.events, 'presence-shared').length === 4, WAIT, 'carol removed, vacated');
    assert.deepEqual(names(backend.events, 'presence-shared'), ['channel_occupied', 'member_added:carol', 'member_removed:carol', 'channel_vacated']);
    assert.equal(backend.invalid(), 0);
  });
});

describe('Pusher webhooks with --workers 2, the app from a config file', () => {
  let primary: Child;
  let backend: Awaited<ReturnType<typeof webhookBackend>>;
  after(async () => {
    await primary?.stop(15000);
    backend?.server.close();
  });

  it('a channel held by both workers is occupied once and vacated once', async () => {
    backend = await webhookBackend();
    const config = join(mkdtempSync(join(tmpdir(), 'pushgate-webhooks-')), 'pushgate.json');
    writeFileSync(config, JSON.stringify({ pusherApps: [appWith(backend.url)], presenceInterval: 0.2 }));
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--config', config]);
    const [, ws] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
    const target = { pageUrl: `http://${ws}` };
    // Enough connections that both workers hold some (the kernel spreads them), each on the channel.
    const raws: RawPusher[] = [];
    for (let i = 0; i < 8; i++) {
      const raw = await rawPusher(target);
      await subscribe(raw, 'lobby');
      raws.push(raw);
    }
    await waitFor(() => names(backend.events, 'lobby').length === 1, WAIT, 'lobby occupied');
    for (const raw of raws) raw.ws.close();
    await waitFor(() => names(backend.events, 'lobby').length === 2, 15000, 'lobby vacated');
    assert.deepEqual(names(backend.events, 'lobby'), ['channel_occupied', 'channel_vacated']);
    assert.equal(backend.invalid(), 0);
  });
});
