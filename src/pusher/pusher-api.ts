import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RoomList } from '../cluster/connection-service.js';
import { PushError } from '../protocol/errors.js';
import { sendJson } from '../server/http-reply.js';
import type { Stats } from '../stats/stats.js';
import type { PusherApp, PusherApps } from './apps.js';
import { PusherApiError, pusherApiError } from './pusher-errors.js';
import { encodeEventItem } from './pusher-events.js';
import { channelNameProblem, MAX_EVENT_NAME_LENGTH } from './pusher-frames.js';
import { parsePusherRoom, pusherRoom, pusherRoomPrefix } from './pusher-rooms.js';
import { isSocketId, verifyApiRequest } from './signatures.js';

/** Pusher's HTTP API lives under this prefix: `/apps/<id>/…`. */
export const PUSHER_API_PREFIX = '/apps/';

/** How far a request's `auth_timestamp` may be from this server's clock (Pusher's window). */
const TIMESTAMP_WINDOW_SECONDS = 600;

/** What the API needs of the gateway. */
export interface PusherApiDeps {
  apps: PusherApps;
  /** Where accepted events are counted (`pusherEvents`). */
  stats: Pick<Stats, 'pusherEvents'>;
  /** Largest request body taken. */
  maxBodyBytes: number;
  /** Pushes event items to a room, leaving the connection `except` out; rejects with a PushError. */
  publish(room: string, items: readonly string[], except?: string): Promise<unknown>;
  /** The cluster's rooms whose names start with `prefix` (as the nodes last reported them). */
  rooms(prefix: string): RoomList;
  /** Reads a request's body, bounded. */
  readBody(req: IncomingMessage, limit: number): Promise<Buffer>;
}

/** One event to trigger, as the routes take it. */
interface Trigger {
  name: string;
  data: string;
  channels: string[];
  socketId?: string;
}

/**
 * Pusher Channels' HTTP API, for the `pusher` server SDKs: `POST /apps/<id>/events`,
 * `POST /apps/<id>/batch_events`, `GET /apps/<id>/channels` and `GET /apps/<id>/channels/<name>`, each
 * request signed as Pusher signs them (auth_key, auth_timestamp within 600 s, auth_version, body_md5,
 * auth_signature). An event is one item per channel, pushed through the gateway's push path: `200 {}`
 * means every channel's event was accepted, and will be delivered.
 */
export class PusherApi {
  constructor(private readonly deps: PusherApiDeps) {}

  /** The apps it serves. */
  get apps(): PusherApps {
    return this.deps.apps;
  }

  /** Whether a request path is this API's. */
  static handles(path: string): boolean {
    return path.startsWith(PUSHER_API_PREFIX);
  }

