import { get, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { EventSource } from 'eventsource';

/** An event an SSE stream delivered: its name, its data parsed, and the id the stream stood at. */
export interface StreamEvent {
  type: string;
  data: any;
  lastEventId: string;
}

/** The event names the gateway's SSE streams carry (src/protocol/sse-protocol.ts). */
const EVENT_NAMES = ['connected', 'push', 'ack', 'refused', 'reply', 'pong', 'warning', 'presence', 'close', 'message'];

/**
 * An `eventsource` EventSource (the npm package: Node's fetch underneath, with automatic reconnects
 * and `Last-Event-ID`) that records every event, with bounded waits for the ones a test expects.
 */
export class RecordedStream {
  readonly events: StreamEvent[] = [];
  readonly source: EventSource;
  /** Connection errors EventSource reported (each reconnect attempt after a drop is one). */
  errors = 0;
  private waiters: Array<() => void> = [];

  constructor(url: string, init?: { headers?: Record<string, string> }) {
    const headers = init?.headers;
    this.source = new EventSource(
      url,
      headers === undefined ? undefined : { fetch: (input, options) => fetch(input, { ...options, headers: { ...options?.headers, ...headers } }) },
    );
    for (const name of EVENT_NAMES) {
      this.source.addEventListener(name, (event) => {
        const message = event as MessageEvent<string>;
        let data: unknown = message.data;
        try {
          data = JSON.parse(message.data);
        } catch {}
        this.events.push({ type: name, data, lastEventId: message.lastEventId });
        this.wake();
      });
    }
    this.source.addEventListener('error', () => {
      this.errors += 1;
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Events of `type` so far (matching `where`). */
  all(type: string, where: (event: StreamEvent) => boolean = () => true): StreamEvent[] {
    return this.events.filter((event) => event.type === type && where(event));
  }

  /** Waits until `count` events of `type` (matching `where`) have come; fails after `ms`. */
  async until(type: string, where: (event: StreamEvent) => boolean = () => true, count = 1, ms = 5000): Promise<StreamEvent[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.all(type, where);
      if (found.length >= count) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${count} ${type} event(s); got ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The `connected` events' data: one per stream opened (reconnects add one). */
  get connections(): Array<{ conn: string; secret: string }> {
    return this.all('connected').map((event) => event.data);
  }

  close(): void {
    this.source.close();
  }
}

/** A raw `GET` of a stream: its status, headers and text as it arrives, read or not as the test says. */
export class RawStream {
  text = '';
  ended = false;
  private waiters: Array<() => void> = [];

  private constructor(
    readonly res: IncomingMessage,
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.text += chunk;
      this.wake();
    });
    const end = (): void => {
      this.ended = true;
      this.wake();
    };
    res.on('end', end);
    res.on('close', end);
    res.on('error', end);
  }

  /** Opens `url` and resolves once the status line and headers are in. */
  static open(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
    return new Promise((resolve, reject) => {
      const req = get(url, { headers, agent: false }, (res) => resolve(new RawStream(res, res.statusCode ?? 0, res.headers)));
      req.on('error', reject);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits until `condition` holds of the stream; fails after `ms`. */
  async until(condition: (stream: RawStream) => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(this.text.slice(-2000))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The JSON body of a refused stream (once it ended). */
  async json(): Promise<any> {
    await this.until((stream) => stream.ended, 5000, 'the end of the body');
    return JSON.parse(this.text);
  }

  /** The data of the first `connected` event (waits for it). */
  async connected(ms = 5000): Promise<{ conn: string; secret: string; user: string | null; rooms: string[] }> {
    await this.until((stream) => /event: connected\ndata: .*\n\n/.test(stream.text), ms, 'the connected event');
    return JSON.parse((/event: connected\ndata: (.*)\n\n/.exec(this.text) as RegExpExecArray)[1]);
  }

  close(): void {
    this.res.destroy();
  }
}

/** POSTs a JSON body to one of a stream's request routes, with its secret (or the one given). */
export async function streamRequest(
  pageUrl: string,
  conn: string,
  operation: string,
  body: unknown,
  secret: string | null,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${pageUrl}/sse/${conn}/${operation}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret === null ? {} : { authorization: `Bearer ${secret}` }), ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
