import type { WebSocket } from 'ws';
import { escapedItems, type ItemScanner, plainItems } from './items.js';
import { BENCH_PUSHER_APP, EVERYONE_CHANNEL } from './pusher-app.js';

// The item helpers moved to items.ts; re-exported for the modules and tests that import them from here.
export { benchItem, countItems, now, readItems } from './items.js';

/** The client protocols the load generator speaks. */
export type ProtocolName = 'pushgate' | 'socketio' | 'pusher';

/**
 * How the load generator speaks to each kind of server. Receiving is alike for all: every pushed item
 * is a JSON object starting `{"t":<send time ms>`, counted (and timed) by scanning the frame's bytes
 * with the protocol's {@link ItemScanner}, so counting costs the same whatever the server's envelope.
 */
export interface ClientProtocol {
  readonly name: ProtocolName;
  /** The WebSocket URL for a server base like `ws://127.0.0.2:7777`. */
  url(base: string): string;
  /** Answers protocol frames (e.g. Engine.IO pings); returns true when the frame was one. */
  control(ws: WebSocket, data: Buffer): boolean;
  /** Whether the session is usable (Socket.IO: after its connect packet); when not yet, it emits `ready` once it is. */
  ready(ws: WebSocket): boolean;
  join(ws: WebSocket, room: string): void;
  /**
   * The room every client joins at connect, where a push to all goes, for a protocol whose server has no
   * push to all connections (Pusher); null when the push API has one.
   */
  readonly everyone: string | null;
  /** A keep-alive the server expects from silent clients, or null. */
  keepAlive: string | null;
  /** Where the items are in a frame. */
  readonly items: ItemScanner;
}

/** pushgate's (and go-push's) JSON protocol; the plain `ws` peer speaks it too. */
export const pushgateProtocol: ClientProtocol = {
  name: 'pushgate',
  url: (base) => (/\/(connect|ws)$/.test(base) ? base : `${base.replace(/\/$/, '')}/connect`),
  control: () => false,
  ready: () => true,
  join: (ws, room) => ws.send(JSON.stringify({ type: 'JOIN', data: { room } })),
  everyone: null,
  keepAlive: '{"type":"PING","data":{}}',
  items: plainItems,
};

const kConnected = Symbol('client.connected');
type SessionWs = WebSocket & { [kConnected]?: boolean };

function markReady(ws: WebSocket): void {
  (ws as SessionWs)[kConnected] = true;
  ws.emit('ready');
}

/** Engine.IO v4 over WebSocket, Socket.IO v5 packets: what socket.io-client sends with transports ['websocket']. */
export const socketIoProtocol: ClientProtocol = {
  name: 'socketio',
  url: (base) => `${base.replace(/\/$/, '')}/socket.io/?EIO=4&transport=websocket`,
  control(ws, data) {
    const first = data[0];
    if (first === 0x32 && data.length === 1) {
      // "2": ping → "3": pong
      ws.send('3');
      return true;
    }
    if (first === 0x30) {
      // "0{...}": Engine.IO open → Socket.IO connect to the main namespace
      ws.send('40');
      return true;
    }
    if (first === 0x34 && data[1] === 0x30) {
      // "40{...}": connected
      markReady(ws);
      return true;
    }
    return false;
  },
  ready: (ws) => (ws as SessionWs)[kConnected] === true,
  join: (ws, room) => ws.send(`42${JSON.stringify(['join', room])}`),
  everyone: null,
  keepAlive: null,
  items: plainItems,
};

/**
 * The WebSocket URL of a Pusher app's endpoint: `<base>/app/<key>?protocol=7`. A base that already
 * names an app (`…/app/<key>`) keeps it; `protocol=7` is added when missing.
 */
export function pusherUrl(base: string, key = BENCH_PUSHER_APP.split(':')[1]!): string {
  const url = new URL(/\/app\/[^/?]+/.test(base) ? base : `${base.replace(/\/$/, '')}/app/${encodeURIComponent(key)}`);
  if (!url.searchParams.has('protocol')) url.searchParams.set('protocol', '7');
  return url.toString();
}

const startsWith = (data: Buffer, prefix: Buffer): boolean => data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
// Pusher's own events, `pusher:…` and `pusher_internal:…`: never a bench event (those are named `bench`).
const PUSHER_OWN = Buffer.from('{"event":"pusher');
const PUSHER_PING = Buffer.from('{"event":"pusher:ping"');
const PUSHER_ESTABLISHED = Buffer.from('{"event":"pusher:connection_established"');
const PUSHER_PONG = '{"event":"pusher:pong","data":{}}';

/**
 * Pusher Channels protocol 7, as pusher-js speaks it over plain ws: usable once
 * `pusher:connection_established` came, `pusher:ping` answered with `pusher:pong`, rooms are public
 * channels (no auth), and every client is also on {@link EVERYONE_CHANNEL}, the bench's broadcast. Each
 * event is its own frame, its item the JSON text inside the event's `data` string (escaped).
 * Subscription answers and errors are Pusher's own events: not counted as deliveries, so priming waits
 * for a real event on every client.
 */
export const pusherClientProtocol: ClientProtocol = {
  name: 'pusher',
  url: (base) => pusherUrl(base),
  control(ws, data) {
    if (!startsWith(data, PUSHER_OWN)) return false;
    if (startsWith(data, PUSHER_PING)) ws.send(PUSHER_PONG);
    else if (startsWith(data, PUSHER_ESTABLISHED)) markReady(ws);
    return true;
  },
  ready: (ws) => (ws as SessionWs)[kConnected] === true,
  join: (ws, room) => ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: room } })),
  everyone: EVERYONE_CHANNEL,
  // What pusher-js sends after its activity timeout; as often as the go-push clients' PING.
  keepAlive: '{"event":"pusher:ping","data":{}}',
  items: escapedItems,
};

export function protocolByName(name: string): ClientProtocol {
  if (name === 'socketio') return socketIoProtocol;
  if (name === 'pusher') return pusherClientProtocol;
  if (name === 'pushgate' || name === 'ws') return pushgateProtocol;
  throw new TypeError(`unknown protocol "${name}": use pushgate, ws, socketio or pusher`);
}
