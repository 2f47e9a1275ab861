import { createHash, timingSafeEqual } from 'node:crypto';

/** Whether an address is loopback-only (127.0.0.0/8, ::1, localhost): the push API may run keyless there. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * The push API's bearer key, compared in constant time: both sides are hashed first so that neither
 * the key's length nor its prefix leaks through timing.
 */
export class ApiKey {
  private readonly digest: Buffer;

  constructor(key: string) {
    this.digest = createHash('sha256').update(key).digest();
  }

  /** Whether `offered` is the key itself (e.g. the `key` of a JOIN of the stats room). */
  equals(offered: string | undefined): boolean {
    const digest = createHash('sha256')
      .update(offered ?? '')
      .digest();
    return timingSafeEqual(digest, this.digest) && offered !== undefined;
  }

  /** Whether an `Authorization` header carries the key (`Bearer <key>`). */
  matches(authorization: string | undefined): boolean {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    const offered = createHash('sha256')
      .update(match?.[1] ?? '')
      .digest();
    return timingSafeEqual(offered, this.digest) && match !== null;
  }
}
