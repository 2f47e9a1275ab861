import { type CryptoKey, SignJWT } from 'jose';

/** What a test token carries and how it is signed. */
export interface TokenClaims {
  sub?: string;
  rooms?: unknown;
  /** The `publish` claim: rooms the connection may PUBLISH to. */
  publish?: unknown;
  /** Seconds until `exp` (negative: already expired). Default 3600. */
  ttl?: number;
  /** HS256 secret (used unless `key` is given). */
  secret?: string;
  key?: CryptoKey;
  alg?: string;
}

/** A JWT for tests: HS256 with `secret`, or `key` under `alg`, expiring in `ttl` seconds. */
export function signToken(claims: TokenClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    ...(claims.rooms === undefined ? {} : { rooms: claims.rooms }),
    ...(claims.publish === undefined ? {} : { publish: claims.publish }),
  })
    .setProtectedHeader({ alg: claims.alg ?? 'HS256' })
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.ttl ?? 3600));
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  return jwt.sign(claims.key ?? new TextEncoder().encode(claims.secret ?? ''));
}
