/**
 * The pushgate client SDK: one WebSocket to a pushgate gateway, rooms that survive reconnects, a
 * heartbeat, and promises for JOIN, LEAVE, PING, RPC (calls answered by the backend's rpc hook) and
 * PUBLISH (items for a room's members, sent by the client). In rooms with history it tracks each room's
 * position (offset and epoch), drops repeated items, and recovers what it missed on every rejoin (see
 * {@link PushgateClient.position} and the `recovered` event).
 *
 * This file is a self-contained ES module without imports: the gateway serves its compiled form as is
 * at `/client.js`, so a plain page can `import { connect } from 'http://GATEWAY:7777/client.js'`. It uses
 * only the standard WebSocket API (`addEventListener`, `send`, `close`, `readyState`), timers and
 * `performance.now()`, so it runs in browsers, in Node (`pushgate/client` supplies the `ws` package's
 * WebSocket) and in other runtimes given a WebSocket constructor.
 *
 * @example
 * import { connect } from 'pushgate/client';
 * const client = connect('ws://127.0.0.1:7777/connect');
 * client.on('push', (items, room) => console.log(room, items));
 * await client.join('news');
 * const profile = await client.rpc('profile.get', { id: 7 });
 * await client.publish('chat', { text: 'hello' });
 *
 * @module
 */

/**
 * Where a client is in its life:
 * - `connecting`: the first connection attempt is under way (the state {@link connect} returns in);
 * - `open`: a WebSocket is open; requests are sent at once;
 * - `reconnecting`: a connection was lost (or could not be made) and the client is waiting to retry or
 *   retrying; requests made meanwhile are sent once it is open again;
 * - `closed`: final, after {@link PushgateClient.close}, a close code that forbids reconnecting, or any
 *   close with `reconnect: false`. A closed client stays closed: call {@link connect} again for a new one.
 */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The part of the standard WebSocket API the client uses. Browsers' `WebSocket` and `ws`'s fit it. */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // biome-ignore lint/suspicious/noExplicitAny: each event type has its own event class; `unknown` would reject typed listeners.
  addEventListener(type: string, listener: (event: any) => void): void;
}

/** A WebSocket constructor: `new WebSocket(url, protocols?)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Options of {@link connect}. Every one is optional; times are in milliseconds. */
export interface ClientOptions {
  /**
   * The WebSocket constructor to use. Default: `globalThis.WebSocket` (browsers, Deno, Node ≥ 22).
   * Node 20 has none: import from `pushgate/client`, which falls back to the `ws` package, or pass
   * `WebSocket` from `ws` here.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * A JWT for gateways with authentication on, or a function returning a fresh one (called for every
   * connection attempt, so a reconnect can use a renewed token). Sent as the subprotocol
   * `pushgate.token.<jwt>` (a header, kept out of URLs and their logs). Default: none.
   */
  token?: string | (() => string);
  /**
   * Reconnect by itself when the connection is lost, with exponential backoff and full jitter, and
   * rejoin every room in {@link PushgateClient.rooms}. Default `true`. Close codes that mean the client
   * must change something (1003, 1007, 1008, 1009, 4001), or that the backend closed it on purpose
   * (4003), never reconnect; see {@link noReconnectCloseCodes}.
   */
  reconnect?: boolean;
  /**
   * Backoff base: the n-th retry in a row (n = 0, 1, 2, …) waits a random time in
   * `[0, min(maxReconnectDelay, minReconnectDelay × 2ⁿ))`. Default 250. Must be > 0.
   */
  minReconnectDelay?: number;
  /** Longest wait between two attempts. Default 30000 (30 s). Must be ≥ `minReconnectDelay`. */
  maxReconnectDelay?: number;
  /**
   * Send a PING every this many milliseconds while open, and treat the connection as dead (close it
   * and reconnect) when no frame at all has arrived for 2 × this long while a PING is unanswered.
   * Default 20000 (20 s), well below the gateway's 60 s `heartbeatInterval`: keep it below half of the
   * gateway's. 0 turns the heartbeat off.
   */
  heartbeatInterval?: number;
  /**
   * How long {@link PushgateClient.join}, {@link PushgateClient.leave}, {@link PushgateClient.ping},
   * {@link PushgateClient.rpc} (unless given its own `timeout`) and {@link PushgateClient.publish} wait for
   * the server's answer before rejecting with `TIMEOUT` (counted from the call, including any wait for
   * the connection to open). Default 10000 (10 s). Keep it above the gateway's `hookTimeout` (5 s) when
   * hooks are on, so that the gateway's own `TIMEOUT` (or the answer) comes first.
   */
  requestTimeout?: number;
  /**
   * The Server-Sent Events fallback, for networks that refuse WebSockets (a proxy that drops upgrades):
   * when an attempt fails before its WebSocket opened, the next one opens the gateway's event stream
   * instead (`GET /sse` on the same host and port, `http:` for `ws:`, `https:` for `wss:`; the token in
   * `?token=`), and the client's requests go as HTTP requests (`POST /sse/<conn>/<operation>`) while it
   * is on it; a stream that fails to open makes the next attempt a WebSocket again. A client whose
   * WebSocket opened once keeps to WebSockets (a later failure is the gateway's). Everything else is the same
   * (rooms, positions and recovery, heartbeat, events). The `EventSource` constructor to use; default
   * `globalThis.EventSource` (browsers); `false` turns the fallback off. Node has none: pass the
   * `eventsource` package's. Requests need `fetch` (`globalThis.fetch`, or `options.fetch`).
   */
  EventSource?: EventSourceConstructor | false;
  /** The `fetch` the SSE fallback sends requests with. Default: `globalThis.fetch`. */
  fetch?: FetchLike;
}

/** The part of the standard EventSource API the SSE fallback uses. */
export interface EventSourceLike {
  close(): void;
  // biome-ignore lint/suspicious/noExplicitAny: MessageEvent and Event; `unknown` would reject typed listeners.
  addEventListener(type: string, listener: (event: any) => void): void;
}

/** An EventSource constructor: `new EventSource(url)`. */
export type EventSourceConstructor = new (url: string) => EventSourceLike;

/** The part of `fetch` the SSE fallback uses. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string },
) => Promise<{ readonly status: number; json(): Promise<unknown> }>;

/** What the `close` event reports: one WebSocket ended. */
export interface CloseInfo {
  /** The WebSocket close code: the server's, 1006 when the connection failed or was cut, 4000 when the client's heartbeat found it dead. */
  code: number;
  /** The close reason, often empty. */
  reason: string;
  /** Whether the client will try again (state `reconnecting`) or stops (state `closed`). */
  willReconnect: boolean;
  /** Whether the WebSocket closing handshake completed. */
  wasClean: boolean;
}

/** What the `reconnect` event reports: a retry was scheduled. */
export interface ReconnectInfo {
  /** 1 for the first retry after a connection was lost, 2 for the next, … (starts over after a stable connection). */
  attempt: number;
  /** Milliseconds until this attempt. */
  delay: number;
}

/**
 * Who caused a frame: `request` (a call: join, leave, ping, rpc or publish), `heartbeat` (the automatic
 * PING), `rejoin` (a room rejoined after (re)connecting, a retried rejoin, or the LEAVE and JOIN that
 * recover a gap), `whoami` (the LEAVE that learns the connection
 * id), `raw` ({@link PushgateClient.sendRaw}); incoming frames carry the source of the request they
 * answer (an ACK, REPLY or ERROR with its id; an id-less PONG is taken for the heartbeat's while one is
 * due), or `server` (PUSH, CONNECTED, WARNING, answers to raw frames).
 */
export type FrameSource = 'request' | 'heartbeat' | 'rejoin' | 'whoami' | 'raw' | 'server';

/** A request the client sent with an `id`. */
export interface RequestInfo {
  id: number;
  type: 'JOIN' | 'LEAVE' | 'PING' | 'RPC' | 'PUBLISH' | 'PRESENCE';
  /** The room of a JOIN, LEAVE or PUBLISH. */
  room?: string;
  /** The method of an RPC. */
  method?: string;
}

/**
 * What the gateway's CONNECTED frame tells (the first frame of a connection when the gateway has a
 * connect hook): see the `connected` event.
 */
export interface ConnectedInfo {
  /** This connection's id (the same as {@link PushgateClient.connId}). */
  conn: string;
  /** The user the connection belongs to (the connect hook's, or the token's `sub`), or null. */
  user: string | null;
  /**
   * Rooms the connect hook put the connection in before this frame. The server joined them: they are
   * not in {@link PushgateClient.rooms} (see the `connected` event).
   */
  rooms: string[];
  /** The connect hook's data for the client (any JSON), or `undefined` when it gave none. */
  data: unknown;
}

/** Options of {@link PushgateClient.rpc}. */
export interface RpcOptions {
  /** Milliseconds to wait for the REPLY before rejecting with `TIMEOUT`. Default: the client's `requestTimeout`. */
  timeout?: number;
}

/** What the `frame` event reports: one text frame in or out (for logs and debugging). */
export interface FrameInfo {
  direction: 'in' | 'out';
  /** The frame's text, as sent or received. */
  text: string;
  /** The text parsed as JSON, or `undefined` when it is not JSON. */
  message: unknown;
  source: FrameSource;
  /** For an incoming answer: the request it answers. */
  request?: RequestInfo;
}

/** A connection in a room's presence: its id, its user (null: anonymous) and the node that holds it. */
export interface PresenceConnection {
  conn: string;
  user: string | null;
  node: string;
}

/**
 * What {@link PushgateClient.presence} resolves with: the room's connections and distinct users over
 * the whole cluster, and their counts. A room over the gateway's `presenceMax` connections is answered
 * with counts only (`truncated: true`, no `connections` nor `users`; `userCount` then counts each node's
 * distinct users, so a user on two nodes counts twice). `partial`: some node did not answer in time
 * (`unanswered` names them) or the gateway's view of the cluster was not current.
 */
export interface PresenceResult {
  room: string;
  connections?: PresenceConnection[];
  users?: string[];
  count: number;
  userCount: number;
  partial: boolean;
  unanswered?: string[];
  truncated?: true;
}

