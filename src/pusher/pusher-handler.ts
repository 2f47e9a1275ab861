import type { Logger } from 'pino';
import type { CloseInfo, Connection, ConnectionHandler, IncomingMessage } from '../connection/connection.js';
import type { Hub } from '../hub/hub.js';
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
  subscriptionError,
  subscriptionSucceeded,
} from './pusher-frames.js';
import { pusherRoom } from './pusher-rooms.js';
import { channelKind, verifyChannelAuth } from './signatures.js';

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
}

/**
 * The gateway's side of the Pusher Channels protocol (version 7) for one app's connections: the
 * connection_established greeting, ping/pong, subscriptions to public, private and
 * private-encrypted channels (authorized by the app's signature over `socket_id:channel`), client
 * events on private channels when the app enables them (never echoed to their sender), and the hub's
 * bookkeeping when a connection closes. A channel is a room of the hub named for its app
 * (see pusher-rooms.ts): events reach it through the same merger, dispatcher and broker as go-push pushes.
 */
export class PusherHandler implements ConnectionHandler {
  constructor(
    private readonly app: PusherApp,
    private readonly deps: PusherHandlerDeps,
  ) {}

  /** Greets a connection just accepted (the first frame it gets). */
  opened(conn: Connection): void {
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
        this.subscribe(conn, request.channel, request.auth);
        return;
      case 'unsubscribe':
        this.deps.hub.leave(conn, pusherRoom(this.app.id, request.channel));
        return;
      case 'client-event':
        this.clientEvent(conn, request.channel, request.event, request.data);
        return;
      case 'signin':
        this.fail(conn, null, 'pusher:signin is not served by this server yet');
        return;
    }
  }

  onClose(conn: Connection, info: CloseInfo): void {
    this.deps.hub.remove(conn);
    this.deps.log.debug({ conn: conn.id, app: this.app.id, code: info.code, reason: info.reason, by: info.by }, 'pusher connection closed');
  }

  onSlow(conn: Connection): void {
    this.deps.stats.slowConsumerDisconnects += 1;
    this.deps.log.warn({ conn: conn.id, queuedBytes: conn.queuedBytes }, 'slow consumer disconnected (1013)');
  }

  private subscribe(conn: Connection, channel: string, auth: string | undefined): void {
    if (channel.startsWith(SERVER_TO_USER_PREFIX)) {
      this.refuseSubscription(conn, channel, subscriptionRefusal.notServed('server-to-user channels (pusher:signin)'));
      return;
    }
    const kind = channelKind(channel);
    if (kind === 'presence') {
      this.refuseSubscription(conn, channel, subscriptionRefusal.notServed('presence channels'));
      return;
    }
    if (kind !== 'public' && (auth === undefined || !verifyChannelAuth(this.app, conn.id, channel, auth))) {
      this.refuseSubscription(conn, channel, subscriptionRefusal.badSignature(conn.id, channel));
      return;
    }
    const room = pusherRoom(this.app.id, channel);
    const joined = this.deps.hub.join(conn, room);
    if (joined === 'too-many-rooms') {
      this.refuseSubscription(conn, channel, subscriptionRefusal.tooManyChannels(this.deps.hub.maxRooms));
      return;
    }
    const ready = this.deps.roomReady(room);
    if (ready === null) conn.sendPrepared(subscriptionSucceeded(channel));
    else void ready.then(() => conn.isOpen && conn.sendPrepared(subscriptionSucceeded(channel)));
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
    this.deps.publish(room, [encodeEventItem({ event, dataJson: data })], conn.id).then(
      () => {
        this.deps.stats.pusherClientEvents += 1;
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
