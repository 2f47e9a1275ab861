import { MAX_ROOM_PATTERN_LENGTH, MAX_ROOM_PATTERNS, RoomPolicy, roomPatternsProblem } from '../auth/room-policy.js';

/** Connections a room may hold and still be listed in presence answers and followed by join/leave events (`--presence-max`). */
export const DEFAULT_PRESENCE_MAX = 1000;

/**
 * Why `patterns` cannot be `--join-leave` (too many, one too long, not well-formed Unicode), or null.
 * They are matched as the token's `rooms` claim is (src/auth/room-policy.ts), so they share its bounds.
 */
export function joinLeaveProblem(patterns: readonly string[]): string | null {
  return roomPatternsProblem(patterns) === null
    ? null
    : `must hold at most ${MAX_ROOM_PATTERNS} room patterns of at most ${MAX_ROOM_PATTERN_LENGTH} characters each (well-formed Unicode), got ${patterns.length}`;
}

/**
 * Which rooms tell their members of joins and leaves (`--join-leave`: `*` patterns, matched without
 * regular expressions by {@link RoomPolicy}), and how large a room may be for its presence to be
 * listed and followed (`--presence-max`). Reserved rooms (the dashboard's) never announce anything.
 */
export class PresenceRules {
  private readonly patterns: RoomPolicy | null;
  private readonly reserved: ReadonlySet<string>;

  /** Throws a `RangeError` for patterns {@link joinLeaveProblem} refuses. */
  /**
   * `also`: rooms that announce whatever the patterns say (Pusher presence channels, whose clients
   * expect member events).
   */
  constructor(
    readonly max: number,
    joinLeave: readonly string[] = [],
    reserved: Iterable<string> = [],
    private readonly also: ((room: string) => boolean) | null = null,
  ) {
    this.patterns = joinLeave.length === 0 ? null : new RoomPolicy(joinLeave);
    this.reserved = new Set(reserved);
  }

  /** Whether any room announces joins and leaves. */
  get announcesAny(): boolean {
    return this.patterns !== null || this.also !== null;
  }

  /** Whether `room`'s members are told of its joins and leaves. */
  announces(room: string): boolean {
    if (this.reserved.has(room)) return false;
    return this.patterns?.allows(room) === true || (this.also?.(room) ?? false);
  }
}
