import type { PreparedFrame } from '../protocol/client-protocol.js';
import { CloseCode } from '../protocol/codes.js';
import { prepareFrame } from '../protocol/prepared-frame.js';

// The Pusher Channels protocol, version 7, as pusher-js speaks it (node_modules/pusher-js/src/core):
// what a client sends, decoded and checked, and the server's own frames, each framed once.

/** Pusher's limit on a channel name, in characters (prefixes such as `private-` included). */
export const MAX_CHANNEL_LENGTH = 164;
/** Pusher's limit on an event name, in characters. */
export const MAX_EVENT_NAME_LENGTH = 200;
/** The channel pusher-js subscribes to once signed in, to receive the server's events for its user. */
export const SERVER_TO_USER_PREFIX = '#server-to-user-';

/** A client frame, decoded and checked: what a Pusher connection asks for. */
export type PusherRequest =
  | { type: 'ping' }
  | { type: 'pong' }
  /** `auth`: the signature (absent for a public channel: pusher-js sends `""`); `channelData`: a presence channel's member, as JSON text. */
  | { type: 'subscribe'; channel: string; auth?: string; channelData?: string }
  | { type: 'unsubscribe'; channel: string }
  /** `userData`: the signed user, as JSON text (its `id` is checked with the signature, elsewhere). */
  | { type: 'signin'; auth: string; userData: string }
  /** `data`: the JSON text of the event's data, the same JSON value the client sent (a string stays a string). */
  | { type: 'client-event'; channel: string; event: string; data: string };

/**
 * A client frame that cannot be served: answer with `pusher:error` (`code` and `message`), or close with
 * `close` when set. `channel`: the channel a `pusher:subscribe` named, when it named one, so that a
 * refused subscription can be answered with `pusher:subscription_error` and reach the client's channel.
 */
export interface PusherFrameError {
  type: 'error';
  /** A Pusher error code (4000–4399), or `null` for a plain error, as Pusher sends most of them. */
  code: number | null;
  message: string;
  close?: number;
  channel?: string;
}

// Pusher's channel names: letters, digits and _ - = @ , . ; only.
const CHANNEL_NAME = /^[A-Za-z0-9_\-=@,.;]+$/;
// A server-to-user channel ends with a user id, which Pusher does not restrict to the channel alphabet;
// its own checks (it is the signed-in user's) belong to the connection, which knows the user.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the check refuses.
const USER_ID_TAIL = /^[^\u0000-\u001f\u007f]{1,200}$/;

const PING: PusherRequest = Object.freeze({ type: 'ping' });
const PONG_REQUEST: PusherRequest = Object.freeze({ type: 'pong' });

// Pusher's protocol says binary frames are not supported, and names no code for them. 1003 is RFC 6455's
// own code for data of a type the endpoint cannot accept (go-push refuses binary frames with it too), and
// pusher-js answers it by reconnecting after a back-off (Protocol.getCloseAction: 1002–1004 → backoff):
// never the tight loop a 4200-range code (reconnect at once) would cause with a client that keeps sending
// them. pusher-js itself only ever sends text, so whatever sends binary is another client, told plainly.
const BINARY: PusherFrameError = Object.freeze({
  type: 'error',
  code: null,
  message: 'binary frames are not supported; send JSON text frames',
  close: CloseCode.UNSUPPORTED_DATA,
});

const fail = (message: string, channel?: unknown): PusherFrameError =>
  typeof channel === 'string' ? { type: 'error', code: null, message, channel } : { type: 'error', code: null, message };

const quote = (name: string): string => JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Why `channel` is no Pusher channel name, or `null` when it is one. */
export function channelNameProblem(channel: unknown): string | null {
  if (typeof channel !== 'string' || channel.length === 0) return 'channel must be a non-empty string';
  if (channel.startsWith(SERVER_TO_USER_PREFIX)) {
    return USER_ID_TAIL.test(channel.slice(SERVER_TO_USER_PREFIX.length)) ? null : `invalid channel name ${quote(channel)}`;
  }
  if (channel.length > MAX_CHANNEL_LENGTH) return `channel name ${quote(channel)} is longer than ${MAX_CHANNEL_LENGTH} characters`;
  if (!CHANNEL_NAME.test(channel)) return `invalid channel name ${quote(channel)}: use only letters, digits and _ - = @ , . ;`;
  return null;
}

