/** Longest room name, in characters (Unicode code points). */
export const MAX_ROOM_NAME_LENGTH = 128;

// Letters (with their combining marks, as Devanagari, Thai or decomposed Latin need) and digits of any script (go-push's own demo joins "默认房间"), plus a few separators that
// names built from ids commonly need. No spaces, quotes, control or invisible characters, so a room
// name is safe in logs, in broker channel names and in URLs.
const ROOM_NAME = /^[\p{L}\p{M}\p{N}_\-.:@/]+$/u;
// Marks that render as nothing (variation selectors, the combining grapheme joiner) would make look-alike names.
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;

/**
 * Checks a room name: 1 to {@link MAX_ROOM_NAME_LENGTH} characters, each a letter or digit (any script)
 * or one of `_ - . : @ /`. Returns why the name is refused, or `null` when it is valid.
 */
export function roomNameProblem(room: unknown): string | null {
  if (typeof room !== 'string' || room.length === 0) return 'room must be a non-empty string';
  // length counts UTF-16 units; the check below counts code points only when it could matter.
  if (room.length > MAX_ROOM_NAME_LENGTH && [...room].length > MAX_ROOM_NAME_LENGTH) {
    return `room must be at most ${MAX_ROOM_NAME_LENGTH} characters`;
  }
  if (!ROOM_NAME.test(room) || INVISIBLE.test(room) || /^\p{M}/u.test(room)) {
    return 'room may hold only letters (with their marks), digits and _ - . : @ /';
  }
  // One spelling per name: a backend pushing "é" must reach the client that joined "é", however typed.
  if (room.normalize('NFC') !== room) return 'room must be in Unicode normal form C (NFC)';
  return null;
}
