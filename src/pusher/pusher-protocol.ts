import type { ClientProtocol, ConnectedInfo, DecodedFrame, PreparedFrame, PresenceEntry, PresenceEventBody, RequestId } from '../protocol/client-protocol.js';
import type { ErrorCodeName } from '../protocol/codes.js';
import { CloseCode } from '../protocol/codes.js';
import { frameMessage } from '../protocol/prepared-frame.js';
import { PusherCode } from './pusher-errors.js';
import { decodeEventItem, encodeEventItem } from './pusher-events.js';
import {
  connectionEstablished,
  DEFAULT_ACTIVITY_TIMEOUT_SECONDS,
  error as errorFrame,
  memberAdded,
  memberRemoved,
  pong,
  subscriptionSucceeded,
} from './pusher-frames.js';
import { type PusherRoom, parsePusherRoom, parsePusherUser } from './pusher-rooms.js';

/**
 * The event an item that is no Pusher event is delivered as (a push through the go-push API to a user or
 * connection that speaks Pusher): its JSON text is the event's data string, so that nothing is lost and
 * a pusher-js client can bind it (`pusher.bind('pushgate:push', …)`, or on the channel).
 */
export const FOREIGN_ITEM_EVENT = 'pushgate:push';

// Items encoded by encodeEventItem begin so; only those are framed without being parsed.
const EVENT_ITEM_PREFIX = '{"event":"';

// A frame of no bytes, for what Pusher has no frame for: writing it sends nothing. A fresh one each time,
// since the dispatcher counts on a frame's `remaining`.
const nothing = (): PreparedFrame => ({ bytes: Buffer.alloc(0), items: 0, remaining: 0 });

// The frame text of one item: the item less its closing brace, then `tail` (the channel member, last so
// that it is the one JSON.parse keeps should an item carry its own).
function eventText(item: string, tail: string): string {
  if (item.startsWith(EVENT_ITEM_PREFIX) && item.endsWith('}')) return tail === '}' ? item : item.slice(0, -1) + tail;
  const event = decodeEventItem(item);
  const text = event === null ? encodeEventItem({ event: FOREIGN_ITEM_EVENT, data: item }) : encodeEventItem(event);
  return text.slice(0, -1) + tail;
}

// The channel a room's frames name: undefined for no room, or a room that is no Pusher channel.
const channelOf = (room: string | undefined): string | undefined => (room === undefined ? undefined : parsePusherRoom(room)?.channel);

// A presence entry's Pusher user id: its hub user less the app's prefix (src/pusher/pusher-rooms.ts);
// null for an entry with no user, or with a user of another app or protocol (no member of this channel).
const memberOf = (found: PusherRoom, user: string | null): string | null => (user === null ? null : parsePusherUser(found.appId, user));

// The member's user_info: the JSON text its channel_data held (checked when it subscribed), as a value.
function infoOf(entry: PresenceEntry): unknown {
  if (entry.info === undefined) return null;
  try {
    return JSON.parse(entry.info);
  } catch {
    return null;
  }
}

function presenceState(found: PusherRoom, connections: readonly PresenceEntry[]): PreparedFrame {
  // Pusher's members are users: a user with several connections is one member, with its first info.
  // No prototype: a user id such as "__proto__" is a key like any other.
  const hash: Record<string, unknown> = Object.create(null);
  const ids: string[] = [];
  for (const entry of connections) {
    const id = memberOf(found, entry.user);
    if (id === null || Object.hasOwn(hash, id)) continue;
    ids.push(id);
    hash[id] = infoOf(entry) ?? null;
  }
  return subscriptionSucceeded(found.channel, { ids, hash, count: ids.length });
}

