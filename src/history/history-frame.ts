import { randomBytes } from 'node:crypto';

/**
 * How a push to a room with history travels over a broker of bytes: the envelope the publisher encoded
 * (src/cluster/envelope.ts), preceded by the position its store gave its first item:
 *
 *     #<first offset>:<epoch>\n<envelope>
 *
 * A prefix, not a field of the envelope, because the Redis store stamps it inside its Lua script (the
 * append and the publish are one step there, so the offsets are known only in Redis), and a prefix is
 * all a script can add to bytes it does not parse. No envelope starts with `#` (they are JSON objects).
 */

const HASH = 0x23;
const NEWLINE = 0x0a;
const COLON = 0x3a;
/** An epoch: what {@link newEpoch} makes, or any store's own id of the same alphabet. */
const EPOCH = /^[A-Za-z0-9_-]{1,64}$/;

/** A fresh epoch: 12 random characters of base64url. */
export function newEpoch(): string {
  return randomBytes(9).toString('base64url');
}

/** Whether `value` is a well-formed epoch. */
export function isEpoch(value: unknown): value is string {
  return typeof value === 'string' && EPOCH.test(value);
}

/** `payload` stamped with the position of its first item. */
export function stampPush(payload: Buffer, first: number, epoch: string): Buffer {
  return Buffer.concat([Buffer.from(`#${first}:${epoch}\n`, 'latin1'), payload]);
}

/** A stamped payload taken apart (the body a view of the same bytes), or null when it is not stamped or malformed. */
export function readStamp(payload: Buffer): { first: number; epoch: string; body: Buffer } | null {
  if (payload.length === 0 || payload[0] !== HASH) return null;
  const end = payload.indexOf(NEWLINE);
  if (end < 0 || end > 100) return null;
  const colon = payload.indexOf(COLON);
  if (colon < 0 || colon > end) return null;
  const first = Number(payload.toString('latin1', 1, colon));
  const epoch = payload.toString('latin1', colon + 1, end);
  if (!Number.isSafeInteger(first) || first < 1 || !EPOCH.test(epoch)) return null;
  return { first, epoch, body: payload.subarray(end + 1) };
}
