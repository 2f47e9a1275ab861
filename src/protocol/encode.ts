import type { ConnectedInfo, JoinStream, PresenceEventBody, RequestId, StreamStamp } from './client-protocol.js';
import type { ErrorCodeName } from './codes.js';

// go-push's server messages as JSON text; src/protocol/go-push.ts frames them.

/**
 * The PUSH message for a batch. `items` are JSON texts already validated and serialised when the push
 * was accepted, so a batch is joined, never re-encoded.
 */
export function encodePush(items: readonly string[], room: string | undefined, stamp?: StreamStamp): string {
  const body = items.join(',');
  if (room === undefined) return `{"type":"PUSH","data":{"items":[${body}]}}`;
  // After the items: a go-push client reads room and items, and ignores what follows.
  const position = stamp === undefined ? '' : `,"offset":${stamp.offset},"epoch":${JSON.stringify(stamp.epoch)}`;
  return `{"type":"PUSH","data":{"room":${JSON.stringify(room)},"items":[${body}]${position}}}`;
}

function withId(id: RequestId | undefined): string {
  return id === undefined ? '' : `,"id":${JSON.stringify(id)}`;
}

/** go-push's PONG, with the request id when the PING had one. */
export function encodePong(id: RequestId | undefined): string {
  return `{"type":"PONG"${withId(id)},"data":{}}`;
}

/** The answer to a request that carried an id: tells the client its own connection id (and `data`, JSON text, when given). */
export function encodeAck(id: RequestId, conn: string, data?: string, stream?: JoinStream): string {
  return `{"type":"ACK"${withId(id)},"data":{"conn":${JSON.stringify(conn)}${data === undefined ? '' : `,"data":${data}`}${stream === undefined ? '' : `,"stream":${JSON.stringify(stream)}`}}}`;
}

/** An ERROR frame, carrying the request id when the request had one, and `extra` members beside code and message. */
export function encodeError(id: RequestId | undefined, code: ErrorCodeName, message: string, extra?: Record<string, string>): string {
  let more = '';
  if (extra !== undefined) for (const key in extra) more += `,${JSON.stringify(key)}:${JSON.stringify(extra[key])}`;
  return `{"type":"ERROR"${withId(id)},"data":{"code":${JSON.stringify(code)},"message":${JSON.stringify(message)}${more}}}`;
}

/** The REPLY to an RPC: `result` is the backend's result as JSON text. */
export function encodeReply(id: RequestId, result: string): string {
  return `{"type":"REPLY"${withId(id)},"data":{"result":${result}}}`;
}

/** The CONNECTED frame: the connection's id, user, rooms joined at once, and the connect hook's data (JSON text). */
export function encodeConnected(info: ConnectedInfo): string {
  const data = info.data === undefined ? '' : `,"data":${info.data}`;
  return `{"type":"CONNECTED","data":{"conn":${JSON.stringify(info.conn)},"user":${JSON.stringify(info.user ?? null)},"rooms":${JSON.stringify(info.rooms)}${data}}}`;
}

/** A WARNING frame: `{"type":"WARNING","data":{"code","message",...extra}}` (extra values are JSON-encoded). */
export function encodeWarning(code: string, message: string, extra: Record<string, number | string> = {}): string {
  const more = Object.entries(extra)
    .map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join('');
  return `{"type":"WARNING","data":{"code":${JSON.stringify(code)},"message":${JSON.stringify(message)}${more}}}`;
}

/** A PRESENCE_EVENT frame: `{"type":"PRESENCE_EVENT","data":{"room","event",…}}`. */
export function encodePresenceEvent(event: PresenceEventBody): string {
  // go-push's events are per connection: whether it is its user's only one is Pusher's concern.
  const body = event.event === 'join' || event.event === 'leave' ? { ...event, sole: undefined } : event;
  return `{"type":"PRESENCE_EVENT","data":${JSON.stringify(body)}}`;
}
