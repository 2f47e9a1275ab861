import type { WebSocket } from 'ws';

/**
 * How the load generator speaks to each kind of server. Receiving is the same for all: every pushed
 * item is a JSON object starting `{"t":<send time ms>`, counted (and timed) by scanning the frame's
 * bytes, so counting costs the same whatever the server's envelope.
 */
export interface ClientProtocol {
  readonly name: 'pushgate' | 'socketio';
  /** The WebSocket URL for a server base like `ws://127.0.0.2:7777`. */
  url(base: string): string;
  /** Answers protocol frames (e.g. Engine.IO pings); returns true when the frame was one. */
  control(ws: WebSocket, data: Buffer): boolean;
  /** Whether the session is usable (Socket.IO: after its connect packet). */
  ready(ws: WebSocket): boolean;
  join(ws: WebSocket, room: string): void;
  /** A keep-alive the server expects from silent clients, or null. */
  keepAlive: string | null;
}

/** pushgate's (and go-push's) JSON protocol; the plain `ws` peer speaks it too. */
export const pushgateProtocol: ClientProtocol = {
  name: 'pushgate',
  url: (base) => (/\/(connect|ws)$/.test(base) ? base : `${base.replace(/\/$/, '')}/connect`),
  control: () => false,
  ready: () => true,
  join: (ws, room) => ws.send(JSON.stringify({ type: 'JOIN', data: { room } })),
  keepAlive: '{"type":"PING","data":{}}',
};

const kConnected = Symbol('socketio.connected');
type SocketIoWs = WebSocket & { [kConnected]?: boolean };

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
      (ws as SocketIoWs)[kConnected] = true;
      ws.emit('ready');
      return true;
    }
    return false;
  },
  ready: (ws) => (ws as SocketIoWs)[kConnected] === true,
  join: (ws, room) => ws.send(`42${JSON.stringify(['join', room])}`),
  keepAlive: null,
};

export function protocolByName(name: string): ClientProtocol {
  if (name === 'socketio') return socketIoProtocol;
  if (name === 'pushgate' || name === 'ws') return pushgateProtocol;
  throw new TypeError(`unknown protocol "${name}": use pushgate, ws or socketio`);
}

const ITEM_MARK = Buffer.from('{"t":');
const ITEM_END = 0x7d; // '}'

/**
 * Counts the items in a frame: every item of a run has the same length (see {@link benchItem}) and
 * items are separated by one comma (pushgate) or alone in their frame (Socket.IO), so the first and
 * last item marks give the count without reading the frame.
 */
export function countItems(data: Buffer): number {
  const first = data.indexOf(ITEM_MARK);
  if (first === -1) return 0;
  const last = data.lastIndexOf(ITEM_MARK);
  if (last === first) return 1;
  const length = data.indexOf(ITEM_END, first) - first + 1;
  return (last - first) / (length + 1) + 1;
}

/** Hands each item's send time (ms) and sequence number to `onItem`; returns the count. */
export function readItems(data: Buffer, onItem: (sentAt: number, seq: number) => void): number {
  let count = 0;
  let at = data.indexOf(ITEM_MARK);
  while (at !== -1) {
    count += 1;
    const start = at + ITEM_MARK.length;
    // "t" is microseconds (16 digits), "s" a 9-digit sequence: fixed offsets, read without a string.
    const sentAt = digits(data, start, 16) / 1000;
    const seq = digits(data, start + 21, 9);
    onItem(sentAt, seq);
    at = data.indexOf(ITEM_MARK, start);
  }
  return count;
}

// The decimal number in `count` ASCII digits at `from`; exact below 2^53 (16 digits of µs are).
function digits(data: Buffer, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) value = value * 10 + (data[i] - 0x30);
  return value;
}

/**
 * A pushed item of fixed length whatever its values: `{"t":<send time, µs, 16 digits>,"s":<9-digit
 * sequence>}` plus optional padding, so clients can count items without parsing.
 */
export function benchItem(seq: number, padding = ''): { t: number; s: number; p?: string } {
  const item: { t: number; s: number; p?: string } = { t: Math.round(now() * 1000), s: 100000000 + seq };
  if (padding) item.p = padding;
  return item;
}

/** Wall-clock milliseconds with sub-millisecond precision, the same clock in every process. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
