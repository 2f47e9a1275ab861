import type { Logger } from 'pino';
import type { CloseInfo, Connection, ConnectionHandler, IncomingMessage } from '../connection/connection.js';
import type { Hub } from '../hub/hub.js';
import type { PresenceView } from '../presence/presence-service.js';
import type { PushError } from '../protocol/errors.js';
import type { Stats } from '../stats/stats.js';
import type { PusherApp } from './apps.js';
import { PusherCode, type SubscriptionRefusal, subscriptionRefusal } from './pusher-errors.js';
import { encodeEventItem } from './pusher-events.js';
import {
  connectionEstablished,
  decodePusherFrame,
  error as errorFrame,
  pong,
  SERVER_TO_USER_PREFIX,
  signinSuccess,
  subscriptionError,
  subscriptionSucceeded,
} from './pusher-frames.js';
import { parsePusherUser, pusherRoom, pusherUser } from './pusher-rooms.js';
import type { PusherWebhookEvent } from './pusher-webhooks.js';
import { channelKind, isReservedChannel, verifyChannelAuth, verifyUserAuth } from './signatures.js';

/** What a Pusher connection handler needs of its gateway. */
export interface PusherHandlerDeps {
  hub: Hub;
  stats: Stats;
  log: Logger;
  /** Settles once pushes to a room newly joined here will arrive (the broker subscription); null when they already do. */
  roomReady(room: string): Promise<void> | null;
  /** Pushes event items to a room through the push path, leaving the connection `except` out; rejects with a PushError. */
  publish(room: string, items: readonly string[], except?: string): Promise<unknown>;
  /** Seconds of silence after which a client pings (`activity_timeout`). */
  activityTimeout: number;
  /** A presence channel's room over the cluster (its users: to hold the app's member limit); rejects with a PushError. */
  presence(room: string): Promise<PresenceView>;
  /** Connections of a room over the cluster as known without asking (this node's, and the others' last reports). */
  roomSize(room: string): number;
  /** Tells the app's webhooks (client events: the ones the handler sees first). */
  webhook(app: PusherApp, event: PusherWebhookEvent): void;
}

/**
 * The gateway's side of the Pusher Channels protocol (version 7) for one app's connections: the
 * connection_established greeting, ping/pong, subscriptions to public, private, private-encrypted and
 * presence channels (authorized by the app's signature over `socket_id:channel[:channel_data]`),
 * user sign-in (`pusher:signin`, the signature over `socket_id::user::user_data`) and the signed-in
 * user's own `#server-to-user-<id>` channel, client events on private and presence channels when the app enables them (never echoed to their
 * sender), and the hub's bookkeeping when a connection closes. A channel is a room of the hub named
 * for its app (see pusher-rooms.ts): events reach it through the same merger, dispatcher and broker as
 * go-push pushes; a presence channel's members and member events are the room's presence
 * (src/presence), with each member's user_info kept on its connection.
 */
export class PusherHandler implements ConnectionHandler {
  /** The user each signed-in connection signed in as (the app's own id). */
  private readonly signedIn = new WeakMap<Connection, string>();
  /** Presence subscriptions waiting for their channel's members (an unsubscribe meanwhile cancels them). */
  private readonly pending = new WeakMap<Connection, Set<string>>();

  constructor(
    private readonly app: PusherApp,
    private readonly deps: PusherHandlerDeps,
  ) {}

  /** Greets a connection just accepted (the first frame it gets). */
  opened(conn: Connection): void {
    this.deps.stats.pusherOpen += 1;
    conn.sendPrepared(connectionEstablished(conn.id, this.deps.activityTimeout));
  }

  onMessage(conn: Connection, message: IncomingMessage): void {
    const request = decodePusherFrame(message);
    this.deps.stats.requestsTotal += 1;
    switch (request.type) {
      case 'error':
        if (request.close !== undefined) conn.close(request.close, request.message);
        else if (request.channel !== undefined) this.refuseSubscription(conn, request.channel, subscriptionRefusal.invalidChannel(request.message));
        else this.fail(conn, request.code, request.message);
        return;
      case 'ping':
        conn.sendPrepared(pong());
        return;
      case 'pong':
        return;
      case 'subscribe':
        this.subscribe(conn, request.channel, request.auth, request.channelData);
        return;
      case 'unsubscribe': {
        this.pending.get(conn)?.delete(request.channel);
        const room = pusherRoom(this.app.id, request.channel);
        this.deps.hub.leave(conn, room);
        conn.presenceInfo?.delete(room);
        return;
      }
      case 'client-event':
        this.clientEvent(conn, request.channel, request.event, request.data);
        return;
      case 'signin':
        this.signin(conn, request.auth, request.userData);
        return;
    }
  }

