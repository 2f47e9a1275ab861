import type { Connection } from '../connection/connection.js';
import { MAX_HISTORY_SIZE } from '../history/history-policy.js';
import type { HistoryPage, HistoryQuery } from '../history/history-store.js';
import { PushBatch } from '../merger/push-batch.js';
import type { JoinStream, PreparedFrame, RequestId, StreamStamp } from '../protocol/client-protocol.js';
import { type ErrorFrameBody, frameError } from '../protocol/errors.js';
import type { HoldToken, NodeDelivery } from '../push/node-delivery.js';
import type { Stats } from '../stats/stats.js';

/** What recovery reads: the streams of the rooms that keep history (the node's broker link). */
export interface RoomStreams {
  /** Whether `room` keeps history. */
  keeps(room: string): boolean;
  /** Reads `room`'s stream (the room keeps history); rejects when the store cannot be reached. */
  read(room: string, query: HistoryQuery): Promise<HistoryPage>;
}

/** The JOIN being answered. */
export interface StreamJoin {
  conn: Connection;
  id: RequestId | undefined;
  room: string;
  /** Settled once pushes to the room arrive here (null: they already do). */
  ready: Promise<void> | null;
  /** The subscribe hook's data for the ACK (JSON text). */
  data: string | undefined;
  /** Where the client stood, to recover from; undefined for a first JOIN. */
  since: StreamStamp | undefined;
  /** Whether the connection was a member already (a repeated JOIN: nothing is held or replayed). */
  already: boolean;
}

/**
 * JOINs of rooms with history. The connection is a member at once, but held out of the room's frames
 * (NodeDelivery.hold) while, once its subscription is in place, the room's stream is read: every item
 * pushed before the read is in it, every one after comes through the subscription, into the hold.
 * Then the connection is sent, in this order: the items it missed (when it asked to recover and could),
 * the ACK saying where it stands (offset, epoch, recovered), and the held items after that offset. So
 * it gets each item once, in offset order, with no gap — or `recovered: false` when the stream no longer
 * holds what followed its offset (another epoch, trimmed, expired): it must reload its state.
 */
export class JoinRecovery {
  constructor(
    private readonly streams: RoomStreams,
    private readonly delivery: Pick<NodeDelivery, 'hold' | 'release' | 'sendTo'>,
    private readonly stats: Stats,
    private readonly maxBatchItems: number,
    /** Whether the connection is still a member of the room (a LEAVE may come while the stream is read). */
    private readonly isMember: (conn: Connection, room: string) => boolean,
    /** Refuses the JOIN: the connection leaves the room and is sent the error. */
    private readonly refuse: (conn: Connection, id: RequestId | undefined, room: string, error: ErrorFrameBody) => void,
  ) {}

  keeps(room: string): boolean {
    return this.streams.keeps(room);
  }

  join(join: StreamJoin): void {
    const { conn, room, since } = join;
    const token = join.already ? null : this.delivery.hold(conn, room);
    const query: HistoryQuery =
      since === undefined || join.already ? { limit: 1, reverse: true } : { since: since.offset, limit: MAX_HISTORY_SIZE, reverse: false };
    const read = join.ready === null ? this.streams.read(room, query) : join.ready.then(() => this.streams.read(room, query));
    read.then(
      (page) => this.answer(join, page, token),
      () => {
        if (token !== null) this.delivery.release(conn, room, null, token);
        this.stats.historyReadsFailed += 1;
        if (conn.isOpen) this.refuse(conn, join.id, room, frameError.UNAVAILABLE.historyUnavailable(room));
      },
    );
  }

  private answer(join: StreamJoin, page: HistoryPage, token: HoldToken | null): void {
    const { conn, room, since } = join;
    if (!conn.isOpen || !this.isMember(conn, room)) {
      if (token !== null) this.delivery.release(conn, room, null, token);
      return;
    }
    const stream: JoinStream = { offset: page.top, epoch: page.epoch };
    if (since !== undefined && token !== null) {
      this.stats.recoveriesAsked += 1;
      const recovered = page.epoch === since.epoch && since.offset <= page.top && since.offset + 1 >= page.first;
      stream.recovered = recovered;
      stream.replayed = 0;
      if (recovered) stream.replayed = this.replay(conn, room, page);
      else this.stats.recoveriesFailed += 1;
    }
    if (join.id !== undefined) this.delivery.sendTo(conn, single(conn.protocol.ack(join.id, conn.id, join.data, stream)));
    if (token !== null) this.delivery.release(conn, room, { offset: page.top, epoch: page.epoch }, token);
  }

  // The page's items, as PUSH frames of at most maxBatchItems, each numbered by its last offset.
  private replay(conn: Connection, room: string, page: HistoryPage): number {
    const { entries } = page;
    for (let start = 0; start < entries.length; start += this.maxBatchItems) {
      const chunk = entries.slice(start, start + this.maxBatchItems);
      const stamp = { offset: chunk[chunk.length - 1].offset, epoch: page.epoch };
      this.delivery.sendTo(
        conn,
        new PushBatch(
          chunk.map((entry) => entry.item),
          room,
          stamp,
        ),
      );
    }
    this.stats.itemsReplayed += entries.length;
    return entries.length;
  }
}

// A frame for one connection, as the dispatcher takes it.
function single(frame: PreparedFrame): { frameFor(): PreparedFrame } {
  return { frameFor: () => frame };
}
