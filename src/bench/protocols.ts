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
    if (first === 0x32 && data.length === 1) { // "2": ping → "3": pong
      ws.send('3');
      return true;
    }
    if (first === 0x30) { // "0{...}": Engine.IO open → Socket.IO connect to the main namespace
      ws.send('40');
      return true;
    }
    if (first === 0x34 && data[1] === 0x30) { // "40{...}": connected
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

/**
 * Counts the items in a frame and hands each one's send time to `onItem` (when given): finds every
 * `{"t":` and reads the number after it, without parsing the frame.
 */
export function scanItems(data: Buffer, onItem: ((sentAt: number, seq: number) => void) | null): number {
  let count = 0;
  let at = data.indexOf(ITEM_MARK);
  while (at !== -1) {
    count += 1;
    if (onItem !== null) {
      const start = at + ITEM_MARK.length;
      const comma = data.indexOf(0x2c, start); // ','
      const sentAt = Number(data.toString('latin1', start, comma));
      const seqStart = data.indexOf(0x3a, comma) + 1; // ':' of "s":
      let end = seqStart;
      while (end < data.length && data[end] >= 0x30 && data[end] <= 0x39) end++;
      onItem(sentAt, Number(data.toString('latin1', seqStart, end)));
    }
    at = data.indexOf(ITEM_MARK, at + ITEM_MARK.length);
  }
  return count;
}

/** A pushed item: its send time (ms, comparable across processes) and a sequence number. */
export function benchItem(seq: number, padding = ''): { t: number; s: number; p?: string } {
  const item: { t: number; s: number; p?: string } = { t: now(), s: seq };
  if (padding) item.p = padding;
  return item;
}

/** Wall-clock milliseconds with sub-millisecond precision, the same clock in every process. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
