import { createHash, createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { PusherApp, PusherApps } from './apps.js';
import { SERVER_TO_USER_PREFIX } from './pusher-frames.js';

// Every signature of the Pusher Channels protocol, as pure functions, checked against the `pusher`
// server SDK (node_modules/pusher/lib: auth.js, requests.js, webhook.js, token.js): each is a hex
// HMAC-SHA256 with the app's secret.

// Channel names: one rule for the whole endpoint, the codec's (Pusher's documented 164 characters of
// `[A-Za-z0-9_\-=@,.;]`; the server SDK checks a looser 200), re-exported so that a caller of the
// signatures needs no second import.
export { channelNameProblem } from './pusher-frames.js';

/** What kind of channel a name is, by its prefix: which signature (if any) subscribing takes. */
export type ChannelKind = 'public' | 'private' | 'presence' | 'private-encrypted';

/** The kind of channel `name` is; `private-encrypted-` is tested before `private-`, which it starts with. */
export function channelKind(name: string): ChannelKind {
  if (name.startsWith('private-encrypted-')) return 'private-encrypted';
  if (name.startsWith('private-')) return 'private';
  if (name.startsWith('presence-')) return 'presence';
  return 'public';
}

/**
 * Whether `name` is a channel Pusher reserves for itself: `#server-to-user-<user id>`, which pusher-js
 * subscribes to once signed in. Only the signed-in user's own may be subscribed, and no client or API
 * event may be sent to one (the server sends to it for `users/<id>/events`).
 */
export function isReservedChannel(name: string): boolean {
  return name.startsWith(SERVER_TO_USER_PREFIX);
}

function sign(app: PusherApp, text: string | Buffer): string {
  return createHmac('sha256', app.secret).update(text).digest('hex');
}

// Constant time over the bytes; unequal lengths answer at once (a length is no secret: it is 64 for a hex SHA-256).
function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// An `auth` is `<key>:<signature>`: the key is compared first, so that an auth signed for another app
// is refused for what it is, whichever secrets the apps have.
function verifyKeyed(app: PusherApp, auth: string, text: string): boolean {
  const colon = auth.indexOf(':');
  if (colon < 0 || auth.slice(0, colon) !== app.key) return false;
  return same(auth.slice(colon + 1), sign(app, text));
}

function channelText(socketId: string, channel: string, channelData?: string): string {
  return channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
}

/**
 * `<key>:<hex HMAC-SHA256(secret, socketId:channel[:channelData])>`: what an app's auth endpoint answers
 * for a private or presence subscription (`channelData`: the presence member, as the JSON text sent).
 */
export function channelAuthSignature(app: PusherApp, socketId: string, channel: string, channelData?: string): string {
  return `${app.key}:${sign(app, channelText(socketId, channel, channelData))}`;
}

/** Whether `auth` is this app's signature of the subscription (its key part this app's key; constant time). */
export function verifyChannelAuth(app: PusherApp, socketId: string, channel: string, auth: string, channelData?: string): boolean {
  return verifyKeyed(app, auth, channelText(socketId, channel, channelData));
}

/** `<key>:<hex HMAC-SHA256(secret, socketId::user::userData)>`: the signature of a `pusher:signin`. */
export function userAuthSignature(app: PusherApp, socketId: string, userData: string): string {
  return `${app.key}:${sign(app, `${socketId}::user::${userData}`)}`;
}

/** Whether `auth` is this app's signature of a `pusher:signin` with `userData` (the JSON text sent; constant time). */
export function verifyUserAuth(app: PusherApp, socketId: string, auth: string, userData: string): boolean {
  return verifyKeyed(app, auth, `${socketId}::user::${userData}`);
}

/** The `X-Pusher-Signature` of a webhook body: hex HMAC-SHA256(secret, body); `X-Pusher-Key` is the app's key. */
export function webhookSignature(app: PusherApp, body: string | Buffer): string {
  return sign(app, body);
}

/** The headers of a webhook POST of `body`, as the server SDKs' webhook verifiers read them. */
export function webhookHeaders(app: PusherApp, body: string | Buffer): Record<string, string> {
  return { 'Content-Type': 'application/json', 'X-Pusher-Key': app.key, 'X-Pusher-Signature': webhookSignature(app, body) };
}

const SOCKET_ID = /^\d+\.\d+$/;
// randomInt's bound: its range must stay under 2^48.
const SOCKET_ID_PART = 2 ** 47;

/**
 * A random Pusher socket id, `<digits>.<digits>`, the form pusher-js and the server SDKs check. Two
 * parts of 47 random bits: ids that collide (and so could be excluded or signed for each other) are
 * 1 in 2^94 apart.
 */
export function newSocketId(): string {
  return `${randomInt(1, SOCKET_ID_PART)}.${randomInt(1, SOCKET_ID_PART)}`;
}

/** Whether `s` has the form of a Pusher socket id (`^\d+\.\d+$`, as the server SDKs check it). */
export function isSocketId(s: string): boolean {
  return SOCKET_ID.test(s);
}

/** A request of the HTTP API, as the verifier needs it: `path` as received (`/apps/<id>/…`), the query decoded. */
export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams | Record<string, string>;
  body: Buffer | string;
}

/**
 * A verified request's app, or why it is refused: 401 when it is not the app's (no or unknown key,
 * stale timestamp, body digest or signature wrong), 400 when its auth parameters are malformed.
 */
