import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type PushgateClient } from '../../src/client/node.js';
import { TestClient } from '../helpers/client.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { WireTap } from '../helpers/wire-tap.js';

/** Items of about 200 bytes of JSON each, as an application would push. */
function items(count: number, from = 0): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, i) => ({
    id: from + i,
    user: `user-${(from + i) % 17}`,
    kind: 'chat.message',
    text: `Message number ${from + i} of the deflate test, long enough to look like a real chat line.`,
    sentAt: 1700000000000 + (from + i) * 1000,
    tags: ['deflate', 'test'],
  }));
}

async function joined(client: TestClient, room: string): Promise<void> {
  const ack = await client.request('JOIN', { room });
  assert.equal(ack.type, 'ACK');
}

describe('permessage-deflate on (--per-message-deflate)', () => {
  let gw: RunningGateway;
  let tap: WireTap;
  const clients: TestClient[] = [];
  before(async () => {
    gw = await startGateway({ perMessageDeflate: true });
    tap = await WireTap.relay(Number(new URL(gw.wsUrl()).port));
  });
  after(async () => {
    for (const client of clients) client.close();
    await gw.close();
    await tap.close();
  });
  const open = async (deflate: boolean): Promise<TestClient> => {
    const client = await TestClient.open(`ws://127.0.0.1:${tap.port}/connect`, { perMessageDeflate: deflate });
    clients.push(client);
    return client;
  };

  it('negotiates it with a client that offers it, with server_no_context_takeover, and not with one that does not', async () => {
    const deflating = await open(true);
    const plain = await open(false);
    assert.equal(deflating.ws.extensions, 'permessage-deflate');
    assert.equal(plain.ws.extensions, '');
    const [deflatingWire, plainWire] = tap.connections.slice(-2);
    assert.match(deflatingWire.response, /^Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover$/im);
    assert.doesNotMatch(plainWire.response, /Sec-WebSocket-Extensions/i);
  });

  it('gives both the same items, compressed (RSV1) for the deflate client, plain for the other', async () => {
    const deflating = await open(true);
    const plain = await open(false);
    const [deflatingWire, plainWire] = tap.connections.slice(-2);
    await joined(deflating, 'both');
    await joined(plain, 'both');
    const pushed = items(20);
    const res = await postJson(`${gw.apiUrl}/push/room`, { room: 'both', items: pushed });
    assert.equal(res.status, 200);
    assert.equal(res.body.recipients, 2);
    const got = await Promise.all([deflating.nextOfType('PUSH'), plain.nextOfType('PUSH')]);
    assert.deepEqual(got[0].data.items, pushed);
    assert.deepEqual(got[1].data.items, pushed);
    assert.deepEqual(got[0], got[1]);
    await waitFor(() => deflatingWire.frames.some((f) => f.rsv1) && plainWire.frames.length >= 2, 2000, 'the frames on the wire');
    const compressedPush = deflatingWire.frames.find((f) => f.rsv1);
    assert.ok(compressedPush !== undefined && compressedPush.opcode === 1, 'a compressed text frame');
    assert.ok(
      plainWire.frames.every((f) => !f.rsv1),
      'nothing compressed to the client without the extension',
    );
    const plainPush = plainWire.frames.reduce((a, b) => (b.length > a.length ? b : a));
    assert.ok(compressedPush.length < plainPush.length / 3, `compressed ${compressedPush.length} bytes vs ${plainPush.length}`);
  });

  it("inflates a client's compressed message, and ws's client sends small ones uncompressed (client_no_context_takeover)", async () => {
    const client = await open(true);
    const wire = tap.connections.at(-1)!;
    await joined(client, 'inflate');
    // Over ws's client threshold (1 KiB): compressed; the server inflates it and answers.
    const big = { room: 'inflate', key: 'k'.repeat(1500) };
    const answer = await client.request('JOIN', big);
    assert.ok(answer.type === 'ACK' || answer.type === 'ERROR', `answered ${answer.type}`);
    await waitFor(() => wire.clientFrames.length >= 2, 2000, "the client's frames on the wire");
    assert.equal(wire.clientFrames[0].rsv1, false, 'the small JOIN went uncompressed');
    assert.equal(wire.clientFrames.at(-1)?.rsv1, true, 'the large one compressed');
  });

  it('inflates clients that compress every message (as browsers do) and keeps no inflater between their messages', async () => {
    const client = await TestClient.open(`ws://127.0.0.1:${tap.port}/connect`, { perMessageDeflate: { threshold: 0 } });
    clients.push(client);
    const wire = tap.connections.at(-1)!;
    for (const room of ['c1', 'c2', 'c3']) await joined(client, room);
    assert.ok(wire.clientFrames.length >= 3 && wire.clientFrames.every((f) => f.rsv1), 'every client message compressed');
    const conn = [...(gw.gateway.hub.members('c3') ?? [])][0] as unknown as { transport: { ws: { _extensions: Record<string, { _inflate: unknown }> } } };
    assert.equal(conn.transport.ws._extensions['permessage-deflate']._inflate, null, 'the inflater released after the message');
    const pushed = items(4, 300);
    await postJson(`${gw.apiUrl}/push/room`, { room: 'c2', items: pushed });
    assert.deepEqual((await client.nextOfType('PUSH')).data.items, pushed);
  });

  it('sends small frames (ACKs, a one-item PUSH under the threshold) uncompressed even to a deflate client', async () => {
    const client = await open(true);
    const wire = tap.connections.at(-1)!;
    await joined(client, 'small');
    await postJson(`${gw.apiUrl}/push/room`, { room: 'small', items: [1] });
    const push = await client.nextOfType('PUSH');
    assert.deepEqual(push.data.items, [1]);
    await waitFor(() => wire.frames.length >= 2, 2000, 'the frames on the wire');
    assert.ok(wire.frames.every((f) => !f.rsv1));
  });

  it('compresses a batch once for all its deflate recipients (broadcast), and every one inflates it', async () => {
    const many = await Promise.all(Array.from({ length: 5 }, () => open(true)));
    const wires = tap.connections.slice(-5);
    await Promise.all(many.map((client) => client.request('PING')));
    const pushed = items(10, 100);
    const res = await postJson(`${gw.apiUrl}/push/all`, { items: pushed });
    assert.equal(res.status, 200);
    for (const client of many) assert.deepEqual((await client.nextOfType('PUSH')).data.items, pushed);
    await waitFor(() => wires.every((wire) => wire.frames.some((f) => f.rsv1)), 2000, 'the compressed frames');
    const lengths = new Set(wires.map((wire) => wire.frames.find((f) => f.rsv1)?.length));
    assert.equal(lengths.size, 1, 'the same compressed bytes to each');
  });

  it('keeps pings (probes) and close frames working on a deflate connection', async () => {
    const client = await open(true);
    await joined(client, 'control');
    const conn = [...(gw.gateway.hub.members('control') ?? [])][0];
    assert.ok(conn !== undefined);
    assert.notEqual(conn.compressor, null, 'the server connection records the negotiated extension');
    let pings = 0;
    client.ws.on('ping', () => (pings += 1));
    assert.equal(conn.probe(), true);
    await waitFor(() => pings === 1 && conn.probeAgeMs() === 0, 2000, 'the probe answered');
    conn.close(4000, 'bye');
    assert.deepEqual(await client.waitClosed(), { code: 4000, reason: 'bye' });
  });

  it("serves the Node SDK (ws's WebSocket, which offers deflate) compressed pushes", async () => {
    const sdk: PushgateClient = connect(`ws://127.0.0.1:${tap.port}/connect`, { minReconnectDelay: 20, maxReconnectDelay: 200 });
    try {
      const received: unknown[] = [];
      sdk.on('push', (pushedItems: unknown[]) => received.push(...pushedItems));
      await sdk.join('sdk');
      const wire = tap.connections.at(-1)!;
      assert.match(wire.response, /permessage-deflate/i);
      const pushed = items(5, 200);
      await postJson(`${gw.apiUrl}/push/room`, { room: 'sdk', items: pushed });
      await waitFor(() => received.length === pushed.length, 3000, 'the SDK to get the items');
      assert.deepEqual(received, pushed);
      assert.ok(wire.frames.some((f) => f.rsv1));
    } finally {
      sdk.close();
    }
  });
});

describe('permessage-deflate off (the default)', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('negotiates no extension, even with a client that offers it', async () => {
    const client = await TestClient.open(gw.wsUrl(), { perMessageDeflate: true });
    try {
      assert.equal(client.ws.extensions, '');
      await joined(client, 'off');
      const conn = [...(gw.gateway.hub.members('off') ?? [])][0];
      assert.equal(conn?.compressor, null);
      const pushed = items(10);
      await postJson(`${gw.apiUrl}/push/room`, { room: 'off', items: pushed });
      assert.deepEqual((await client.nextOfType('PUSH')).data.items, pushed);
    } finally {
      client.close();
    }
  });
});
