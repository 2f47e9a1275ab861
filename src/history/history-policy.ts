import { RoomPolicy } from '../auth/room-policy.js';

/** How much of a room's stream is kept: the last `size` items, none older than `ttlMs`. */
export interface HistoryPolicy {
  size: number;
  ttlMs: number;
}

/** Most items a stream may keep (`--history`): a recovery replays at most this many. */
export const MAX_HISTORY_SIZE = 100_000;
/** Longest a stream may keep an item (`--history`): one day. */
export const MAX_HISTORY_TTL_MS = 86_400_000;

const ENTRY = /^(.+)=(\d+)\/(\d+)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** One `--history` entry: rooms matching `pattern` (`*` wildcards) keep `policy`. */
export interface HistoryRule {
  pattern: string;
  policy: HistoryPolicy;
}

/**
 * Parses one `--history` entry, `PATTERN=SIZE/TTL` (e.g. `chat:*=100/300s`; TTL in ms, s, m or h).
 * Throws a RangeError saying what is wrong.
 */
export function parseHistoryRule(entry: string): HistoryRule {
  const match = ENTRY.exec(entry.trim());
  if (match === null) throw new RangeError(`--history entry "${entry}" must be PATTERN=SIZE/TTL, e.g. chat:*=100/300s`);
  const [, pattern, size, ttl, unit] = match;
  const policy = { size: Number(size), ttlMs: Number(ttl) * UNIT_MS[unit] };
  if (!Number.isSafeInteger(policy.size) || policy.size < 1 || policy.size > MAX_HISTORY_SIZE) {
    throw new RangeError(`--history entry "${entry}": SIZE must be 1..${MAX_HISTORY_SIZE}`);
  }
  if (policy.ttlMs < 1000 || policy.ttlMs > MAX_HISTORY_TTL_MS) throw new RangeError(`--history entry "${entry}": TTL must be 1s..24h`);
  new RoomPolicy([pattern]); // validates the pattern (length, Unicode)
  return { pattern, policy };
}

/**
 * Which rooms keep history, and how much: the first matching rule wins, so specific patterns go
 * before general ones (`chat:vip=1000/1h,chat:*=100/300s`).
 */
export class HistoryRules {
  private readonly matchers: Array<{ policy: RoomPolicy; rule: HistoryRule }>;

  constructor(readonly rules: readonly HistoryRule[]) {
    this.matchers = rules.map((rule) => ({ policy: new RoomPolicy([rule.pattern]), rule }));
  }

  /** Whether any room keeps history. */
  get enabled(): boolean {
    return this.matchers.length > 0;
  }

  /** The policy of `room`, or null when it keeps none. */
  policyOf(room: string): HistoryPolicy | null {
    for (const { policy, rule } of this.matchers) if (policy.allows(room)) return rule.policy;
    return null;
  }
}

/** No room keeps history. */
export const NO_HISTORY = new HistoryRules([]);
