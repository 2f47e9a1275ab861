import { Agent, request } from 'node:http';
import { benchItem } from './items.js';
import { goPushApi, type PushApi } from './push-api.js';

/** What a push run amounted to. */
export interface DriveResult {
  itemsPushed: number;
  refused: number;
  failed: number;
}

/** What a closed-loop run amounted to: {@link DriveResult} and the deliveries its accepted pushes owe. */
export interface OpenDriveResult extends DriveResult {
  /** Sum over accepted pushes of their fan-out: what the clients should receive. */
  deliveriesOwed: number;
}

/**
 * Sends pushes to a server's HTTP push API (pushgate's, which the peers copy, or Pusher's: see
 * push-api.ts): JSON bodies with one item each, on keep-alive connections.
 */
export class PushDriver {
  private readonly agent: Agent;
  private readonly api: URL;
  private seq = 0;

  constructor(
    api: string,
    private readonly padding = '',
    connections = 16,
    private readonly pushApi: PushApi = goPushApi,
  ) {
    this.api = new URL(api);
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  /** Posts one item to all (room undefined) or to a room; resolves with the HTTP status. */
  push(room: string | undefined): Promise<number> {
    const { path, body } = this.pushApi.request(room, benchItem(this.seq++, this.padding));
    return new Promise((resolve) => {
      const req = request(
        {
          host: this.api.hostname,
          port: this.api.port,
          agent: this.agent,
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  }

  /**
   * As fast as the whole pipeline delivers, for `durationMs`: `concurrency` requests in flight, 503s
   * retried, and no more than `window` deliveries outstanding (pushed × `fanOut` − `delivered()`), so
   * that the push rate settles at what server and clients sustain together instead of overrunning the
   * clients until the server drops them as slow consumers.
   */
  async flood(
    durationMs: number,
    concurrency: number,
    room: () => string | undefined,
    flow: { fanOut: number; window: number; delivered: () => number },
  ): Promise<DriveResult> {
    const result: DriveResult = { itemsPushed: 0, refused: 0, failed: 0 };
    const end = Date.now() + durationMs;
    let inFlight = 0;
    const loop = async (): Promise<void> => {
      while (Date.now() < end) {
        if ((result.itemsPushed + inFlight) * flow.fanOut - flow.delivered() > flow.window) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          continue;
        }
        inFlight += 1;
        const status = await this.push(room());
        inFlight -= 1;
        if (status === 200) result.itemsPushed += 1;
        else if (status === 503) {
          result.refused += 1;
          await new Promise((resolve) => setTimeout(resolve, 2));
        } else result.failed += 1;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    return result;
  }

  /**
   * What a backend does, for `durationMs`: `concurrency` loops, each posting one item and the next as
   * soon as the answer arrives. No flow control, no pause: a 503 is counted as refused and not retried
   * (the loop goes on with the next push), any other answer than 200 counts as failed. `fanOut(room)`
   * says how many clients an accepted push to `room` reaches, for the loss count.
   */
  async closedLoop(
    durationMs: number,
    concurrency: number,
    room: () => string | undefined,
    fanOut: (room: string | undefined) => number,
  ): Promise<OpenDriveResult> {
    const result: OpenDriveResult = { itemsPushed: 0, refused: 0, failed: 0, deliveriesOwed: 0 };
    const end = Date.now() + durationMs;
    const loop = async (): Promise<void> => {
      while (Date.now() < end) {
        const target = room();
        const status = await this.push(target);
        if (status === 200) {
          result.itemsPushed += 1;
          result.deliveriesOwed += fanOut(target);
        } else if (status === 503) result.refused += 1;
        else result.failed += 1;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    return result;
  }

  /**
   * `perSecond` pushes a second, on schedule, for `durationMs` (each push is sent without waiting for the
   * last). `fanOut(room)` says how many clients an accepted push to `room` reaches, for `deliveriesOwed`.
   */
  async steady(
    perSecond: number,
    durationMs: number,
    room: () => string | undefined,
    fanOut: (room: string | undefined) => number = () => 0,
  ): Promise<OpenDriveResult> {
    const result: OpenDriveResult = { itemsPushed: 0, refused: 0, failed: 0, deliveriesOwed: 0 };
    const pending: Array<Promise<void>> = [];
    const interval = 1000 / perSecond;
    const start = Date.now();
    for (let i = 0; start + i * interval < start + durationMs; i++) {
      const wait = start + i * interval - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const target = room();
      pending.push(
        this.push(target).then((status) => {
          if (status === 200) {
            result.itemsPushed += 1;
            result.deliveriesOwed += fanOut(target);
          } else if (status === 503) result.refused += 1;
          else result.failed += 1;
        }),
      );
    }
    await Promise.all(pending);
    return result;
  }

  close(): void {
    this.agent.destroy();
  }
}
