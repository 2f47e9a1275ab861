/**
 * Every close code and error code pushgate uses, in one place: each error code with where it is
 * answered, its HTTP status, the close code that may follow it, and its messages. Clients decide from
 * the close code whether to reconnect; the README's tables mirror this file (test/protocol/errors.test.ts
 * checks them). Errors are built from this registry by src/protocol/errors.ts; nothing else writes a
 * code or a status.
 */

/** WebSocket close codes sent by the gateway. */
export const CloseCode = {
  /** Normal closure, e.g. a client's own close. Reconnect only if you still want pushes. */
  NORMAL: 1000,
  /** The server is shutting down. Reconnect (with backoff) to another node. */
  GOING_AWAY: 1001,
  /** A binary frame where the protocol requires text. Fix the client; do not reconnect blindly. */
  UNSUPPORTED_DATA: 1003,
  /** A text frame that is not valid UTF-8. Fix the client. */
  INVALID_PAYLOAD: 1007,
  /** Abuse: the client sent more messages than its rate limit allows. Reconnect after a pause. */
  POLICY_VIOLATION: 1008,
  /** A message larger than the gateway's `maxMessageSize`. Fix the client. */
  MESSAGE_TOO_BIG: 1009,
  /** An unexpected server error. Reconnect with backoff. */
  INTERNAL_ERROR: 1011,
  /** Slow consumer: the client did not read its pushes fast enough and its queue filled. Reconnect. */
  TRY_AGAIN_LATER: 1013,
  /** No frame from the client for longer than `heartbeatInterval`. Reconnect, and PING more often. */
  HEARTBEAT_TIMEOUT: 4000,
  /**
   * Authentication (when `jwtSecret`/`jwtPublicKey` is set): no valid AUTH within `handshakeTimeout`, an
   * invalid AUTH token, or the token expired. Get a fresh token before reconnecting (the SDK does not
   * reconnect on its own).
   */
  UNAUTHORIZED: 4001,
  /**
   * Disconnected by the backend on purpose, through the connection API (`DELETE /connections/:id`,
   * `DELETE /users/:id/connections`) unless it chose another 4000–4999 code. Do not reconnect blindly:
   * reconnecting would undo the backend's decision (the SDK does not reconnect).
   */
  DISCONNECTED: 4003,
} as const;

/** Codes of WARNING frames: the connection stays, but something will happen to it. */
export const WarningCode = {
  /** The connection's token expires soon (in `data.expiresIn` ms): it is then closed with 4001. */
  TOKEN_EXPIRING: 'TOKEN_EXPIRING',
} as const;

/**
 * Where an error code is answered: `frame`, an ERROR frame on a WebSocket; `api`, a JSON error of the
 * push API; `handshake`, a JSON error on the WebSocket port's HTTP side (a refused handshake, an unknown
 * page), before any WebSocket exists.
 */
export type ErrorSurface = 'frame' | 'api' | 'handshake';

/** Builds an error's message from what the call site knows (typed per message). */
export type MessageBuilder = (...args: never[]) => string;

/** One error code of the {@link errorRegistry}. */
export interface ErrorSpec {
  /** What the code means and what the client should do about it (the README says the same). */
  readonly doc: string;
  /** The HTTP status it is answered with; required for the `api` and `handshake` surfaces. */
  readonly status?: number;
  /** Headers every HTTP answer with this code carries. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The close code ({@link CloseCode}) that follows the ERROR frame when the error ends the connection. */
  readonly closes?: (typeof CloseCode)[keyof typeof CloseCode];
  /** Its messages, by the surface they are answered on: the keys are the code's surfaces. */
  readonly messages: Readonly<Partial<Record<ErrorSurface, Readonly<Record<string, MessageBuilder>>>>>;
}

const AUTH_CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="pushgate"' } as const;
const PUSH_MEDIA_TYPES = 'application/json or application/x-www-form-urlencoded';
const roomProblem = (problem: string): string => problem;
const reason = (message: string): string => message;

/**
 * Every error code pushgate answers with. A code's status is the same on every surface it has; its
 * messages are the only texts it is answered with.
 */
