// Seed 004's server.go on pushgate's Connection: it echoes every message back and sends "heartbeat"
// to each client every second. Connection.send writes each message once, so the seed's writeLoop bug
// (it put every written message back into outChan, repeating it forever) has no counterpart here, and
// the heartbeat timer stops as soon as the connection closes.
//
// Run: npm run example:echo-heartbeat [-- --port 7777 --host 0.0.0.0]. To try it with examples/client.html
// (which connects to ws://localhost:8888/ws), start it with `-- --port 8888`.
import { runExample } from '../shared.js';

await runExample({
  name: 'echo-heartbeat',
  defaultPort: 7777,
  async serve(conn) {
    // Like the seed's goroutine: a heartbeat at once, then one every second.
    conn.send('heartbeat');
    const heartbeat = setInterval(() => conn.send('heartbeat'), 1000);
    try {
      for await (const message of conn) conn.send(message);
    } finally {
      clearInterval(heartbeat);
    }
  },
});
