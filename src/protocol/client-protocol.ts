import type { ErrorCodeName } from './codes.js';

/**
 * A server message serialised and framed once, ready to be written as the same bytes to any number of
 * connections of its protocol.
 */
export interface PreparedFrame {
  /** The bytes to write: for go-push, header and payload of one unmasked, final WebSocket text frame. */
  readonly bytes: Buffer;
  /** How many pushed items the frame carries (0 for control answers). */
  readonly items: number;
  /** Recipients it has yet to be written to (or fail for); kept by the dispatcher, 0 for frames it never saw. */
  remaining: number;
}

/** Where the last item of a PUSH stands in its room's stream: its offset, and the stream's epoch. */
export interface StreamStamp {
  offset: number;
  epoch: string;
}

/** A request id as the client sent it: echoed unchanged in the ACK, PONG or ERROR that answers it. */
export type RequestId = string | number;

/** A client request, decoded and validated: the operations a client protocol maps its frames to. */
export type ClientRequest =
  | { type: 'PING'; id: RequestId | undefined }
  /**
   * `data`: the client's data for the subscribe hook (any JSON; undefined when none). `since`: the
   * last offset and epoch the client saw of the room's stream, to recover what followed.
   */
  | { type: 'JOIN'; id: RequestId | undefined; room: string; key?: string; data?: unknown; since?: StreamStamp }
  | { type: 'LEAVE'; id: RequestId | undefined; room: string }
  | { type: 'AUTH'; id: RequestId | undefined; token: string }
  /** A call for the backend's RPC hook, answered by a REPLY (or an ERROR) with the same id. */
  | { type: 'RPC'; id: RequestId; method: string; data: unknown }
  /** An item for a room's members, when the token or the publish hook allows it. */
  | { type: 'PUBLISH'; id: RequestId | undefined; room: string; data: unknown }
  /** Who is in a room the connection is a member of: answered by a REPLY whose result is the room's presence. */
  | { type: 'PRESENCE'; id: RequestId; room: string };

/**
 * What the ACK of a JOIN of a room with history says of its stream: the offset the client stands at
 * once the replay (if any) is through, the epoch, and, when the JOIN asked to recover, whether it did
 * (`replayed` items came before the ACK).
 */
export interface JoinStream {
  offset: number;
  epoch: string;
  recovered?: boolean;
  replayed?: number;
}

/** What the CONNECTED frame tells a client whose handshake the connect hook accepted. */
export interface ConnectedInfo {
  conn: string;
  user: string | undefined;
  rooms: readonly string[];
  /** The connect hook's data for the client, as JSON text; undefined when it gave none. */
  data: string | undefined;
}

/** A connection in a room's presence: its id, its user (null: anonymous) and the node that holds it. */
export interface PresenceEntry {
  conn: string;
  user: string | null;
  node: string;
  /** What the connection told of its user in this room, as JSON text (a Pusher presence member's `user_info`). */
  info?: string;
}

/**
 * What a PRESENCE_EVENT frame tells a member of a room with join/leave events: a connection joined or
 * left; `state`, the room's presence as of this member's own join (instead of its own join event);
 * `overflow`, the room holds more than `presenceMax` connections, so events stop (see src/presence).
 */
export type PresenceEventBody =
  /**
   * `sole`: the connection is its user's only one in the room (its first to join, its last to leave),
   * known where the room's copy holds every node's members; Pusher's member events are per user.
   */
  | ({ room: string; event: 'join' | 'leave'; sole?: boolean } & PresenceEntry)
  | { room: string; event: 'state'; connections: readonly PresenceEntry[]; partial: boolean }
  | { room: string; event: 'overflow'; count: number };

/** A frame that could not be decoded: what to answer with. */
export interface DecodeFailure {
  type: 'INVALID';
  id: RequestId | undefined;
  code: ErrorCodeName;
  message: string;
}

/** A frame the protocol does not speak at all (a binary frame of a text protocol): the connection is closed. */
export interface FrameRefusal {
  type: 'REFUSED';
  /** The close code (from {@link CloseCode}). */
  close: number;
  reason: string;
}

/** What a client frame amounts to. */
export type DecodedFrame = ClientRequest | DecodeFailure | FrameRefusal;

/**
 * A client protocol: how one wire format maps client frames to operations and server messages to
 * bytes. Every connection has one (set when it is made); hub, merger and dispatcher never look inside,
 * they only ask the recipient's protocol for its frame. go-push's JSON messages are one
 * (src/protocol/go-push.ts). Frames it returns may be shared by every connection of the protocol:
 * nobody may change their bytes.
 */
export interface ClientProtocol {
  /** A short name, for logs and stats. */
  readonly name: string;
  /**
   * Set for a protocol whose clients send no heartbeat of their own while they receive (Pusher's ping
   * only after `activity_timeout` of silence from the server): the heartbeat sweep sends a WebSocket
   * ping to those silent for half the interval (every client answers it with a pong), and closes with
   * `closeCode` those silent for the whole.
   */
  readonly keepAlive?: { closeCode: number };
  /** Decodes one client message (text: a string, binary: a Buffer). Never throws. */
  decode(message: string | Buffer): DecodedFrame;
  /**
   * The PUSH of a batch: `items` are JSON texts, validated and serialised when accepted, for `room`
   * (undefined: a push to everyone, a connection or a user), with `stamp` for a room with history (its
   * last item's offset and the epoch). The frame's `items` is `items.length`.
   */
  push(items: readonly string[], room: string | undefined, stamp?: StreamStamp): PreparedFrame;
  /**
   * The answer to a request that carried an id, telling the client its connection id, and `data` (JSON
   * text: the subscribe hook's data for a JOIN) when there is some.
   */
  ack(id: RequestId, conn: string, data?: string, stream?: JoinStream): PreparedFrame;
  /**
   * A refused request (the id when it had one); `extra` members are sent beside code and message
   * (e.g. a backend's own error code).
   */
  error(id: RequestId | undefined, code: ErrorCodeName, message: string, extra?: Record<string, string>): PreparedFrame;
  /** The answer to an RPC: the backend's result, as JSON text. */
  reply(id: RequestId, result: string): PreparedFrame;
  /** The first frame of a connection the connect hook accepted. */
  connected(info: ConnectedInfo): PreparedFrame;
  /** The answer to a PING. */
  pong(id: RequestId | undefined): PreparedFrame;
  /** A warning the server volunteers (e.g. a token about to expire); `extra` values are sent as they are. */
  warning(code: string, message: string, extra?: Record<string, number | string>): PreparedFrame;
  /** A change in the presence of a room the recipient is a member of. */
  presenceEvent(event: PresenceEventBody): PreparedFrame;
}
