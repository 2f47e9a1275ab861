import { apiError, PushError } from '../protocol/errors.js';
import { outline, type ValueSpan } from '../protocol/json-text.js';
import type { JsonItems } from '../push/items.js';
import { isJsonMedia, itemsOf, jsonObjectBody, mediaType } from './body.js';

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
type PushMember = (typeof PUSH_MEMBERS)[number];
const TARGETS: readonly PushMember[] = ['all', 'room', 'conn', 'user'];
/** One bit per member of {@link PUSH_MEMBERS}: the members a push names fit in an integer. */
const BIT: ReadonlyMap<string, number> = new Map(PUSH_MEMBERS.map((name, index) => [name, 1 << index]));
const TARGET_BITS = 0b01111;
const ITEMS_BIT = 0b10000;

/** The target a push object names (`named`: its members' bits), or why it cannot be used. */
function targetOf(push: Record<string, unknown>, named: number): BatchTarget {
  const targets = named & TARGET_BITS;
  // A single bit set: one target.
  if (targets === 0 || (targets & (targets - 1)) !== 0) throw apiError.INVALID_BODY.pushTarget(TARGETS.filter((name) => (named & (BIT.get(name) ?? 0)) !== 0));
  const kind = targets === 1 ? 'all' : targets === 2 ? 'room' : targets === 4 ? 'conn' : 'user';
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
    // One look at each member: known, not seen before (a bit per name), and where the items are.
    let named = 0;
    let items: readonly ValueSpan[] | null = null;
    for (const member of outline(text).members) {
      const bit = BIT.get(member.name);
      if (bit === undefined) throw apiError.INVALID_BODY.unknownMember(member.name, PUSH_MEMBERS);
      if ((named & bit) !== 0) throw apiError.INVALID_BODY.repeatedMember(member.name);
      named |= bit;
      if (bit === ITEMS_BIT) items = member.elements;
    }
    const target = targetOf(push, named);
    return { target, items: items === null ? undefined : itemsOf(text, push.items, items) };
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
