/**
 * Where values sit inside JSON text, so that pushed items can be handed on as the exact text that was
 * pushed instead of being parsed and re-serialised (which loses digits past double precision, turns
 * `1e400` into `null` and `-0` into `0`, and collapses duplicate keys).
 *
 * This is not a parser: {@link outline} expects text that `JSON.parse` has already accepted (it is the
 * validator: strict, and iterative in V8, so any depth is safe). Over valid JSON, a value's extent
 * only needs string and escape state and bracket depth, which one loop tracks without recursion, at
 * any nesting, in one pass over the text.
 */

/** A value's text: `text.slice(start, end)`, its own whitespace included, none around it. */
export interface ValueSpan {
  start: number;
  end: number;
  /**
   * How many arrays and objects nest in it, counting itself: 0 for a scalar, 1 for `[]` or
   * `{"a":1}`, 2 for `[[]]` or `{"a":[1]}`.
   */
  depth: number;
}

/** A member of the outlined object: its name (unescaped), its value and, if that is an array, its elements. */
export interface MemberOutline {
  name: string;
  value: ValueSpan;
  elements: ValueSpan[];
}

/** The two outer levels of a JSON text. */
export interface Outline {
  /** The text's one value. */
  value: ValueSpan;
  /** When it is an object: its members in order, duplicates included (`JSON.parse` keeps only the last). */
  members: MemberOutline[];
  /** When it is an array: its elements. */
  elements: ValueSpan[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** The index of the quote closing the string whose opening quote is at `open`. */
function stringEnd(text: string, open: number): number {
  let i = open + 1;
  // A backslash escapes the next character (in valid JSON, `\uXXXX` has no quote in its digits).
  for (let c = text.charCodeAt(i); c !== QUOTE; c = text.charCodeAt(i)) i += c === BACKSLASH ? 2 : 1;
  return i;
}

/** The spans stored in `flat` (start, end, depth triples) from index `from` to `to`. */
function spans(flat: readonly number[], from: number, to: number): ValueSpan[] {
  const out: ValueSpan[] = [];
  for (let k = from; k < to; k += 3) out.push({ start: flat[k], end: flat[k + 1], depth: flat[k + 2] });
  return out;
}

/**
 * The outline of `text`, which must be valid JSON: its value, and that value's members or elements,
 * and the elements of array members, each with its span and depth.
 */
export function outline(text: string): Outline {
  // The loop records plain integers only, into two number arrays, so that it stays monomorphic and
  // builds no object per value however large the text: 7 numbers per level-1 entry (an element or
  // member of the top value), 3 per level-2 entry (an element of a level-1 array). Objects come after.
  const level1: number[] = [];
  const level2: number[] = [];
  let topStart = -1;
  let topEnd = -1;
  let topDepth = 0;
  let topKind = 0;
  let start1 = -1;
  let end1 = -1;
  let depth1 = 0;
  let kind1 = 0;
  let nameStart = -1;
  let nameEnd = -1;
  let inner = 0; // where this level-1 entry's level-2 entries begin in `level2`
  let start2 = -1;
  let end2 = -1;
  let depth2 = 0;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === COLON) continue;
    if (c === COMMA) {
      if (depth === 1) {
        level1.push(start1, end1, depth1, nameStart, nameEnd, inner, level2.length);
        start1 = end1 = nameStart = nameEnd = start2 = end2 = -1;
        depth1 = depth2 = 0;
      } else if (depth === 2 && kind1 === OPEN_ARRAY) {
        level2.push(start2, end2, depth2);
        start2 = end2 = -1;
        depth2 = 0;
      }
      continue;
    }
    if (c === QUOTE && depth === 1 && topKind === OPEN_OBJECT && nameStart === -1) {
      // Before its colon, a member holds only its name.
      nameStart = i;
      i = stringEnd(text, i);
      nameEnd = i + 1;
      continue;
    }
    if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
      if (depth === 1 && kind1 === OPEN_ARRAY && start2 !== -1) {
        // The end of a level-1 array: its last element is complete.
        level2.push(start2, end2, depth2);
        start2 = end2 = -1;
        depth2 = 0;
      } else if (depth === 0 && start1 !== -1) {
        level1.push(start1, end1, depth1, nameStart, nameEnd, inner, level2.length);
      }
    } else {
      // A value's first character, at whichever of the outer levels it starts.
      if (depth === 0) {
        if (topStart === -1) {
          topStart = i;
          topKind = c;
        }
      } else if (depth === 1) {
        if (start1 === -1) {
          start1 = i;
          kind1 = c;
          inner = level2.length;
        }
      } else if (depth === 2 && start2 === -1) {
        start2 = i;
      }
      if (c === QUOTE) {
        i = stringEnd(text, i);
      } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
        depth++;
        if (depth > topDepth) topDepth = depth;
        if (depth - 1 > depth1) depth1 = depth - 1;
        if (depth - 2 > depth2) depth2 = depth - 2;
      }
    }
    // Where the values under way end, so far (a bracket that opened a level belongs to the level above).
    if (depth >= 1 && start1 !== -1) end1 = i + 1;
    if (depth >= 2 && start2 !== -1) end2 = i + 1;
    topEnd = i + 1;
  }
  if (topStart === -1) throw new RangeError('no JSON value in the text');
  const members: MemberOutline[] = [];
  const elements: ValueSpan[] = [];
  for (let k = 0; k < level1.length; k += 7) {
    const value = { start: level1[k], end: level1[k + 1], depth: level1[k + 2] };
    if (topKind !== OPEN_OBJECT) elements.push(value);
    else members.push({ name: JSON.parse(text.slice(level1[k + 3], level1[k + 4])) as string, value, elements: spans(level2, level1[k + 5], level1[k + 6]) });
  }
  return { value: { start: topStart, end: topEnd, depth: topDepth }, members, elements };
}
