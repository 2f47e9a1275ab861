import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type CloseRequest,
  type ConnectionService,
  checkedClose,
  DEFAULT_CLOSE,
  DEFAULT_ROOM_LIMIT,
  type Gathering,
  MAX_ROOM_LIMIT,
} from '../cluster/connection-service.js';
import { apiError } from '../protocol/errors.js';
import { sendJson } from '../server/http-reply.js';
import { isJsonMedia, jsonObjectBody, mediaType } from './body.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/** A route's handlers by method. */
export type Methods = Record<string, Handler>;

const CLOSE_MEMBERS = ['code', 'reason'] as const;

/**
 * The body of a DELETE: none (the default close, 4003 "disconnected by the backend"), or a JSON object
 * `{"code": 4000..4999, "reason": "…"}`, both optional, a reason of at most 123 bytes of UTF-8.
 */
export function parseCloseBody(type: string | undefined, body: Buffer, path: string): CloseRequest {
  if (body.length === 0) return DEFAULT_CLOSE;
  if (!isJsonMedia(mediaType(type))) throw apiError.UNSUPPORTED_MEDIA_TYPE.jsonOnly(path);
  const { value } = jsonObjectBody(body);
  for (const name of Object.keys(value)) {
    if (!(CLOSE_MEMBERS as readonly string[]).includes(name)) throw apiError.INVALID_BODY.unknownMember(name, CLOSE_MEMBERS);
  }
  return checkedClose(value.code ?? DEFAULT_CLOSE.code, value.reason ?? DEFAULT_CLOSE.reason);
}

/** `?limit=` of `GET /rooms`: an integer from 0 to 10000, 100 when absent. */
export function roomLimit(value: string | null): number {
  if (value === null) return DEFAULT_ROOM_LIMIT;
  const limit = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(limit <= MAX_ROOM_LIMIT)) throw apiError.INVALID_BODY.badParameter('limit', `an integer from 0 to ${MAX_ROOM_LIMIT}`);
  return limit;
}

/** A path segment, URL-decoded (as UTF-8); 400 for a malformed encoding. */
function decoded(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw apiError.INVALID_BODY.malformedPath(what);
  }
}

// The answer to a gathering over the nodes: `unanswered` only when some node did not answer.
function gathered({ partial, unanswered }: Gathering): { partial: boolean; unanswered?: string[] } {
  return unanswered.length === 0 ? { partial } : { partial, unanswered };
}

const CONNECTION = /^\/connections\/([^/]+)$/;
const USER_CONNECTIONS = /^\/users\/([^/]+)\/connections$/;
const ROOMS = '/rooms';
const ROOM_PREFIX = '/rooms/';

/**
 * The connection API's routes (see README "Connection management API"): `GET`/`DELETE
 * /connections/:id`, `GET`/`DELETE /users/:id/connections`, `GET /rooms` and `GET /rooms/:room`
 * (the room's name URL-encoded; a `/` in it may be written as is). Returns the route's handlers for
 * a path, or undefined when the path is none of them; throws 400 for a path segment that is not
 * valid URL encoding.
 */
export class ConnectionRoutes {
  constructor(
    private readonly service: ConnectionService,
    private readonly read: (req: IncomingMessage) => Promise<Buffer>,
  ) {}

  match(path: string): Methods | undefined {
    const service = this.service;
    if (path === ROOMS) {
      return {
        GET: (req, res) => {
          const query = new URL(req.url ?? '/', 'http://x').searchParams;
          sendJson(res, 200, service.rooms({ limit: roomLimit(query.get('limit')), prefix: query.get('prefix') ?? '' }));
        },
      };
    }
    if (path.startsWith(ROOM_PREFIX) && path.length > ROOM_PREFIX.length) {
      const room = decoded(path.slice(ROOM_PREFIX.length), 'room name');
      return { GET: (_req, res) => sendJson(res, 200, service.room(room)) };
    }
    const conn = CONNECTION.exec(path);
    if (conn !== null) {
      const id = decoded(conn[1], 'connection id');
      return {
        GET: (_req, res) => service.connection(id).then((info) => sendJson(res, 200, info)),
        DELETE: (req, res) =>
          this.close(req, path)
            .then((close) => service.closeConnection(id, close))
            .then((closed) => sendJson(res, 200, { ok: true, closed })),
      };
    }
    const user = USER_CONNECTIONS.exec(path);
    if (user !== null) {
      const id = decoded(user[1], 'user id');
      return {
        GET: (_req, res) =>
          service.userConnections(id).then((found) => sendJson(res, 200, { user: found.user, connections: found.connections, ...gathered(found) })),
        DELETE: (req, res) =>
          this.close(req, path)
            .then((close) => service.closeUserConnections(id, close))
            .then((result) => sendJson(res, 200, { ok: true, closed: result.closed, ...gathered(result) })),
      };
    }
    return undefined;
  }

  private close(req: IncomingMessage, path: string): Promise<CloseRequest> {
    return this.read(req).then((body) => parseCloseBody(req.headers['content-type'], body, path));
  }
}
