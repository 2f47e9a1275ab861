/** Commands the scale bench sends to its SDK client processes, and their answers. */
import type { HistogramData } from '../load/messages.js';

export interface ScaleConnectCommand {
  type: 'connect';
  /** WebSocket URLs (one per destination address); client i uses urls[(offset + i) % length]. */
  urls: string[];
  count: number;
  /** Global index of this process's first client (its room and destination follow it). */
  offset: number;
  /** Client i joins `room-${i % rooms}`. */
  rooms: number;
  /** Clients connecting at once. */
  concurrency: number;
}

export type ScaleCommand =
  | ScaleConnectCommand
  /** Counts items, their latency and each push's spread from now. */
  | { type: 'measure' }
  | { type: 'report' }
  /** Items counted since `measure`, without stopping. */
  | { type: 'count' }
  /** Counts how many clients are ready again (reconnected and rejoined) from now; `ready` lines are sent as they come. */
  | { type: 'watch' }
  | { type: 'close' };

export type ScaleReply =
  | { type: 'progress'; ready: number; attempts: number }
  | { type: 'connected'; ready: number; attempts: number; elapsedMs: number }
  | {
      type: 'report';
      items: number;
      latency: HistogramData;
      /** [seq, first receipt, last receipt] per push seen. */
      spreads: Array<[number, number, number]>;
      cpuMs: number;
      elapsedMs: number;
      /** Clients not ready now. */
      notReady: number;
    }
  /**
   * Since `watch`: clients ready now, ready clients whose connection closed, connection attempts that
   * failed, the last client's ready time (ms since the epoch), this process's peak RSS, the highest
   * retry number a client reached.
   */
  | { type: 'watched'; ready: number; dropped: number; failedAttempts: number; lastReadyAt: number; peakRssBytes: number; maxAttempt: number }
  | { type: 'counted'; items: number }
  | { type: 'closed' };