  /** Answers one request (never rejects: every failure is answered `{"error": …}` with its status). */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const body = req.method === 'POST' ? await this.deps.readBody(req, this.deps.maxBodyBytes) : Buffer.alloc(0);
      const verdict = verifyApiRequest(
        this.deps.apps,
        { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body },
        Date.now(),
        TIMESTAMP_WINDOW_SECONDS,
      );
      if (!verdict.ok) throw verdict.why === 'malformed' ? pusherApiError.badRequest(verdict.message) : pusherApiError.unauthorized(verdict.message);
      const [id, route, ...rest] = url.pathname.slice(PUSHER_API_PREFIX.length).split('/');
      if (id !== verdict.app.id) throw pusherApiError.wrongApp(decodeURIComponent(id ?? ''));
      sendJson(res, 200, await this.route(verdict.app, req.method ?? 'GET', url, route ?? '', rest, body));
    } catch (error) {
      const failure =
        error instanceof PusherApiError
          ? error
          : error instanceof PushError
            ? error.status >= 500
              ? pusherApiError.unavailable(error.message)
              : pusherApiError.badRequest(error.message)
            : pusherApiError.unavailable((error as Error).message);
      if (!res.headersSent) sendJson(res, failure.status, { error: failure.message }, failure.status === 503 ? { 'Retry-After': '1' } : {});
      else res.destroy();
    }
  }

  private async route(app: PusherApp, method: string, url: URL, route: string, rest: string[], body: Buffer): Promise<unknown> {
    const path = url.pathname;
    const only = (wanted: string): void => {
      if (method !== wanted) throw pusherApiError.methodNotAllowed(method, path);
    };
    if (route === 'events' && rest.length === 0) {
      only('POST');
      await this.trigger(app, [triggerOf(app, json(body))]);
      return {};
    }
    if (route === 'batch_events' && rest.length === 0) {
      only('POST');
      const batch = (json(body) as { batch?: unknown }).batch;
      if (!Array.isArray(batch) || batch.length === 0) throw pusherApiError.badRequest('batch must be a non-empty array of events');
      if (batch.length > app.maxBatchEvents) throw pusherApiError.badRequest(`a batch holds at most ${app.maxBatchEvents} events, got ${batch.length}`);
      await this.trigger(
        app,
        batch.map((event) => triggerOf(app, event, true)),
      );
      return {};
    }
    if (route === 'channels' && rest.length === 0) {
      only('GET');
      const prefix = url.searchParams.get('filter_by_prefix') ?? '';
      const channels: Record<string, object> = {};
      for (const { room } of this.deps.rooms(pusherRoomPrefix(app.id, prefix)).rooms) {
        const found = parsePusherRoom(room);
        if (found !== null && found.appId === app.id) channels[found.channel] = {};
      }
      return { channels };
    }
    if (route === 'channels' && rest.length === 1) {
      only('GET');
      const channel = decodeURIComponent(rest[0]);
      const problem = channelNameProblem(channel);
      if (problem !== null) throw pusherApiError.badRequest(problem);
      const room = pusherRoom(app.id, channel);
      const members = this.deps.rooms(room).rooms.find((listed) => listed.room === room)?.members ?? 0;
      const info = (url.searchParams.get('info') ?? '').split(',');
      return { occupied: members > 0, ...(info.includes('subscription_count') ? { subscription_count: members } : {}) };
    }
    throw pusherApiError.notFound(path);
  }

  // Every channel's event is handed to the push path; the answer waits for all of them.
  private async trigger(app: PusherApp, triggers: Trigger[]): Promise<void> {
    const accepted = triggers.flatMap(({ name, data, channels, socketId }) => {
      const item = encodeEventItem({ event: name, data });
      return channels.map((channel) => this.deps.publish(pusherRoom(app.id, channel), [item], socketId));
    });
    const results = await Promise.allSettled(accepted);
    this.deps.stats.pusherEvents += results.filter((result) => result.status === 'fulfilled').length;
    const refused = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (refused !== undefined) {
      const why = refused.reason instanceof Error ? refused.reason.message : String(refused.reason);
      const taken = results.length - results.filter((result) => result.status === 'rejected').length;
      throw refused.reason instanceof PushError && refused.reason.status < 500
        ? pusherApiError.badRequest(why)
        : pusherApiError.unavailable(`${why} (${taken} of ${results.length} channel events were accepted)`);
    }
  }
}

function json(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw pusherApiError.badRequest('the body is not JSON');
  }
}

/** One event of a request body, checked as Pusher checks it. `single`: a batch event names one `channel`. */
function triggerOf(app: PusherApp, value: unknown, single = false): Trigger {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw pusherApiError.badRequest('an event must be a JSON object');
  const { name, data, channels, channel, socket_id: socketId } = value as Record<string, unknown>;
  if (typeof name !== 'string' || name === '' || name.length > MAX_EVENT_NAME_LENGTH)
    throw pusherApiError.badRequest(`name must be a string of 1 to ${MAX_EVENT_NAME_LENGTH} characters`);
  if (typeof data !== 'string') throw pusherApiError.badRequest('data must be a string (the server SDKs send JSON-encoded data)');
  if (Buffer.byteLength(data) > app.maxEventBytes) throw pusherApiError.tooLarge(app.maxEventBytes);
  const list = single || channels === undefined ? [channel] : channels;
  if (!Array.isArray(list) || list.length === 0 || list.length > app.maxChannelsPerEvent)
    throw pusherApiError.badRequest(`channels must list 1 to ${app.maxChannelsPerEvent} channels`);
  for (const each of list) {
    const problem = typeof each === 'string' ? channelNameProblem(each) : 'a channel must be a string';
    if (problem !== null) throw pusherApiError.badRequest(problem);
  }
  if (socketId !== undefined && (typeof socketId !== 'string' || !isSocketId(socketId))) throw pusherApiError.badRequest('socket_id must look like 123.456');
  return { name, data, channels: list as string[], ...(socketId === undefined ? {} : { socketId: socketId as string }) };
}
