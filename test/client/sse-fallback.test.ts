import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import {
  type ClientOptions,
  connect,
  type EventSourceConstructor,
  type PushgateClient,
  type RecoveryInfo,
  sseUrl,
  type WebSocketConstructor,
  type WebSocketLike,
} from '../../src/client/client.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const WAIT = 8000;
const SECRET = 'fallback-secret';

/** A network that refuses WebSockets (a proxy that drops upgrades): every attempt errors, then closes with 1006. */
class BlockedWebSocket implements WebSocketLike {
  static attempts = 0;
  readyState = 0;
  private readonly listeners = new Map<string, Array<(event: unknown) => void>>();
  constructor() {
    BlockedWebSocket.attempts += 1;
    setTimeout(() => {
      this.readyState = 3;
      for (const listener of this.listeners.get('error') ?? []) listener({ message: 'blocked' });
      for (const listener of this.listeners.get('close') ?? []) listener({ code: 1006, reason: '', wasClean: false });
    }, 1);
  }
  send(): void {
    throw new Error('not open');
  }
  close(): void {}
  addEventListener(type: string, listener: (event: unknown) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
}

const clients: PushgateClient[] = [];
const gateways: RunningGateway[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(gateways.splice(0).map((gw) => gw.close()));
});

async function gateway(options: Parameters<typeof startGateway>[0] = {}): Promise<RunningGateway> {
  const gw = await startGateway({ history: ['chat:*=100/300s'], maxLatency: 0, ...options });
  gateways.push(gw);
  return gw;
}

function client(gw: RunningGateway, options: ClientOptions = {}): PushgateClient {
  const made = connect(gw.wsUrl(), {
    WebSocket: BlockedWebSocket as unknown as WebSocketConstructor,
    EventSource: EventSource as unknown as EventSourceConstructor,
    minReconnectDelay: 10,
    maxReconnectDelay: 50,
    ...options,
  });
  clients.push(made);
  return made;
}

const opened = (made: PushgateClient): Promise<void> =>
  withTimeout(
    new Promise<void>((resolve) => {
      if (made.state === 'open') resolve();
      else made.on('open', () => resolve());
    }),
    WAIT,
    'the client to open',
  );

describe('the SDK falls back to Server-Sent Events when WebSockets cannot connect', () => {
  it('names the event stream of a WebSocket URL', () => {
    assert.equal(sseUrl('ws://127.0.0.1:7777/connect?x=1'), 'http://127.0.0.1:7777/sse');
    assert.equal(sseUrl('wss://push.example/ws'), 'https://push.example/sse');
  });

  it('joins, receives, leaves, pings and calls over the stream and its HTTP requests', async () => {
    const gw = await gateway();
    const made = client(gw);
    const pushes: Array<{ items: unknown[]; room: string | undefined }> = [];
    made.on('push', (items, room) => pushes.push({ items, room }));
    await made.join('news');
    assert.equal(made.transport, 'sse');
    assert.equal(made.state, 'open');
    assert.ok(BlockedWebSocket.attempts >= 1);
    assert.ok(made.connId !== undefined && gw.gateway.hub.get(made.connId) !== undefined);
    assert.ok(gw.gateway.snapshot().sseConnections >= 1);
    await postJson(`${gw.apiUrl}/push/room`, { room: 'news', items: [{ title: 'over SSE' }, 'two'] });
    await waitFor(() => pushes.length === 1, WAIT, 'the push');
    assert.deepEqual(pushes[0], { items: [{ title: 'over SSE' }, 'two'], room: 'news' });
    assert.equal(typeof (await made.ping()), 'number');
    await assert.rejects(made.rpc('nothing.here', {}), (error: Error & { code?: string }) => error.code === 'UNKNOWN_METHOD');
    await assert.rejects(made.join('no spaces'), (error: Error & { code?: string }) => error.code === 'INVALID_ROOM');
    await made.leave('news');
    assert.equal(gw.gateway.hub.members('news')?.size ?? 0, 0);
  });

  it('recovers a room after a dropped stream, with its own positions: no gap, no duplicate', async () => {
    const gw = await gateway();
    const made = client(gw);
    const items: unknown[] = [];
    const recoveries: RecoveryInfo[] = [];
    made.on('push', (got, room) => {
      if (room === 'chat:1') items.push(...got);
    });
    made.on('recovered', (info) => recoveries.push(info));
    await made.join('chat:1');
    await made.join('chat:2');
    for (const n of [1, 2]) await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:1', items: [n] });
    await waitFor(() => items.length === 2, WAIT, 'two items');
    const first = made.connId as string;
    gw.gateway.hub.get(first)?.terminate();
    for (const n of [3, 4]) await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:1', items: [n] });
    await waitFor(() => made.state === 'open' && made.connId !== undefined && made.connId !== first, WAIT, 'a new stream');
    await waitFor(() => recoveries.some((info) => info.room === 'chat:1' && info.recovered), WAIT, 'the recovery of chat:1');
    // Both rooms: the SDK keeps a position per room, where a browser's Last-Event-ID holds one.
    await waitFor(() => recoveries.some((info) => info.room === 'chat:2' && info.recovered), WAIT, 'the recovery of chat:2');
    await postJson(`${gw.apiUrl}/push/room`, { room: 'chat:1', items: [5] });
    await waitFor(() => items.includes(5), WAIT, 'the live item');
    assert.deepEqual(items, [1, 2, 3, 4, 5]);
    assert.equal(made.transport, 'sse');
  });

  it('sends its token in the stream URL, and stops for good when it is refused (4001)', async () => {
    const gw = await gateway({ jwtSecret: SECRET });
    const token = await signToken({ sub: 'ann', secret: SECRET });
    const made = client(gw, { token });
    await made.join('r');
    assert.equal(gw.gateway.hub.get(made.connId as string)?.userId, 'ann');
    const closes: number[] = [];
    made.on('close', (info) => closes.push(info.code));
    gw.gateway.hub.get(made.connId as string)?.close(4001, 'token expired');
    await waitFor(() => made.state === 'closed', WAIT, 'the client to close');
    assert.deepEqual(closes, [4001]);
  });

  it('keeps to WebSockets when they work, and needs an EventSource for the fallback', async () => {
    const gw = await gateway();
    const { WebSocket } = await import('ws');
    const made = client(gw, { WebSocket: WebSocket as unknown as WebSocketConstructor });
    await opened(made);
    assert.equal(made.transport, 'websocket');
    const off = client(gw, { EventSource: false });
    await waitFor(() => BlockedWebSocket.attempts >= 3 && off.state === 'reconnecting', WAIT, 'retries');
    assert.equal(off.transport, 'websocket');
  });
});
