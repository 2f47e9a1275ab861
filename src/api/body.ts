import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import contentType from 'content-type';
import { apiError } from '../protocol/errors.js';
import { type MemberOutline, type Outline, outline, type ValueSpan } from '../protocol/json-text.js';
import { JsonItems } from '../push/items.js';

const JSON_MEDIA = 'application/json';
const FORM_MEDIA = 'application/x-www-form-urlencoded';

/**
 * A push request's body. `fields` are a JSON object's members, or a form's fields as strings (the
 * first value of each). `items` are the pushed items as exact texts ({@link JsonItems}) when the body
 * holds a JSON array of them, else whatever it holds instead (refused when the push is accepted).
 */
export interface PushBody {
  format: 'json' | 'form';
  fields: Record<string, unknown>;
  items: JsonItems | unknown;
}

/** A request whose body did not arrive whole: the client went away, or was cut for being too slow. */
export class BodyAbortedError extends Error {
  constructor(readonly reason: 'closed' | 'timeout') {
    super(reason === 'timeout' ? 'the request was cut for taking too long' : 'the client closed the connection before the body was complete');
    this.name = 'BodyAbortedError';
  }
}

/**
 * Reads the whole body, refusing (413) more than `limit` bytes without buffering them. Rejects with a
 * {@link BodyAbortedError} when the request ends before its body does; `timedOut` holds the sockets
 * the server cut for their request timeout.
 */
export function readBody(req: IncomingMessage, limit: number, timedOut: { has(socket: Socket): boolean } = NONE): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(apiError.BODY_TOO_LARGE.declared(declared, limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(apiError.BODY_TOO_LARGE.exceeded(limit));
        return;
      }
      chunks.push(chunk);
    };
    const aborted = (): void => reject(new BodyAbortedError(timedOut.has(req.socket) ? 'timeout' : 'closed'));
    // Each of these fires at most once and the promise settles once: plain listeners, no once() wrappers.
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    // A socket closed mid-body destroys the request: 'error' (ECONNRESET) when listened to, and 'close'.
    req.on('error', aborted);
    req.on('close', () => {
      if (!req.complete) aborted();
    });
  });
}

const NONE = { has: () => false };

/** The items of a value: an array's elements as exact texts of `text`, or the value itself when it is not an array. */
export function itemsOf(text: string, value: unknown, elements: readonly ValueSpan[]): JsonItems | unknown {
  if (!Array.isArray(value)) return value;
  return new JsonItems(
    elements.map((e) => text.slice(e.start, e.end)),
    elements.map((e) => e.depth),
  );
}

/** A JSON object body as text and value, with the outline of its top level (see protocol/json-text.ts). */
export interface JsonObjectBody {
  text: string;
  value: Record<string, unknown>;
  outline: Outline;
}

/**
 * A JSON body that holds an object, each top-level member at most once (`JSON.parse` would silently
 * keep the last of two `room`s: the request is refused instead).
 */
export function jsonObjectBody(body: Buffer): JsonObjectBody {
  // Items are handed on as text in text frames: bytes that are not UTF-8 cannot be passed through.
  if (!isUtf8(body)) throw apiError.INVALID_BODY.notUtf8();
  const text = body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw apiError.INVALID_BODY.notJson((error as Error).message);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw apiError.INVALID_BODY.notObject();
  }
  const shape = outline(text);
  refuseRepeatedMembers(shape.members);
  return { text, value: value as Record<string, unknown>, outline: shape };
}

/** A 400 for the first member an object names twice. */
export function refuseRepeatedMembers(members: readonly MemberOutline[]): void {
  const seen = new Set<string>();
  for (const { name } of members) {
    if (seen.has(name)) throw apiError.INVALID_BODY.repeatedMember(name);
    seen.add(name);
  }
}

/** A JSON push body: an object, `items` kept as the exact texts of its elements. */
function jsonBody(body: Buffer): PushBody {
  const { text, value: fields, outline: shape } = jsonObjectBody(body);
  let items: JsonItems | unknown = fields.items;
  for (const member of shape.members) if (member.name === 'items') items = itemsOf(text, fields.items, member.elements);
  return { format: 'json', fields, items };
}

/**
 * go-push's form: `items` a JSON array in text, or `msg` one JSON value (its older single-message
 * field). Of a field given twice the first value counts, as with Go's `Form.Get`.
 */
function formBody(body: Buffer): PushBody {
  const first = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body.toString('utf8'))) if (!first.has(name)) first.set(name, value);
  const fields = Object.fromEntries(first);
  const name = first.has('items') ? 'items' : 'msg';
  const text = first.get(name);
  if (text === undefined) throw apiError.INVALID_BODY.noFormItems();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw apiError.INVALID_BODY.formFieldNotJson(name);
  }
  const shape = outline(text);
  const { start, end, depth } = shape.value;
  const items = name === 'items' ? itemsOf(text, value, shape.elements) : new JsonItems([text.slice(start, end)], [depth]);
  return { format: 'form', fields, items };
}

/**
 * The media type of a Content-Type header, lower-cased and without parameters; 415 when there is none
 * or it cannot be parsed.
 */
export function mediaType(type: string | undefined): string {
  // What nearly every client sends, as is: no need to parse it.
  if (type === JSON_MEDIA || type === FORM_MEDIA) return type;
  try {
    return contentType.parse(type ?? '').type;
  } catch {
    throw apiError.UNSUPPORTED_MEDIA_TYPE.missing();
  }
}

/** Whether a media type (from {@link mediaType}) is JSON: `application/json` or a `+json` type. */
export function isJsonMedia(media: string): boolean {
  return media === JSON_MEDIA || media.endsWith('+json');
}

/**
 * Parses a push body by its Content-Type: `application/json` (an object; also `+json` types) or
 * `application/x-www-form-urlencoded` (go-push's form). Anything else is 415; unusable content is 400.
 */
export function parsePushBody(type: string | undefined, body: Buffer): PushBody {
  const media = mediaType(type);
  if (isJsonMedia(media)) return jsonBody(body);
  if (media === FORM_MEDIA) return formBody(body);
  throw apiError.UNSUPPORTED_MEDIA_TYPE.unsupported(media);
}

/** A required string field of the body, or a 400 naming it. */
export function stringField(body: PushBody, name: string): string {
  const value = body.fields[name];
  if (typeof value === 'string' && value !== '') return value;
  throw apiError.INVALID_BODY.missingField(name);
}
