import { createHmac, timingSafeEqual } from 'node:crypto';

/** The version prefix of a signature header value: `v1=<hex>`. */
const VERSION = 'v1=';

/** Headers every hook request carries (lower case, as Node's `IncomingMessage.headers` has them). */
export const HookHeader = {
  /** Which hook: `connect`, `subscribe`, `rpc`, `publish` or `disconnect`. */
  HOOK: 'x-pushgate-hook',
  /** When the request was signed: milliseconds since the epoch. */
  TIMESTAMP: 'x-pushgate-timestamp',
  /** `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, when a hook secret is set. */
  SIGNATURE: 'x-pushgate-signature',
  /** On a batched request: how many calls its body holds. */
  BATCH: 'x-pushgate-batch',
} as const;

/** The signature header's value for `body` sent at `timestamp` (ms), with `secret`. */
export function signHookRequest(secret: string, timestamp: number, body: string | Buffer): string {
  return VERSION + createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** Options of {@link verifyHookSignature}. */
export interface VerifyOptions {
  /** How far the timestamp may be from now (ms), either way; older requests are refused as replays. Default 300000 (5 min). */
  toleranceMs?: number;
  /** The clock (ms since the epoch). Default `Date.now`. */
  now?: () => number;
}

/**
 * For a backend: whether a hook request is pushgate's, signed with `secret` — the signature matches the
 * raw body and the timestamp (compared in constant time), and the timestamp is within `toleranceMs` of
 * now, so a request captured earlier cannot be replayed later. Pass the raw body bytes as received (not
 * a re-serialised object) and the `x-pushgate-timestamp` and `x-pushgate-signature` header values.
 *
 * @example
 * const ok = verifyHookSignature(secret, rawBody, req.headers['x-pushgate-timestamp'], req.headers['x-pushgate-signature']);
 * if (!ok) return refuse(res); // not pushgate's, or a replay
 */
export function verifyHookSignature(
  secret: string,
  body: string | Buffer,
  timestamp: string | string[] | undefined,
  signature: string | string[] | undefined,
  options: VerifyOptions = {},
): boolean {
  if (typeof timestamp !== 'string' || typeof signature !== 'string' || !/^\d{1,16}$/.test(timestamp)) return false;
  const sentAt = Number(timestamp);
  const now = (options.now ?? Date.now)();
  if (Math.abs(now - sentAt) > (options.toleranceMs ?? 300_000)) return false;
  const expected = Buffer.from(signHookRequest(secret, sentAt, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