export type ApiVerdict = { ok: true; app: PusherApp } | { ok: false; why: 'unauthorized' | 'malformed'; message: string };

// The parameters the SDKs add themselves (requests.js: RESERVED_QUERY_KEYS): a caller's would be overwritten.
const AUTH_PARAMS = ['auth_key', 'auth_timestamp', 'auth_version', 'auth_signature', 'body_md5'];

const md5 = (body: Buffer | string): string => createHash('md5').update(body).digest('hex');

/**
 * The string an API request's signature covers: `METHOD\nPATH\nQUERY`, QUERY every parameter but
 * `auth_signature`, keys lower-cased, sorted by key (by UTF-16 code units, as the SDK's sort), joined
 * `k=v&…` with the values as they are, never percent-encoded (requests.js signs the raw values, and
 * the server compares against the decoded ones).
 */
function signedText(method: string, path: string, params: Array<[string, string]>): string {
  const sorted = params
    .filter(([key]) => key !== 'auth_signature')
    .map(([key, value]): [string, string] => [key.toLowerCase(), value])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [method.toUpperCase(), path, sorted.map(([key, value]) => `${key}=${value}`).join('&')].join('\n');
}

// `malformed`: the parameters cannot be read (Pusher answers 400); `unauthorized`: they do not hold (401).
const refuse = (why: 'unauthorized' | 'malformed', message: string): ApiVerdict => ({ ok: false, why, message });

/**
 * Checks an HTTP API request signed as the Pusher server SDKs sign them: `auth_key` names an app,
 * `auth_timestamp` (Unix seconds) is within `windowSeconds` of `nowMs` (so a captured request cannot
 * be replayed later), `auth_version` is 1.0, `body_md5` is the body's MD5 (required with a body), and
 * `auth_signature` is the app's HMAC-SHA256 of the signed string. Each refusal says which rule failed.
 */
export function verifyApiRequest(apps: PusherApps, req: ApiRequest, nowMs: number, windowSeconds = 600): ApiVerdict {
  const params: Array<[string, string]> = req.query instanceof URLSearchParams ? [...req.query.entries()] : Object.entries(req.query);
  const q = new Map<string, string>();
  for (const [key, value] of params) {
    // A repeated parameter would be read once here and signed twice, in an order the sort leaves to chance.
    if (q.has(key.toLowerCase())) return refuse('malformed', `Duplicated query parameter ${key}`);
    q.set(key.toLowerCase(), value);
  }
  const key = q.get('auth_key');
  if (key === undefined || key === '') return refuse('unauthorized', 'Missing auth_key: sign the request as the Pusher server SDKs do');
  const app = apps.byKey(key);
  if (app === undefined) return refuse('unauthorized', `Unknown auth_key ${key}`);
  const signature = q.get('auth_signature');
  if (signature === undefined || signature === '') return refuse('unauthorized', 'Missing auth_signature');
  const stamp = q.get('auth_timestamp');
  if (stamp === undefined) return refuse('unauthorized', 'Missing auth_timestamp');
  if (!/^\d{1,15}$/.test(stamp)) return refuse('malformed', `auth_timestamp must be Unix seconds, got ${JSON.stringify(stamp)}`);
  const timestamp = Number(stamp);
  const now = Math.floor(nowMs / 1000);
  if (Math.abs(now - timestamp) > windowSeconds) {
    return refuse('unauthorized', `Timestamp expired: given timestamp ${timestamp} is not within ${windowSeconds} s of the server's time ${now}`);
  }
  const version = q.get('auth_version');
  if (version !== '1.0') return refuse('malformed', `auth_version must be 1.0, got ${version === undefined ? 'none' : JSON.stringify(version)}`);
  const digest = q.get('body_md5');
  if (req.body.length > 0 && digest === undefined) return refuse('unauthorized', 'Missing body_md5: a request with a body must sign its MD5');
  if (digest !== undefined && !same(digest.toLowerCase(), md5(req.body))) return refuse('unauthorized', 'body_md5 does not match the body');
  if (!same(signature.toLowerCase(), sign(app, signedText(req.method, req.path, params)))) {
    return refuse('unauthorized', "Invalid signature: the auth_signature is not the app's signature of this request");
  }
  return { ok: true, app };
}

/**
 * Signs an API request as the server SDKs do (for tests and the bench): the query string to send,
 * `params` with the auth parameters added (`timestampSeconds`: Unix seconds). Unlike the SDK, the
 * returned string is percent-encoded, so that any value survives the URL; the signature covers the
 * decoded values, as the verifier computes it. Throws a TypeError for a param the signing owns.
 */
export function signApiRequest(
  app: PusherApp,
  method: string,
  path: string,
  params: Record<string, string>,
  body: Buffer | string,
  timestampSeconds: number,
): string {
  for (const key of Object.keys(params)) {
    if (AUTH_PARAMS.includes(key.toLowerCase())) throw new TypeError(`${key} is added by the signing and cannot be given`);
  }
  const all: Record<string, string> = { ...params, auth_key: app.key, auth_timestamp: String(Math.floor(timestampSeconds)), auth_version: '1.0' };
  if (body.length > 0) all.body_md5 = md5(body);
  const query = new URLSearchParams(all);
  query.set('auth_signature', sign(app, signedText(method, path, Object.entries(all))));
  return query.toString();
}
