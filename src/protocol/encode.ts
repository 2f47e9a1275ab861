import type { RequestId } from './client-protocol.js';
import type { ErrorCodeName } from './codes.js';

// go-push's server messages as JSON text; src/protocol/go-push.ts frames them.

/**
 * The PUSH message for a batch. `items` are JSON texts already validated and serialised when the push
 * was accepted, so a batch is joined, never re-encoded.
 */
export function encodePush(items: readonly string[], room: string | undefined): string {
  const body = items.join(',');
  return room === undefined ? `{"type":"PUSH","data":{"items":[${body}]}}` : `{"type":"PUSH","data":{"room":${JSON.stringify(room)},"items":[${body}]}}`;
}

function withId(id: RequestId | undefined): string {
  return id === undefined ? '' : `,"id":${JSON.stringify(id)}`;
}

/** go-push's PONG, with the request id when the PING had one. */
export function encodePong(id: RequestId | undefined): string {
  return `{"type":"PONG"${withId(id)},"data":{}}`;
}

/** The answer to a request that carried an id: tells the client its own connection id. */
export function encodeAck(id: RequestId, conn: string): string {
  return `{"type":"ACK"${withId(id)},"data":{"conn":${JSON.stringify(conn)}}}`;
}

/** An ERROR frame, carrying the request id when the request had one. */
export function encodeError(id: RequestId | undefined, code: ErrorCodeName, message: string): string {
  return `{"type":"ERROR"${withId(id)},"data":{"code":${JSON.stringify(code)},"message":${JSON.stringify(message)}}}`;
}

/** A WARNING frame: `{"type":"WARNING","data":{"code","message",...extra}}` (extra values are JSON-encoded). */
export function encodeWarning(code: string, message: string, extra: Record<string, number | string> = {}): string {
  const more = Object.entries(extra)
    .map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join('');
  return `{"type":"WARNING","data":{"code":${JSON.stringify(code)},"message":${JSON.stringify(message)}${more}}}`;
}