// The data of a pusher: event is an object; pusher-js sends it as one, other clients as the JSON text of
// one (Pusher's double encoding goes both ways), so both are taken. `null`: neither.
function commandData(data: unknown): Record<string, unknown> | null {
  if (isObject(data)) return data;
  if (typeof data !== 'string') return null;
  try {
    const parsed: unknown = JSON.parse(data);
    return isObject(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

const noData = (event: string): PusherFrameError => fail(`${event} needs data, an object (or the JSON text of one)`);

// An optional string member: absent, null and (for auth) "" all mean none, as pusher-js leaves them.
function optionalString(data: Record<string, unknown>, name: string): string | undefined | PusherFrameError {
  const value = data[name];
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' ? value : fail(`pusher:subscribe data.${name} must be a string`, data.channel);
}

function decodeSubscribe(rawData: unknown): PusherRequest | PusherFrameError {
  const data = commandData(rawData);
  if (data === null) return noData('pusher:subscribe');
  const { channel } = data;
  const problem = channelNameProblem(channel);
  if (problem !== null) return fail(`pusher:subscribe: ${problem}`, channel);
  const auth = optionalString(data, 'auth');
  if (typeof auth === 'object') return auth;
  const channelData = optionalString(data, 'channel_data');
  if (typeof channelData === 'object') return channelData;
  return {
    type: 'subscribe',
    channel: channel as string,
    ...(auth === undefined ? {} : { auth }),
    ...(channelData === undefined ? {} : { channelData }),
  };
}

function decodeUnsubscribe(rawData: unknown): PusherRequest | PusherFrameError {
  const data = commandData(rawData);
  if (data === null) return noData('pusher:unsubscribe');
  if (typeof data.channel !== 'string' || data.channel.length === 0) return fail('pusher:unsubscribe needs data.channel, a non-empty string');
  return { type: 'unsubscribe', channel: data.channel };
}

function decodeSignin(rawData: unknown): PusherRequest | PusherFrameError {
  const data = commandData(rawData);
  if (data === null) return noData('pusher:signin');
  const { auth, user_data: userData } = data;
  if (typeof auth !== 'string' || auth.length === 0) return fail('pusher:signin needs data.auth, a non-empty string');
  if (typeof userData !== 'string' || userData.length === 0) return fail('pusher:signin needs data.user_data, a non-empty string (JSON text)');
  return { type: 'signin', auth, userData };
}

function decodeClientEvent(event: string, frame: Record<string, unknown>): PusherRequest | PusherFrameError {
  if (event.length > MAX_EVENT_NAME_LENGTH) return fail(`event name ${quote(event)} is longer than ${MAX_EVENT_NAME_LENGTH} characters`);
  const { channel, data } = frame;
  if (typeof channel !== 'string' || channel.length === 0) return fail(`client event ${quote(event)} needs channel, a non-empty string`);
  // Pusher accepts client events on authorised channels only: the sender proved it may be there.
  if (!channel.startsWith('private-') && !channel.startsWith('presence-')) {
    return fail(`client event ${quote(event)} rejected: client events are only supported on private and presence channels`);
  }
  // pusher-js leaves data out for channel.trigger(name) without data; Pusher's client events carry data.
  if (data === undefined) return fail(`client event ${quote(event)} needs data`);
  // The same JSON value, re-serialised (as soketi relays it): compact, numbers as JSON.parse read them.
  return { type: 'client-event', channel, event, data: JSON.stringify(data) };
}

/**
 * Decodes one client message (text: a string, binary: a Buffer) into what it asks for, or the error to
 * answer it with. Never throws.
 */
export function decodePusherFrame(message: string | Buffer): PusherRequest | PusherFrameError {
  if (typeof message !== 'string') return BINARY;
  let frame: unknown;
  try {
    frame = JSON.parse(message);
  } catch {
    return fail('message is not valid JSON');
  }
  if (!isObject(frame)) return fail('message must be a JSON object {"event": ..., "data": ...}');
  const { event } = frame;
  if (typeof event !== 'string') return fail('event must be a string');
  switch (event) {
    case 'pusher:ping':
      return PING;
    case 'pusher:pong':
      return PONG_REQUEST;
    case 'pusher:subscribe':
      return decodeSubscribe(frame.data);
    case 'pusher:unsubscribe':
      return decodeUnsubscribe(frame.data);
    case 'pusher:signin':
      return decodeSignin(frame.data);
  }
  if (event.startsWith('client-')) return decodeClientEvent(event, frame);
  return fail(
    `unsupported event ${quote(event)}: a client sends pusher:ping, pusher:pong, pusher:subscribe, pusher:unsubscribe, pusher:signin or client-* events`,
  );
}

/** A presence channel's members, as `pusher_internal:subscription_succeeded` tells them. */
export interface PresenceState {
  /** The user ids of the members. */
  ids: readonly string[];
  /** Each member's user_info by user id (undefined is sent as null, so that the member stays listed). */
  hash: Readonly<Record<string, unknown>>;
  /** How many users are members. */
  count: number;
}

/** Why a subscription was refused, as pusher-js reports its own failures on `pusher:subscription_error`. */
export interface SubscriptionErrorData {
  /** e.g. `AuthError` (what pusher-js sends when authorising fails), `LimitReached`. */
  type: string;
  error: string;
  /** An HTTP-like status, e.g. 401 or 403 (pusher-js's own HTTP auth failures carry the endpoint's). */
  status: number;
}

/** pusher-js refuses a handshake without a (truthy) activity timeout; Pusher recommends 120 s. */
export const DEFAULT_ACTIVITY_TIMEOUT_SECONDS = 120;

/**
 * `pusher:connection_established`, the first frame: `data` is a JSON text (Pusher's double encoding)
 * holding the socket id and the seconds of server silence after which the client pings (pusher-js takes
 * the smaller of this and its own setting). pusher-js passes the socket id to the app's auth endpoint,
 * whose Pusher server SDK accepts only ids of the form `<digits>.<digits>`.
 */
export function connectionEstablished(socketId: string, activityTimeoutSeconds: number): PreparedFrame {
  if (!(Number.isInteger(activityTimeoutSeconds) && activityTimeoutSeconds > 0)) {
    throw new RangeError(`activity_timeout must be a positive whole number of seconds (got ${activityTimeoutSeconds})`);
  }
  const data = JSON.stringify({ socket_id: socketId, activity_timeout: activityTimeoutSeconds });
  return prepareFrame(JSON.stringify({ event: 'pusher:connection_established', data }));
}

// The same bytes for every connection: framed once for the process (as pusher-js sends them, data {}).
const PONG_FRAME = prepareFrame('{"event":"pusher:pong","data":{}}');
const PING_FRAME = prepareFrame('{"event":"pusher:ping","data":{}}');

/** `pusher:pong`, the answer to a `pusher:ping` (one frame shared by all: never change its bytes). */
export function pong(): PreparedFrame {
  return PONG_FRAME;
}

/** `pusher:ping`: pusher-js answers it with `pusher:pong` (one frame shared by all: never change its bytes). */
export function ping(): PreparedFrame {
  return PING_FRAME;
}

/**
 * `pusher_internal:subscription_succeeded` for `channel`: data `"{}"` for a public or private channel;
 * for a presence channel, `presence` (ids, hash, count) as a JSON text, which pusher-js hands to
 * `Members.onSubscription` (it reads `hash` and `count`, and finds itself in `hash` by its user id).
 */
export function subscriptionSucceeded(channel: string, presence?: PresenceState): PreparedFrame {
  let data = '{}';
  if (presence !== undefined) {
    const hash = Object.fromEntries(Object.entries(presence.hash).map(([id, info]) => [id, info === undefined ? null : info]));
    data = JSON.stringify({ presence: { ids: presence.ids, hash, count: presence.count } });
  }
  return prepareFrame(JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel, data }));
}

/**
 * `pusher:subscription_error` for `channel`: pusher-js routes it to the channel, which emits it with
 * `data` as is (Laravel Echo's `channel.error(callback)` receives it), so it carries the same
 * `{type, error, status}` pusher-js emits for its own authorisation failures. The data is an object,
 * as soketi sends it (pusher-js would parse a JSON text into the same object).
 */
export function subscriptionError(channel: string, error: SubscriptionErrorData): PreparedFrame {
  const data = { type: error.type, error: error.error, status: error.status };
  return prepareFrame(JSON.stringify({ event: 'pusher:subscription_error', channel, data }));
}

/**
 * `pusher:error` with data `{code, message}` (an object, as Pusher's protocol shows it): `code` null for
 * a plain error the connection survives; a 4000–4399 code names one of Pusher's (pusher-js picks its
 * reconnection from it when the error comes instead of the handshake).
 */
export function error(code: number | null, message: string): PreparedFrame {
  return prepareFrame(JSON.stringify({ event: 'pusher:error', data: { code, message } }));
}

/**
 * `pusher_internal:member_added` on a presence channel: data is the JSON text of `{user_id, user_info}`
 * (pusher-js's `Members.addMember`); an undefined `userInfo` is sent as null, as in the subscription's hash.
 */
export function memberAdded(channel: string, userId: string, userInfo?: unknown): PreparedFrame {
  const data = JSON.stringify({ user_id: userId, user_info: userInfo === undefined ? null : userInfo });
  return prepareFrame(JSON.stringify({ event: 'pusher_internal:member_added', channel, data }));
}

/** `pusher_internal:member_removed` on a presence channel: data is the JSON text of `{user_id}`. */
export function memberRemoved(channel: string, userId: string): PreparedFrame {
  return prepareFrame(JSON.stringify({ event: 'pusher_internal:member_removed', channel, data: JSON.stringify({ user_id: userId }) }));
}

/**
 * `pusher:signin_success`: data `{user_data}`, the signed user's JSON text as the client sent it
 * (pusher-js parses it and needs its string `id`, then subscribes to `#server-to-user-<id>`).
 */
export function signinSuccess(userData: string): PreparedFrame {
  return prepareFrame(JSON.stringify({ event: 'pusher:signin_success', data: { user_data: userData } }));
}
