import type { ClientProtocol, ConnectedInfo, DecodedFrame, JoinStream, PreparedFrame, PresenceEventBody, RequestId, StreamStamp } from './client-protocol.js';
import type { ErrorCodeName } from './codes.js';
import { CloseCode } from './codes.js';
import { decodeClientMessage } from './messages.js';

// Server-Sent Events (text/event-stream) framing of server messages: named events whose `data` is the
// JSON body of the go-push frame they stand for.

/** The comment line an SSE stream is kept alive with (and probed: see SseTransport). */
export const SSE_PING = Buffer.from(': ping\n\n');

/** Milliseconds a browser's EventSource waits before it reconnects, as the first event tells it. */
export const SSE_RETRY_MS = 1000;

/** The event names of an SSE stream (src/gateway/sse-endpoint.ts writes `connected` and `close`). */
export const SseEvent = Object.freeze({
  CONNECTED: 'connected',
  PUSH: 'push',
  ACK: 'ack',
  REFUSED: 'refused',
  REPLY: 'reply',
  PONG: 'pong',
  WARNING: 'warning',
  PRESENCE: 'presence',
  CLOSE: 'close',
});

/**
 * One SSE event: `event:` its name, `id:` when given (a stream position, for `Last-Event-ID`), and its
 * data as `data:` lines. A line break inside the data (JSON whitespace in a pushed item) starts another
 * `data:` line: the client joins them with `\n`, so the text comes back whole (a CR or CRLF as LF).
 */
export function sseEvent(event: string, data: string, id?: string): string {
  const idLine = id === undefined ? '' : `id: ${id}\n`;
  const lines = data.includes('\n') || data.includes('\r') ? data.split(/\r\n|\r|\n/).join('\ndata: ') : data;
  return `event: ${event}\n${idLine}data: ${lines}\n\n`;
}

/** The `id` of an event at `stamp`: `<epoch>:<offset>` (an epoch is base64url: it holds no colon). */
export function streamEventId(stamp: StreamStamp): string {
  return `${stamp.epoch}:${stamp.offset}`;
}

/** The stream position a `Last-Event-ID` names, or undefined when it is none of ours (or empty). */
export function parseStreamEventId(value: string | null | undefined): StreamStamp | undefined {
  if (value == null) return undefined;
  const match = /^([A-Za-z0-9_-]{1,64}):(\d{1,15})$/.exec(value.trim());
  if (match === null) return undefined;
  return { epoch: match[1], offset: Number(match[2]) };
}

function prepared(text: string, items = 0): PreparedFrame {
  return { bytes: Buffer.from(text), items, remaining: 0 };
}

// A frame of no bytes, for what has no event: writing it sends nothing. A fresh one each time, since the
// dispatcher counts on a frame's `remaining`.
const nothing = (): PreparedFrame => ({ bytes: Buffer.alloc(0), items: 0, remaining: 0 });

const idMember = (id: RequestId | undefined): string => (id === undefined ? '' : `"id":${JSON.stringify(id)},`);

/** The `data` of a push event: go-push's PUSH body (`room` and the stream position only when there are some). */
export function pushBody(items: readonly string[], room: string | undefined, stamp?: StreamStamp): string {
  const body = items.join(',');
  if (room === undefined) return `{"items":[${body}]}`;
  const position = stamp === undefined ? '' : `,"offset":${stamp.offset},"epoch":${JSON.stringify(stamp.epoch)}`;
  return `{"room":${JSON.stringify(room)},"items":[${body}]${position}}`;
}

/** The `connected` event's data: the connection, and the secret its HTTP requests carry (src/gateway/sse-endpoint.ts). */
export function connectedEvent(info: ConnectedInfo, secret?: string): string {
  const data = info.data === undefined ? '' : `,"data":${info.data}`;
  const key = secret === undefined ? '' : `,"secret":${JSON.stringify(secret)}`;
  return sseEvent(
    SseEvent.CONNECTED,
    `{"conn":${JSON.stringify(info.conn)}${key},"user":${JSON.stringify(info.user ?? null)},"rooms":${JSON.stringify(info.rooms)}${data}}`,
  );
}

/** The last event of a stream the server ends: how the connection ended, as a WebSocket close would say. */
export function closeEvent(code: number, reason: string): string {
  return sseEvent(SseEvent.CLOSE, `{"code":${code},"reason":${JSON.stringify(reason)}}`);
}

