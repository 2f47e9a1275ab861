import type { Logger } from 'pino';
import type { CloseInfo, Connection, ConnectionHandler, IncomingMessage } from '../connection/connection.js';
import type { Hub } from '../hub/hub.js';
import { CloseCode, ErrorCode, type ErrorCodeName } from '../protocol/codes.js';
import { encodeAck, encodeError, encodePong } from '../protocol/encode.js';
import { decodeClientMessage, type RequestId } from '../protocol/messages.js';
import type { Stats } from '../stats/stats.js';

const PONG = encodePong(undefined);

// Closes that a client's own input caused, counted as protocol disconnects.
const inputCloseCodes = new Set<number>([1002, CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_PAYLOAD, CloseCode.POLICY_VIOLATION, CloseCode.MESSAGE_TOO_BIG]);

/**
 * The gateway's side of the wire protocol: one shared handler for every connection, answering PING,
 * JOIN and LEAVE, refusing what it cannot use with an ERROR frame or a close code, and taking closed
 * connections out of the hub.
 */
export class ClientHandler implements ConnectionHandler {
  /** In a cluster: a promise settled once pushes to a newly joined room will arrive here. */
  roomReady: (room: string) => Promise<void> | null = () => null;

  constructor(
    private readonly hub: Hub,
    private readonly stats: Stats,
    private readonly log: Logger,
  ) {}

  onMessage(conn: Connection, message: IncomingMessage): void {
    if (typeof message !== 'string') {
      conn.close(CloseCode.UNSUPPORTED_DATA, 'binary frames are not supported; send JSON text frames');
      return;
    }
    const request = decodeClientMessage(message);
    this.stats.requestsTotal += 1;
    switch (request.type) {
      case 'INVALID':
        this.fail(conn, request.id, request.code, request.message);
        return;
      case 'PING':
        conn.send(request.id === undefined ? PONG : encodePong(request.id));
        return;
      case 'JOIN':
        if (this.hub.join(conn, request.room) === 'too-many-rooms') {
          this.fail(conn, request.id, ErrorCode.TOO_MANY_ROOMS, `a connection may join at most ${this.hub.maxRooms} rooms`);
          return;
        }
        this.ackWhenReady(conn, request.id, this.roomReady(request.room));
        return;
      case 'LEAVE':
        this.hub.leave(conn, request.room);
        this.ack(conn, request.id);
        return;
    }
  }

  onClose(conn: Connection, info: CloseInfo): void {
    this.hub.remove(conn);
    if (info.by === 'server' && inputCloseCodes.has(info.code)) this.stats.protocolDisconnects += 1;
    this.log.debug({ conn: conn.id, code: info.code, reason: info.reason, by: info.by }, 'connection closed');
  }

  onSlow(conn: Connection): void {
    this.stats.slowConsumerDisconnects += 1;
    this.log.warn({ conn: conn.id, queuedBytes: conn.queuedBytes }, 'slow consumer disconnected (1013)');
  }

  private ackWhenReady(conn: Connection, id: RequestId | undefined, ready: Promise<void> | null): void {
    if (ready === null) this.ack(conn, id);
    else void ready.then(() => this.ack(conn, id));
  }

  private ack(conn: Connection, id: RequestId | undefined): void {
    if (id !== undefined) conn.send(encodeAck(id, conn.id));
  }

  private fail(conn: Connection, id: RequestId | undefined, code: ErrorCodeName, message: string): void {
    this.stats.errorFrames += 1;
    conn.send(encodeError(id, code, message));
  }
}
