/**
 * A burst of WebSocket handshakes from another process (so that the requests reach the server
 * together, not interleaved with its own event loop as in-process clients are):
 * `node handshake-burst.js PORT PATH COUNT` opens COUNT TCP connections to 127.0.0.1:PORT, then
 * writes every handshake request for PATH in one go, prints one JSON line `{"statuses":[101,429,…]}`
 * (each answer's HTTP status, 0 when the socket closed unanswered) and keeps the sockets open until
 * the process is ended, which closes them all.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const [port, path, countArg] = process.argv.slice(2).map((arg, i) => (i === 1 ? arg : Number(arg))) as [number, string, number];
const count = Math.min(1000, Math.max(1, countArg));

const sockets = await Promise.all(
  Array.from(
    { length: count },
    () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
        socket.once('error', reject);
      }),
  ),
);
const statuses = sockets.map(
  (socket) =>
    new Promise<number>((resolve) => {
      let head = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        head += chunk;
        const line = /^HTTP\/1\.1 (\d{3}) /.exec(head);
        if (line !== null) resolve(Number(line[1]));
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(0));
    }),
);
for (const socket of sockets) {
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
}
process.stdout.write(`${JSON.stringify({ statuses: await Promise.all(statuses) })}\n`);
// The open sockets keep the process alive until the test ends it (SIGTERM), closing them all.
