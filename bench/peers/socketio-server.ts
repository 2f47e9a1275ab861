/**
 * Benchmark peer: a Socket.IO 4 server used the natural way. WebSocket transport only, no compression.
 * Clients emit `join` and `leave` with a room name (an acknowledgement callback, if given, is called
 * once done); every pushed item is one `push` event: `io.emit('push', item)` to all,
 * `io.to(room).emit('push', item)` to a room.
 *
 *   node dist/bench/peers/socketio-server.js --host 127.0.0.1,127.0.0.2 --port 0 --api-port 0
 */
import type { Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import { main, type Peer } from './common.js';

function attach(servers: HttpServer[]): Peer {
  const io = new Server({
    transports: ['websocket'],
    perMessageDeflate: false,
    // The default 20 s lets a busy benchmark drop clients whose pongs queue behind pushes.
    pingTimeout: 60_000,
    serveClient: false,
  });
  io.attach(servers[0]);
  // The other addresses feed the same engine (and so the same namespaces and rooms).
  for (const server of servers.slice(1)) io.engine.attach(server, { path: io.path() });

  io.on('connection', (socket) => {
    socket.on('join', (room: unknown, ack?: unknown) => {
      if (typeof room === 'string' && room !== '') socket.join(room);
      if (typeof ack === 'function') ack();
    });
    socket.on('leave', (room: unknown, ack?: unknown) => {
      if (typeof room === 'string') socket.leave(room);
      if (typeof ack === 'function') ack();
    });
  });

  const { adapter } = io.of('/');
  return {
    pushAll(items) {
      const recipients = io.of('/').sockets.size;
      for (const item of items) io.emit('push', item);
      return recipients;
    },
    pushRoom(room, items) {
      const recipients = adapter.rooms.get(room)?.size ?? 0;
      for (const item of items) io.to(room).emit('push', item);
      return recipients;
    },
    stats() {
      // Every socket is also in a room named after its own id; those are not counted.
      let roomCount = 0;
      for (const room of adapter.rooms.keys()) if (!adapter.sids.has(room)) roomCount++;
      return { onlineConnections: io.of('/').sockets.size, roomCount };
    },
    close() {
      return io.close();
    },
  };
}

main('socketio-server', attach);