/**
 * go-push's operations over Server-Sent Events: a client receives on a `text/event-stream` response and
 * sends its requests as HTTP requests (src/gateway/sse-endpoint.ts turns them into go-push JSON
 * messages, which {@link decode} reads as go-push's decoder does). Each server message is one event:
 *
 * - `push`: `data` is go-push's PUSH body, `{"room"?,"items":[…],"offset"?,"epoch"?}`; for a room with
 *   history also `id: <epoch>:<offset>` (its last item's), which a reconnecting EventSource sends back
 *   as `Last-Event-ID`.
 * - `ack` (`{"id","conn","data"?,"stream"?}`, with `id: <epoch>:<offset>` when it tells a stream
 *   position), `refused` (an ERROR: `{"id"?,"code","message",…}`; not `error`, the name EventSource
 *   gives its own connection errors), `reply` (`{"id","result"}`), `pong` (`{"id"?}`), `warning`
 *   (`{"code","message",…}`), `presence` (a PRESENCE_EVENT's body), `connected` (`{"conn","user",
 *   "rooms","data"?}`; the endpoint writes its own, with the secret).
 *
 * Frames are events only: every one is written as it is to every recipient, encoded once per batch like
 * go-push's. Binary messages are refused (1003), as go-push refuses binary frames. `keepAlive`: an SSE
 * client sends nothing while it receives, so the heartbeat sweep probes it (the transport reports a
 * probe answered once the kernel took the bytes before it); one that takes nothing for the whole
 * interval is closed with 4000.
 */
export const sseProtocol: ClientProtocol = Object.freeze({
  name: 'sse',
  keepAlive: Object.freeze({ closeCode: CloseCode.HEARTBEAT_TIMEOUT }),
  decode(message: string | Buffer): DecodedFrame {
    if (typeof message !== 'string') return { type: 'REFUSED', close: CloseCode.UNSUPPORTED_DATA, reason: 'binary messages are not supported; send JSON' };
    return decodeClientMessage(message);
  },
  push(items: readonly string[], room: string | undefined, stamp?: StreamStamp): PreparedFrame {
    const id = room === undefined || stamp === undefined ? undefined : streamEventId(stamp);
    return prepared(sseEvent(SseEvent.PUSH, pushBody(items, room, stamp), id), items.length);
  },
  ack(id: RequestId, conn: string, data?: string, stream?: JoinStream): PreparedFrame {
    const body = `{${idMember(id)}"conn":${JSON.stringify(conn)}${data === undefined ? '' : `,"data":${data}`}${stream === undefined ? '' : `,"stream":${JSON.stringify(stream)}`}}`;
    return prepared(sseEvent(SseEvent.ACK, body, stream === undefined ? undefined : streamEventId(stream)));
  },
  error(id: RequestId | undefined, code: ErrorCodeName, message: string, extra?: Record<string, string>): PreparedFrame {
    let more = '';
    if (extra !== undefined) for (const key in extra) more += `,${JSON.stringify(key)}:${JSON.stringify(extra[key])}`;
    return prepared(sseEvent(SseEvent.REFUSED, `{${idMember(id)}"code":${JSON.stringify(code)},"message":${JSON.stringify(message)}${more}}`));
  },
  reply(id: RequestId, result: string): PreparedFrame {
    return prepared(sseEvent(SseEvent.REPLY, `{${idMember(id)}"result":${result}}`));
  },
  connected(info: ConnectedInfo): PreparedFrame {
    return prepared(connectedEvent(info));
  },
  pong(id: RequestId | undefined): PreparedFrame {
    // A PING without an id asks for nothing an SSE client could read: the stream itself shows it is alive.
    return id === undefined ? nothing() : prepared(sseEvent(SseEvent.PONG, `{${idMember(id).slice(0, -1)}}`));
  },
  warning(code: string, message: string, extra?: Record<string, number | string>): PreparedFrame {
    let more = '';
    if (extra !== undefined) for (const key in extra) more += `,${JSON.stringify(key)}:${JSON.stringify(extra[key])}`;
    return prepared(sseEvent(SseEvent.WARNING, `{"code":${JSON.stringify(code)},"message":${JSON.stringify(message)}${more}}`));
  },
  presenceEvent(event: PresenceEventBody): PreparedFrame {
    // go-push's events are per connection: whether it is its user's only one is Pusher's concern.
    const body = event.event === 'join' || event.event === 'leave' ? { ...event, sole: undefined } : event;
    return prepared(sseEvent(SseEvent.PRESENCE, JSON.stringify(body)));
  },
});