  onClose(conn: Connection, info: CloseInfo): void {
    this.deps.stats.pusherOpen -= 1;
    this.deps.hub.remove(conn);
    this.deps.log.debug({ conn: conn.id, app: this.app.id, code: info.code, reason: info.reason, by: info.by }, 'pusher connection closed');
  }

  onSlow(conn: Connection): void {
    this.deps.stats.slowConsumerDisconnects += 1;
    this.deps.log.warn({ conn: conn.id, queuedBytes: conn.queuedBytes }, 'slow consumer disconnected (1013)');
  }

  private subscribe(conn: Connection, channel: string, auth: string | undefined, channelData: string | undefined): void {
    if (isReservedChannel(channel)) {
      // The signed-in user's own channel: the sign-in was its authorization.
      if (this.signedIn.get(conn) !== channel.slice(SERVER_TO_USER_PREFIX.length))
        this.refuseSubscription(conn, channel, subscriptionRefusal.notSignedIn(channel));
      else this.joinChannel(conn, channel);
      return;
    }
    const kind = channelKind(channel);
    const signed = kind === 'presence' ? channelData : undefined;
    if (kind !== 'public' && (auth === undefined || !verifyChannelAuth(this.app, conn.id, channel, auth, signed))) {
      this.refuseSubscription(conn, channel, subscriptionRefusal.badSignature(conn.id, channel));
      return;
    }
    if (kind !== 'presence') {
      this.joinChannel(conn, channel);
      return;
    }
    const member = this.presenceMember(channelData);
    if (typeof member === 'string') {
      this.refuseSubscription(conn, channel, subscriptionRefusal.badChannelData(member));
      return;
    }
    // The member's user is the connection's (signed in, or named by an earlier channel_data); its
    // user_info is per channel.
    const user = pusherUser(this.app.id, member.userId);
    if (conn.userId !== undefined && conn.userId !== user) {
      const current = parsePusherUser(this.app.id, conn.userId) ?? conn.userId;
      this.refuseSubscription(conn, channel, subscriptionRefusal.badChannelData(`this connection is user ${current}, not ${member.userId}`));
      return;
    }
    void this.joinPresence(conn, channel, user, member.info);
  }

  // A presence channel holds at most the app's maxPresenceMembers users; a user already in it may add connections.
  private async joinPresence(conn: Connection, channel: string, user: string, info: string): Promise<void> {
    const room = pusherRoom(this.app.id, channel);
    let pending = this.pending.get(conn);
    if (pending === undefined) this.pending.set(conn, (pending = new Set()));
    if (pending.has(channel)) return;
    pending.add(channel);
    // Users are at most connections: a channel whose connections are known to be under the limit needs
    // no cluster query (the others' reports may be up to 3 presence intervals old: the limit is soft).
    let view: PresenceView | null = null;
    if (this.deps.roomSize(room) >= this.app.maxPresenceMembers) {
      try {
        view = await this.deps.presence(room);
      } catch (error) {
        if (conn.isOpen && pending.delete(channel)) this.refuseSubscription(conn, channel, subscriptionRefusal.unavailable((error as Error).message));
        return;
      }
    }
    // Unsubscribed meanwhile (or closed): nothing to join.
    if (!pending.delete(channel) || !conn.isOpen || this.deps.hub.roomsOf(conn)?.has(room) === true) return;
    if (view !== null && view.users?.includes(user) !== true && view.userCount >= this.app.maxPresenceMembers) {
      this.refuseSubscription(conn, channel, subscriptionRefusal.memberLimit(channel, this.app.maxPresenceMembers));
      return;
    }
    if (conn.userId !== undefined && conn.userId !== user) {
      this.refuseSubscription(conn, channel, subscriptionRefusal.badChannelData('this connection signed in as another user meanwhile'));
      return;
    }
    if (conn.userId === undefined) this.deps.hub.setUser(conn, user);
    (conn.presenceInfo ??= new Map()).set(room, info);
    // Its subscription_succeeded, with the members, comes from the room's presence (the `state` event,
    // src/presence/join-leave.ts) once this connection's join has come through.
    if (this.deps.hub.join(conn, room) === 'too-many-rooms') {
      conn.presenceInfo.delete(room);
      this.refuseSubscription(conn, channel, subscriptionRefusal.tooManyChannels(this.deps.hub.maxRooms));
    }
  }

  private joinChannel(conn: Connection, channel: string): void {
    const room = pusherRoom(this.app.id, channel);
    if (this.deps.hub.join(conn, room) === 'too-many-rooms') {
      this.refuseSubscription(conn, channel, subscriptionRefusal.tooManyChannels(this.deps.hub.maxRooms));
      return;
    }
    const ready = this.deps.roomReady(room);
    if (ready === null) conn.sendPrepared(subscriptionSucceeded(channel));
    else void ready.then(() => conn.isOpen && conn.sendPrepared(subscriptionSucceeded(channel)));
  }

