import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { PusherApp, PusherApps } from './apps.js';

/** What kind of channel a name is, by its prefix. */
export type ChannelKind = 'public' | 'private' | 'presence' | 'private-encrypted';

export function channelKind(name: string): ChannelKind {
  if (name.startsWith('private-encrypted-')) return 'private-encrypted';
  if (name.startsWith('private-')) return 'private';
  if (name.startsWith('presence-')) return 'presence';
  return 'public';
}

function sign(app: PusherApp, text: string): string {
  return createHmac('sha256', app.secret).update(text).digest('hex');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `<key>:<signature of socketId:channel[:channelData]>`, as an app's auth endpoint answers. */
export function channelAuthSignature(app: PusherApp, socketId: string, channel: string, channelData?: string): string {
  return `${app.key}:${sign(app, channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`)}`;
}

/** Whether `auth` is the app's signature of the subscription (constant time). */
export function verifyChannelAuth(app: PusherApp, socketId: string, channel: string, auth: string, channelData?: string): boolean {
  return same(auth, channelAuthSignature(app, socketId, channel, channelData));
}

/** Whether `auth` is the app's signature of a `pusher:signin` (`socketId::user::userData`). */
export function verifyUserAuth(app: PusherApp, socketId: string, auth: string, userData: string): boolean {
  return same(auth, `${app.key}:${sign(app, `${socketId}::user::${userData}`)}`);
}

/** The `X-Pusher-Signature` of a webhook body. */
export function webhookSignature(app: PusherApp, body: string | Buffer): string {
  return createHmac('sha256', app.secret).update(body).digest('hex');
}

/** A request of the HTTP API, as the verifier needs it. */
export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Buffer | string;
}

/** A verified request's app, or why it is refused (always a 401: Pusher's answer to a bad signature). */
export type ApiVerdict = { ok: true; app: PusherApp } | { ok: false; message: string };

// The signed string: method, path, and every query parameter but the signature, keys lower case, sorted.
function signedText(method: string, path: string, params: Array<[string, string]>): string {
  const sorted = params
    .filter(([key]) => key !== 'auth_signature')
    .map(([key, value]): [string, string] => [key.toLowerCase(), value])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [method.toUpperCase(), path, sorted.map(([key, value]) => `${key}=${value}`).join('&')].join('\n');
}

/**
 * Checks a request signed as the Pusher server SDKs sign them: `auth_key` names an app,
 * `auth_timestamp` is within `windowSeconds` of `nowMs`, `body_md5` is the body's MD5 (when it has
 * one), `auth_signature` the app's HMAC-SHA256 of the signed string.
 */
export function verifyApiRequest(apps: PusherApps, req: ApiRequest, nowMs: number, windowSeconds = 600): ApiVerdict {
  const q = req.query;
  const key = q.get('auth_key');
  const app = key === null ? undefined : apps.byKey(key);
  if (app === undefined) return { ok: false, message: key === null ? 'Missing auth_key' : `Unknown auth_key ${key}` };
  const timestamp = Number(q.get('auth_timestamp'));
  if (!Number.isFinite(timestamp)) return { ok: false, message: 'Missing or malformed auth_timestamp' };
  if (Math.abs(nowMs / 1000 - timestamp) > windowSeconds)
    return {
      ok: false,
      message: `Timestamp expired: ${timestamp} is more than ${windowSeconds} s from the server's time ${Math.floor(nowMs / 1000)}`,
    };
  if (q.get('auth_version') !== '1.0') return { ok: false, message: 'auth_version must be 1.0' };
  const body = typeof req.body === 'string' ? Buffer.from(req.body) : req.body;
  if (body.length > 0) {
    const md5 = createHash('md5').update(body).digest('hex');
    if (q.get('body_md5') !== md5) return { ok: false, message: 'body_md5 does not match the body' };
  }
  const signature = q.get('auth_signature') ?? '';
  if (!same(signature, sign(app, signedText(req.method, req.path, [...q.entries()]))))
    return { ok: false, message: "Invalid signature: the auth_signature is not the app's signature of this request" };
  return { ok: true, app };
}

/** Signs a request as the server SDKs do (for tests and the bench): the query string to send. */
export function signApiRequest(app: PusherApp, method: string, path: string, params: Record<string, string>, body: string, timestampSeconds: number): string {
  const all: Record<string, string> = { ...params, auth_key: app.key, auth_timestamp: String(timestampSeconds), auth_version: '1.0' };
  if (body !== '') all.body_md5 = createHash('md5').update(body).digest('hex');
  const entries = Object.entries(all);
  return `${entries.map(([k, v]) => `${k}=${v}`).join('&')}&auth_signature=${sign(app, signedText(method, path, entries))}`;
}
