/**
 * Benchmark peer: a plain `ws` server speaking pushgate's (go-push's) JSON wire protocol, written the
 * way a Node user would write it. Rooms are a Map of Sets; a push is stringified once and sent with
 * `ws.send` to each recipient in a loop: one frame per push per recipient, no merging, no backpressure.
 *
 *   node dist/bench/peers/ws-server.js --host 127.0.0.1,127.0.0.2 --port 0 --api-port 0
 */
import type { Server } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { main, type Peer } from './common.js';

const PATHS = new Set(['/connect', '/ws']);

function attach(servers: Server[]): Peer {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const rooms = new Map<string, Set<WebSocket>>();
  let nextId = 1;

  for (const server of servers) {
    server.on('upgrade', (req, socket, head) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (!PATHS.has(path)) {
        socket.on('error', () => {});
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
  }

  const join = (ws: WebSocket, joined: Set<string>, room: string): void => {
    let members = rooms.get(room);
    if (members === undefined) rooms.set(room, (members = new Set()));
    members.add(ws);
    joined.add(room);
  };
  const leave = (ws: WebSocket, joined: Set<string>, room: string): void => {
    const members = rooms.get(room);
    if (members === undefined) return;
    members.delete(ws);
    if (members.size === 0) rooms.delete(room);
    joined.delete(room);
  };

  wss.on('connection', (ws) => {
    const id = String(nextId++);
    const joined = new Set<string>();
    ws.on('error', () => {}); // protocol errors: ws closes the socket itself
    ws.on('close', () => {
      for (const room of joined) leave(ws, joined, room);
    });
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return;
      let message: { type?: unknown; id?: unknown; data?: { room?: unknown } };
      try {
        message = JSON.parse(raw.toString());
      } catch {
        return; // not JSON: ignored
      }
      if (typeof message !== 'object' || message === null) return;
      // pushgate's extension: a request with an `id` is answered (ACK for JOIN/LEAVE, PONG carries it).
      const reqId = typeof message.id === 'number' || typeof message.id === 'string' ? message.id : undefined;
      const room = message.data?.room;
      switch (message.type) {
        case 'PING':
          ws.send(JSON.stringify(reqId === undefined ? { type: 'PONG', data: {} } : { type: 'PONG', id: reqId, data: {} }));
          break;
        case 'JOIN':
        case 'LEAVE':
          if (typeof room !== 'string' || room === '') return;
          if (message.type === 'JOIN') join(ws, joined, room);
          else leave(ws, joined, room);
          if (reqId !== undefined) ws.send(JSON.stringify({ type: 'ACK', id: reqId, data: { conn: id } }));
          break;
      }
    });
  });

  const sendTo = (recipients: Iterable<WebSocket>, text: string): number => {
    let count = 0;
    for (const ws of recipients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      ws.send(text);
      count++;
    }
    return count;
  };

  return {
    pushAll(items) {
      return sendTo(wss.clients, JSON.stringify({ type: 'PUSH', data: { items } }));
    },
    pushRoom(room, items) {
      const members = rooms.get(room);
      if (members === undefined) return 0;
      return sendTo(members, JSON.stringify({ type: 'PUSH', data: { room, items } }));
    },
    stats() {
      return { onlineConnections: wss.clients.size, roomCount: rooms.size };
    },
    async close() {
      const closed = [...wss.clients].map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
      for (const ws of wss.clients) ws.close(1001, 'server shutting down');
      await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      for (const ws of wss.clients) ws.terminate();
    },
  };
}

main('ws-server', attach);
