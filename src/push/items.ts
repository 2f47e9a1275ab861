import { apiError, type PushError } from '../protocol/errors.js';
import { outline } from '../protocol/json-text.js';

/**
 * Pushed items as JSON texts, each exactly as it appeared in the request, with its nesting depth
 * (`ValueSpan.depth` of protocol/json-text.ts). Built by the push API from text `JSON.parse` has validated; the
 * texts are handed on as they are, never re-encoded.
 */
export class JsonItems {
  constructor(
    readonly texts: readonly string[],
    readonly depths: readonly number[],
  ) {}
}

/** How many items a push holds (0 for anything that is not a list: it is refused on acceptance). */
export function itemCount(items: unknown): number {
  if (items instanceof JsonItems) return items.texts.length;
  return Array.isArray(items) ? items.length : 0;
}

function tooDeep(index: number, depth: number | null, maxDepth: number): PushError {
  return apiError.ITEM_TOO_DEEP.tooDeep(index, depth, maxDepth);
}

/**
 * The JSON texts of a push's items, as every PUSH frame carrying them will hold them. `items` is a
 * {@link JsonItems} from the push API (its texts kept as they are) or an array of values from library
 * use (serialised here, once). Refuses an empty list, values JSON cannot represent and items nested
 * deeper than `maxDepth`: whatever is accepted is deliverable as is, over any broker.
 */
export function acceptItems(items: unknown, maxDepth: number): readonly string[] {
  if (items instanceof JsonItems) {
    if (items.texts.length === 0) throw apiError.INVALID_BODY.itemsNotArray();
    items.depths.forEach((depth, index) => {
      if (depth > maxDepth) throw tooDeep(index, depth, maxDepth);
    });
    return items.texts;
  }
  if (!Array.isArray(items) || items.length === 0) {
    throw apiError.INVALID_BODY.itemsNotArray();
  }
  return items.map((item, index) => {
    let text: string | undefined;
    try {
      text = item === undefined ? undefined : JSON.stringify(item);
    } catch (error) {
      // JSON.stringify recurses: a value nested past the stack cannot be encoded at all.
      if (error instanceof RangeError) throw tooDeep(index, null, maxDepth);
      throw apiError.INVALID_BODY.itemNotJson(index, (error as Error).message);
    }
    if (text === undefined) throw apiError.INVALID_BODY.itemNotJson(index);
    const { depth } = outline(text).value;
    if (depth > maxDepth) throw tooDeep(index, depth, maxDepth);
    return text;
  });
}