/**
 * What the `join` and `leave` events report: in `room`, `user` came (its first connection there) or
 * went (its last one gone), `conn` being that connection; for an anonymous connection (`user` null),
 * every connection's own join and leave.
 */
export interface PresenceChangeInfo {
  room: string;
  user: string | null;
  conn: string;
}

/**
 * A position in a room's stream (a room with history): the offset of an item (1, 2, 3, … per room) and
 * the stream's epoch (a random id that changes whenever the stream's history was lost). What
 * {@link PushgateClient.position} answers, and what `GET /history` gives as `top` and `epoch`.
 */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/**
 * The third argument of the `push` event, for a room with history: where the items stand in the room's
 * stream. The items are contiguous: `items[i]` has offset `first + i`, the last one `offset`.
 */
export interface PushInfo {
  /** The offset of the first item delivered. */
  first: number;
  /** The offset of the last item (the room's {@link PushgateClient.position} once delivered). */
  offset: number;
  epoch: string;
  /** Whether the items came while a recovery JOIN of the room was being answered: the replay of missed items. */
  replay: boolean;
}

/**
 * Why a room was (re)joined from a position: `reconnect` (rejoined after a reconnect, from the last
 * position seen), `join` (the position given to {@link PushgateClient.join} or
 * {@link PushgateClient.joinRoom}), `gap` (a PUSH skipped offsets or came in another epoch: the client
 * rejoined the room from its position, see the `gap` event).
 */
export type RecoveryCause = 'reconnect' | 'join' | 'gap';

/** What the `recovered` event reports: the answer to a JOIN that asked to recover from a position. */
export interface RecoveryInfo {
  room: string;
  /**
   * `true`: every item after the position was replayed (`replayed` of them, before this event), and live
   * items follow. `false`: the stream no longer holds what followed (another epoch, trimmed, expired):
   * nothing was replayed, items after `offset` follow live, and the app must reload the room's state
   * (e.g. from `GET /history` or its backend).
   */
  recovered: boolean;
  /** How many items were replayed. */
  replayed: number;
  /** The room's position now (live items follow from `offset + 1`). */
  offset: number;
  epoch: string;
  /** The position the JOIN recovered from. */
  from: StreamPosition;
  cause: RecoveryCause;
}

/**
 * What the `gap` event reports: a PUSH of a room with history did not continue the room's position
 * (its first offset is past `offset + 1`, or its epoch is another). Its items were not delivered: the
 * client rejoins the room from `offset` and `epoch` (a `recovered` event with cause `gap` follows). In a
 * room the connect hook joined (not in {@link PushgateClient.rooms}), which the client cannot rejoin,
 * the items are delivered and the position moves on: reload the room's state.
 */
export interface GapInfo {
  room: string;
  /** The last offset delivered. */
  offset: number;
  /** The epoch of the last offset delivered. */
  epoch: string;
  /** The first offset of the PUSH frame. */
  first: number;
  /** The epoch of the PUSH frame. */
  frameEpoch: string;
}

/**
 * Where a room's stream stood when the server answered a JOIN (the ACK's `data.stream`), for a room
 * with history. `recovered` and `replayed` are there when the JOIN carried a position.
 */
export interface JoinStream {
  offset: number;
  epoch: string;
  recovered?: boolean;
  replayed?: number;
}

/** What {@link PushgateClient.joinRoom} resolves with. */
export interface JoinResult {
  room: string;
  /** The subscribe hook's data for the room (the ACK's `data.data`), or `undefined` when it gave none. */
  data: unknown;
  /** Where the room's stream stood, for a room with history; `undefined` for a room without. */
  stream: JoinStream | undefined;
}

/** Options of {@link PushgateClient.joinRoom}. */
export interface JoinRoomOptions {
  /** Data for the gateway's subscribe hook (any JSON), as the second argument of {@link PushgateClient.join}. */
  data?: unknown;
  /** Start from this position (e.g. `GET /history`'s `top` and `epoch`): the items after it are replayed. */
  from?: StreamPosition;
}

/** Every event and its listener's signature; subscribe with {@link PushgateClient.on}. */
export interface ClientEvents {
  /**
   * A PUSH frame: its items in order, and the room it was pushed to (`undefined`: to all or to this
   * connection). For a room with history, `info` gives the items' offsets and epoch, and only items
   * past the room's position are delivered (repeated ones are dropped); `info` is `undefined` otherwise.
   */
  push: (items: unknown[], room: string | undefined, info?: PushInfo) => void;
  /**
   * A JOIN that carried a position was answered (a rejoin after a reconnect, a {@link PushgateClient.join}
   * from a position, or a recovery after a gap). `recovered: false`: reload the room's state.
   */
  recovered: (info: RecoveryInfo) => void;
  /** A PUSH of a room with history skipped offsets or came in another epoch (see {@link GapInfo}). */
  gap: (info: GapInfo) => void;
  /** The {@link ClientState} changed. */
  state: (state: ClientState, previous: ClientState) => void;
  /** A WebSocket opened (after each reconnect too). The rooms are being rejoined. */
  open: () => void;
  /**
   * Once per connection, after `open`: the server answered every JOIN and LEAVE sent on opening (the
   * rejoins, or the LEAVE that learns the id), so {@link PushgateClient.connId} is known and the rooms
   * are joined (any room the server refused was reported with `error` and dropped from
   * {@link PushgateClient.rooms}). RPCs and PUBLISHes waiting for the connection are sent on opening too,
   * but `ready` does not wait for their answers. On a gateway with a connect hook, `connected` comes first.
   */
  ready: (connId: string) => void;
  /**
   * The gateway's CONNECTED frame, once per connection on gateways with a connect hook (its first
   * frame, before any answer): the connection's id, user, the rooms the connect hook joined, and the
   * hook's data for the client. {@link PushgateClient.connectData} and {@link PushgateClient.user} hold
   * the last one.
   *
   * The rooms listed are joined by the server, on every connection: the client does not add them to
   * {@link PushgateClient.rooms} and does not rejoin them after a reconnect (the connect hook joins them
   * again, and may decide differently then). PUSHes to them arrive as usual. A room the client also
   * {@link PushgateClient.join}ed stays in `rooms` and is rejoined (the server ACKs a JOIN of a room the
   * connection is in already); {@link PushgateClient.leave} leaves a hook's room for this connection only.
   */
  connected: (info: ConnectedInfo) => void;
  /** A WebSocket closed or a connection attempt failed. Emitted before the resulting `state` change. */
  close: (info: CloseInfo) => void;
  /** A scheduled retry (state `reconnecting`). */
  reconnect: (info: ReconnectInfo) => void;
  /**
   * Something went wrong that no promise reports: a socket error (`SOCKET_ERROR`), an ERROR frame that
   * answers no pending call (e.g. a refused rejoin, `TOO_MANY_ROOMS`), a frame that is not JSON
   * (`BAD_FRAME`), or a rejoin that timed out (`TIMEOUT`). A rejoin refused with `UNAVAILABLE` (the
   * room's history could not be read) is reported on each refusal and retried, up to
   * {@link REJOIN_RETRIES} times (the message says which retry, or that the client gave up).
   */
  error: (error: PushgateError) => void;
  /**
   * In a room with join/leave events (the gateway's `joinLeave` patterns), a user came: its first
   * connection in the room joined (an anonymous connection: every one). Not for the rooms' members
   * present when this client joined (they are in the room's state, not announced), nor for this
   * client's own connection. After a reconnect, the users who came meanwhile are announced once the
   * room is rejoined.
   */
  join: (info: PresenceChangeInfo) => void;
  /** In a room with join/leave events, a user went: its last connection in the room left or closed (anonymous: every one). */
  leave: (info: PresenceChangeInfo) => void;
  /**
   * The room holds more than the gateway's `presenceMax` connections: no `join` or `leave` events for
   * it until it is back under that bound (the differences are then announced).
   */
  presenceOverflow: (room: string, count: number) => void;
  /** Every text frame sent or received (debugging, logs). */
  frame: (frame: FrameInfo) => void;
}

/** Error codes the client itself produces (the server's ERROR codes pass through unchanged). */
export const ClientErrorCode = {
  /** No answer within `requestTimeout`. */
  TIMEOUT: 'TIMEOUT',
  /** The connection closed before the answer came. */
  DISCONNECTED: 'DISCONNECTED',
  /** The client is closed (or was closed while the call waited). */
  CLOSED: 'CLOSED',
  /** `ping()` while no connection is open. */
  NOT_OPEN: 'NOT_OPEN',
  /** The WebSocket reported an error (a `close` follows). */
  SOCKET_ERROR: 'SOCKET_ERROR',
  /** The server sent a frame that is not a JSON object, or a binary frame. */
  BAD_FRAME: 'BAD_FRAME',
} as const;

/**
 * A refused or failed call. `code` is the server's ERROR code (`INVALID_ROOM`, `TOO_MANY_ROOMS`,
 * `BAD_REQUEST`, `FORBIDDEN`, and for hooks `BACKEND_ERROR`, `TIMEOUT`, `UNAVAILABLE`, `BAD_GATEWAY`,
 * `UNKNOWN_METHOD`, `TOO_MANY_REQUESTS`, …) or one of {@link ClientErrorCode} (`TIMEOUT`, `DISCONNECTED`,
 * `CLOSED`, `NOT_OPEN`, `SOCKET_ERROR`, `BAD_FRAME`).
 */
export class PushgateError extends Error {
  /** The error code. */
  readonly code: string;
  /** The room of the JOIN, LEAVE or PUBLISH concerned, if any. */
  readonly room: string | undefined;
  /** The request concerned, if any. */
  readonly request: RequestInfo | undefined;
  /**
   * For `BACKEND_ERROR` (an RPC the backend refused): the backend's own error code (`data.backendCode`
   * of the ERROR frame), when it gave one.
   */
  readonly backendCode: string | undefined;

  constructor(code: string, message: string, details: { request?: RequestInfo; cause?: unknown; backendCode?: string } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'PushgateError';
    this.code = code;
    this.request = details.request;
    this.room = details.request?.room;
    this.backendCode = details.backendCode;
  }
}

