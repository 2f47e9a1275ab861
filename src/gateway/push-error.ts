import { ErrorCode, type ErrorCodeName } from '../protocol/codes.js';

/** A push the gateway refuses, with the HTTP status the push API answers it with. */
export class PushError extends Error {
  constructor(
    readonly code: ErrorCodeName,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'PushError';
  }
}

/**
 * Serialises pushed values once, at acceptance: each becomes the JSON text that every PUSH frame
 * carrying it will hold. Refuses an empty list and values JSON cannot represent.
 */
export function serializeItems(items: unknown): string[] {
  if (!Array.isArray(items) || items.length === 0) {
    throw new PushError(ErrorCode.INVALID_BODY, 'items must be a non-empty JSON array', 400);
  }
  return items.map((item, index) => {
    let text: string | undefined;
    try {
      text = item === undefined ? undefined : JSON.stringify(item);
    } catch {
      // JSON.parse accepts nesting deeper than JSON.stringify can recurse: refuse it as input.
      throw new PushError(ErrorCode.INVALID_BODY, `items[${index}] is nested too deeply`, 400);
    }
    if (text === undefined) throw new PushError(ErrorCode.INVALID_BODY, `items[${index}] is not a JSON value`, 400);
    return text;
  });
}
