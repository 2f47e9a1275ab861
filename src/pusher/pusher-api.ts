import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClosedCount, CloseRequest, RoomList } from '../cluster/connection-service.js';
import type { PresenceView } from '../presence/presence-service.js';
import { PushError } from '../protocol/errors.js';
import { sendJson } from '../server/http-reply.js';
import type { Stats } from '../stats/stats.js';
import type { PusherApp, PusherApps } from './apps.js';
import { PusherApiError, PusherCode, pusherApiError } from './pusher-errors.js';
import { encodeEventItem } from './pusher-events.js';
import { channelNameProblem, MAX_EVENT_NAME_LENGTH, SERVER_TO_USER_PREFIX } from './pusher-frames.js';
import { parsePusherRoom, parsePusherUser, pusherRoom, pusherRoomPrefix, pusherUser } from './pusher-rooms.js';
import { channelKind, isSocketId, verifyApiRequest } from './signatures.js';

/** Pusher's HTTP API lives under this prefix: `/apps/<id>/…`. */
export const PUSHER_API_PREFIX = '/apps/';

/** How far a request's `auth_timestamp` may be from this server's clock (Pusher's window). */
const TIMESTAMP_WINDOW_SECONDS = 600;

/** How `terminate_connections` closes a user's connections: 4009, which pusher-js takes as "do not reconnect". */
export const TERMINATED: Readonly<CloseRequest> = Object.freeze({ code: PusherCode.UNAUTHORIZED, reason: 'terminated by the app (terminate_connections)' });

