import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

/** What a churn run saw, summed over its clients. */
export interface ChurnReport {
  clients: number;
  rooms: number;
  seconds: number;
  pushes: number;
  pushesRefused: number;
  /** Refused pushes by error code (or `no answer`). */
  refusals: Record<string, number>;
  reconnects: number;
  /** Rejoins answered `recovered: true`. */
  recovered: number;
  /** Rejoins answered `recovered: false`: each an announced gap. */
  notRecovered: number;
  /** Rejoins answered with an ERROR frame, by code (the client drops and comes back). */
  joinErrors: Record<string, number>;
  /** Rejoins whose connection the client dropped (its random life ended) before the answer came. */
  unanswered: number;
  /** Items received (live and replayed). */
  items: number;
  /** Offsets skipped without a `recovered: false` (must be 0). */
  silentGaps: number;
  /** Items received twice (must be 0). */
  duplicates: number;
  /** Clients that did not reach their room's last offset after the run (must be 0). */
  behind: number;
}

export interface ChurnOptions {
  /** WebSocket URLs of the nodes; clients spread over them and reconnect to any. */
  wsUrls: string[];
  apiUrl: string;
  clients: number;
  rooms: number;
  /** Room names: `${prefix}${i}`. */
  prefix: string;
  durationMs: number;
  pushesPerSecond: number;
  /** A connection lives a random time up to this, then drops (and is away up to `maxAwayMs`). */
  maxLifeMs: number;
  maxAwayMs: number;
  /** Called once every client is in, as the pushes start (the bench starts measuring CPU here). */
  onStart?: () => void;
  /** Called when the last push was answered, before the wait for clients to catch up. */
  onPushesEnd?: () => void;
}

/** The parts of a push API answer the churn reads. */
interface PushAnswer {
  offset?: number;
  epoch?: string;
  error?: { code?: string };
}

/** Posts JSON, reads the answer's JSON body (null when it has none). */
async function postJson(url: string, body: unknown): Promise<{ status: number; body: PushAnswer | null }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

interface Position {
  offset: number;
  epoch: string;
}

/**
 * The recovery proof, shared by the bench (`npm run bench`, its churn part) and the test
 * (test/history/churn.test.ts), which re-exports it from test/history/churn.ts.
 *
 * Clients that drop and reconnect at random while pushes flow: each rejoins its room with the last
 * offset and epoch it saw and checks every frame continues exactly from there. A gap is allowed only
 * when announced by `recovered: false`. Bounded in time: it stops by itself after `durationMs`, then
 * waits (bounded) for every client to catch up with the last offset pushed.
 */
