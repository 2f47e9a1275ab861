import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors, type JWTPayload, jwtVerify } from 'jose';
import { RoomPolicy, roomPatternsProblem } from './room-policy.js';

/** The query parameter that may carry a connection's token: `/connect?token=<jwt>`. */
export const TOKEN_QUERY_PARAMETER = 'token';
/** A `Sec-WebSocket-Protocol` entry `pushgate.token.<jwt>` may carry the token (browsers cannot set headers). */
export const TOKEN_PROTOCOL_PREFIX = 'pushgate.token.';
/** The plain subprotocol a client may offer beside the token entry; the server then answers with it. */
export const PUSHGATE_PROTOCOL = 'pushgate';
/** The expiry warning comes this long before a token expires (or half the token's remaining life, if shorter). */
export const EXPIRY_WARNING_MS = 30_000;

/** What a verified token grants. */
export interface TokenGrant {
  /** The `sub` claim: the user the connection belongs to (`undefined` when the token has none). */
  userId: string | undefined;
  /** Rooms the token allows; null when it has no `rooms` claim (every room is open). */
  rooms: RoomPolicy | null;
  /** Rooms the token lets the connection PUBLISH to (the `publish` claim); null when it has none. */
  publish: RoomPolicy | null;
  /** `exp` in milliseconds since the epoch; `Infinity` when the token does not expire. */
  expiresAt: number;
}

/**
 * A connection's authentication state, one object per connection when authentication is on, read by
 * the heartbeat sweep (no timer per connection).
 */
export interface ConnectionAuth {
  /** While > 0: the connection has not authenticated yet and is closed (4001) at this time (ms). */
  pendingUntil: number;
  /** An AUTH message is being verified. */
  verifying: boolean;
  rooms: RoomPolicy | null;
  /** Rooms the token lets the connection PUBLISH to; null when none (or the publish hook decides). */
  publish: RoomPolicy | null;
  /** When the token expires (ms since the epoch); `Infinity` without `exp`. */
  expiresAt: number;
  /** When the TOKEN_EXPIRING warning is due; `Infinity` once sent or when the token does not expire. */
  warnAt: number;
  /** The user the connect hook named, which wins over every token's `sub` (set by the client handler). */
  hookUser?: string;
  /** Rooms the connect hook named for a connection still awaiting its AUTH: joined once it authenticates. */
  hookRooms?: readonly string[];
}

/** The state of a connection that still has to send `{"type":"AUTH",...}` before `deadline` (ms). */
export function pendingAuth(deadline: number): ConnectionAuth {
  return { pendingUntil: deadline, verifying: false, rooms: null, publish: null, expiresAt: Infinity, warnAt: Infinity };
}

/** The state of a connection authenticated at `now` with `grant`. */
export function grantedAuth(grant: TokenGrant, now: number): ConnectionAuth {
  const left = grant.expiresAt - now;
  const warnAt = Number.isFinite(grant.expiresAt) ? grant.expiresAt - Math.min(EXPIRY_WARNING_MS, Math.max(0, left / 2)) : Infinity;
  return { pendingUntil: 0, verifying: false, rooms: grant.rooms, publish: grant.publish, expiresAt: grant.expiresAt, warnAt };
}

/** A token that cannot be used; the message says why (never the token itself). */
export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

/** Thrown for an unusable `jwtPublicKey` file; the gateway turns it into an OptionError. */
export class KeyFileError extends Error {}

const asymmetricAlgorithms: Record<string, string> = { rsa: 'RS256', ec: 'ES256' };

/**
 * Verifies connection tokens: HS256 with a shared secret, and/or RS256 or ES256 with a PEM public key
 * (SPKI or certificate), read once at start.
 */
export class JwtVerifier {
  private readonly secret: KeyObject | null;
  private readonly publicKey: KeyObject | null;
  private readonly publicAlgorithm: string | null;
  private readonly algorithms: string[];

  /**
   * @param secret the HS256 secret ('' for none).
   * @param publicKeyFile path of a PEM public key file ('' for none); throws a {@link KeyFileError} when
   *   it cannot be read or holds no RSA or P-256 EC public key.
   */
  constructor(secret: string, publicKeyFile: string) {
    this.secret = secret === '' ? null : createSecretKey(Buffer.from(secret, 'utf8'));
    if (publicKeyFile === '') {
      this.publicKey = null;
      this.publicAlgorithm = null;
    } else {
      let pem: string;
      try {
        pem = readFileSync(publicKeyFile, 'utf8');
      } catch (error) {
        throw new KeyFileError(`cannot read ${publicKeyFile}: ${(error as Error).message}`);
      }
      let key: KeyObject;
      try {
        key = createPublicKey(pem);
      } catch (error) {
        throw new KeyFileError(`${publicKeyFile} does not hold a PEM public key: ${(error as Error).message}`);
      }
      const algorithm = asymmetricAlgorithms[key.asymmetricKeyType ?? ''];
      if (algorithm === undefined) throw new KeyFileError(`${publicKeyFile} holds a ${key.asymmetricKeyType} key; use an RSA (RS256) or P-256 EC (ES256) key`);
      if (algorithm === 'ES256' && key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new KeyFileError(`${publicKeyFile} holds an EC key on ${key.asymmetricKeyDetails?.namedCurve}; ES256 needs P-256`);
      }
      this.publicKey = key;
      this.publicAlgorithm = algorithm;
    }
    this.algorithms = [...(this.secret === null ? [] : ['HS256']), ...(this.publicAlgorithm === null ? [] : [this.publicAlgorithm])];
  }