/** What the API needs of the gateway. */
export interface PusherApiDeps {
  apps: PusherApps;
  /** Where accepted events and answered requests are counted. */
  stats: Pick<Stats, 'pusherEvents' | 'pusherUserEvents' | 'pusherApiRequests' | 'pusherApiRefused' | 'pusherTerminations'>;
  /** Largest request body taken. */
  maxBodyBytes: number;
  /** Pushes event items to a room, leaving the connection `except` out; rejects with a PushError. */
  publish(room: string, items: readonly string[], except?: string): Promise<unknown>;
  /** The cluster's rooms whose names start with `prefix` (as the nodes last reported them). */
  rooms(prefix: string): RoomList;
  /** A room's presence over the cluster (a presence channel's users); rejects with a PushError. */
  presence(room: string): Promise<PresenceView>;
  /** Closes every connection of a hub user on every node. */
  closeUser(user: string, close: CloseRequest): Promise<ClosedCount>;
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
 * `POST /apps/<id>/batch_events`, `GET /apps/<id>/channels`, `GET /apps/<id>/channels/<name>`,
 * `GET /apps/<id>/channels/<name>/users` and `POST /apps/<id>/users/<user>/terminate_connections`, each
 * request signed as Pusher signs them (auth_key, auth_timestamp within 600 s, auth_version, body_md5,
 * auth_signature). An event is one item per channel, pushed through the gateway's push path: `200 {}`
 * means every channel's event was accepted, and will be delivered. When some channels' events were
 * accepted and others not (the broker failed between them), the answer is 503 and names both, so that a
 * retry sends only the refused ones: `{"error", "channels_accepted": [...], "channels_refused": [...]}`
 * (batch_events: `"events_refused"`, the indexes of the events not wholly accepted).
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
      const answer = await this.route(verdict.app, req.method ?? 'GET', url, route ?? '', rest, body);
      this.deps.stats.pusherApiRequests += 1;
      sendJson(res, 200, answer);
    } catch (error) {
      this.deps.stats.pusherApiRequests += 1;
      this.deps.stats.pusherApiRefused += 1;
      const failure =
        error instanceof PusherApiError
          ? error
          : error instanceof PushError
            ? error.status >= 500
              ? pusherApiError.unavailable(error.message)
              : pusherApiError.badRequest(error.message)
            : pusherApiError.unavailable((error as Error).message);
      if (!res.headersSent) sendJson(res, failure.status, { error: failure.message, ...failure.detail }, failure.status === 503 ? { 'Retry-After': '1' } : {});
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
        true,
      );
      return {};
    }
    if (route === 'channels' && rest.length === 0) {
      only('GET');
      const prefix = url.searchParams.get('filter_by_prefix') ?? '';
      const info = infoAsked(url, ['user_count', 'subscription_count']);
      // Pusher counts users on presence channels only, so it asks for a prefix that names no other kind.
      if (info.has('user_count') && !prefix.startsWith('presence-')) throw pusherApiError.badRequest('info=user_count needs filter_by_prefix=presence-');
      const listed = this.deps.rooms(pusherRoomPrefix(app.id, prefix)).rooms.flatMap(({ room, members }) => {
        const found = parsePusherRoom(room);
        return found === null || found.appId !== app.id ? [] : [{ room, members, channel: found.channel }];
      });
      // The channels' user counts are asked of the cluster at once, not one round trip after another.
      const userCounts = info.has('user_count') ? await Promise.all(listed.map(({ room }) => this.deps.presence(room).then((view) => view.userCount))) : null;
      const channels: Record<string, object> = {};
      listed.forEach(({ channel, members }, i) => {
        channels[channel] = {
          ...(userCounts === null ? {} : { user_count: userCounts[i] }),
          ...(info.has('subscription_count') ? { subscription_count: members } : {}),
        };
      });
      return { channels };
    }
    if (route === 'channels' && rest.length >= 1) {
      only('GET');
      const channel = pathSegment(rest[0]);
      const problem = channelNameProblem(channel);
      if (problem !== null) throw pusherApiError.badRequest(problem);
      const room = pusherRoom(app.id, channel);
      const presence = channelKind(channel) === 'presence';
      if (rest.length === 2 && rest[1] === 'users') {
        if (!presence) throw pusherApiError.badRequest(`users are listed for presence channels only, not ${channel}`);
        return { users: (await this.members(app, room)).map((id) => ({ id })) };
      }
      if (rest.length !== 1) throw pusherApiError.notFound(path);
      const info = infoAsked(url, ['subscription_count', 'user_count']);
      if (info.has('user_count') && !presence) throw pusherApiError.badRequest(`info=user_count is for presence channels only, not ${channel}`);
      const members = this.deps.rooms(room).rooms.find((listed) => listed.room === room)?.members ?? 0;
      const userCount = info.has('user_count') ? (await this.deps.presence(room)).userCount : undefined;
      return {
        occupied: members > 0,
        ...(userCount === undefined ? {} : { user_count: userCount }),
        ...(info.has('subscription_count') ? { subscription_count: members } : {}),
      };
    }
    if (route === 'users' && rest.length === 2 && rest[1] === 'terminate_connections') {
      only('POST');
      const user = pathSegment(rest[0]);
      if (user === '') throw pusherApiError.badRequest('a user id must be non-empty');
      const { closed } = await this.deps.closeUser(pusherUser(app.id, user), TERMINATED);
      this.deps.stats.pusherTerminations += closed;
      return {};
    }
    throw pusherApiError.notFound(path);
  }

  // A presence channel's users, the app's own ids, sorted; 503 when the room is too large to list.
  private async members(app: PusherApp, room: string): Promise<string[]> {
    const view = await this.deps.presence(room);
    if (view.users === undefined) throw pusherApiError.unavailable(`the channel holds ${view.count} connections, more than this server lists (--presence-max)`);
    return view.users.map((user) => parsePusherUser(app.id, user)).filter((id): id is string => id !== null);
  }

  // Every channel's event is handed to the push path; the answer waits for all of them, and names the
  // channels (or batch events) refused when some were accepted and others not.
  private async trigger(app: PusherApp, triggers: Trigger[], batch = false): Promise<void> {
    const sent = triggers.flatMap(({ name, data, channels, socketId }, index) => {
      const item = encodeEventItem({ event: name, data });
      return channels.map((channel) => ({ index, channel, result: this.deps.publish(pusherRoom(app.id, channel), [item], socketId) }));
    });
    const results = await Promise.allSettled(sent.map(({ result }) => result));
    let taken = 0;
    let users = 0;
    const refusedChannels = new Set<string>();
    const acceptedChannels = new Set<string>();
    const refusedEvents = new Set<number>();
    let reason: unknown;
    results.forEach((result, i) => {
      const { channel, index } = sent[i];
      if (result.status === 'fulfilled') {
        taken += 1;
        if (channel.startsWith(SERVER_TO_USER_PREFIX)) users += 1;
        acceptedChannels.add(channel);
        return;
      }
      reason ??= result.reason;
      refusedChannels.add(channel);
      refusedEvents.add(index);
    });
    this.deps.stats.pusherEvents += taken;
    this.deps.stats.pusherUserEvents += users;
    if (reason === undefined) return;
    const why = reason instanceof Error ? reason.message : String(reason);
    if (reason instanceof PushError && reason.status < 500 && taken === 0) throw pusherApiError.badRequest(why);
    const detail =
      taken === 0
        ? {}
        : batch
          ? { events_refused: [...refusedEvents] }
          : { channels_accepted: [...acceptedChannels].filter((channel) => !refusedChannels.has(channel)), channels_refused: [...refusedChannels] };
    throw pusherApiError.unavailable(`${why} (${taken} of ${results.length} channel events were accepted)`, detail);
  }
}

// The `info` attributes a query asks for, of those the route gives (any other is refused, as Pusher does).
function infoAsked(url: URL, allowed: readonly string[]): Set<string> {
  const asked = new Set((url.searchParams.get('info') ?? '').split(',').filter((name) => name !== ''));
  for (const name of asked) if (!allowed.includes(name)) throw pusherApiError.badRequest(`info=${name} is not served here (${allowed.join(', ')})`);
  return asked;
}

function pathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw pusherApiError.badRequest('the path is not valid URL encoding');
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
