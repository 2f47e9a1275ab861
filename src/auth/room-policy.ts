/**
 * Which rooms a token allows (its `rooms` claim), matched without regular expressions: a token is
 * written by whoever holds the signing key, but a `*` pattern turned into a backtracking regular
 * expression lets one JOIN block the process for seconds (`*a*a*a*a*a*b` against a long room of `a`s),
 * so patterns are matched piece by piece, each piece searched once, left to right.
 */

/** Most entries a `rooms` claim may hold; a token with more is refused as invalid. */
export const MAX_ROOM_PATTERNS = 64;
/** Longest entry of a `rooms` claim, in characters (Unicode code points, as room names are counted). */
export const MAX_ROOM_PATTERN_LENGTH = 256;

// A lone surrogate (half of a UTF-16 pair): no room name holds one (they are letters, digits and a
// few separators), and matching UTF-16 units against a pattern holding one could split a character.
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Why `entries` cannot be a room policy (over {@link MAX_ROOM_PATTERNS} entries, one longer than
 * {@link MAX_ROOM_PATTERN_LENGTH} characters, or not well-formed Unicode), or null when they can.
 */
export function roomPatternsProblem(entries: readonly string[]): string | null {
  if (entries.length > MAX_ROOM_PATTERNS) return `the rooms claim may hold at most ${MAX_ROOM_PATTERNS} entries, got ${entries.length}`;
  for (const entry of entries) {
    // length counts UTF-16 units; code points are counted only when it could matter.
    if (entry.length > MAX_ROOM_PATTERN_LENGTH && [...entry].length > MAX_ROOM_PATTERN_LENGTH) {
      return `each rooms claim entry must be at most ${MAX_ROOM_PATTERN_LENGTH} characters, got one of ${[...entry].length}`;
    }
    if (LONE_SURROGATE.test(entry)) return 'each rooms claim entry must be well-formed Unicode (no lone surrogates)';
  }
  return null;
}

/**
 * A `*` pattern split at its wildcards: the room must start with `prefix`, end with `suffix`, and hold
 * the `middle` pieces in order in between, without overlapping.
 */
interface Glob {
  prefix: string;
  middle: string[];
  suffix: string;
  /** Characters the pieces need: a shorter room cannot match. */
  minLength: number;
}

function compileGlob(entry: string): Glob {
  const pieces = entry.split('*');
  const prefix = pieces[0];
  const suffix = pieces[pieces.length - 1];
  const middle = pieces.slice(1, -1).filter((piece) => piece !== '');
  return { prefix, middle, suffix, minLength: pieces.reduce((sum, piece) => sum + piece.length, 0) };
}

/**
 * Whether `room` matches `glob`. Placing each middle piece at its leftmost occurrence after the
 * previous one is never wrong for `*`-only patterns (an earlier placement leaves the most room for
 * the rest), so no choice is ever revisited: the cost is one search per piece, bounded by the room's
 * length times the pattern's.
 */
function matchesGlob(glob: Glob, room: string): boolean {
  if (room.length < glob.minLength || !room.startsWith(glob.prefix)) return false;
  // The suffix takes the last characters; the prefix and the middle pieces must fit before them.
  const end = room.length - glob.suffix.length;
  if (!room.endsWith(glob.suffix)) return false;
  let position = glob.prefix.length;
  for (const piece of glob.middle) {
    const found = room.indexOf(piece, position);
    if (found === -1 || found + piece.length > end) return false;
    position = found + piece.length;
  }
  return position <= end;
}

/**
 * Which rooms a token allows: its `rooms` claim, as patterns where `*` stands for any characters
 * (`news`, `chat:*`, `*` alone for every room). Matching a room costs at most the room's length times
 * the patterns' total length, which the bounds keep small.
 */
export class RoomPolicy {
  private readonly exact = new Set<string>();
  private readonly globs: Glob[] = [];
  private readonly any: boolean;

  /** Throws a `RangeError` saying why when the entries break {@link roomPatternsProblem}. */
  constructor(readonly entries: readonly string[]) {
    const problem = roomPatternsProblem(entries);
    if (problem !== null) throw new RangeError(problem);
    for (const entry of entries) {
      if (!entry.includes('*')) this.exact.add(entry);
      else this.globs.push(compileGlob(entry));
    }
    this.any = this.globs.some((glob) => glob.minLength === 0);
  }

  /** Whether the token lets its holder join `room`. */
  allows(room: string): boolean {
    return this.any || this.exact.has(room) || this.globs.some((glob) => matchesGlob(glob, room));
  }
}
