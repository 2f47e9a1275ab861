// The seeds' first WebSocket server (seeds 000/001), on pushgate's Connection: it logs each client
// message and answers it with the server time. Go's loop
//   for { _, p, err := con.ReadMessage(); fmt.Println("client message " + string(p)); con.WriteMessage(..., time.Now().String()) }
// becomes a `for await` over the connection, which ends when the client goes.
//
// Run: npm run example:time-reply [-- --port 8888 --host 0.0.0.0], then open examples/client.html.
import { preview, runExample } from '../shared.js';

await runExample({
  name: 'time-reply',
  defaultPort: 8888,
  async serve(conn, log) {
    for await (const message of conn) {
      log.info(`client message ${preview(message)}`);
      conn.send(localTime(new Date()));
    }
  },
});

/** The local time with its UTC offset, e.g. `2024-05-01T12:00:00.123+08:00` (Go printed its local time too). */
function localTime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const wallClock = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, -1);
  const abs = Math.abs(offset);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${wallClock}${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