  /** The verifier for the options, or null when authentication is off (neither is set). */
  static fromOptions(options: { jwtSecret: string; jwtPublicKey: string }): JwtVerifier | null {
    if (options.jwtSecret === '' && options.jwtPublicKey === '') return null;
    return new JwtVerifier(options.jwtSecret, options.jwtPublicKey);
  }

  /** Verifies signature, algorithm, `exp` and `nbf`; rejects with a {@link TokenError}. */
  async verify(token: string): Promise<TokenGrant> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.alg === 'HS256' ? this.secret : this.publicKey;
          if (key === null) throw new TokenError(`algorithm ${header.alg} is not accepted`);
          return key;
        },
        { algorithms: this.algorithms },
      ));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new TokenError('token expired');
      if (error instanceof errors.JOSEError) throw new TokenError(`invalid token: ${error.message}`);
      throw new TokenError(error instanceof TokenError ? `invalid token: ${error.message}` : 'invalid token');
    }
    const { sub, exp } = payload;
    return {
      userId: typeof sub === 'string' && sub !== '' ? sub : undefined,
      rooms: roomsClaim(payload.rooms, 'rooms'),
      publish: roomsClaim(payload.publish, 'publish'),
      expiresAt: typeof exp === 'number' ? exp * 1000 : Infinity,
    };
  }
}

// `rooms` (or `publish`): an array of patterns or one comma-separated string; absent: no such claim. Over
// the bounds of room-policy.ts the whole token is refused: a narrower reading would grant what it did not say.
function roomsClaim(value: unknown, claim: 'rooms' | 'publish'): RoomPolicy | null {
  if (value === undefined || value === null) return null;
  const entries = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : null;
  if (entries === null || !entries.every((entry) => typeof entry === 'string'))
    throw new TokenError(`invalid token: the ${claim} claim must be an array of strings or a comma-separated string`);
  const patterns = entries.map((entry: string) => entry.trim()).filter((entry: string) => entry !== '');
  const problem = roomPatternsProblem(patterns);
  if (problem !== null) throw new TokenError(`invalid token: ${problem}`);
  return new RoomPolicy(patterns);
}

/** Where a handshake carries its token: the `token` query parameter or a `pushgate.token.<jwt>` subprotocol. */
export function handshakeToken(url: string | undefined, protocolHeader: string | string[] | undefined): string | null {
  const query = (url ?? '').indexOf('?');
  if (query !== -1) {
    const token = new URLSearchParams((url ?? '').slice(query + 1)).get(TOKEN_QUERY_PARAMETER);
    if (token !== null && token !== '') return token;
  }
  const header = Array.isArray(protocolHeader) ? protocolHeader.join(',') : protocolHeader;
  if (header !== undefined) {
    for (const entry of header.split(',')) {
      const protocol = entry.trim();
      if (protocol.startsWith(TOKEN_PROTOCOL_PREFIX) && protocol.length > TOKEN_PROTOCOL_PREFIX.length) return protocol.slice(TOKEN_PROTOCOL_PREFIX.length);
    }
  }
  return null;
}

/**
 * The subprotocol the server answers with (ws's `handleProtocols`): `pushgate` when the client offers
 * it beside a token entry, else the token entry itself, else the first offered (ws's default).
 */
/**
 * The subprotocol a client offers to say "my token comes as the first message (AUTH)". Without it, a
 * handshake that carries no token is refused with 401 at once, rather than left open waiting.
 */
export const AUTH_FIRST_PROTOCOL = 'pushgate.auth';

/** Whether the handshake offered {@link AUTH_FIRST_PROTOCOL}. */
export function offersAuthFirst(header: string | undefined): boolean {
  return (header ?? '').split(',').some((entry) => entry.trim() === AUTH_FIRST_PROTOCOL);
}

export function chooseProtocol(protocols: ReadonlySet<string>): string | false {
  if (protocols.has(AUTH_FIRST_PROTOCOL) && ![...protocols].some((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))) return AUTH_FIRST_PROTOCOL;
  let token: string | null = null;
  for (const protocol of protocols) {
    if (protocol.startsWith(TOKEN_PROTOCOL_PREFIX)) {
      token = protocol;
      break;
    }
  }
  if (token !== null) return protocols.has(PUSHGATE_PROTOCOL) ? PUSHGATE_PROTOCOL : token;
  return protocols.values().next().value ?? false;
}