/**
 * The Pusher protocol (version 7) as the engine sees it: the frames hub, merger and dispatcher ask a
 * connection's protocol for.
 *
 * - `push`: one prepared frame whose bytes are N WebSocket text frames, one per item (Pusher has no batch
 *   frame; concatenated, they still go out in one write), `items` N. Each is
 *   `{"event":…,"data":…[,"user_id":…],"channel":…}`: the item (src/pusher/pusher-events.ts) with the
 *   channel of the room (src/pusher/pusher-rooms.ts). Without a room (a push to a connection or a user), or
 *   for a room that is no Pusher channel, the events carry no channel: pusher-js hands them to its global
 *   bindings. (The server's events for a signed-in user go to its `#server-to-user-<id>` channel: push them
 *   to that channel's room.) A stream stamp is dropped: Pusher has no offsets.
 * - `pong` is `pusher:pong`; `error` and `warning` are `pusher:error` with code null (the engine's code
 *   names are not Pusher's); `connected` is `pusher:connection_established` with Pusher's recommended
 *   activity timeout (a Pusher handler sends its own, configured, with `connectionEstablished`).
 * - `presenceEvent`: `join` is `pusher_internal:member_added` and `leave` `pusher_internal:member_removed`
 *   (with `user_info` from the event's `info` when it carries one), `state` is the presence
 *   `pusher_internal:subscription_succeeded` of the users in it, `overflow` a plain `pusher:error`.
 *   Pusher's members are users, the engine's entries connections: a join or leave that is not its
 *   user's only connection (`sole: false`) sends nothing. Anonymous entries (no user) are no Pusher members.
 * - `ack` and `reply` send nothing: Pusher requests have no ids and there is no RPC.
 * - `decode` refuses every frame: Pusher frames are decoded by `decodePusherFrame`
 *   (src/pusher/pusher-frames.ts), whose requests (subscribe with auth, signin, client events) are not
 *   go-push's; a connection that reaches this decoder is wired wrongly, and closing it (1011) shows that
 *   at once, where answering each frame with an error would leave the client waiting on subscriptions.
 *   A binary frame is refused with 1003, as `decodePusherFrame` refuses it.
 * - `keepAlive`: pusher-js pings only after `activity_timeout` of silence from the server, so the
 *   heartbeat probes it; one silent for the whole interval is closed with 4201 (pong reply not received).
 */
export const pusherProtocol: ClientProtocol = Object.freeze({
  name: 'pusher',
  keepAlive: Object.freeze({ closeCode: PusherCode.PONG_NOT_RECEIVED }),
  decode(message: string | Buffer): DecodedFrame {
    if (typeof message !== 'string')
      return { type: 'REFUSED', close: CloseCode.UNSUPPORTED_DATA, reason: 'binary frames are not supported; send JSON text frames' };
    return { type: 'REFUSED', close: CloseCode.INTERNAL_ERROR, reason: 'server bug: Pusher frames are decoded by decodePusherFrame' };
  },
  push(items: readonly string[], room: string | undefined): PreparedFrame {
    const channel = channelOf(room);
    const tail = channel === undefined ? '}' : `,"channel":${JSON.stringify(channel)}}`;
    const parts: Buffer[] = [];
    for (const item of items) parts.push(...frameMessage(Buffer.from(eventText(item, tail)), false));
    return { bytes: parts.length === 1 ? parts[0] : Buffer.concat(parts), items: items.length, remaining: 0 };
  },
  ack(): PreparedFrame {
    return nothing();
  },
  error(_id: RequestId | undefined, _code: ErrorCodeName, message: string): PreparedFrame {
    return errorFrame(null, message);
  },
  reply(): PreparedFrame {
    return nothing();
  },
  connected(info: ConnectedInfo): PreparedFrame {
    return connectionEstablished(info.conn, DEFAULT_ACTIVITY_TIMEOUT_SECONDS);
  },
  pong(): PreparedFrame {
    return pong();
  },
  warning(code: string, message: string): PreparedFrame {
    return errorFrame(null, `${code}: ${message}`);
  },
  presenceEvent(event: PresenceEventBody): PreparedFrame {
    const found = parsePusherRoom(event.room);
    if (found === null) return nothing();
    const { channel } = found;
    switch (event.event) {
      case 'join': {
        // Pusher's members are users: only a user's first connection in the channel is a member added.
        const id = memberOf(found, event.user);
        return id === null || event.sole === false ? nothing() : memberAdded(channel, id, infoOf(event));
      }
      case 'leave': {
        const id = memberOf(found, event.user);
        return id === null || event.sole === false ? nothing() : memberRemoved(channel, id);
      }
      case 'state':
        return presenceState(found, event.connections);
      case 'overflow':
        return errorFrame(null, `presence of channel ${JSON.stringify(channel)} holds ${event.count} connections, more than it follows: member events stop`);
    }
  },
});