export const errorRegistry = {
  BAD_JSON: {
    doc: 'The text frame is not JSON. Fix the client.',
    messages: { frame: { notJson: () => 'message is not valid JSON' } },
  },
  BAD_REQUEST: {
    doc: 'The frame is JSON but not a `{"type": ..., "data": ...}` object with a valid `id`. Fix the client.',
    messages: {
      frame: {
        notObject: () => 'message must be a JSON object {"type": ..., "data": {...}}',
        badId: () => 'id must be a number or a string of at most 64 characters',
        typeNotString: () => 'type must be a string',
        dataNotObject: () => 'data must be an object',
        noToken: () => 'AUTH needs data.token, a non-empty string',
        rpcNoId: () => 'RPC needs an id (a number or a string), to match its REPLY',
        rpcMethod: () => 'RPC needs data.method, a string of 1 to 128 characters',
        presenceNoId: () => 'PRESENCE needs an id (a number or a string), to match its REPLY',
        publishRefused: (reason: string) => `the publish cannot be accepted: ${reason}`,
        badPosition: () => 'JOIN recovers with data.offset (an integer ≥ 0) and data.epoch (the string the stream gave) together',
      },
    },
  },
  UNKNOWN_TYPE: {
    doc: '`type` is not one the server knows (AUTH only with authentication on). Fix the client.',
    messages: {
      frame: {
        unknown: (type: string) => `unknown message type ${JSON.stringify(type.slice(0, 32))}`,
        authOff: () => 'unknown message type "AUTH" (authentication is off)',
      },
    },
  },
  INVALID_ROOM: {
    doc: "`data.room` (or the push's `room`) is missing or breaks the room-name rules. Fix the name.",
    status: 400,
    messages: { frame: { problem: roomProblem }, api: { problem: roomProblem } },
  },
  TOO_MANY_ROOMS: {
    doc: 'The connection already holds `maxRooms` rooms. LEAVE one first.',
    messages: { frame: { limit: (maxRooms: number) => `a connection may join at most ${maxRooms} rooms` } },
  },
  INVALID_BODY: {
    doc: 'Push API: the body cannot be used (malformed JSON or form, not UTF-8, missing, repeated or unknown fields, bad items; in a batch, a push without exactly one target; for the connection API, a close code outside 4000–4999 or a reason over 123 bytes), or a path segment or query parameter cannot (a malformed URL encoding, `limit` out of range). Fix the request.',
    status: 400,
    messages: {
      api: {
        notUtf8: () => 'body is not valid UTF-8',
        notJson: (error: string) => `body is not valid JSON: ${error}`,
        notObject: () => 'body must be a JSON object',
        repeatedMember: (name: string) => `member ${JSON.stringify(name)} appears more than once in the body`,
        noFormItems: () => 'form field items (a JSON array) is required',
        formFieldNotJson: (name: string) => `form field ${name} is not valid JSON`,
        missingField: (name: string) => `field ${name} (a non-empty string) is required`,
        itemsNotArray: () => 'items must be a non-empty JSON array',
        itemNotJson: (index: number, error?: string) => `items[${index}] is not a JSON value${error === undefined ? '' : `: ${error}`}`,
        userLength: (max: number) => `user must be 1 to ${max} characters`,
        malformedHttp: () => 'malformed HTTP request',
        unknownMember: (name: string, allowed: readonly string[]) => `member ${JSON.stringify(name)} is not one of ${allowed.join(', ')}`,
        pushesNotArray: () => 'pushes must be a non-empty JSON array',
        pushNotObject: () => 'a push must be a JSON object {"room": ..., "items": [...]}',
        closeCode: () => 'code must be an integer from 4000 to 4999',
        closeReason: (max: number) => `reason must be a string of at most ${max} bytes in UTF-8`,
        malformedPath: (what: string) => `the ${what} in the path is not valid URL encoding (percent-encode it as UTF-8)`,
        badParameter: (name: string, expected: string) => `query parameter ${name} must be ${expected}`,
        pushTarget: (found: readonly string[]) =>
          `a push names exactly one target (all: true, room, conn or user); ${found.length === 0 ? 'it names none' : `it names ${found.join(' and ')}`}`,
      },
    },
  },
  ITEM_TOO_DEEP: {
    doc: 'Push API: an item nests arrays and objects deeper than `maxItemDepth`; the push is refused whole. Flatten the item.',
    status: 400,
    messages: {
      api: {
        tooDeep: (index: number, depth: number | null, maxDepth: number) =>
          `items[${index}] is ${depth === null ? 'nested too deeply to encode' : `nested ${depth} deep`}; the limit is ${maxDepth} (maxItemDepth)`,
      },
    },
  },
  REQUEST_TIMEOUT: {
    doc: 'Push API: the headers or body did not arrive within `apiHeadersTimeout` / `apiRequestTimeout`; the connection is closed. Send faster.',
    status: 408,
    messages: { api: { late: () => 'the request did not arrive in time (apiHeadersTimeout / apiRequestTimeout)' } },
  },
  BODY_TOO_LARGE: {
    doc: 'Push API: the body is larger than `maxBodySize`; the connection is closed. Split the push.',
    status: 413,
    messages: {
      api: {
        declared: (declared: number, limit: number) => `body is ${declared} bytes; the limit is ${limit}`,
        exceeded: (limit: number) => `body exceeds the limit of ${limit} bytes`,
      },
    },
  },
  UNSUPPORTED_MEDIA_TYPE: {
    doc: 'Push API: the Content-Type is neither JSON nor a form (`POST /push/batch`: not JSON). Send one of them.',
    status: 415,
    messages: {
      api: {
        missing: () => `send Content-Type ${PUSH_MEDIA_TYPES}`,
        unsupported: (media: string) => `Content-Type ${media} is not supported; send ${PUSH_MEDIA_TYPES}`,
        jsonOnly: (path: string) => `${path} takes a JSON body only: send Content-Type application/json`,
      },
    },
  },
  NO_HISTORY: {
    doc: "History API: the room keeps no history (no `--history` pattern matches it). Fix the room, or the gateway's `--history`.",
    status: 404,
    messages: { api: { room: (room: string) => `room ${JSON.stringify(room)} keeps no history (no --history pattern matches it)` } },
  },
  NOT_FOUND: {
    doc: 'No such route on the push API, no WebSocket endpoint or page at that path on the WebSocket port. Fix the URL.',
    status: 404,
    messages: {
      api: { route: (path: string) => `no route ${path}` },
      handshake: {
        endpoint: (path: string, paths: readonly string[]) => `no WebSocket endpoint at ${path}; use ${paths.join(' or ')}`,
        page: () => 'no such page',
      },
    },
  },
  UNAUTHORIZED: {
    doc: 'Push API: the API key is missing or wrong (`Authorization: Bearer <key>`). WebSocket: a handshake token is invalid or expired (HTTP 401), a request came before AUTH, or an AUTH token is invalid (a connection that never authenticated is then closed with 4001). Get a valid key or token.',
    status: 401,
    headers: AUTH_CHALLENGE,
    closes: CloseCode.UNAUTHORIZED,
    messages: {
      frame: {
        verifying: () => 'the AUTH token is being verified; wait for its answer',
        authFirst: () => 'authenticate first: {"type":"AUTH","data":{"token":"<jwt>"}}',
        badToken: reason,
      },
      api: { apiKey: () => 'send the API key as Authorization: Bearer <key>' },
      handshake: {
        byBackend: reason,
        noToken: () => 'a token is required: ?token=<jwt>, the subprotocol pushgate.token.<jwt>, or offer the subprotocol pushgate.auth and send AUTH first',
        badToken: reason,
      },
    },
  },
  FORBIDDEN: {
    doc: "A JOIN of a room the token's `rooms` claim does not allow, or of `pushgate:stats` without the API key (or at all when no key is set and `publicStats` is off); an AUTH with a token of another user; a handshake, JOIN or PUBLISH the backend's hook refused (its reason is the message); a PUBLISH to a room neither the token's `publish` claim nor a publish hook allows; a PRESENCE of a room the connection is not a member of. Do not retry as is.",
    status: 403,
    messages: {
      frame: {
        roomNotAllowed: (room: string) => `the token does not allow room ${JSON.stringify(room)}`,
        statsReserved: (room: string) => `${room} is reserved: send the API key as data.key`,
        statsClosed: (room: string) => `${room} is closed: start the gateway with --public-stats, or set --api-key and send the key as data.key`,
        otherUser: () => 'a new token must be for the same user (sub)',
        byBackend: reason,
        notMember: (room: string) => `PRESENCE of room ${JSON.stringify(room)}: only its members may ask (JOIN it first)`,
        publishNotAllowed: (room: string) =>
          `publishing to room ${JSON.stringify(room)} is not allowed (no publish claim in the token allows it, and no publish hook is set)`,
      },
      handshake: { byBackend: reason },
    },
  },
  UNAVAILABLE: {
    doc: 'A backend hook is down, answered 5xx, or its circuit breaker is open (it failed too often in a row); or a PUBLISH could not be accepted (the gateway is overloaded or stopping); or a JOIN of a room with history could not read it (the broker is down: not joined); or a PRESENCE could not ask the other nodes (the broker is down). The connection is kept. Retry with backoff; a refused handshake (HTTP 503) carries `Retry-After`.',
    status: 503,
    headers: { 'Retry-After': '1' },
    messages: {
      frame: {
        hookFailed: (hook: string, detail: string) => `the ${hook} hook is unavailable: ${detail}`,
        notAccepted: (reason: string) => `the publish was not accepted: ${reason}`,
        historyUnavailable: (room: string) => `the history of room ${JSON.stringify(room)} cannot be read now (the broker is unavailable): not joined; retry`,
        presenceUnavailable: () => 'the presence of the room cannot be gathered now (the broker is unavailable, or the request failed); retry',
      },
      handshake: { hookFailed: (hook: string, detail: string) => `the ${hook} hook is unavailable: ${detail}; retry later` },
    },
  },
  TIMEOUT: {
    doc: 'A backend hook did not answer within `hookTimeout`. The connection is kept; the call may or may not have taken effect on the backend. Retry if the call is safe to repeat.',
    status: 504,
    messages: { frame: { hook: (hook: string, detail: string) => `the ${hook} hook gave no answer: ${detail}` } },
  },
  BAD_GATEWAY: {
    doc: 'A backend hook answered something the gateway cannot use (not JSON, the wrong shape, larger than `hookMaxAnswer`). Fix the backend.',
    status: 502,
    messages: {
      frame: { badAnswer: (hook: string, detail: string) => `the ${hook} hook answered badly: ${detail}` },
      handshake: { badAnswer: (hook: string, detail: string) => `the ${hook} hook answered badly: ${detail}` },
    },
  },
  BACKEND_ERROR: {
    doc: "An RPC the backend answered with an error: the message is the backend's and `data.backendCode` its own code (any string the backend chose).",
    messages: { frame: { rpc: reason } },
  },
  UNKNOWN_METHOD: {
    doc: 'An RPC whose method has no route: neither `rpcRoutes` names it nor is `rpcHook` set. Fix the client or the gateway options.',
    messages: { frame: { noRoute: (method: string) => `no backend handles RPC method ${JSON.stringify(method.slice(0, 64))}` } },
  },
  TOO_MANY_REQUESTS: {
    doc: 'The connection already has `maxRpcInFlight` RPC requests waiting for their answers. Wait for one.',
    messages: { frame: { rpcInFlight: (max: number) => `at most ${max} RPC requests may be in flight per connection` } },
  },
  ORIGIN_NOT_ALLOWED: {
    doc: "Handshake: the page's origin is not allowed by `allowedOrigins`. Serve the page from an allowed origin.",
    status: 403,
    messages: { handshake: { origin: (origin: string | undefined) => `origin ${origin} is not allowed` } },
  },
  METHOD_NOT_ALLOWED: {
    doc: 'Push API: the route exists but not for this method (the `Allow` header lists the right ones).',
    status: 405,
    messages: {
      api: {
        method: (method: string | undefined, path: string, allowed: readonly string[]) => `${method} is not allowed on ${path}; use ${allowed.join(', ')}`,
      },
    },
  },
  TOO_MANY_CONNECTIONS: {
    doc: 'Handshake: the address already holds `maxConnectionsPerIp` sockets on the WebSocket port. Reconnect once one closed.',
    status: 429,
    messages: { handshake: { perAddress: (max: number) => `at most ${max} connections per address` } },
  },
  TOO_MANY_PUSHES: {
    doc: 'Push API: a `POST /push/batch` holds more pushes than `maxBatchPushes`; none was taken. Split the batch.',
    status: 413,
    messages: { api: { limit: (count: number, max: number) => `the batch holds ${count} pushes; the limit is ${max} (maxBatchPushes); split it` } },
  },
  TOO_MANY_ITEMS: {
    doc: 'Push API: one push holds more items than `maxPendingItems`: it could never be accepted. Split it.',
    status: 413,
    messages: { api: { limit: (max: number) => `a push may hold at most ${max} items (maxPendingItems); split it` } },
  },
  CONN_NOT_FOUND: {
    doc: 'Push API: `/push/conn` names a connection that is not connected (in a cluster: no live node holds it, by a current view); connection API: a connection neither connected nor closed recently.',
    status: 404,
    messages: {
      api: {
        notConnected: (id: string) => `connection ${id} is not connected`,
        unknown: (id: string) => `connection ${id} is not connected, and did not close recently`,
      },
    },
  },
  CONN_GONE: {
    doc: 'Connection API: the connection closed recently (its close code, reason and time are in the answer); it is kept for a few minutes, then it is not found (404).',
    status: 410,
    messages: { api: { closed: (id: string) => `connection ${id} has closed` } },
  },
  QUEUE_FULL: {
    doc: 'Push API: the merge and dispatch queues hold `maxPendingItems`; retry after `Retry-After`.',
    status: 503,
    messages: { api: { full: (pending: number, limit: number) => `${pending} items are waiting for delivery (limit ${limit}); retry later` } },
  },
  OVERLOADED: {
    doc: 'Push API: delivery is behind the latency budget (`maxLatency`): the push was not accepted, so that what is accepted is delivered in time. Retry after `Retry-After`.',
    status: 503,
    messages: { api: { behind: (lagMs: number, budgetMs: number) => `delivery is ${lagMs} ms behind (latency budget ${budgetMs} ms); retry later` } },
  },
  BROKER_UNAVAILABLE: {
    doc: "Push API: the broker joining the nodes is unreachable, or this node's view of the cluster is not current; the push was not accepted; connection API: the node holding the connection did not answer within `brokerTimeout`. Retry after `Retry-After`.",
    status: 503,
    messages: {
      api: {
        notAccepted: () => 'the broker is unavailable: the push was not accepted; retry',
        unreachable: () => 'the broker is unavailable: the other nodes cannot be asked; retry',
        noReply: (node: string, ms: number) => `node ${node} did not answer within ${ms} ms (brokerTimeout); retry`,
        historyUnavailable: () => 'the history store (the broker) is unavailable; retry',
        viewNotCurrent: (node: string, id: string) =>
          `node ${node} of connection ${id} is not in this node's view of the cluster, which is not current (broker down or just back): cannot tell whether it is connected; retry`,
      },
    },
  },
  SHUTTING_DOWN: {
    doc: 'The gateway is shutting down: it accepts no more pushes or handshakes. Retry on another node.',
    status: 503,
    messages: {
      api: { gateway: () => 'the gateway is shutting down' },
      handshake: { server: () => 'the server is shutting down' },
    },
  },
  INTERNAL_ERROR: {
    doc: 'An unexpected server error (logged). Retry with backoff.',
    status: 500,
    messages: {
      api: { internal: () => 'internal error' },
      handshake: { failed: reason },
    },
  },
} as const satisfies Record<string, ErrorSpec>;

/** The name of an error code: a key of the {@link errorRegistry}. */
export type ErrorCodeName = keyof typeof errorRegistry;

/** Stable codes carried by ERROR frames and HTTP JSON errors, by name (each documented in the {@link errorRegistry}). */
export const ErrorCode = Object.freeze(Object.fromEntries(Object.keys(errorRegistry).map((code) => [code, code]))) as { readonly [C in ErrorCodeName]: C };
