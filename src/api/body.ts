import type { IncomingMessage } from 'node:http';
import contentType from 'content-type';
import { ErrorCode } from '../protocol/codes.js';
import { PushError } from '../gateway/push-error.js';

/** A request body as fields: a JSON object, or a form's fields as strings. */
export type BodyFields = { format: 'json'; fields: Record<string, unknown> } | { format: 'form'; fields: Record<string, string> };

/** Reads the whole body, refusing (413) more than `limit` bytes without buffering them. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new PushError(ErrorCode.BODY_TOO_LARGE, `body is ${declared} bytes; the limit is ${limit}`, 413));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(new PushError(ErrorCode.BODY_TOO_LARGE, `body exceeds the limit of ${limit} bytes`, 413));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/**
 * Parses a body by its Content-Type: `application/json` (an object) or
 * `application/x-www-form-urlencoded` (go-push's form). Anything else is 415; unparsable content is 400.
 */
export function parseBody(req: IncomingMessage, body: Buffer): BodyFields {
  let type: string;
  try {
    type = contentType.parse(req).type;
  } catch {
    throw new PushError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'send Content-Type application/json or application/x-www-form-urlencoded', 415);
  }
  if (type === 'application/json' || type.endsWith('+json')) {
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch (error) {
      throw new PushError(ErrorCode.INVALID_BODY, `body is not valid JSON: ${(error as Error).message}`, 400);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new PushError(ErrorCode.INVALID_BODY, 'body must be a JSON object', 400);
    }
    return { format: 'json', fields: value as Record<string, unknown> };
  }
  if (type === 'application/x-www-form-urlencoded') {
    return { format: 'form', fields: Object.fromEntries(new URLSearchParams(body.toString('utf8'))) };
  }
  throw new PushError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, `Content-Type ${type} is not supported; send application/json or application/x-www-form-urlencoded`, 415);
}

/**
 * The pushed items of a body. JSON: `items` is an array. Form (go-push): `items` is a JSON array in
 * text, or `msg` one JSON value (go-push's older single-message field).
 */
export function itemsOf(body: BodyFields): unknown {
  if (body.format === 'json') return body.fields.items;
  const { items, msg } = body.fields;
  const text = items ?? msg;
  if (text === undefined) throw new PushError(ErrorCode.INVALID_BODY, 'form field items (a JSON array) is required', 400);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PushError(ErrorCode.INVALID_BODY, `form field ${items !== undefined ? 'items' : 'msg'} is not valid JSON`, 400);
  }
  return items !== undefined ? value : [value];
}

/** A required string field of the body, or a 400 naming it. */
export function stringField(body: BodyFields, name: string): string {
  const value = body.fields[name];
  if (typeof value === 'string' && value !== '') return value;
  throw new PushError(ErrorCode.INVALID_BODY, `field ${name} (a non-empty string) is required`, 400);
}
