// A Pusher channel lives in the engine's hub as a room whose name no go-push client or push API can
// spell: go-push room names may not contain `#` (src/protocol/room-name.ts), so every room under this
// prefix is a Pusher channel, and each app's channels are apart from every other app's.
const PREFIX = '#pusher:';

/** A Pusher channel of one app: what a Pusher room name stands for. */
export interface PusherRoom {
  appId: string;
  channel: string;
}

/**
 * The hub room of `channel` of app `appId`: `#pusher:<appId>:<channel>`. App ids contain no `:` (the
 * first `:` after the prefix ends the id, so a channel may hold any character, `:` and `#` included,
 * as in `#server-to-user-<id>`); an empty or `:`-bearing app id, or an empty channel, is a bug of the
 * caller and throws.
 */
export function pusherRoom(appId: string, channel: string): string {
  if (appId.length === 0 || appId.includes(':')) throw new RangeError(`a Pusher app id must be non-empty and hold no ':' (got ${JSON.stringify(appId)})`);
  if (channel.length === 0) throw new RangeError('a Pusher channel name must be non-empty');
  return `${PREFIX}${appId}:${channel}`;
}

/** The app and channel a room built by {@link pusherRoom} stands for; `null` for any other room. */
export function parsePusherRoom(room: string): PusherRoom | null {
  if (!room.startsWith(PREFIX)) return null;
  const colon = room.indexOf(':', PREFIX.length);
  if (colon <= PREFIX.length || colon === room.length - 1) return null;
  return { appId: room.slice(PREFIX.length, colon), channel: room.slice(colon + 1) };
}

/** Whether a room is a Pusher presence channel's (its members are told of each other: member events). */
export function isPresenceRoom(room: string): boolean {
  return parsePusherRoom(room)?.channel.startsWith('presence-') === true;
}

/** What every room of an app's channels starts with (rooms of channels starting with `channelPrefix`). */
export function pusherRoomPrefix(appId: string, channelPrefix = ''): string {
  return `${PREFIX}${appId}:${channelPrefix}`;
}

/**
 * The hub user of Pusher user `userId` of app `appId`: `#pusher:<appId>:<userId>`. The hub's users are
 * shared by every protocol and app; named so, a Pusher user is its app's alone (terminate_connections of
 * one app's user 42 leaves another app's user 42, and a go-push user 42, alone). Presence entries and
 * member events carry hub users: {@link parsePusherUser} gives back the app's own id.
 */
export function pusherUser(appId: string, userId: string): string {
  return `${PREFIX}${appId}:${userId}`;
}

/** The app's own user id of a hub user built by {@link pusherUser} for `appId`; `null` for any other user. */
export function parsePusherUser(appId: string, user: string): string | null {
  const prefix = `${PREFIX}${appId}:`;
  return user.startsWith(prefix) && user.length > prefix.length ? user.slice(prefix.length) : null;
}
