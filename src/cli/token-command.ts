import { Command, InvalidArgumentError } from 'commander';
import { SignJWT } from 'jose';
import { roomPatternsProblem } from '../auth/room-policy.js';

/** The environment variable `pushgate token` reads the secret from when `--secret` is not given. */
export const TOKEN_SECRET_ENV = 'PUSHGATE_JWT_SECRET';

/** What a token is made of. */
export interface TokenSpec {
  secret: string;
  sub: string;
  /** Room patterns (`news`, `chat:*`); none: no `rooms` claim, every room open. */
  rooms: string[];
  /** Seconds until it expires. */
  ttl: number;
}

/** Signs an HS256 connection token with `sub`, optional `rooms`, `iat` and `exp`. */
export async function signToken(spec: TokenSpec, now: number = Date.now()): Promise<string> {
  const issuedAt = Math.floor(now / 1000);
  const claims = spec.rooms.length === 0 ? {} : { rooms: spec.rooms };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(spec.sub)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + spec.ttl)
    .sign(new TextEncoder().encode(spec.secret));
}

function positiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1) throw new InvalidArgumentError('must be a whole number of seconds, at least 1');
  return seconds;
}

/**
 * `pushgate token --secret S --sub U [--rooms 'news,chat:*'] [--ttl 3600]`: prints an HS256 connection
 * token (for tests and development; production tokens come from your own login service).
 */
export function tokenCommand(): Command {
  return new Command('token')
    .description(`print an HS256 connection token for --jwt-secret (the secret may come from ${TOKEN_SECRET_ENV})`)
    .option('--secret <secret>', `the HS256 secret (default: $${TOKEN_SECRET_ENV})`)
    .requiredOption('--sub <user>', 'the user id (sub claim): POST /push/user reaches its connections')
    .option('--rooms <patterns>', 'comma-separated rooms the token allows, * matching any characters (news,chat:*); omitted: all rooms')
    .option('--ttl <seconds>', 'seconds until the token expires', positiveSeconds, 3600)
    .showHelpAfterError()
    .allowExcessArguments(false)
    .action(async (opts: { secret?: string; sub: string; rooms?: string; ttl: number }, command: Command) => {
      const secret = opts.secret ?? process.env[TOKEN_SECRET_ENV] ?? '';
      if (secret === '') command.error(`pushgate token: give --secret or set ${TOKEN_SECRET_ENV}`, { exitCode: 2 });
      const rooms = (opts.rooms ?? '')
        .split(',')
        .map((room) => room.trim())
        .filter((room) => room !== '');
      // A token the gateway would refuse is no use: say so now rather than at the handshake.
      const problem = roomPatternsProblem(rooms);
      if (problem !== null) command.error(`pushgate token: --rooms: ${problem}`, { exitCode: 2 });
      process.stdout.write(`${await signToken({ secret, sub: opts.sub, rooms, ttl: opts.ttl })}\n`);
    });
}