/**
 * Close codes after which the client does not reconnect (state `closed`): the client must change
 * before trying again. 1003 (binary frame sent), 1007 (invalid UTF-8), 1009 (message too big): a bug
 * in the client; 1008 (rate limit exceeded: reconnecting at once would repeat it); 4001 (refused
 * authentication); 4003 (disconnected by the backend on purpose, through the connection API or the
 * connect hook's `disconnect` answer: reconnecting would undo the backend's decision, or be refused
 * again). Every other code reconnects: 1000, 1001 (server shutting down), 1006 (connection lost or
 * handshake refused), 1011, 1012, 1013 (slow consumer), 4000 (heartbeat timeout), ….
 */
export const noReconnectCloseCodes: readonly number[] = [1003, 1007, 1008, 1009, 4001, 4003];

/** The room the client LEAVEs to learn its connection id when it wants no room (leaving it changes nothing). */
export const WHOAMI_ROOM = 'pushgate:whoami';

/** Once a connection has stayed open this long (ms), the reconnect backoff starts over. */
export const BACKOFF_RESET_AFTER = 5000;

/**
 * How many times in a row the client retries a rejoin the server refused with `UNAVAILABLE` (the room's
 * history could not be read: the JOIN did not happen), on the same connection. The n-th retry (n = 0,
 * 1, …) waits a random time in `[0, min(maxReconnectDelay, minReconnectDelay × 2ⁿ⁺¹))`. After the last
 * one the room stays in {@link PushgateClient.rooms}, unjoined until the next connection.
 */
export const REJOIN_RETRIES = 5;

/** The epochs the gateway accepts in a JOIN. */
const EPOCH = /^[A-Za-z0-9_-]{1,64}$/;

const OPEN = 1;

interface Pending {
  info: RequestInfo;
  /** The frame's `data`, as JSON text. */
  body: string;
  source: 'request' | 'rejoin' | 'whoami';
  /** `performance.now()` when sent (PING round trips). */
  sentAt: number;
  /** How long to wait for the answer (ms). */
  timeoutMs: number;
  /** The caller's promise; null once settled (timed out) or for the client's own requests. */
  settle: { resolve(value: unknown): void; reject(error: PushgateError): void } | null;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** For a JOIN: what its body is made of when it is sent (see {@link PushgateClient.joinFrame}). */
  join?: JoinPlan;
}

/** A JOIN's room, data and position: the body is made when it is sent, with the position known then. */
interface JoinPlan {
  room: string;
  data: unknown;
  /** The position the app gave, if any (it replaces the tracked one). */
  from: StreamPosition | undefined;
  cause: RecoveryCause;
  /** The position the frame carried, once sent. */
  sent?: StreamPosition;
  /** A second recovery after the server answered the first without recovering (it had the room already). */
  forced?: boolean;
  /** Resolve with a {@link JoinResult} (joinRoom) rather than the hook's data (join). */
  full?: boolean;
}

/** The ACK's `stream`, when it is one. */
function parseStream(value: unknown): JoinStream | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { offset, epoch, recovered, replayed } = value as Record<string, unknown>;
  if (typeof offset !== 'number' || typeof epoch !== 'string') return undefined;
  const stream: JoinStream = { offset, epoch };
  if (typeof recovered === 'boolean') stream.recovered = recovered;
  if (typeof replayed === 'number') stream.replayed = replayed;
  return stream;
}

/** A copy of `from`, or a `TypeError` when it is not a position the gateway accepts. */
function checkPosition(from: unknown): StreamPosition | TypeError {
  const { offset, epoch } = (from ?? {}) as { offset?: unknown; epoch?: unknown };
  if (!Number.isSafeInteger(offset) || (offset as number) < 0 || typeof epoch !== 'string' || !EPOCH.test(epoch)) {
    return new TypeError('pushgate client: a position is { offset: a non-negative integer, epoch: a string of 1 to 64 letters, digits, _ or - }');
  }
  return { offset: offset as number, epoch };
}

/**
 * Server ERROR codes (read from frames, never built here) that refuse a JOIN for now (the backend or
 * the store is down): the room stays wanted. `UNAVAILABLE` is the one a rejoin retries. Spelt out: the
 * SDK imports nothing (it is served to browsers as is), so it cannot take them from the error registry.
 */
const RETRIED_REJOIN_ERROR = 'UNAVAILABLE';
const TRANSIENT_JOIN_ERRORS: readonly string[] = [RETRIED_REJOIN_ERROR, 'TIMEOUT', 'BAD_GATEWAY'];

/** `JSON.stringify(value)`, or a `TypeError` naming `what` when it cannot be sent as JSON. */
function jsonText(what: string, value: unknown): string | TypeError {
  try {
    return JSON.stringify(value);
  } catch (error) {
    return new TypeError(`pushgate client: ${what} cannot be sent as JSON: ${String(error)}`);
  }
}

/** `JOIN "room"`, `RPC "method"`, `PING`: a request for messages. */
function describe(info: RequestInfo): string {
  const what = info.method ?? info.room;
  return what === undefined ? info.type : `${info.type} ${JSON.stringify(what)}`;
}

// biome-ignore lint/suspicious/noExplicitAny: each event's listener signature is checked by on() against ClientEvents.
type Listener = (...args: any[]) => void;

function positive(name: string, value: number | undefined, fallback: number, allowZero: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(`pushgate client: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds, got ${String(value)}`);
  }
  return value;
}

// ---- the SSE fallback: an event stream and HTTP requests, as a WebSocket the client can use ----

/** The event stream's events, as the go-push frame types they stand for (src/protocol/sse-protocol.ts). */
const SSE_FRAMES: Readonly<Record<string, string>> = {
  push: 'PUSH',
  ack: 'ACK',
  refused: 'ERROR',
  reply: 'REPLY',
  pong: 'PONG',
  warning: 'WARNING',
  presence: 'PRESENCE_EVENT',
};

/** The go-push requests, as the stream's request routes (`POST /sse/<conn>/<operation>`). */
const SSE_OPERATIONS: Readonly<Record<string, string>> = {
  JOIN: 'join',
  LEAVE: 'leave',
  RPC: 'rpc',
  PUBLISH: 'publish',
  PRESENCE: 'presence',
  PING: 'ping',
  AUTH: 'auth',
};

const TOKEN_PROTOCOL = 'pushgate.token.';

/** The event stream of the gateway a WebSocket URL names: `ws://h:p/connect` → `http://h:p/sse`. */
export function sseUrl(wsUrl: string): string {
  const url = new URL(wsUrl);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  else if (url.protocol === 'wss:') url.protocol = 'https:';
  url.pathname = '/sse';
  url.search = '';
  url.hash = '';
  return url.toString();
}

function parseObject(text: unknown): Record<string, unknown> | null {
  if (typeof text !== 'string') return null;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A WebSocket constructor whose sockets are event streams with their requests (see {@link SseSocket}). */
function sseSockets(EventSourceImpl: EventSourceConstructor, fetchImpl: FetchLike): WebSocketConstructor {
  return class extends SseSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, EventSourceImpl, fetchImpl);
    }
  };
}

/**
 * A gateway's event stream and the HTTP requests of its connection, as a {@link WebSocketLike}: it
 * opens on the stream's `connected` event (keeping its connection id and secret), turns each event
 * back into the go-push frame it stands for, and sends each frame as the request it is (one at a time,
 * in order: JOIN then LEAVE of a room must arrive so); a heartbeat PING the gateway accepted is
 * answered with a PONG here, since the stream's own keep-alive comments are not events. The stream's
 * `close` event closes it with the server's code; any other end (EventSource's error) is 1006, and the
 * EventSource is closed rather than left to reconnect by itself: the client reconnects and recovers.
 */
class SseSocket implements WebSocketLike {
  readyState = 0;
  // biome-ignore lint/suspicious/noExplicitAny: see WebSocketLike.addEventListener.
  private readonly listeners = new Map<string, Array<(event: any) => void>>();
  private readonly source: EventSourceLike;
  private readonly routes: string;
  private conn = '';
  private secret = '';
  private sending: Promise<void> = Promise.resolve();

  constructor(
    url: string,
    protocols: string | string[] | undefined,
    EventSourceImpl: EventSourceConstructor,
    private readonly fetchImpl: FetchLike,
  ) {
    const stream = new URL(sseUrl(url));
    const offered = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
    const token = offered.find((protocol) => protocol.startsWith(TOKEN_PROTOCOL));
    if (token !== undefined) stream.searchParams.set('token', token.slice(TOKEN_PROTOCOL.length));
    this.routes = `${stream.origin}/sse/`;
    this.source = new EventSourceImpl(stream.toString());
    this.source.addEventListener('connected', (event: { data?: unknown }) => this.opened(event.data));
    for (const [name, type] of Object.entries(SSE_FRAMES)) this.source.addEventListener(name, (event: { data?: unknown }) => this.event(type, event.data));
    this.source.addEventListener('close', (event: { data?: unknown }) => {
      const body = parseObject(event.data);
      this.finish(typeof body?.code === 'number' ? body.code : 1006, typeof body?.reason === 'string' ? body.reason : '', true);
    });
    this.source.addEventListener('error', () => {
      if (this.readyState === 0) this.dispatch('error', { message: `cannot open the event stream ${stream.origin}/sse` });
      this.finish(1006, this.readyState === 0 ? 'the event stream could not be opened' : 'the event stream was lost', false);
    });
  }

  addEventListener(type: string, listener: (event: unknown) => void): void {
    let list = this.listeners.get(type);
    if (list === undefined) this.listeners.set(type, (list = []));
    list.push(listener);
  }

  send(text: string): void {
    if (this.readyState !== OPEN) throw new Error('the event stream is not open');
    const message = parseObject(text);
    const operation = message === null || typeof message.type !== 'string' ? undefined : SSE_OPERATIONS[message.type];
    if (message === null || operation === undefined) throw new Error('not a request the event stream can send');
    const id = message.id;
    const data = message.data !== null && typeof message.data === 'object' ? message.data : {};
    const body = JSON.stringify(id === undefined ? data : { ...data, id });
    const heartbeat = message.type === 'PING' && id === undefined;
    this.sending = this.sending
      .then(() => this.post(operation, body, id, heartbeat))
      .catch(() => this.finish(1006, 'a request to the event stream failed', false));
  }

  close(code = 1000, reason = ''): void {
    this.finish(code, reason, true);
  }

