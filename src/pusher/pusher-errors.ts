/**
 * Every error the Pusher endpoint and API answer, in one place, as the Pusher clients and server SDKs
 * expect them: `pusher:error` codes (4000–4099: the client must not reconnect; 4100–4199: reconnect
 * after a back-off; 4200–4299: reconnect now; 4300–4399: other errors, the connection stays),
 * `pusher:subscription_error` types and statuses, and the HTTP API's statuses. The README's Pusher
 * tables mirror this file.
 */

/** `pusher:error` codes, and the close codes of the same numbers. */
export const PusherCode = {
  /** The app key of `/app/<key>` is not one of this server's apps. Do not reconnect. */
  APP_NOT_FOUND: 4001,
  /** The protocol version asked for is not served (this server speaks 5 to 7). Do not reconnect. */
  UNSUPPORTED_PROTOCOL: 4007,
  /** No `protocol` query parameter. Do not reconnect. */
  NO_PROTOCOL: 4008,
  /** A `pusher:signin` whose signature or user data does not hold (the connection stays, unsigned). */
  UNAUTHORIZED: 4009,
  /** A presence channel full: its app's `maxPresenceMembers` users are in it (the subscription's status). */
  OVER_CAPACITY: 4100,
  /** No frame (or pong) from the client for longer than the heartbeat interval. Reconnect now. */
  PONG_NOT_RECEIVED: 4201,
  /** A client event refused: over a limit, or not allowed here. The connection stays. */
  CLIENT_EVENT_REFUSED: 4301,
} as const;

/** What a refused subscription tells the client's channel (`pusher:subscription_error` data). */
export interface SubscriptionRefusal {
  type: string;
  error: string;
  status: number;
}

/** Refused subscriptions, by why. */
export const subscriptionRefusal = {
  /** A private or presence channel whose `auth` is not the app's signature of `socket_id:channel`. */
  badSignature: (socketId: string, channel: string): SubscriptionRefusal => ({
    type: 'AuthError',
    error: `Invalid signature: the auth of ${channel} is not this app's signature of ${socketId}:${channel}`,
    status: 401,
  }),
  /** A name Pusher does not allow. */
  invalidChannel: (message: string): SubscriptionRefusal => ({ type: 'InvalidChannel', error: message, status: 400 }),
  /** One channel too many on this connection. */
  tooManyChannels: (max: number): SubscriptionRefusal => ({
    type: 'LimitReached',
    error: `a connection may subscribe to ${max} channels at most`,
    status: 400,
  }),
  /** A presence channel's channel_data that cannot be a member. */
  badChannelData: (message: string): SubscriptionRefusal => ({ type: 'InvalidChannelData', error: message, status: 400 }),
  /** A presence channel that holds its app's limit of members (this connection's user not among them). */
  memberLimit: (channel: string, max: number): SubscriptionRefusal => ({
    type: 'LimitReached',
    error: `the presence channel ${channel} holds ${max} members, its app's limit (maxPresenceMembers)`,
    status: PusherCode.OVER_CAPACITY,
  }),
  /** A `#server-to-user-<id>` channel asked for by a connection not signed in as `<id>`. */
  notSignedIn: (channel: string): SubscriptionRefusal => ({
    type: 'AuthError',
    error: `${channel} is the channel of a signed-in user: sign in as that user first (pusher:signin)`,
    status: 403,
  }),
  /** The presence of a channel cannot be read now (the broker is down): try again. */
  unavailable: (message: string): SubscriptionRefusal => ({ type: 'Unavailable', error: message, status: 503 }),
};

/** An HTTP API error: its status and the message of its JSON body `{"error": message}`. */
export class PusherApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** More members of the JSON body, beside `error` (what a partly accepted trigger accepted). */
    readonly detail: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

/** The HTTP API's errors, as Pusher answers them (status and a message saying what is wrong). */
export const pusherApiError = {
  /** The request's signature, key, timestamp or body digest does not hold. */
  unauthorized: (message: string) => new PusherApiError(401, message),
  /** The path names an app id that is not the key's app. */
  wrongApp: (id: string) => new PusherApiError(404, `Unknown app ${id}`),
  /** No such route. */
  notFound: (path: string) => new PusherApiError(404, `no Pusher API route ${path}`),
  /** The route exists, not with this method. */
  methodNotAllowed: (method: string | undefined, path: string) => new PusherApiError(405, `${method ?? '?'} is not allowed on ${path}`),
  /** The body is not what the route takes. */
  badRequest: (message: string) => new PusherApiError(400, message),
  /** The body is larger than the server takes. */
  tooLarge: (limit: number) => new PusherApiError(413, `the request body is over ${limit} bytes`),
  /** The events could not all be accepted (the broker is down, the gateway is behind or stopping): retry. */
  unavailable: (message: string, detail: Readonly<Record<string, unknown>> = {}) => new PusherApiError(503, message, detail),
};
