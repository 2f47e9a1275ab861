import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Pusher from 'pusher';
import PusherJs from 'pusher-js';
import type { RunningGateway } from './gateway.js';
import { withTimeout } from './wait.js';

/** Every wait of the Pusher tests' helpers is bounded by this many milliseconds. */
export const WAIT = 8000;

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
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // pusher-js's user authentication (pusher.signin()) posts no channel: the user is the `user` field.
      if (!form.has('channel_name')) {
        const id = form.get('user') ?? 'anonymous';
        res.end(JSON.stringify(signer.authenticateUser(form.get('socket_id') ?? '', { id, user_info: { name: id.toUpperCase() } })));
        return;
      }
      const channel = form.get('channel_name') ?? '';
      const user = form.get('user') ?? 'anonymous';
      const member = channel.startsWith('presence-') ? { user_id: user, user_info: { name: user.toUpperCase() } } : undefined;
      res.end(JSON.stringify(signer.authorizeChannel(form.get('socket_id') ?? '', channel, member)));
    });
  };
}

/** pusher-js's (and Echo's) options to reach a gateway's WebSocket port at `base` (`http://host:port`), plain ws. */
export function pusherSocketOptions(base: string) {
  const { hostname, port } = new URL(base);
  return { cluster: 'local', wsHost: hostname, wsPort: Number(port), forceTLS: false, enabledTransports: ['ws' as const], disableStats: true };
}

// pusher-js is CommonJS: Node's ESM loader hands over its exports object, whose default is the client.
export const PusherClient = ((PusherJs as unknown as { default?: unknown }).default ?? PusherJs) as unknown as new (
  key: string,
  options: ConstructorParameters<typeof PusherJs.default>[1],
) => InstanceType<typeof PusherJs.default>;
export type Client = InstanceType<typeof PusherClient>;
export type Channel = ReturnType<Client['subscribe']>;

/** The app's auth endpoint on a port of its own (a wrong secret, for the refusals). */
export async function authEndpoint(secret = PUSHER_APP.secret): Promise<{ url: string; server: Server }> {
  const server = createServer(pusherAuthHandler(secret));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/pusher/auth`, server };
}

/** The `pusher` server SDK pointed at a gateway's push API port (or its WebSocket port: both serve it). */
export function serverSdk(gateway: RunningGateway, base = gateway.apiUrl, app: { id: string; key: string; secret: string } = PUSHER_APP): Pusher {
  const { hostname, port } = new URL(base);
  return new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: hostname, port, useTLS: false });
}

/** pusher-js in Node, unchanged, connected to a gateway's `/app/<key>`. */
export function client(gateway: RunningGateway, authUrl: string, key = PUSHER_APP.key, user?: string): Client {
  const params = user === undefined ? {} : { params: { user } };
  return new PusherClient(key, {
    ...pusherSocketOptions(gateway.pageUrl),
    channelAuthorization: { endpoint: authUrl, transport: 'ajax', ...params },
    userAuthentication: { endpoint: authUrl, transport: 'ajax', ...params },
  });
}

/** A presence channel's members as pusher-js keeps them: id → info. */
export function membersOf(channel: Channel): Record<string, unknown> {
  const found: Record<string, unknown> = {};
  (channel as unknown as { members: { each(visit: (member: { id: string; info: unknown }) => void): void } }).members.each((member) => {
    found[member.id] = member.info;
  });
  return found;
}

export function connected(c: Client): Promise<string> {
  return withTimeout(new Promise((resolve) => c.connection.bind('connected', () => resolve(c.connection.socket_id))), WAIT, 'pusher-js connected');
}

export function subscribed(channel: Channel): Promise<void> {
  return withTimeout(
    new Promise((resolve, reject) => {
      channel.bind('pusher:subscription_succeeded', () => resolve());
      channel.bind('pusher:subscription_error', (error: unknown) => reject(new Error(`subscription refused: ${JSON.stringify(error)}`)));
    }),
    WAIT,
    `subscribed to ${channel.name}`,
  );
}

/** The next `count` events named `event` on `channel`, in order. */
export function events(channel: Channel, event: string, count = 1): Promise<unknown[]> {
  const got: unknown[] = [];
  return withTimeout(
    new Promise((resolve) => {
      channel.bind(event, (data: unknown) => {
        got.push(data);
        if (got.length === count) resolve(got);
      });
    }),
    WAIT,
    `${count} ${event} on ${channel.name}`,
  );
}

/** One frame a raw Pusher connection received, its `data` parsed when it is JSON text. */
export interface RawFrame {
  event: string;
  channel?: string;
  data: any;
}

/**
 * A Pusher connection spoken by hand (what pusher-js hides: close codes, error codes, refused frames):
 * `next(event)` waits for the next frame of that event, `closed` settles with the close code.
 */
export interface RawPusher {
  socketId: string;
  ws: import('ws').WebSocket;
  send(event: string, data: unknown, channel?: string): void;
  next(event: string): Promise<RawFrame>;
  closed: Promise<number>;
}

/** Opens a raw Pusher connection to a gateway's `/app/<key>`, resolved once `connection_established` came. */
export async function rawPusher(gateway: Pick<RunningGateway, 'pageUrl'>, key = PUSHER_APP.key): Promise<RawPusher> {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`${gateway.pageUrl.replace(/^http/, 'ws')}/app/${key}?protocol=7`);
  const frames: RawFrame[] = [];
  const waiters: Array<{ event: string; resolve: (frame: RawFrame) => void }> = [];
  ws.on('message', (bytes) => {
    const frame = JSON.parse(bytes.toString()) as RawFrame;
    if (typeof frame.data === 'string') {
      try {
        frame.data = JSON.parse(frame.data);
      } catch {
        // plain text data stays text
      }
    }
    const at = waiters.findIndex((waiter) => waiter.event === frame.event);
    if (at >= 0) waiters.splice(at, 1)[0].resolve(frame);
    else frames.push(frame);
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const next = (event: string): Promise<RawFrame> => {
    const at = frames.findIndex((frame) => frame.event === event);
    if (at >= 0) return Promise.resolve(frames.splice(at, 1)[0]);
    return withTimeout(new Promise((resolve) => waiters.push({ event, resolve })), WAIT, `a ${event} frame`);
  };
  const established = await next('pusher:connection_established');
  return {
    socketId: established.data.socket_id,
    ws,
    send: (event, data, channel) => ws.send(JSON.stringify(channel === undefined ? { event, data } : { event, data, channel })),
    next,
    closed,
  };
}