  private async post(operation: string, body: string, id: unknown, heartbeat: boolean): Promise<void> {
    if (this.readyState !== OPEN) return;
    let status: number;
    let answer: Record<string, unknown> | null = null;
    try {
      const res = await this.fetchImpl(`${this.routes}${encodeURIComponent(this.conn)}/${operation}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.secret}`, 'content-type': 'application/json' },
        body,
      });
      status = res.status;
      const value = await res.json().catch(() => null);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) answer = value as Record<string, unknown>;
    } catch {
      this.finish(1006, 'a request to the event stream failed', false);
      return;
    }
    if (status === 202) {
      // The gateway has the connection: as good as the PONG an id-less PING gets over a WebSocket.
      if (heartbeat) this.message('{"type":"PONG","data":{}}');
      return;
    }
    const error = answer?.error !== null && typeof answer?.error === 'object' ? (answer.error as Record<string, unknown>) : null;
    // The connection is gone (404, 410), or the answer is no refusal of this request: the stream is over.
    if (status === 404 || status === 410 || error === null || typeof error.code !== 'string' || id === undefined) {
      this.finish(1006, `the event stream's request was refused (${status})`, false);
      return;
    }
    this.message(JSON.stringify({ type: 'ERROR', id, data: { code: error.code, message: typeof error.message === 'string' ? error.message : '' } }));
  }

  private opened(data: unknown): void {
    const body = parseObject(data);
    if (this.readyState !== 0 || body === null || typeof body.conn !== 'string' || typeof body.secret !== 'string') return;
    this.conn = body.conn;
    this.secret = body.secret;
    this.readyState = OPEN;
    this.dispatch('open', {});
    // What a connect hook told comes as a WebSocket's CONNECTED frame would (the secret stays here).
    const rooms = Array.isArray(body.rooms) ? body.rooms : [];
    if (this.readyState === OPEN && (body.data !== undefined || rooms.length > 0)) {
      const { secret: _secret, ...info } = body;
      this.message(JSON.stringify({ type: 'CONNECTED', data: info }));
    }
  }

  private event(type: string, data: unknown): void {
    if (this.readyState !== OPEN || typeof data !== 'string') return;
    // A push's data is go-push's PUSH body, kept as its text: the items come as they were pushed.
    if (type === 'PUSH') {
      this.message(`{"type":"PUSH","data":${data}}`);
      return;
    }
    const body = parseObject(data);
    if (body === null) return;
    const { id, ...rest } = body;
    this.message(JSON.stringify(id === undefined ? { type, data: rest } : { type, id, data: rest }));
  }

  private message(text: string): void {
    if (this.readyState === OPEN) this.dispatch('message', { data: text });
  }

  private finish(code: number, reason: string, wasClean: boolean): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.source.close();
    // As a WebSocket's, the close event comes later, never from within the call that closed it.
    setTimeout(() => this.dispatch('close', { code, reason, wasClean }), 0);
  }

  private dispatch(type: string, event: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

function now(): number {
  return performance.now();
}

/** An RPC or a PUBLISH: a call answered by the backend (through a hook), not by the gateway alone. */
function backendCall(info: RequestInfo): boolean {
  return info.type === 'RPC' || info.type === 'PUBLISH';
}

/**
 * A connection to a pushgate gateway that keeps itself up. Create it with {@link connect}.
 *
 * Rooms: {@link join} adds a room to {@link rooms} (the rooms the client wants to be in) at once, and
 * after every reconnect the client rejoins them all (with the data of the last `join` of each).
 * {@link leave} removes it at once.
 *
 * Rooms with history: the client keeps each room's {@link position} (the last offset delivered and its
 * epoch), rejoins from it after every reconnect so that the items missed meanwhile are replayed (a
 * `recovered` event tells whether they could be), delivers each item once and in order (repeated items
 * are dropped; a PUSH that skips offsets is a `gap`, recovered by rejoining), and gives the offsets
 * with each `push`.
 *
 * Calls to the backend: {@link rpc} asks the gateway's rpc hook and resolves with its result;
 * {@link publish} sends an item to a room's members (when the token or the publish hook allows it).
 */
export class PushgateClient {
  /** The gateway's WebSocket URL, e.g. `ws://127.0.0.1:7777/connect`. */
  readonly url: string;
  private readonly WebSocketImpl: WebSocketConstructor;
  /** Event streams as sockets, for the SSE fallback; null when it is off. */
  private readonly SseImpl: WebSocketConstructor | null;
  /** Whether the next attempts open an event stream rather than a WebSocket. */
  private onSse = false;
  /** Whether the current socket opened (an attempt that fails before it switches transports). */
  private socketOpened = false;
  /** Whether a WebSocket of this client ever opened: WebSockets then work here, and a failure is the gateway's. */
  private webSocketWorked = false;
  private readonly reconnectEnabled: boolean;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly heartbeatMs: number;
  private readonly timeoutMs: number;

  private currentState: ClientState = 'connecting';
  private socket: WebSocketLike | null = null;
  private currentConnId: string | undefined;
  /** The rooms wanted, in join order, each with the data of its last join (sent again on rejoin). */
  private readonly wanted = new Map<string, unknown>();
  /** The last CONNECTED frame's contents. */
  private lastConnected: ConnectedInfo | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();
  private nextId = 1;
  /** Requests sent on the current socket and not answered yet. */
  private readonly inflight = new Map<number, Pending>();
  /** Requests made while no socket was open, sent in order when one opens. */
  private queue: Pending[] = [];
  /** Ids sent when the current socket opened; `ready` fires when all are answered. */
  private readonly openRequests = new Set<number>();
  private readyEmitted = false;
  private whoamiSent = false;
  /** True while `state`/`open` listeners run on opening: requests they make wait for the rejoins. */
  private holdRequests = false;
  private openedAt = 0;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private lastFrameAt = 0;
  /** When the first PING since the last received frame was sent. */
  private unansweredPingSince: number | undefined;
  /** Heartbeat PINGs (sent without id) whose id-less PONG has not come yet. */
  private heartbeatPongsDue = 0;
  /** Per room with join/leave events: who is in it, as the server's state and events told (see {@link onPresenceEvent}). */
  private readonly presenceMaps = new Map<string, RoomPresence>();
  /** Per room with history: the last offset delivered and its epoch (kept across reconnects, dropped by `leave`). */
  private readonly positions = new Map<string, StreamPosition>();
  /** Rooms whose JOIN the server acknowledged on the current socket. */
  private readonly joinedHere = new Set<string>();
  /** Rooms with a JOIN carrying a position in flight on the current socket: the request's id. */
  private readonly recovering = new Map<string, number>();
  /** Rejoins refused with `UNAVAILABLE`: the retry's timer and how many were made, per room (current socket). */
  private readonly rejoinRetries = new Map<string, { timer: ReturnType<typeof setTimeout> | undefined; attempts: number }>();

  /**
   * Starts connecting at once (state `connecting`). Throws a `TypeError` when there is no WebSocket
   * implementation, a `RangeError` for a bad option, and whatever the WebSocket constructor throws for
   * the first attempt (a `SyntaxError` for a malformed URL).
   */
  private readonly token: string | (() => string) | null;

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof impl !== 'function') {
      throw new TypeError(
        'pushgate client: no WebSocket implementation; pass options.WebSocket (in Node 20, import from "pushgate/client", which uses the ws package)',
      );
    }
    this.WebSocketImpl = impl;
    const EventSourceImpl = options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
    // A browser's fetch must be called on its window ("Illegal invocation" otherwise).
    const globalFetch = (globalThis as { fetch?: FetchLike }).fetch;
    const fetchImpl = options.fetch ?? (typeof globalFetch === 'function' ? globalFetch.bind(globalThis) : undefined);
    this.SseImpl = typeof EventSourceImpl === 'function' && typeof fetchImpl === 'function' ? sseSockets(EventSourceImpl, fetchImpl) : null;
    this.token = options.token ?? null;
    this.reconnectEnabled = options.reconnect ?? true;
    this.minDelay = positive('minReconnectDelay', options.minReconnectDelay, 250, false);
    this.maxDelay = positive('maxReconnectDelay', options.maxReconnectDelay, 30000, false);
    if (this.maxDelay < this.minDelay) throw new RangeError('pushgate client: maxReconnectDelay must be ≥ minReconnectDelay');
    this.heartbeatMs = positive('heartbeatInterval', options.heartbeatInterval, 20000, true);
    this.timeoutMs = positive('requestTimeout', options.requestTimeout, 10000, false);
    try {
      this.openSocket();
    } catch (error) {
      this.currentState = 'closed';
      throw error;
    }
  }

  /** The current {@link ClientState}. */
  get state(): ClientState {
    return this.currentState;
  }

  /**
   * What the current (or next) connection runs over: `websocket`, or `sse` once the SSE fallback took
   * over (see {@link ClientOptions.EventSource}).
   */
  get transport(): 'websocket' | 'sse' {
    return this.onSse ? 'sse' : 'websocket';
  }

  /**
   * This connection's id on the gateway (what a backend passes to `POST /push/conn`), learnt from the
   * CONNECTED frame or the first ACK after each open; `undefined` until then and while not open. It
   * changes on every reconnect.
   */
  get connId(): string | undefined {
    return this.currentConnId;
  }

  /**
   * The rooms the client wants to be in (joined, or to be rejoined on the next connection), in join
   * order. Rooms the connect hook joined (listed in the CONNECTED frame) are not in it unless
   * {@link join}ed too: the server joins them on every connection.
   */
  get rooms(): string[] {
    return [...this.wanted.keys()];
  }

  /**
   * The connect hook's data for the client, from the last CONNECTED frame (see the `connected`
   * event); `undefined` before any, when the hook gave none, or on gateways without a connect hook.
   * It is kept across reconnects until the next connection's CONNECTED frame replaces it.
   */
  get connectData(): unknown {
    return this.lastConnected?.data;
  }

  /**
   * The user the connection belongs to, from the last CONNECTED frame (the connect hook's user, or the
   * token's `sub`); `null` when it named none, `undefined` before any CONNECTED frame (and always on
   * gateways without a connect hook). Kept across reconnects like {@link connectData}.
   */
  get user(): string | null | undefined {
    return this.lastConnected?.user;
  }

  /** Subscribes to an event; returns the client for chaining. */
  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener);
    return this;
  }

  /** Removes a listener added with {@link on}. */
  off<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this {
    this.listeners.get(event)?.delete(listener as Listener);
    return this;
  }

  /**
   * Joins `room`: adds it to {@link rooms} at once and sends JOIN (now if open, else once the connection
   * opens). `data` (any JSON value, optional) goes with it as the JOIN's `data.data`, for the gateway's
   * subscribe hook; it is kept with the room and sent again when the room is rejoined after a
   * reconnect (a later `join` of the same room replaces it).
   *
   * Resolves on the server's ACK, with the ACK's `data.data` (the subscribe hook's data for this room)
   * or `undefined` when it carries none. Rejects with a {@link PushgateError}:
   * - the server's code (`INVALID_ROOM`, `TOO_MANY_ROOMS`, `FORBIDDEN` from the subscribe hook, …): the
   *   room is dropped from {@link rooms};
   * - `TIMEOUT` (no answer within `requestTimeout`, or the gateway's when the subscribe hook did not
   *   answer), `UNAVAILABLE`, `BAD_GATEWAY` (the hook failed) or `DISCONNECTED` (the connection closed
   *   before the answer): the room stays in {@link rooms} and is rejoined on the next connection (no call
   *   to retry);
   * - `CLOSED`: the client is closed (the room is not added).
   *
   * In a room with history, the JOIN carries the room's {@link position} when the client has one (a
   * `join` while reconnecting), and `from` (e.g. `GET /history`'s `top` and `epoch`, for the page a backend
   * rendered) replaces it: the items after it are replayed before the ACK, then live items follow, and a
   * `recovered` event tells whether the stream still held them. Use {@link joinRoom} for the ACK's
   * stream (`recovered`, `replayed`) as a result.
   *
   * It rejects with a `TypeError` when `room` is not a string, `data` cannot be sent as JSON, or `from`
   * is not a position (`{ offset, epoch }`).
   */
  join(room: string, data?: unknown, from?: StreamPosition): Promise<unknown> {
    return this.joinWith(room, data, from, false);
  }

  /**
   * Joins `room` like {@link join}, with the subscribe hook's data and a starting position as options,
   * and resolves with a {@link JoinResult}: the hook's data and, for a room with history, where its
   * stream stood (`offset`, `epoch`; with `recovered` and `replayed` when the JOIN carried a position).
   * Rejects like {@link join}.
   */
  joinRoom(room: string, options: JoinRoomOptions = {}): Promise<JoinResult> {
    return this.joinWith(room, options.data, options.from, true) as Promise<JoinResult>;
  }

  /**
   * Where the client stands in `room`'s stream (a room with history): the offset and epoch of the last
   * item delivered, or of the stream when the room was joined (nothing delivered yet); `undefined` for a
   * room without history, one not joined (or left), or before the first ACK. Save it to start from it
   * later with {@link join}'s `from`; the client itself uses it on every rejoin.
   */
  position(room: string): StreamPosition | undefined {
    const position = this.positions.get(room);
    return position === undefined ? undefined : { ...position };
  }

  private joinWith(room: string, data: unknown, from: StreamPosition | undefined, full: boolean): Promise<unknown> {
    if (typeof room !== 'string') return Promise.reject(new TypeError('pushgate client: room must be a string'));
    const body = jsonText('join data', data === undefined ? { room } : { room, data });
    if (body instanceof TypeError) return Promise.reject(body);
    const position = from === undefined ? undefined : checkPosition(from);
    if (position instanceof TypeError) return Promise.reject(position);
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    this.wanted.set(room, data);
    return this.request({ type: 'JOIN', room }, body, this.timeoutMs, { room, data, from: position, cause: 'join', full });
  }

  /**
   * Leaves `room`: removes it from {@link rooms} at once (it is not rejoined on reconnect), forgets its
   * {@link position}, and sends LEAVE. Resolves on the ACK. Rejects like {@link join}; on `DISCONNECTED` the room is left anyway,
   * since a new connection starts in no room.
   */
  leave(room: string): Promise<void> {
    if (typeof room !== 'string') return Promise.reject(new TypeError('pushgate client: room must be a string'));
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    this.wanted.delete(room);
    this.presenceMaps.delete(room);
    this.forgetStream(room);
    return this.request({ type: 'LEAVE', room }, JSON.stringify({ room }), this.timeoutMs) as Promise<void>;
  }

  /**
   * Sends a PING with an id; resolves with the round trip in milliseconds when the PONG arrives. Rejects
   * with `NOT_OPEN` when no connection is open, `TIMEOUT`, `DISCONNECTED` or `CLOSED`.
   */
  ping(): Promise<number> {
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    if (this.currentState !== 'open') {
      return Promise.reject(new PushgateError(ClientErrorCode.NOT_OPEN, `cannot ping while ${this.currentState}`));
    }
    return this.request({ type: 'PING' }, '{}', this.timeoutMs) as Promise<number>;
  }

  /**
   * Calls `method` on the backend through the gateway's rpc hook: sends
   * `{"type":"RPC","id":N,"data":{"method":…,"data":…}}` (now if open, else once a connection opens, like
   * {@link join}) and resolves with the REPLY's `data.result` (the backend's result, any JSON; `null` when
   * it gave none). Rejects with a {@link PushgateError} whose `code` is the gateway's:
   * - `BACKEND_ERROR`: the backend refused the call; {@link PushgateError.backendCode} is its own code;
   * - `UNKNOWN_METHOD` (no rpc hook or route for the method), `TOO_MANY_REQUESTS` (too many RPCs of this
   *   connection in flight), `BAD_REQUEST`;
   * - `TIMEOUT` (the backend did not answer in time, or no answer came within `options.timeout`, default
   *   `requestTimeout`), `UNAVAILABLE` (the backend is down), `BAD_GATEWAY` (it answered garbage);
   * - `DISCONNECTED`: the connection closed after the RPC was sent and before its answer, `CLOSED`: the
   *   client is closed (or closed while the call waited for a connection).
   *
   * An RPC is sent at most once: one already sent is **not** sent again after a reconnect (it rejects
   * with `DISCONNECTED`), nor after a `TIMEOUT`, since the backend may have run it. Retry it yourself
   * when it is safe to repeat. One made while reconnecting waits, unsent, for the next connection.
   * The connection stays open whatever the outcome.
   *
   * It rejects with a `TypeError` when `method` is not a non-empty string, `data` cannot be sent as
   * JSON, or `options.timeout` is not a positive number.
   */
  rpc(method: string, data?: unknown, options: RpcOptions = {}): Promise<unknown> {
    if (typeof method !== 'string' || method === '') return Promise.reject(new TypeError('pushgate client: method must be a non-empty string'));
    const timeout = options.timeout ?? this.timeoutMs;
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
      return Promise.reject(new TypeError(`pushgate client: rpc timeout must be a positive number of milliseconds, got ${String(timeout)}`));
    }
    const body = jsonText('rpc data', data === undefined ? { method } : { method, data });
    if (body instanceof TypeError) return Promise.reject(body);
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    return this.request({ type: 'RPC', method }, body, timeout);
  }

  /**
   * Publishes `data` (any JSON value) to `room`: sends `{"type":"PUBLISH","id":N,"data":{"room":…,"data":…}}`
   * (now if open, else once a connection opens) and resolves on the gateway's ACK, once it accepted the
   * item; the item then arrives as a PUSH to every member of the room (this client too, if it is one),
   * as given or as the publish hook replaced it. The client need not be in the room. Rejects with a
   * {@link PushgateError}: `FORBIDDEN` (neither the token's `publish` claim nor the publish hook allows
   * it; the message carries the hook's reason), `INVALID_ROOM`, `TIMEOUT`, `UNAVAILABLE`, `BAD_GATEWAY`,
   * `DISCONNECTED`, `CLOSED`. Like {@link rpc}, a PUBLISH already sent is not sent again after a
   * reconnect.
   *
   * It rejects with a `TypeError` when `room` is not a string, or `data` is `undefined` or cannot be
   * sent as JSON.
   */
  publish(room: string, data: unknown): Promise<void> {
    if (typeof room !== 'string') return Promise.reject(new TypeError('pushgate client: room must be a string'));
    if (data === undefined) return Promise.reject(new TypeError('pushgate client: publish needs data, a JSON value'));
    const body = jsonText('publish data', { room, data });
    if (body instanceof TypeError) return Promise.reject(body);
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    return this.request({ type: 'PUBLISH', room }, body, this.timeoutMs) as Promise<void>;
  }

  /**
   * Sends `text` as is on the open connection (a debugging aid: the console's raw frame box). Returns
   * false when no connection is open. Answers to it are not matched to anything; give such frames
   * string ids (the client's own ids are numbers) so they cannot be mistaken for its answers.
   */
  /**
   * Who is in `room`, over the whole cluster: sends `{"type":"PRESENCE","id":N,"data":{"room":…}}` (now
   * if open, else once a connection opens and its rooms are rejoined) and resolves with the REPLY's
   * result, a {@link PresenceResult}. Only a member of the room may ask: await {@link join} first.
   * Rejects with a {@link PushgateError}: `FORBIDDEN` (not a member), `INVALID_ROOM`, `UNAVAILABLE`
   * (the gateway cannot reach the other nodes now: retry), `TIMEOUT`, `DISCONNECTED`, `CLOSED`.
   */
  presence(room: string): Promise<PresenceResult> {
    if (typeof room !== 'string') return Promise.reject(new TypeError('pushgate client: room must be a string'));
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    return this.request({ type: 'PRESENCE', room }, JSON.stringify({ room }), this.timeoutMs) as Promise<PresenceResult>;
  }

  sendRaw(text: string): boolean {
    if (this.currentState !== 'open') return false;
    return this.transmit(text, 'raw');
  }

  /**
   * Closes the client for good: no more reconnects, pending calls reject with `CLOSED`, the open
   * WebSocket (if any) is closed with `code` (default 1000) and `reason`. Idempotent.
   */
  close(code = 1000, reason = ''): void {
    if (this.currentState === 'closed') return;
    const socket = this.socket;
    this.socket = null;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopHeartbeat();
    if (socket !== null) {
      try {
        socket.close(code, reason);
      } catch {
        try {
          socket.close();
        } catch {
          /* already closing */
        }
      }
    }
    this.failAll(this.closedError());
    this.currentConnId = undefined;
    this.presenceMaps.clear();
    this.resetStreams();
    if (socket !== null) this.emit('close', { code, reason, willReconnect: false, wasClean: true });
    this.setState('closed');
  }

  // ---- connection life ----

  private openSocket(): void {
    const token = typeof this.token === 'function' ? this.token() : this.token;
    const Impl = this.onSse && this.SseImpl !== null ? this.SseImpl : this.WebSocketImpl;
    const socket = token === null ? new Impl(this.url) : new Impl(this.url, ['pushgate', `pushgate.token.${token}`]);
    this.socket = socket;
    this.socketOpened = false;
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      this.socketOpened = true;
      if (!this.onSse) this.webSocketWorked = true;
      this.onOpen();
    });
    socket.addEventListener('message', (event: { data: unknown }) => {
      if (this.socket === socket) this.onFrame(event.data);
    });
    socket.addEventListener('error', (event: { message?: unknown; error?: unknown }) => {
      if (this.socket !== socket) return;
      const detail = typeof event?.message === 'string' && event.message !== '' ? `: ${event.message}` : '';
      this.emit('error', new PushgateError(ClientErrorCode.SOCKET_ERROR, `WebSocket error on ${this.url}${detail}`, { cause: event?.error }));
    });
    socket.addEventListener('close', (event: { code?: number; reason?: string; wasClean?: boolean }) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onClosed(typeof event?.code === 'number' ? event.code : 1006, typeof event?.reason === 'string' ? event.reason : '', event?.wasClean === true);
    });
  }

  private onOpen(): void {
    const socket = this.socket;
    const previous = this.currentState;
    this.openedAt = now();
    this.lastFrameAt = this.openedAt;
    this.unansweredPingSince = undefined;
    this.heartbeatPongsDue = 0;
    this.readyEmitted = false;
    this.whoamiSent = false;
    this.openRequests.clear();
    this.currentState = 'open';
    this.startHeartbeat();
    // Listeners run first, but what they join or leave is sent after the queued calls and rejoins,
    // keeping the order of the calls.
    this.holdRequests = true;
    try {
      this.emit('state', 'open', previous);
      if (this.socket !== socket) return;
      this.emit('open');
    } finally {
      this.holdRequests = false;
    }
    if (this.socket !== socket) return;
    const queued = this.queue;
    this.queue = [];
    const covered = new Set<string>();
    // A PRESENCE is for members only: it goes once the rooms are rejoined, and `ready` does not wait for it.
    const afterRejoins: Pending[] = [];
    for (const pending of queued) {
      if (pending.info.type === 'PRESENCE') {
        afterRejoins.push(pending);
        continue;
      }
      if (pending.info.type === 'JOIN') covered.add(pending.info.room!);
      // `ready` waits for the rooms, not for the backend's answers to RPCs and PUBLISHes.
      if (!backendCall(pending.info)) this.openRequests.add(pending.info.id);
      this.send(pending);
    }
    for (const room of this.wanted.keys()) {
      if (covered.has(room)) continue;
      this.openRequests.add(this.sendRejoin(room, 'reconnect'));
    }
    for (const pending of afterRejoins) this.send(pending);
    if (this.openRequests.size === 0) this.sendWhoami();
  }

  private onClosed(code: number, reason: string, wasClean: boolean): void {
    const wasOpen = this.currentState === 'open';
    // An attempt that never opened: the next one tries the other transport (when the fallback is on),
    // except that a client whose WebSockets did work keeps them (the gateway is away, not the network).
    if (!this.socketOpened && this.SseImpl !== null && (this.onSse || !this.webSocketWorked)) this.onSse = !this.onSse;
    this.socketOpened = false;
    this.stopHeartbeat();
    if (wasOpen && now() - this.openedAt >= BACKOFF_RESET_AFTER) this.attempt = 0;
    this.currentConnId = undefined;
    const lost = new PushgateError(ClientErrorCode.DISCONNECTED, `connection closed (${code}${reason ? ` ${reason}` : ''}) before the answer`);
    for (const pending of this.inflight.values()) this.settle(pending, lost);
    this.inflight.clear();
    this.openRequests.clear();
    this.resetStreams();
    const willReconnect = this.reconnectEnabled && !noReconnectCloseCodes.includes(code);
    if (!willReconnect) {
      this.failAll(new PushgateError(ClientErrorCode.CLOSED, `connection closed (${code}${reason ? ` ${reason}` : ''}); not reconnecting`));
      this.emit('close', { code, reason, willReconnect, wasClean });
      this.setState('closed');
      return;
    }
    this.emit('close', { code, reason, willReconnect, wasClean });
    if (this.currentState === 'closed') return; // a close listener called close()
    this.setState('reconnecting');
    if (this.currentState === 'reconnecting' && this.socket === null && this.reconnectTimer === undefined) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const cap = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt);
    const delay = Math.random() * cap;
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.currentState !== 'reconnecting') return;
      try {
        this.openSocket();
      } catch (error) {
        // The constructor throws the same way every time (e.g. a malformed URL): stop.
        this.socket = null;
        this.emit('error', new PushgateError(ClientErrorCode.SOCKET_ERROR, `cannot open a WebSocket to ${this.url}: ${String(error)}`, { cause: error }));
        this.failAll(this.closedError());
        this.setState('closed');
      }
    }, delay);
    this.emit('reconnect', { attempt: this.attempt, delay });
  }

  // ---- heartbeat ----

  private startHeartbeat(): void {
    if (this.heartbeatMs === 0) return;
    this.pingTimer = setInterval(() => {
      if (this.currentState !== 'open') return;
      this.unansweredPingSince ??= now();
      if (this.transmit('{"type":"PING","data":{}}', 'heartbeat')) this.heartbeatPongsDue += 1;
    }, this.heartbeatMs);
    this.armWatchdog(2 * this.heartbeatMs);
  }

  private armWatchdog(delay: number): void {
    this.watchdog = setTimeout(() => this.checkAlive(), Math.max(1, delay));
  }

  /**
   * Dead: nothing received for 2 × heartbeatInterval while a PING has waited at least one interval for
   * an answer (so a page whose timers were throttled, and sent no PING, is not declared dead by mistake).
   */
  private checkAlive(): void {
    this.watchdog = undefined;
    if (this.currentState !== 'open' || this.socket === null) return;
    const t = now();
    const silent = t - this.lastFrameAt;
    const waiting = this.unansweredPingSince === undefined ? 0 : t - this.unansweredPingSince;
    if (silent >= 2 * this.heartbeatMs && waiting >= this.heartbeatMs) {
      const socket = this.socket;
      this.socket = null;
      try {
        socket.close(4000, 'heartbeat timeout');
      } catch {
        /* closing anyway */
      }
      this.onClosed(4000, `no frame from the server for ${Math.round(silent)} ms`, false);
      return;
    }
    const until = Math.max(this.lastFrameAt + 2 * this.heartbeatMs, (this.unansweredPingSince ?? t) + this.heartbeatMs);
    this.armWatchdog(until - t);
  }

  private stopHeartbeat(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.watchdog);
    this.pingTimer = undefined;
    this.watchdog = undefined;
  }

  // ---- requests ----

  private makePending(what: Omit<RequestInfo, 'id'>, body: string, source: Pending['source'], settle: Pending['settle'], timeoutMs: number): Pending {
    const info: RequestInfo = { id: this.nextId++, ...what };
    return { info, body, source, sentAt: 0, timeoutMs, settle, timer: undefined };
  }

  private request(what: Omit<RequestInfo, 'id'>, body: string, timeoutMs: number, join?: JoinPlan): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const pending = this.makePending(what, body, 'request', { resolve, reject }, timeoutMs);
      if (join !== undefined) pending.join = join;
      pending.timer = setTimeout(() => this.timeout(pending), timeoutMs);
      if (this.currentState === 'open' && !this.holdRequests) this.send(pending);
      else this.queue.push(pending);
    });
  }

  private send(pending: Pending): void {
    if (pending.source !== 'request') pending.timer = setTimeout(() => this.timeout(pending), pending.timeoutMs);
    const { id, type } = pending.info;
    if (pending.join !== undefined) pending.body = this.joinFrame(pending);
    this.inflight.set(id, pending);
    pending.sentAt = now();
    this.transmit(`{"type":${JSON.stringify(type)},"id":${id},"data":${pending.body}}`, pending.source, pending.info);
  }

  /**
   * The body of a JOIN, made as it is sent: with the position the app gave (a LEAVE goes first when the
   * room is joined on this socket already, since the server replays only to a JOIN that makes the
   * connection a member), else with the tracked position unless the room is joined here already or
   * another JOIN with a position is in flight.
   */
  private joinFrame(pending: Pending): string {
    const plan = pending.join!;
    const { room, data } = plan;
    let from: StreamPosition | undefined;
    if (plan.from !== undefined) {
      from = plan.from;
      if (this.joinedHere.has(room)) this.sendLeave(room);
      this.positions.set(room, { ...from });
    } else if (!this.joinedHere.has(room) && !this.recovering.has(room)) {
      from = this.positions.get(room);
      if (from !== undefined && plan.cause === 'join') plan.cause = 'reconnect';
    }
    if (from !== undefined) {
      plan.sent = { ...from };
      this.recovering.set(room, pending.info.id);
    }
    const body: Record<string, unknown> = { room };
    if (data !== undefined) body.data = data;
    if (from !== undefined) {
      body.offset = from.offset;
      body.epoch = from.epoch;
    }
    return JSON.stringify(body);
  }

  /** Sends the client's own JOIN of a wanted room (a rejoin); answers its request id. */
  private sendRejoin(room: string, cause: RecoveryCause, forced = false): number {
    const data = this.wanted.get(room);
    const pending = this.makePending({ type: 'JOIN', room }, '', 'rejoin', null, this.timeoutMs);
    pending.join = forced ? { room, data, from: undefined, cause, forced } : { room, data, from: undefined, cause };
    this.send(pending);
    return pending.info.id;
  }

  /** The client's own LEAVE of `room` (before a JOIN that recovers); `rooms` is unchanged. */
  private sendLeave(room: string): void {
    this.joinedHere.delete(room);
    this.send(this.makePending({ type: 'LEAVE', room }, JSON.stringify({ room }), 'rejoin', null, this.timeoutMs));
  }

  /** Leaves `room` and JOINs it again from its position: the server replays what followed. */
  private recover(room: string, cause: RecoveryCause, forced = false): void {
    this.sendLeave(room);
    this.sendRejoin(room, cause, forced);
  }

  /** Forgets `room`'s position and recovery state (`leave`). */
  private forgetStream(room: string): void {
    this.positions.delete(room);
    this.joinedHere.delete(room);
    this.recovering.delete(room);
    const retry = this.rejoinRetries.get(room);
    if (retry !== undefined) clearTimeout(retry.timer);
    this.rejoinRetries.delete(room);
  }

  /** A socket ended: nothing is joined on the next one; positions are kept for its rejoins. */
  private resetStreams(): void {
    this.joinedHere.clear();
    this.recovering.clear();
    for (const retry of this.rejoinRetries.values()) clearTimeout(retry.timer);
    this.rejoinRetries.clear();
  }

  /**
   * A rejoin refused with `UNAVAILABLE` (the room's history could not be read; the JOIN did not
   * happen): tried again with backoff, at most {@link REJOIN_RETRIES} times on this socket.
   */
  private retryRejoin(room: string, cause: RecoveryCause, error: PushgateError): void {
    const retry = this.rejoinRetries.get(room) ?? { timer: undefined, attempts: 0 };
    if (retry.attempts >= REJOIN_RETRIES) {
      this.rejoinRetries.delete(room);
      this.emit(
        'error',
        new PushgateError(error.code, `${error.message}; gave up after ${REJOIN_RETRIES} retries (rejoined on the next connection)`, {
          request: error.request,
        }),
      );
      return;
    }
    const delay = Math.random() * Math.min(this.maxDelay, this.minDelay * 2 ** (retry.attempts + 1));
    retry.attempts += 1;
    const socket = this.socket;
    retry.timer = setTimeout(() => {
      retry.timer = undefined;
      if (this.socket !== socket || this.currentState !== 'open' || !this.wanted.has(room) || this.joinedHere.has(room) || this.recovering.has(room)) return;
      this.sendRejoin(room, cause);
    }, delay);
    this.rejoinRetries.set(room, retry);
    this.emit(
      'error',
      new PushgateError(error.code, `${error.message}; retry ${retry.attempts} of ${REJOIN_RETRIES} in ${Math.round(delay)} ms`, { request: error.request }),
    );
  }

  private sendWhoami(): void {
    this.whoamiSent = true;
    const pending = this.makePending({ type: 'LEAVE', room: WHOAMI_ROOM }, JSON.stringify({ room: WHOAMI_ROOM }), 'whoami', null, this.timeoutMs);
    this.openRequests.add(pending.info.id);
    this.send(pending);
  }

  private transmit(text: string, source: FrameSource, request?: RequestInfo): boolean {
    const socket = this.socket;
    if (socket === null || socket.readyState !== OPEN) return false;
    try {
      socket.send(text);
    } catch {
      return false; // the socket is closing; its close event settles what waits
    }
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      message = undefined;
    }
    this.emit('frame', request === undefined ? { direction: 'out', text, message, source } : { direction: 'out', text, message, source, request });
    return true;
  }

  private timeout(pending: Pending): void {
    pending.timer = undefined;
    const error = new PushgateError(ClientErrorCode.TIMEOUT, `no answer to ${describe(pending.info)} within ${pending.timeoutMs} ms`, {
      request: pending.info,
    });
    const queued = this.queue.indexOf(pending);
    if (queued !== -1) this.queue.splice(queued, 1);
    // A JOIN with a position that gets no answer no longer explains gaps in the room's pushes.
    if (pending.join !== undefined && this.recovering.get(pending.join.room) === pending.info.id) this.recovering.delete(pending.join.room);
    // An unanswered request stays in flight: a late ERROR still drops a refused room (a late REPLY or
    // ACK settles nothing).
    if (pending.settle !== null) {
      const { reject } = pending.settle;
      pending.settle = null;
      reject(error);
    } else if (pending.source === 'rejoin') {
      this.emit('error', error);
    }
    if (this.openRequests.delete(pending.info.id)) this.checkReady();
  }

  /** Settles a request's promise (if it still has one) with a result or an error. */
  private settle(pending: Pending, result: unknown): void {
    clearTimeout(pending.timer);
    pending.timer = undefined;
    const settle = pending.settle;
    pending.settle = null;
    if (settle === null) return;
    if (result instanceof PushgateError) settle.reject(result);
    else settle.resolve(result);
  }

  private failAll(error: PushgateError): void {
    for (const pending of this.inflight.values()) this.settle(pending, error);
    for (const pending of this.queue) this.settle(pending, error);
    this.inflight.clear();
    this.queue = [];
    this.openRequests.clear();
  }

  /** Whether a JOIN or LEAVE of `room` newer than request `id` is waiting or in flight. */
  private laterRoomCall(room: string, id: number): boolean {
    const later = (p: Pending): boolean => p.info.room === room && p.info.id > id && (p.info.type === 'JOIN' || p.info.type === 'LEAVE');
    for (const pending of this.inflight.values()) if (later(pending)) return true;
    return this.queue.some(later);
  }

  /** Settles `pending` with its answer: `error` (an ERROR frame), else `value` (what the call resolves with). */
  private answer(pending: Pending, error: PushgateError | undefined, value?: unknown): void {
    this.inflight.delete(pending.info.id);
    if (error !== undefined) {
      const { type, room } = pending.info;
      if (type === 'JOIN' && room !== undefined && this.recovering.get(room) === pending.info.id) this.recovering.delete(room);
      const retry =
        pending.source === 'rejoin' &&
        pending.join !== undefined &&
        error.code === RETRIED_REJOIN_ERROR &&
        this.wanted.has(room!) &&
        !this.laterRoomCall(room!, pending.info.id);
      if (retry) {
        clearTimeout(pending.timer);
        this.retryRejoin(room!, pending.join!.cause, error);
        if (this.openRequests.delete(pending.info.id)) this.checkReady();
        return;
      }
      if (type === 'JOIN' && room !== undefined && !TRANSIENT_JOIN_ERRORS.includes(error.code) && !this.laterRoomCall(room, pending.info.id)) {
        this.wanted.delete(room);
        this.presenceMaps.delete(room);
        this.forgetStream(room);
      }
      if (pending.settle !== null) this.settle(pending, error);
      else {
        clearTimeout(pending.timer);
        if (pending.source !== 'whoami') this.emit('error', error);
      }
    } else {
      this.settle(pending, pending.info.type === 'PING' ? now() - pending.sentAt : value);
    }
    if (this.openRequests.delete(pending.info.id)) this.checkReady();
  }

  private checkReady(): void {
    if (this.currentState !== 'open' || this.readyEmitted || this.openRequests.size > 0) return;
    if (this.currentConnId === undefined) {
      if (!this.whoamiSent) this.sendWhoami();
      return;
    }
    this.readyEmitted = true;
    this.emit('ready', this.currentConnId);
  }

  // ---- frames from the server ----

  private onFrame(data: unknown): void {
    this.lastFrameAt = now();
    this.unansweredPingSince = undefined;
    if (typeof data !== 'string') {
      this.emit('error', new PushgateError(ClientErrorCode.BAD_FRAME, 'the server sent a binary frame; the protocol is JSON text'));
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      message = undefined;
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      this.emit('frame', { direction: 'in', text: data, message, source: 'server' });
      this.emit('error', new PushgateError(ClientErrorCode.BAD_FRAME, `the server sent a frame that is not a JSON object: ${data.slice(0, 100)}`));
      return;
    }
    const frame = message as { type?: unknown; id?: unknown; data?: unknown };
    const body = (frame.data !== null && typeof frame.data === 'object' ? frame.data : {}) as Record<string, unknown>;
    const pending = typeof frame.id === 'number' ? this.inflight.get(frame.id) : undefined;
    let source: FrameSource = 'server';
    if (frame.type === 'PONG' && frame.id === undefined && this.heartbeatPongsDue > 0) {
      this.heartbeatPongsDue -= 1;
      source = 'heartbeat';
    }
    this.emit(
      'frame',
      pending === undefined
        ? { direction: 'in', text: data, message, source }
        : { direction: 'in', text: data, message, source: pending.source, request: pending.info },
    );
    if (this.socket === null) return; // a listener closed the client
    switch (frame.type) {
      case 'PUSH': {
        const items = Array.isArray(body.items) ? body.items : [];
        const room = typeof body.room === 'string' ? body.room : undefined;
        if (room !== undefined && items.length > 0 && Number.isSafeInteger(body.offset) && typeof body.epoch === 'string') {
          this.onStreamPush(room, items, body.offset as number, body.epoch);
        } else {
          this.emit('push', items, room);
        }
        return;
      }
      case 'ACK':
        if (typeof body.conn === 'string' && this.currentState === 'open') this.currentConnId = body.conn;
        // A JOIN resolves with the subscribe hook's data for the room, when the ACK carries some.
        if (pending !== undefined) this.answer(pending, undefined, pending.join === undefined ? undefined : this.onJoinAck(pending, pending.join, body));
        return;
      case 'REPLY':
        if (pending !== undefined) this.answer(pending, undefined, body.result === undefined ? null : body.result);
        return;
      case 'PONG':
        if (pending !== undefined) this.answer(pending, undefined);
        return;
      case 'CONNECTED':
        this.onConnected(body);
        return;
      case 'PRESENCE_EVENT':
        this.onPresenceEvent(body);
        return;
      case 'ERROR': {
        const code = typeof body.code === 'string' ? body.code : 'ERROR';
        const text = typeof body.message === 'string' ? body.message : 'request refused';
        const details: { request?: RequestInfo; backendCode?: string } = pending === undefined ? {} : { request: pending.info };
        if (typeof body.backendCode === 'string') details.backendCode = body.backendCode;
        const error = new PushgateError(code, pending === undefined ? text : `${describe(pending.info)} refused: ${code}: ${text}`, details);
        if (pending !== undefined) this.answer(pending, error);
        else this.emit('error', error);
        return;
      }
      default:
        return; // a newer server's message: ignored
    }
  }

  /**
   * The items of a PUSH to a room with history, the last at `offset`. Only what continues the room's
   * position is delivered: items at or before it (of its epoch) are dropped as repeated; a frame that
   * skips offsets or comes in another epoch is a gap: dropped, and the room recovered from its position
   * (while a JOIN with a position is in flight, such frames are expected: its replay or its answer
   * covers them).
   */
  private onStreamPush(room: string, items: unknown[], offset: number, epoch: string): void {
    const first = offset - items.length + 1;
    const replay = this.recovering.has(room);
    if (!this.wanted.has(room) && this.lastConnected?.rooms.includes(room) !== true) {
      // A room left since (a frame on its way): delivered as it comes, its position not kept.
      this.emit('push', items, room, { first, offset, epoch, replay });
      return;
    }
    const position = this.positions.get(room);
    if (position === undefined) {
      this.positions.set(room, { offset, epoch });
      this.emit('push', items, room, { first, offset, epoch, replay });
      return;
    }
    if (position.epoch === epoch && first <= position.offset + 1) {
      if (offset <= position.offset) return; // seen already
      const fresh = position.offset >= first ? items.slice(position.offset + 1 - first) : items;
      const from = offset - fresh.length + 1;
      this.positions.set(room, { offset, epoch });
      this.emit('push', fresh, room, { first: from, offset, epoch, replay });
      return;
    }
    if (replay) return; // the recovery JOIN in flight replays it, or answers that it cannot
    this.emit('gap', { room, offset: position.offset, epoch: position.epoch, first, frameEpoch: epoch });
    if (this.socket === null || this.positions.get(room) !== position) return; // a listener closed the client or left the room
    if (this.wanted.has(room) && this.currentState === 'open') {
      this.recover(room, 'gap');
      return;
    }
    // A room the server joined (the connect hook's): it cannot be rejoined; the items go on from here.
    this.positions.set(room, { offset, epoch });
    this.emit('push', items, room, { first, offset, epoch, replay });
  }

  /**
   * The ACK of a JOIN: tracks the room's position from its `stream`, emits `recovered` for a JOIN that
   * carried a position, and answers what the call resolves with (the hook's data, or a {@link JoinResult}).
   */
  private onJoinAck(pending: Pending, plan: JoinPlan, body: Record<string, unknown>): unknown {
    const { room } = plan;
    const stream = parseStream(body.stream);
    const result = plan.full === true ? { room, data: body.data, stream } : body.data;
    if (this.recovering.get(room) === pending.info.id) this.recovering.delete(room);
    if (!this.wanted.has(room)) return result; // left since
    const wasHere = this.joinedHere.has(room);
    this.joinedHere.add(room);
    const retry = this.rejoinRetries.get(room);
    if (retry !== undefined) {
      clearTimeout(retry.timer);
      this.rejoinRetries.delete(room);
    }
    if (stream === undefined) {
      this.positions.delete(room); // a room without history
      return result;
    }
    const position = this.positions.get(room);
    const from = plan.sent;
    if (from === undefined || stream.recovered === undefined) {
      // A JOIN without a position, or one the server answered as a repeated JOIN (the connection was a
      // member already: e.g. a room of the connect hook): live items flow already; recover once.
      if (position === undefined) this.positions.set(room, { offset: stream.offset, epoch: stream.epoch });
      if (from !== undefined && !wasHere && plan.forced !== true && this.currentState === 'open') this.recover(room, plan.cause, true);
      return result;
    }
    const ahead = stream.recovered && position !== undefined && position.epoch === stream.epoch && position.offset > stream.offset;
    if (!ahead) this.positions.set(room, { offset: stream.offset, epoch: stream.epoch });
    const now = this.positions.get(room)!;
    this.emit('recovered', {
      room,
      recovered: stream.recovered,
      replayed: stream.replayed ?? 0,
      offset: now.offset,
      epoch: now.epoch,
      from,
      cause: plan.cause,
    });
    return result;
  }

  /** The CONNECTED frame: the connection's id, user, the connect hook's rooms and data. */
  private onConnected(body: Record<string, unknown>): void {
    const conn = typeof body.conn === 'string' ? body.conn : '';
    if (conn !== '' && this.currentState === 'open') this.currentConnId = conn;
    const info: ConnectedInfo = {
      conn,
      user: typeof body.user === 'string' ? body.user : null,
      rooms: Array.isArray(body.rooms) ? body.rooms.filter((room): room is string => typeof room === 'string') : [],
      data: body.data,
    };
    this.lastConnected = info;
    this.emit('connected', info);
  }

  /**
   * A PRESENCE_EVENT of a room with join/leave events. `state` (sent instead of this connection's own
   * join, at that point of the room's stream) sets who is in the room; `join` and `leave` of each
   * connection then keep it up to date, and per user the first connection in and the last one out are
   * emitted as `join` and `leave`. A state after a reconnect (or after an overflow) announces what
   * differs from the last one known.
   */
  private onPresenceEvent(body: Record<string, unknown>): void {
    const room = body.room;
    if (typeof room !== 'string') return;
    const tracked = this.presenceMaps.get(room);
    switch (body.event) {
      case 'state': {
        // A late state of a room this client has left since is not kept.
        if (!this.wanted.has(room) && this.lastConnected?.rooms.includes(room) !== true) return;
        const next = new RoomPresence(this.currentConnId);
        for (const entry of Array.isArray(body.connections) ? body.connections : []) {
          const { conn, user } = (entry ?? {}) as { conn?: unknown; user?: unknown };
          if (typeof conn === 'string') next.add(conn, typeof user === 'string' ? user : null);
        }
        this.presenceMaps.set(room, next);
        if (tracked?.synced === true) {
          const { came, went } = tracked.differences(next);
          for (const info of went) this.emit('leave', { room, ...info });
          for (const info of came) this.emit('join', { room, ...info });
        }
        return;
      }
      case 'join':
      case 'leave': {
        if (tracked === undefined || !tracked.synced || tracked.overflow || typeof body.conn !== 'string') return;
        const conn = body.conn;
        const user = typeof body.user === 'string' ? body.user : null;
        const changed = body.event === 'join' ? tracked.add(conn, user) : tracked.remove(conn);
        if (changed !== null && !tracked.isSelf(conn)) this.emit(body.event, { room, ...changed });
        return;
      }
      case 'overflow': {
        const frozen = tracked ?? new RoomPresence(this.currentConnId, false);
        frozen.overflow = true;
        this.presenceMaps.set(room, frozen);
        this.emit('presenceOverflow', room, typeof body.count === 'number' ? body.count : 0);
        return;
      }
      default:
        return; // a newer server's event: ignored
    }
  }

  // ---- state and events ----

  private setState(next: ClientState): void {
    const previous = this.currentState;
    if (previous === next) return;
    this.currentState = next;
    this.emit('state', next, previous);
  }

  private closedError(): PushgateError {
    return new PushgateError(ClientErrorCode.CLOSED, 'the client is closed');
  }

  private emit<E extends keyof ClientEvents>(event: E, ...args: Parameters<ClientEvents[E]>): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        // A listener's exception must not break the client; report it as uncaught, asynchronously.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/**
 * Who is in one room, as the client knows it: each connection with its user, and each user's
 * connections. `add` and `remove` answer the user who came or went (null when a user's other
 * connections keep it in the room, or nothing changed).
 */
