import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { PushDriver } from '../../../bench/load/driver.js';
import { benchItem, escapedItems, plainItems } from '../../../bench/load/items.js';
import { pusherClientProtocol, pusherUrl } from '../../../bench/load/protocols.js';
import { pusherApi } from '../../../bench/load/push-api.js';
import { BENCH_PUSHER_APP, EVERYONE_CHANNEL } from '../../../bench/load/pusher-app.js';
import { type RunningGateway, startGateway } from '../../helpers/gateway.js';
import { withTimeout } from '../../helpers/wait.js';

/**
 * The bench's Pusher target against a real gateway serving the bench's app (in this process, loopback,
 * port 0): the driver's signed events are accepted, the load generator's client protocol connects,
 * subscribes and answers pings as pusher-js does, and its scanner finds each item (escaped inside the
 * event's data string) with its send time and sequence.
 */

/** A client as the load generator's worker opens one, with the frames it counted as deliveries. */
interface BenchClient {
  ws: WebSocket;
  /** Frames that were not Pusher's own events, in arrival order. */
  deliveries: Buffer[];
  /** Resolves with the next delivery. */
  next(): Promise<Buffer>;
}

function openClient(base: string, rooms: string[]): Promise<BenchClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(pusherClientProtocol.url(base), { perMessageDeflate: false });
    const deliveries: Buffer[] = [];
    const waiting: Array<(frame: Buffer) => void> = [];
    let subscribed = 0;
    ws.once('error', reject);
    ws.once('close', () => reject(new Error('closed before subscribing')));
    ws.on('message', (data: Buffer) => {
      if (data.includes('pusher_internal:subscription_succeeded')) subscribed += 1;
      if (pusherClientProtocol.control(ws, data)) {
        if (subscribed === rooms.length) resolve(client);
        return;
      }
      deliveries.push(data);
      waiting.shift()?.(data);
    });
    ws.once('ready', () => {
      for (const room of rooms) pusherClientProtocol.join(ws, room);
    });
    const client: BenchClient = {
      ws,
      deliveries,
      next: () => withTimeout(new Promise<Buffer>((done) => waiting.push(done)), 5000, 'a Pusher event'),
    };
  });
}

describe('the Pusher target of the bench', () => {
  let gw: RunningGateway;
  const clients: BenchClient[] = [];
  const drivers: PushDriver[] = [];
  before(async () => {
    gw = await startGateway({ pusherApps: [BENCH_PUSHER_APP] });
  });
  after(async () => {
    for (const driver of drivers) driver.close();
    for (const client of clients) client.ws.terminate();
    await gw.close();
  });

  const driver = (spec = BENCH_PUSHER_APP): PushDriver => {
    const made = new PushDriver(gw.apiUrl, '', 4, pusherApi(spec));
    drivers.push(made);
    return made;
  };

  it('connects to /app/<key>?protocol=7, keeping a base that names its app', () => {
    assert.equal(pusherUrl('ws://127.0.0.1:7777'), 'ws://127.0.0.1:7777/app/bench-key?protocol=7');
    assert.equal(pusherUrl('ws://127.0.0.1:7777/', 'k2'), 'ws://127.0.0.1:7777/app/k2?protocol=7');
    assert.equal(pusherUrl('ws://127.0.0.1:7777/app/k3?protocol=7', 'ignored'), 'ws://127.0.0.1:7777/app/k3?protocol=7');
  });

  it("delivers the driver's signed events to a channel's subscribers, one event per frame, its item found and timed", async () => {
    const base = gw.wsUrl('');
    const inRoom = await openClient(base, ['room-1', EVERYONE_CHANNEL]);
    const elsewhere = await openClient(base, ['room-2', EVERYONE_CHANNEL]);
    clients.push(inRoom, elsewhere);
    const arrived = inRoom.next();
    assert.equal(await driver().push('room-1'), 200);
    const frame = await arrived;
    const text = frame.toString();
    const event = JSON.parse(text) as { event: string; channel: string; data: string };
    assert.equal(event.event, 'bench');
    assert.equal(event.channel, 'room-1');
    const item = JSON.parse(event.data) as { t: number; s: number };
    // The item is escaped inside the data string: the plain scanner sees nothing, the escaped one sees it.
    assert.equal(plainItems.count(frame), 0);
    assert.equal(escapedItems.count(frame), 1);
    const read: Array<[number, number]> = [];
    assert.equal(
      escapedItems.read(frame, (sentAt, seq) => read.push([sentAt, seq])),
      1,
    );
    assert.deepEqual(read, [[item.t / 1000, item.s]]);

    // A push to all is an event to the channel every bench client is on: both get it.
    const both = [inRoom.next(), elsewhere.next()];
    assert.equal(await driver().push(undefined), 200);
    for (const got of await Promise.all(both)) assert.equal(JSON.parse(got.toString()).channel, EVERYONE_CHANNEL);
    assert.equal(elsewhere.deliveries.length, 1, 'the room-1 event reached room-1 only');
  });

  it('counts several items in one frame, should one ever hold more', () => {
    const frame = Buffer.from(JSON.stringify({ event: 'bench', data: JSON.stringify([benchItem(1), benchItem(2)]), channel: 'room-1' }));
    const seqs: number[] = [];
    assert.equal(
      escapedItems.read(frame, (_, seq) => seqs.push(seq)),
      2,
    );
    assert.deepEqual(seqs, [100000001, 100000002]);
    assert.equal(escapedItems.count(frame), 2);
  });

  it('answers pusher:ping with pusher:pong, and takes no Pusher event for a delivery', () => {
    const sent: string[] = [];
    const fake = { send: (text: string) => sent.push(text), emit: () => true } as unknown as WebSocket;
    assert.equal(pusherClientProtocol.control(fake, Buffer.from('{"event":"pusher:ping","data":{}}')), true);
    assert.deepEqual(sent, ['{"event":"pusher:pong","data":{}}']);
    assert.equal(pusherClientProtocol.control(fake, Buffer.from('{"event":"pusher_internal:subscription_succeeded","channel":"room-1","data":"{}"}')), true);
    assert.equal(pusherClientProtocol.control(fake, Buffer.from('{"event":"bench","data":"{}","channel":"room-1"}')), false);
  });

  it("is refused (401, a failed push) when signed with another secret: the gateway checks the driver's signature", async () => {
    assert.equal(await driver('bench:bench-key:not-the-secret').push('room-1'), 401);
  });
});
