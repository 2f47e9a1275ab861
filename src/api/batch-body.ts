import { apiError, PushError } from '../protocol/errors.js';
import { outline } from '../protocol/json-text.js';
import type { JsonItems } from '../push/items.js';
import { isJsonMedia, itemsOf, jsonObjectBody, mediaType, refuseRepeatedMembers } from './body.js';

/** Where one push of a batch goes: every connection, or the room, connection or user it names. */
export type BatchTarget = { kind: 'all' } | { kind: 'room' | 'conn' | 'user'; name: string };

/**
 * One push of a batch: its target and items (exact texts, as on the single-push routes; what is not
 * an array is handed on as it is and refused when the push is accepted), or why it is refused already.
 */
export type BatchPush = { target: BatchTarget; items: JsonItems | unknown; error?: undefined } | { error: PushError };

/** The one member a batch document has. */
const BATCH_MEMBERS = ['pushes'] as const;
/** The members a push may have: its one target and its items. */
const PUSH_MEMBERS = ['all', 'room', 'conn', 'user', 'items'] as const;
const TARGETS = ['all', 'room', 'conn', 'user'] as const;

/** The target a push object names, or why it cannot be used. */
function targetOf(push: Record<string, unknown>, names: readonly string[]): BatchTarget {
  const found = TARGETS.filter((name) => names.includes(name));
  if (found.length !== 1) throw apiError.INVALID_BODY.pushTarget(found);
  const [kind] = found;
  const value = push[kind];
  if (kind === 'all') {
    if (value !== true) throw apiError.INVALID_BODY.pushTarget([]);
    return { kind };
  }
  if (typeof value !== 'string' || value === '') throw apiError.INVALID_BODY.missingField(kind);
  return { kind, name: value };
}

/** One element of `pushes`: `value` parsed, `text` its exact JSON text. */
function batchPush(text: string, value: unknown): BatchPush {
  try {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw apiError.INVALID_BODY.pushNotObject();
    const push = value as Record<string, unknown>;
    const { members } = outline(text);
    refuseRepeatedMembers(members);
    const names = members.map((member) => member.name);
    for (const name of names) {
      if (!(PUSH_MEMBERS as readonly string[]).includes(name)) throw apiError.INVALID_BODY.unknownMember(name, PUSH_MEMBERS);
    }
    const target = targetOf(push, names);
    const items = members.find((member) => member.name === 'items');
    return { target, items: items === undefined ? undefined : itemsOf(text, push.items, items.elements) };
  } catch (error) {
    if (error instanceof PushError) return { error };
    throw error;
  }
}

/**
 * Parses the body of `POST /push/batch`: a JSON object `{"pushes":[{...}, ...]}` holding 1 to
 * `maxPushes` pushes, each an object with one target (`"all":true`, `"room"`, `"conn"` or `"user"`)
 * and `items`. A body that is not such a document is refused whole (415, 400, 413 `TOO_MANY_PUSHES`);
 * a push that cannot be used is refused alone, in its place in the list.
 */
export function parseBatchBody(type: string | undefined, body: Buffer, maxPushes: number, path: string): BatchPush[] {
  if (!isJsonMedia(mediaType(type))) throw apiError.UNSUPPORTED_MEDIA_TYPE.jsonOnly(path);
  const { text, value, outline: shape } = jsonObjectBody(body);
  let pushes: { start: number; end: number }[] | null = null;
  for (const member of shape.members) {
    if (member.name !== 'pushes') throw apiError.INVALID_BODY.unknownMember(member.name, BATCH_MEMBERS);
    pushes = member.elements;
  }
  const values = value.pushes;
  if (pushes === null || !Array.isArray(values) || values.length === 0) throw apiError.INVALID_BODY.pushesNotArray();
  if (values.length > maxPushes) throw apiError.TOO_MANY_PUSHES.limit(values.length, maxPushes);
  return pushes.map((span, index) => batchPush(text.slice(span.start, span.end), values[index]));
}