class RoomPresence {
  private readonly conns = new Map<string, string | null>();
  private readonly byUser = new Map<string, Set<string>>();
  /** Over the gateway's `presenceMax`: no events come until the next state. */
  overflow = false;

  /**
   * @param self this client's connection when the state came: never announced to itself.
   * @param synced false for a room known only from an overflow (no state yet: nothing to compare with).
   */
  constructor(
    private readonly self: string | undefined,
    readonly synced = true,
  ) {}

  isSelf(conn: string): boolean {
    return conn === this.self;
  }

  add(conn: string, user: string | null): { user: string | null; conn: string } | null {
    if (this.conns.has(conn)) {
      if (this.conns.get(conn) === user) return null;
      this.remove(conn);
    }
    this.conns.set(conn, user);
    if (user === null) return { user, conn };
    let set = this.byUser.get(user);
    if (set === undefined) this.byUser.set(user, (set = new Set()));
    set.add(conn);
    return set.size === 1 ? { user, conn } : null;
  }

  remove(conn: string): { user: string | null; conn: string } | null {
    if (!this.conns.has(conn)) return null;
    const user = this.conns.get(conn) ?? null;
    this.conns.delete(conn);
    if (user === null) return { user, conn };
    const set = this.byUser.get(user);
    set?.delete(conn);
    if (set !== undefined && set.size > 0) return null;
    this.byUser.delete(user);
    return { user, conn };
  }