  // A presence channel's channel_data: `{"user_id": string | number, "user_info"?: any}`, or why not.
  private presenceMember(channelData: string | undefined): { userId: string; info: string } | string {
    if (channelData === undefined) return 'a presence channel needs channel_data with a user_id';
    let value: unknown;
    try {
      value = JSON.parse(channelData);
    } catch {
      return 'channel_data is not JSON';
    }
    const { user_id: id, user_info: info } = (value ?? {}) as { user_id?: unknown; user_info?: unknown };
    if ((typeof id !== 'string' || id === '') && typeof id !== 'number') return 'channel_data needs a user_id (a string or a number)';
    const text = JSON.stringify(info ?? null);
    if (Buffer.byteLength(text) > this.app.maxPresenceMemberBytes) return `user_info is over ${this.app.maxPresenceMemberBytes} bytes`;
    return { userId: String(id), info: text };
  }

  // Pusher's user authentication: the app's signature of `socket_id::user::user_data`, whose `id` becomes
  // the connection's user (terminate_connections closes it; its #server-to-user channel opens to it).
  private signin(conn: Connection, auth: string, userData: string): void {
    const refuse = (message: string): void => {
      this.deps.stats.pusherSigninsRefused += 1;
      this.fail(conn, PusherCode.UNAUTHORIZED, message);
    };
    if (!verifyUserAuth(this.app, conn.id, auth, userData)) {
      refuse(`Invalid signin signature: the auth is not this app's signature of ${conn.id}::user::<user_data>`);
      return;
    }
    let id: unknown;
    try {
      id = (JSON.parse(userData) as { id?: unknown } | null)?.id;
    } catch {
      refuse('user_data is not JSON');
      return;
    }
    if (typeof id !== 'string' || id === '') {
      refuse('user_data needs an id, a non-empty string');
      return;
    }
    const user = pusherUser(this.app.id, id);
    if (conn.userId !== undefined && conn.userId !== user) {
      refuse(`this connection is user ${parsePusherUser(this.app.id, conn.userId) ?? conn.userId} already, not ${id}`);
      return;
    }
    if (conn.userId === undefined) this.deps.hub.setUser(conn, user);
    this.signedIn.set(conn, id);
    this.deps.stats.pusherSignins += 1;
    conn.sendPrepared(signinSuccess(userData));
  }

  private clientEvent(conn: Connection, channel: string, event: string, data: string): void {
    if (!this.app.enableClientMessages) {
      this.fail(conn, null, `client events are not enabled for app ${this.app.id}`);
      return;
    }
    const kind = channelKind(channel);
    if (kind !== 'private' && kind !== 'presence') {
      this.fail(conn, null, `client events go to private and presence channels only, not ${channel}`);
      return;
    }
    const room = pusherRoom(this.app.id, channel);
    if (this.deps.hub.roomsOf(conn)?.has(room) !== true) {
      this.fail(conn, null, `not subscribed to ${channel}: subscribe before sending client events to it`);
      return;
    }
    if (Buffer.byteLength(data) > this.app.maxEventBytes) {
      this.fail(conn, PusherCode.CLIENT_EVENT_REFUSED, `the event's data is over ${this.app.maxEventBytes} bytes`);
      return;
    }
    // On a presence channel, Pusher tells the members who sent it.
    const userId = kind === 'presence' && conn.userId !== undefined ? (parsePusherUser(this.app.id, conn.userId) ?? undefined) : undefined;
    this.deps.publish(room, [encodeEventItem(userId === undefined ? { event, dataJson: data } : { event, dataJson: data, userId })], conn.id).then(
      () => {
        this.deps.stats.pusherClientEvents += 1;
        this.deps.webhook(this.app, {
          name: 'client_event',
          channel,
          event,
          data,
          socket_id: conn.id,
          ...(userId === undefined ? {} : { user_id: userId }),
        });
      },
      (refused: PushError) => this.fail(conn, PusherCode.CLIENT_EVENT_REFUSED, `the event was not sent: ${refused.message}`),
    );
  }

  private refuseSubscription(conn: Connection, channel: string, refusal: SubscriptionRefusal): void {
    this.deps.stats.pusherSubscriptionsRefused += 1;
    conn.sendPrepared(subscriptionError(channel, refusal));
  }

  private fail(conn: Connection, code: number | null, message: string): void {
    this.deps.stats.errorFrames += 1;
    conn.sendPrepared(errorFrame(code, message));
  }
}
