import type { IncomingMessage, ServerResponse } from 'node:http';
import Pusher from 'pusher';

/** The app every Pusher test serves. */
export const PUSHER_APP = { id: 'app1', key: 'key1', secret: 'secret1' };

/** `--pusher-apps` for {@link PUSHER_APP}. */
export const PUSHER_APP_SPEC = `${PUSHER_APP.id}:${PUSHER_APP.key}:${PUSHER_APP.secret}`;

/**
 * An app's channel auth endpoint, as a Laravel or Express backend serves it: the `pusher` server SDK
 * signs `socket_id:channel_name` (and a presence channel's member) with `secret`. A presence member is
 * the `user` form field the client sends (a real backend takes it from its session), its info
 * `{ name: USER }`.
 */
export function pusherAuthHandler(secret = PUSHER_APP.secret): (req: IncomingMessage, res: ServerResponse) => void {
  const signer = new Pusher({ appId: PUSHER_APP.id, key: PUSHER_APP.key, secret, host: '127.0.0.1' });
  return (req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const channel = form.get('channel_name') ?? '';
      const user = form.get('user') ?? 'anonymous';
      const member = channel.startsWith('presence-') ? { user_id: user, user_info: { name: user.toUpperCase() } } : undefined;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(signer.authorizeChannel(form.get('socket_id') ?? '', channel, member)));
    });
  };
}

/** pusher-js's (and Echo's) options to reach a gateway's WebSocket port at `base` (`http://host:port`), plain ws. */
export function pusherSocketOptions(base: string) {
  const { hostname, port } = new URL(base);
  return { cluster: 'local', wsHost: hostname, wsPort: Number(port), forceTLS: false, enabledTransports: ['ws' as const], disableStats: true };
}
