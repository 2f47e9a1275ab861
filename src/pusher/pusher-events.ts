// The engine's item for a Pusher event: the hub, merger and broker carry items as JSON texts and never
// look inside; only the Pusher protocol (src/pusher/pusher-protocol.ts) turns them into frames. The item
// is already the frame less its channel, so that framing a batch appends the channel to each item
// instead of parsing and re-serialising data it has no business reading.

/**
 * A Pusher event to encode as an item. `data` is the event's data as the server SDK sends it: a string,
 * relayed as that string (Pusher's "double encoding": a JSON payload stays a JSON text inside a string).
 * `dataJson` instead is the JSON text of any JSON value, relayed as that same value: a client event's
 * data as the client sent it (pusher-js sends `channel.trigger('client-x', {a: 1})` as the object
 * `{"a":1}`, and Pusher and soketi relay it as the object). `dataJson` must be one valid JSON text, as
 * `decodePusherFrame` (src/pusher/pusher-frames.ts) yields it: it is written into the item unchecked. `userId`: the sender's
 * user id, for a client event on a presence channel (Pusher's `user_id`).
 */
export type PusherEventInput =
  | { event: string; data: string; dataJson?: never; userId?: string }
  | { event: string; dataJson: string; data?: never; userId?: string };

/** A Pusher event item, decoded: its data as a JSON text (a string's data is its quoted JSON string). */
export interface PusherEventItem {
  event: string;
  dataJson: string;
  userId?: string;
}

/**
 * The item of a Pusher event: the JSON text `{"event":…,"data":…}`, with `"user_id":…` after the data
 * when `userId` is set. Its first member is always `event`: the Pusher protocol recognises its own items
 * by that prefix.
 */
export function encodeEventItem(input: PusherEventInput): string {
  const data = input.dataJson ?? JSON.stringify(input.data);
  const userId = input.userId === undefined ? '' : `,"user_id":${JSON.stringify(input.userId)}`;
  return `{"event":${JSON.stringify(input.event)},"data":${data}${userId}}`;
}

/**
 * The event an item holds: a JSON object with a string `event`, a `data` (any JSON value) and an
 * optional string `user_id`. `null` for any other text. Never throws.
 */
export function decodeEventItem(text: string): PusherEventItem | null {
  let item: unknown;
  try {
    item = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return null;
  const { event, data, user_id: userId } = item as Record<string, unknown>;
  if (typeof event !== 'string' || data === undefined) return null;
  if (userId !== undefined && typeof userId !== 'string') return null;
  return userId === undefined ? { event, dataJson: JSON.stringify(data) } : { event, dataJson: JSON.stringify(data), userId };
}