export async function churn(options: ChurnOptions): Promise<ChurnReport> {
  const report: ChurnReport = {
    clients: options.clients,
    rooms: options.rooms,
    seconds: options.durationMs / 1000,
    pushes: 0,
    pushesRefused: 0,
    refusals: {},
    reconnects: 0,
    recovered: 0,
    notRecovered: 0,
    joinErrors: {},
    unanswered: 0,
    items: 0,
    silentGaps: 0,
    duplicates: 0,
    behind: 0,
  };
  const tops = new Map<string, Position>();
  let endAt = Infinity;
  let running = true;

  const all: Array<() => WebSocket | null> = [];
  const client = async (index: number): Promise<() => Position | null> => {
    const room = `${options.prefix}${index % options.rooms}`;
    let last: Position | null = null;
    let ws: WebSocket | null = null;
    let answered = true;
    const open = (): Promise<void> =>
      new Promise((resolve) => {
        const url = options.wsUrls[Math.floor(Math.random() * options.wsUrls.length)];
        const socket = new WebSocket(url);
        ws = socket;
        socket.on('error', () => undefined);
        socket.on('close', () => resolve());
        socket.on('open', () => {
          answered = false;
          socket.send(JSON.stringify({ type: 'JOIN', id: 'j', data: last === null ? { room } : { room, ...last } }));
          resolve();
        });
        socket.on('message', (raw) => {
          // A dropped socket may still hand over frames it had read: they are not this client's any more.
          if (socket !== ws) return;
          const frame = JSON.parse(raw.toString());
          if (frame.type === 'PUSH' && frame.data.room === room) {
            const n = frame.data.items.length as number;
            const first = (frame.data.offset as number) - n + 1;
            if (last !== null) {
              if (frame.data.epoch !== last.epoch) report.silentGaps += 1;
              else if (first <= last.offset) {
                report.duplicates += Math.min(n, last.offset - first + 1);
              } else if (first > last.offset + 1) report.silentGaps += first - last.offset - 1;
            }
            report.items += n;
            last = { offset: frame.data.offset, epoch: frame.data.epoch };
          } else if (frame.type === 'ACK' && frame.id === 'j') {
            const stream = frame.data.stream as { offset: number; epoch: string; recovered?: boolean };
            if (stream.recovered === true) report.recovered += 1;
            if (stream.recovered === false) report.notRecovered += 1;
            answered = true;
            last = { offset: stream.offset, epoch: stream.epoch };
          } else if (frame.type === 'ERROR') {
            // The JOIN could not be answered (its history unreadable): drop and come back.
            const code = String(frame.data?.code);
            report.joinErrors[code] = (report.joinErrors[code] ?? 0) + 1;
            answered = true;
            socket.terminate();
          }
        });
      });
    all.push(() => ws);
    await open();
    void (async () => {
      while (running) {
        await sleep(Math.random() * options.maxLifeMs);
        if (!running) break;
        if (!answered && last !== null) report.unanswered += 1;
        (ws as WebSocket | null)?.terminate();
        // Back even when the run ended meanwhile: every client must catch up at the end.
        await sleep(Math.random() * options.maxAwayMs);
        report.reconnects += 1;
        await open();
      }
    })();
    return () => last;
  };

  const positions = await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  // The run's time counts from when every client is in.
  endAt = Date.now() + options.durationMs;
  options.onStart?.();

  // Pushes at a steady rate, one item each, round the rooms, from 8 concurrent loops; answered 503s are
  // counted, not retried. A room's top is the highest offset answered.
  let sequence = 0;
  const startedAt = Date.now();
  const pusher = async (): Promise<void> => {
    while (Date.now() < endAt) {
      const n = sequence++;
      const room = `${options.prefix}${n % options.rooms}`;
      const res = await postJson(`${options.apiUrl}/push/room`, { room, items: [{ n }] }).catch(() => null);
      const answer = res?.body;
      if (res !== null && res.status === 200 && typeof answer?.offset === 'number' && typeof answer.epoch === 'string') {
        report.pushes += 1;
        const top = tops.get(room);
        if (top === undefined || top.epoch !== answer.epoch || top.offset < answer.offset) tops.set(room, { offset: answer.offset, epoch: answer.epoch });
      } else {
        report.pushesRefused += 1;
        const why = res === null ? 'no answer' : res.status === 200 ? 'no offset (room without history)' : String(res.body?.error?.code ?? res.status);
        report.refusals[why] = (report.refusals[why] ?? 0) + 1;
      }
      const due = startedAt + (sequence * 1000) / options.pushesPerSecond;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  };
  await Promise.all(Array.from({ length: 8 }, () => pusher()));
  options.onPushesEnd?.();
  running = false;
  // Every client back and caught up with its room's last offset (bounded).
  const caughtUp = (): number =>
    positions.filter((position, i) => {
      const top = tops.get(`${options.prefix}${i % options.rooms}`);
      const at = position();
      return top !== undefined && (at === null || at.epoch !== top.epoch || at.offset < top.offset);
    }).length;
  const deadline = Date.now() + 20_000;
  while (caughtUp() > 0 && Date.now() < deadline) await sleep(50);
  report.behind = caughtUp();
  for (const socket of all) socket()?.terminate();
  return report;
}
