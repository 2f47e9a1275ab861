/** Commands the load generator's coordinator sends to its client worker processes, and their answers. */

export interface ConnectCommand {
  type: 'connect';
  protocol: string;
  /** WebSocket base URLs (one per destination address); connection i uses urls[(offset + i) % length]. */
  urls: string[];
  count: number;
  /** Global index of this worker's first connection (room and destination assignment). */
  offset: number;
  /** Connection i joins room `room-${i % rooms}`; 0 joins none. A protocol without a push to all also joins its `everyone` room. */
  rooms: number;
  /** Handshakes in flight at once. */
  concurrency: number;
}

export interface MeasureCommand {
  type: 'measure';
  /** Record per-item latency. */
  latency: boolean;
  /** With `latency`: also each push's spread over the clients (the pass floor); costs a map lookup per item. */
  spreads: boolean;
}

export interface ChurnCommand {
  type: 'churn';
  protocol: string;
  urls: string[];
  /** Cycles started per second by this worker. */
  rate: number;
  durationMs: number;
  room: string;
  timeoutMs: number;
}

export type WorkerCommand = ConnectCommand | MeasureCommand | ChurnCommand | { type: 'prime' } | { type: 'report' } | { type: 'close' };

export interface HistogramData {
  counts: Array<number | null>;
  total: number;
  max: number;
}

export type WorkerReply =
  | { type: 'progress'; connected: number; errors: number }
  /** Items counted since `measure`, sent every 50 ms while measuring (the driver's flow control). */
  | { type: 'tick'; items: number }
  | { type: 'connected'; connected: number; errors: number; elapsedMs: number }
  | { type: 'primed'; primed: number }
  | {
      type: 'report';
      items: number;
      frames: number;
      disconnects: number;
      errors: number;
      cpuMs: number;
      elapsedMs: number;
      timeline: number[];
      latency: HistogramData;
      spreads: Array<[number, number, number]>;
    }
  | { type: 'churned'; completed: number; errors: number; cpuMs: number; latency: HistogramData; firstError: string | null }
  | { type: 'closed' };
