/**
 * How the push driver asks a server to push one item: the request of pushgate's (go-push's) push API,
 * or of Pusher Channels' signed HTTP API. The driver sends it and reads the status; this only says what
 * to send.
 */
import { parsePusherApp } from '../../src/pusher/apps.js';
import { signApiRequest } from '../../src/pusher/signatures.js';
import { BENCH_EVENT, EVERYONE_CHANNEL } from './pusher-app.js';

/** One push request: a JSON body POSTed to `path` (query included). */
export interface PushRequest {
  path: string;
  body: string;
}

/** Builds the request pushing `item` to `room`, or to every client when `room` is undefined. */
export interface PushApi {
  request(room: string | undefined, item: unknown): PushRequest;
}

/** pushgate's push API (which the peers copy): `POST /push/all` or `/push/room` with `{room, items}`. */
export const goPushApi: PushApi = {
  request: (room, item) =>
    room === undefined ? { path: '/push/all', body: JSON.stringify({ items: [item] }) } : { path: '/push/room', body: JSON.stringify({ room, items: [item] }) },
};

/**
 * Pusher's HTTP API for the app `spec` (`id:key:secret`): `POST /apps/<id>/events` with
 * `{name, data, channels}`, `data` the item's JSON text (Pusher's data is a string), signed per request
 * as the server SDKs sign (auth_key, auth_timestamp, auth_version, body_md5, auth_signature): the
 * signing is part of what a Pusher backend pays, so the driver pays it too. A push to all is an event
 * to {@link EVERYONE_CHANNEL}, which every Pusher client of the bench is on.
 */
export function pusherApi(spec: string): PushApi {
  const app = parsePusherApp(spec);
  const path = `/apps/${app.id}/events`;
  return {
    request(room, item) {
      const body = JSON.stringify({ name: BENCH_EVENT, data: JSON.stringify(item), channels: [room ?? EVERYONE_CHANNEL] });
      return { path: `${path}?${signApiRequest(app, 'POST', path, {}, body, Date.now() / 1000)}`, body };
    },
  };
}
