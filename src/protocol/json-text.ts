/**
 * Where values sit inside JSON text, so that pushed items can be handed on as the exact text that was
 * pushed instead of being parsed and re-serialised (which loses digits past double precision, turns
 * `1e400` into `null` and `-0` into `0`, and collapses duplicate keys).
 *
 * This is not a parser: every function here expects text that `JSON.parse` has already accepted (it
 * is the validator: strict, and iterative in V8, so any depth is safe). Over valid JSON, a value's
 * extent only needs string and escape state and bracket depth, which one loop tracks without
 * recursion, at any nesting.
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

/** A member of an object: its name (unescaped) and its value. */
export interface MemberSpan {
  name: string;
  value: ValueSpan;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The index of the quote closing the string whose opening quote is at `open`. */
function stringEnd(text: string, open: number): number {
  let i = open + 1;
  // A backslash escapes the next character (in valid JSON, `\uXXXX` has no quote in its digits).
  for (let c = text.charCodeAt(i); c !== QUOTE; c = text.charCodeAt(i)) i += c === BACKSLASH ? 2 : 1;
  return i;
}

interface Entry {
  /** The member name's span (quotes included) for object members; -1 for array elements. */
  nameStart: number;
  nameEnd: number;
  value: ValueSpan;
}

/**
 * The entries between `from` and `to` (exclusive) at nesting level 0 of that range, separated by
 * commas: the inside of an array (elements) or of an object (`"name": value` members), or a whole
 * text (one value).
 */
function entries(text: string, from: number, to: number, members: boolean): Entry[] {
  const found: Entry[] = [];
  let depth = 0;
  let maxDepth = 0;
  let start = -1; // first character of the current value
  let end = -1; // one past its last non-whitespace character
  let nameStart = -1;
  let nameEnd = -1;
  // Plain locals and no closure: this loop runs over every character of a body.
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (isWhitespace(c)) continue;
    if (depth === 0) {
      if (c === COMMA) {
        found.push({ nameStart, nameEnd, value: { start, end, depth: maxDepth } });
        start = end = nameStart = nameEnd = -1;
        maxDepth = 0;
        continue;
      }
      if (members && nameStart === -1) {
        // Before the colon, a member holds only its name: a string.
        nameStart = i;
        nameEnd = stringEnd(text, i) + 1;
        i = text.indexOf(':', nameEnd);
        continue;
      }
    }
    if (start === -1) start = i;
    if (c === QUOTE) {
      i = stringEnd(text, i);
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth++;
      if (depth > maxDepth) maxDepth = depth;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
    end = i + 1;
  }
  if (start !== -1) found.push({ nameStart, nameEnd, value: { start, end, depth: maxDepth } });
  return found;
}

/** The one value of a whole JSON text, without the whitespace around it. */
export function wholeValue(text: string): ValueSpan {
  const [entry] = entries(text, 0, text.length, false);
  if (entry === undefined) throw new RangeError('no JSON value in the text');
  return entry.value;
}

/** The elements of the array at `array` (a span of `text` starting with `[`), in order. */
export function arrayElements(text: string, array: ValueSpan): ValueSpan[] {
  return entries(text, array.start + 1, array.end - 1, false).map((entry) => entry.value);
}

/**
 * The members of the object at `object` (a span of `text` starting with `{`), in order, duplicates
 * included (unlike `JSON.parse`, which keeps the last). Names are unescaped, so `"r\u006fom"` is `room`.
 */
export function objectMembers(text: string, object: ValueSpan): MemberSpan[] {
  return entries(text, object.start + 1, object.end - 1, true).map((entry) => ({
    name: JSON.parse(text.slice(entry.nameStart, entry.nameEnd)) as string,
    value: entry.value,
  }));
}

/** Whether the span holds an array. */
export function isArraySpan(text: string, span: ValueSpan): boolean {
  return text.charCodeAt(span.start) === OPEN_ARRAY;
}
