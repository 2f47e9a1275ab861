/**
 * Every close code and error code pushgate uses, in one place. Clients decide from the close code
 * whether to reconnect; the table in the README mirrors this file.
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
} as const;

/** Codes of WARNING frames: the connection stays, but something will happen to it. */
export const WarningCode = {
  /** The connection's token expires soon (in `data.expiresIn` ms): it is then closed with 4001. */
  TOKEN_EXPIRING: 'TOKEN_EXPIRING',
} as const;

/** Stable codes carried by ERROR frames and by the push API's JSON errors. */
export const ErrorCode = {
  /** The text frame is not JSON. */
  BAD_JSON: 'BAD_JSON',
  /** The frame is JSON but not a `{"type": ..., "data": ...}` object. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** `type` is not one the server knows. */
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  /** `data.room` is missing or breaks the room-name rules. */
  INVALID_ROOM: 'INVALID_ROOM',
  /** The connection already holds `maxRooms` rooms. */
  TOO_MANY_ROOMS: 'TOO_MANY_ROOMS',
  /** Push API: the body cannot be used (malformed JSON or form, not UTF-8, missing or repeated fields). */
  INVALID_BODY: 'INVALID_BODY',
  /** Push API: an item nests arrays and objects deeper than `maxItemDepth`. */
  ITEM_TOO_DEEP: 'ITEM_TOO_DEEP',
  /** Push API: the request's headers or body did not arrive within `apiHeadersTimeout` / `apiRequestTimeout`. */
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  /** Push API: the body is larger than `maxBodySize`. */
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  /** Push API: the Content-Type is neither JSON nor a form. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** Push API: no such route. */
  NOT_FOUND: 'NOT_FOUND',
  /**
   * Push API: the API key is missing or wrong (`Authorization: Bearer <key>`). WebSocket: a handshake
   * token is invalid or expired (HTTP 401), a request came before AUTH, or an AUTH token is invalid.
   */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /**
   * A JOIN of a room the connection's token does not allow, or of `pushgate:stats` without the API key
   * (or at all when no key is set and `publicStats` is off).
   */
  FORBIDDEN: 'FORBIDDEN',
  /** Push API: the route exists but not for this method. */
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  /** Push API: one push holds more items than `maxPendingItems`: it could never be accepted. */
  TOO_MANY_ITEMS: 'TOO_MANY_ITEMS',
  /** Push API: `/push/conn` names a connection that is not connected here. */
  CONN_NOT_FOUND: 'CONN_NOT_FOUND',
  /** Push API: the merge and dispatch queues hold `maxPendingItems`; retry after `Retry-After`. */
  QUEUE_FULL: 'QUEUE_FULL',
  /** Push API: the broker joining the nodes is unreachable; the push was not accepted. Retry. */
  BROKER_UNAVAILABLE: 'BROKER_UNAVAILABLE',
  /** Push API: the gateway is shutting down and accepts no more pushes. */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
} as const;

export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];