  /** The users (and anonymous connections) in `next` and not here (`came`), and here and not in `next` (`went`); this client's own connections aside. */
  differences(next: RoomPresence): { came: Array<{ user: string | null; conn: string }>; went: Array<{ user: string | null; conn: string }> } {
    const came: Array<{ user: string | null; conn: string }> = [];
    const went: Array<{ user: string | null; conn: string }> = [];
    for (const [user, conns] of next.byUser) if (!this.byUser.has(user)) came.push({ user, conn: [...conns][0] });
    for (const [user, conns] of this.byUser) if (!next.byUser.has(user)) went.push({ user, conn: [...conns][conns.size - 1] });
    for (const [conn, user] of next.conns) if (user === null && !this.conns.has(conn) && !next.isSelf(conn) && !this.isSelf(conn)) came.push({ user, conn });
    for (const [conn, user] of this.conns) if (user === null && !next.conns.has(conn) && !next.isSelf(conn) && !this.isSelf(conn)) went.push({ user, conn });
    return { came, went };
  }
}

/**
 * Connects to a pushgate gateway, e.g. `connect('ws://127.0.0.1:7777/connect')`, and returns the client
 * at once (state `connecting`). See {@link ClientOptions} for reconnection, heartbeat and timeouts.
 */
export function connect(url: string, options?: ClientOptions): PushgateClient {
  return new PushgateClient(url, options);
}
