/**
 * permessage-deflate on or off, measured (`npm run bench:deflate`): pushgate started twice, without and
 * with `--per-message-deflate`, each time with the same clients (every one offering permessage-deflate,
 * as browsers do) and the same fixed-rate workloads of ~200-byte JSON items. Per workload it reports
 * items delivered/s, bytes/s the clients read off their sockets (frames and headers: what crossed the
 * wire), bytes per item, the server's CPU per delivered item (/proc/<pid>/stat), the clients' CPU per
 * item (deflate makes clients inflate every frame: that cost is theirs), latency, the server's RSS and
 * refused pushes. Writes bench/results/<name>.md and .json.
 *
 * The server is pinned to core 0, the clients (forked processes of this same script) and the push
 * driver to core 1, as `npm run bench` does; whatever else the machine runs shares those cores.
 *
 *   node dist/bench/deflate.js [--clients 10000] [--processes 4] [--duration 10] [--name i15-deflate]
 *     [--broadcast-rate 20] [--batch-rate 4] [--rooms-rate 1000] [--rooms 100] [--variants off,on]
 *     [--client raw|ws] [--client-compress all|small] [--out bench/results]
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { inflateRawSync, constants as zlibConstants } from 'node:zlib';
import { WebSocket } from 'ws';
import { Histogram } from './load/histogram.js';
import { countItems } from './load/items.js';
import { processCpuSeconds, processRss } from './load/procstat.js';
import { loopbackDestinations, pinSelf } from './options.js';
import { packageVersion } from './paths.js';
import { startPushgate } from './side-by-side.js';

// ---- The items: ~200 bytes of JSON each, text that compresses like text, not like padding. ----

const WORDS =
  'the a of to and in is it you that he was for on are with as his they be at one have this from or had by hot word but what some we can out other were all there when up use your how said an each she which do their time if will way about many then them write would like so these her long make thing see him two has look more day could go come did number sound no most people my over know water than call first who may down side been now find any new work part take get place made live where after back little only round man year came show every good me give our under name very through just form sentence great think say help low line differ turn cause much mean before move right boy old too same tell does set three want air well also play small end put home read hand port large spell add even land here must big high such follow act why ask men change went light kind off need house picture try us again animal point mother world near build self earth father'.split(
    ' ',
  );
const TEXT_LENGTH = 150;

/** A pseudo-random sentence of exactly TEXT_LENGTH characters (no quote, no brace). */
function sentence(seed: number): string {
  let text = '';
  let x = seed * 2654435761;
  while (text.length < TEXT_LENGTH) {
    x = (x * 1103515245 + 12345) >>> 0;
    text += `${WORDS[x % WORDS.length]} `;
  }
  return text.slice(0, TEXT_LENGTH);
}

/**
 * An item of fixed length (countItems relies on it): `{"t":<µs, 16 digits>,"s":<9 digits>,"u":"user-<4
 * digits>","m":"<150 characters of text>"}`, 214 bytes.
 */
function item(seq: number): string {
  const t = Math.round((performance.timeOrigin + performance.now()) * 1000);
  return `{"t":${t},"s":${100000000 + (seq % 900000000)},"u":"user-${String(1000 + (seq % 9000))}","m":"${sentence(seq)}"}`;
}

// ---- A client process: opens its share of clients, counts items and bytes, reports over IPC. ----

/**
 * How clients read: `ws`, as the Node SDK does (ws inflates each compressed message asynchronously in
 * zlib's thread pool, ~60-90 µs of CPU a message here, and at most 10 at a time per process: a load
 * generator of ws clients cannot keep up with compressed broadcasts to thousands of clients); or
 * `raw`: the same ws handshake (and so the same negotiation), then the client reads the socket itself,
 * answering pings, and inflates compressed frames synchronously (zlib's inflateRawSync, ~8 µs a frame),
 * for off and on alike, so that the clients keep up and the server's costs compare at the same load.
 */
type ClientMode = 'ws' | 'raw';

type Command =
  /** `compressAll`: the client compresses every message it sends, as browsers do (ws's client: only those of 1 KiB or more). */
  | { type: 'connect'; url: string; count: number; offset: number; rooms: number; deflate: boolean; mode: ClientMode; compressAll: boolean }
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'exit' };

interface Report {
  type: 'report';
  items: number;
  frames: number;
  bytes: number;
  cpuMs: number;
  latency: { counts: Array<number | null>; total: number; max: number };
}

async function clientProcess(): Promise<void> {
  const sockets: WebSocket[] = [];
  let counting = false;
  let items = 0;
  let frames = 0;
  let latency = new Histogram();
  let bytesAtStart = 0;
  let cpuAtStart = process.cpuUsage();
  const bytesRead = (): number => sockets.reduce((sum, ws) => sum + ((ws as unknown as { _socket?: { bytesRead: number } })._socket?.bytesRead ?? 0), 0);
  const timed = new WeakSet<WebSocket>();
  const mark = Buffer.from('{"t":');
  function onMessage(this: WebSocket, data: Buffer): void {
    if (!counting) return;
    const count = countItems(data);
    if (count === 0) return;
    frames += 1;
    items += count;
    if (timed.has(this)) {
      const at = data.indexOf(mark);
      let t = 0;
      for (let i = at + mark.length; i < at + mark.length + 16; i++) t = t * 10 + (data[i] - 0x30);
      latency.record(performance.timeOrigin + performance.now() - t / 1000);
    }
  }
  // Raw mode: frames parsed off the socket, compressed ones inflated here.
  const onFrame = (ws: WebSocket, opcode: number, compressed: boolean, payload: Buffer): void => {
    if (opcode === 9) ws.pong(payload);
    if (opcode !== 1) return;
    onMessage.call(ws, compressed ? inflateRawSync(payload, { finishFlush: zlibConstants.Z_SYNC_FLUSH }) : payload);
  };
  const takeOver = (ws: WebSocket): void => {
    const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.removeAllListeners('data');
    let pending: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      let buffer = pending === null ? chunk : Buffer.concat([pending, chunk]);
      pending = null;
      let at = 0;
      for (;;) {
        if (buffer.length - at < 2) break;
        const length7 = buffer[at + 1] & 0x7f;
        const header = length7 < 126 ? 2 : length7 === 126 ? 4 : 10;
        if (buffer.length - at < header) break;
        const length = header === 2 ? length7 : header === 4 ? buffer.readUInt16BE(at + 2) : Number(buffer.readBigUInt64BE(at + 2));
        if (buffer.length - at < header + length) break;
        onFrame(ws, buffer[at] & 0x0f, (buffer[at] & 0x40) !== 0, buffer.subarray(at + header, at + header + length));
        at += header + length;
      }
      if (at < buffer.length) pending = Buffer.from(buffer.subarray(at));
      buffer = Buffer.alloc(0);
    });
  };
  const send = (message: unknown): void => void process.send?.(message);
  process.on('message', async (command: Command) => {
    if (command.type === 'connect') {
      let next = 0;
      let negotiated = 0;
      let errors = 0;
      const open = async (): Promise<void> => {
        while (next < command.count) {
          const index = command.offset + next++;
          await new Promise<void>((resolve) => {
            const perMessageDeflate = command.deflate && command.compressAll ? { threshold: 0 } : command.deflate;
            const ws = new WebSocket(command.url, { perMessageDeflate, skipUTF8Validation: true, handshakeTimeout: 10000 });
            ws.on('message', onMessage);
            ws.once('open', () => {
              if (ws.extensions.includes('permessage-deflate')) negotiated += 1;
              if (command.mode === 'raw') takeOver(ws);
              if (command.rooms > 0) ws.send(`{"type":"JOIN","data":{"room":"room-${index % command.rooms}"}}`);
              if (index % 7 === 0) timed.add(ws);
              sockets.push(ws);
              resolve();
            });
            ws.once('error', () => {
              errors += 1;
              resolve();
            });
          });
        }
      };
      await Promise.all(Array.from({ length: 50 }, open));
      send({ type: 'connected', connected: sockets.length, negotiated, errors });
    } else if (command.type === 'start') {
      items = 0;
      frames = 0;
      latency = new Histogram();
      bytesAtStart = bytesRead();
      cpuAtStart = process.cpuUsage();
      counting = true;
      send({ type: 'started' });
    } else if (command.type === 'stop') {
      counting = false;
      const cpu = process.cpuUsage(cpuAtStart);
      const report: Report = { type: 'report', items, frames, bytes: bytesRead() - bytesAtStart, cpuMs: (cpu.user + cpu.system) / 1000, latency };
      send(report);
    } else {
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    }
  });
  // The gateway closes clients silent for 60 s.
  setInterval(() => {
    for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"PING","data":{}}');
  }, 20000).unref();
  send({ type: 'ready' });
}

// ---- The coordinator. ----

interface Workload {
  name: string;
  /** Pushes per second, each of `items` items, to all or to a random room. */
  rate: number;
  items: number;
  rooms: boolean;
}

interface Result {
  variant: 'off' | 'on';
  workload: string;
  pushesPerSecond: number;
  itemsPerPush: number;
  fanOut: number;
  accepted: number;
  refused: number;
  failed: number;
  itemsPerSecond: number;
  framesPerSecond: number;
  itemsPerFrame: number;
  wireBytesPerSecond: number;
  wireBytesPerItem: number;
  serverCores: number;
  serverCpuUsPerItem: number;
  clientCores: number;
  clientCpuUsPerItem: number;
  latencyMs: { p50: number; p99: number; max: number };
  serverRssMb: number;
}

class ClientProcess {
  private readonly child = fork(fileURLToPath(import.meta.url), ['client'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  private waiting: ((message: unknown) => void) | null = null;
  readonly ready: Promise<void>;

  constructor() {
    this.ready = new Promise((resolve) => {
      this.waiting = () => resolve();
    });
    this.child.on('message', (message) => {
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.(message);
    });
  }

  ask<T>(command: Command): Promise<T> {
    return new Promise((resolve) => {
      this.waiting = resolve as (message: unknown) => void;
      this.child.send(command);
    });
  }

  exit(): void {
    this.child.send({ type: 'exit' });
  }
}

/** Posts pushes at `rate` per second for `ms`, keep-alive, counting the answers. */
async function drive(
  api: string,
  workload: Workload,
  rooms: number,
  ms: number,
  seqFrom: number,
): Promise<{ accepted: number; refused: number; failed: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const url = new URL(api);
  const counts = { accepted: 0, refused: 0, failed: 0 };
  const pending = new Set<Promise<void>>();
  let seq = seqFrom;
  const post = (): Promise<void> =>
    new Promise((resolve) => {
      const batch: string[] = [];
      for (let i = 0; i < workload.items; i++) batch.push(item(seq++));
      const body = workload.rooms ? `{"room":"room-${Math.floor(Math.random() * rooms)}","items":[${batch.join(',')}]}` : `{"items":[${batch.join(',')}]}`;
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: workload.rooms ? '/push/room' : '/push/all',
          agent,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) counts.accepted += 1;
            else if (res.statusCode === 503) counts.refused += 1;
            else counts.failed += 1;
            resolve();
          });
        },
      );
      req.on('error', () => {
        counts.failed += 1;
        resolve();
      });
      req.end(body);
    });
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < ms) {
    const due = Math.floor(((performance.now() - started) / 1000) * workload.rate);
    while (sent < due) {
      const p = post();
      pending.add(p);
      void p.then(() => pending.delete(p));
      sent += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  agent.destroy();
  return counts;
}

async function coordinator(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '10000' },
      processes: { type: 'string', default: '4' },
      duration: { type: 'string', default: '10' },
      rooms: { type: 'string', default: '100' },
      'broadcast-rate': { type: 'string', default: '20' },
      'batch-rate': { type: 'string', default: '4' },
      'rooms-rate': { type: 'string', default: '1000' },
      variants: { type: 'string', default: 'off,on' },
      client: { type: 'string', default: 'raw' },
      'client-compress': { type: 'string', default: 'all' },
      name: { type: 'string', default: 'i15-deflate' },
      out: { type: 'string', default: 'bench/results' },
    },
  });
  const clients = Number(values.clients);
  const processes = Number(values.processes);
  const durationMs = Number(values.duration) * 1000;
  const rooms = Number(values.rooms);
  const workloads: Workload[] = [
    // What the connections cost by themselves: every client sends its keep-alive PING once in 20 s (compressed, with --client-compress all).
    { name: 'idle (keep-alive PINGs only)', rate: 0, items: 1, rooms: false },
    { name: 'broadcast, 1 item per push', rate: Number(values['broadcast-rate']), items: 1, rooms: false },
    { name: 'broadcast, 10 items per push', rate: Number(values['batch-rate']), items: 10, rooms: false },
    { name: `rooms (${rooms} × ${clients / rooms}), 1 item per push`, rate: Number(values['rooms-rate']), items: 1, rooms: true },
  ];
  const pinned = await pinSelf(1);
  const results: Result[] = [];
  const notes: string[] = [];
  let seq = 0;
  for (const variant of values.variants.split(',') as Array<'off' | 'on'>) {
    const server = await startPushgate(variant === 'on' ? ['--per-message-deflate'] : [], loopbackDestinations(1), 0);
    const pool = Array.from({ length: processes }, () => new ClientProcess());
    try {
      await Promise.all(pool.map((p) => p.ready));
      const share = Math.ceil(clients / processes);
      const connected = await Promise.all(
        pool.map((p, i) =>
          p.ask<{ connected: number; negotiated: number; errors: number }>({
            type: 'connect',
            url: `${server.wsUrls[0]}/connect`,
            count: Math.min(share, clients - i * share),
            offset: i * share,
            rooms,
            deflate: true,
            mode: values.client as ClientMode,
            compressAll: values['client-compress'] === 'all',
          }),
        ),
      );
      const total = connected.reduce((sum, c) => sum + c.connected, 0);
      const negotiated = connected.reduce((sum, c) => sum + c.negotiated, 0);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const rssIdle = (processRss(server.child.pid) ?? 0) / 1048576;
      notes.push(
        `${variant}: ${total} clients connected (${connected.reduce((sum, c) => sum + c.errors, 0)} errors), ${negotiated} negotiated permessage-deflate; server RSS after connecting and joining: ${rssIdle.toFixed(0)} MB (\`${server.command}\`)`,
      );
      process.stderr.write(`${notes.at(-1)}\n`);
      for (const workload of workloads) {
        const fanOut = workload.rooms ? total / rooms : total;
        // Warm-up: a second of the workload, not counted.
        await drive(server.api, workload, rooms, 1000, seq);
        seq += workload.rate * workload.items * 2;
        await new Promise((resolve) => setTimeout(resolve, 500));
        await Promise.all(pool.map((p) => p.ask({ type: 'start' })));
        const cpu0 = processCpuSeconds(server.child.pid) ?? 0;
        const t0 = performance.now();
        const counts = await drive(server.api, workload, rooms, durationMs, seq);
        seq += Math.ceil((workload.rate * workload.items * durationMs) / 1000) + 1000;
        // Let the last pushes arrive.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        // Rates over the pushing window (everything pushed in it arrived by now); CPU over the whole time.
        const window = durationMs / 1000;
        const elapsed = (performance.now() - t0) / 1000;
        const cpu = (processCpuSeconds(server.child.pid) ?? 0) - cpu0;
        const reports = await Promise.all(pool.map((p) => p.ask<Report>({ type: 'stop' })));
        const latency = new Histogram();
        for (const r of reports) latency.merge(r.latency);
        const items = reports.reduce((sum, r) => sum + r.items, 0);
        const frames = reports.reduce((sum, r) => sum + r.frames, 0);
        const bytes = reports.reduce((sum, r) => sum + r.bytes, 0);
        const clientCpu = reports.reduce((sum, r) => sum + r.cpuMs, 0) / 1000;
        const summary = latency.summary();
        const result: Result = {
          variant,
          workload: workload.name,
          pushesPerSecond: workload.rate,
          itemsPerPush: workload.items,
          fanOut,
          ...counts,
          itemsPerSecond: Math.round(items / window),
          framesPerSecond: Math.round(frames / window),
          itemsPerFrame: round(items / Math.max(1, frames), 2),
          wireBytesPerSecond: Math.round(bytes / window),
          wireBytesPerItem: round(bytes / Math.max(1, items), 1),
          serverCores: round(cpu / elapsed, 3),
          serverCpuUsPerItem: round((cpu * 1e6) / Math.max(1, items), 3),
          clientCores: round(clientCpu / elapsed, 3),
          clientCpuUsPerItem: round((clientCpu * 1e6) / Math.max(1, items), 3),
          latencyMs: { p50: summary.p50, p99: summary.p99, max: summary.max },
          serverRssMb: round((processRss(server.child.pid) ?? 0) / 1048576, 0),
        };
        results.push(result);
        process.stderr.write(`${JSON.stringify(result)}\n`);
      }
    } finally {
      for (const p of pool) p.exit();
      await server.child.stop();
    }
  }
  write(values.out, values.name, {
    clients,
    processes,
    durationMs,
    rooms,
    pinned,
    client: `${values.client}, compressing ${values['client-compress'] === 'all' ? 'every message (as browsers do)' : "messages of 1 KiB or more (ws's default)"}`,
    results,
    notes,
  });
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function write(
  dir: string,
  name: string,
  run: { clients: number; processes: number; durationMs: number; rooms: number; pinned: boolean; client: string; results: Result[]; notes: string[] },
): void {
  mkdirSync(dir, { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, pushgate: packageVersion('.'), ws: packageVersion('node_modules/ws') };
  writeFileSync(`${dir}/${name}.json`, `${JSON.stringify({ ...meta, ...run }, null, 2)}\n`);
  const n = (value: number): string => value.toLocaleString('en-US');
  const lines = [
    `# permessage-deflate off / on (${meta.date.slice(0, 10)})`,
    '',
    `\`npm run bench:deflate\` (bench/deflate.ts): pushgate ${meta.pushgate}, Node ${meta.node}, ws ${meta.ws}; ${n(run.clients)} clients in ${run.processes} processes, every one offering permessage-deflate, clients: ${run.client} (see ClientMode in bench/deflate.ts); ${run.durationMs / 1000} s per workload after 1 s of warm-up; server on core 0, clients and push driver on core 1${run.pinned ? '' : ' (pinning failed)'}. Items: 214-byte JSON objects with 150 characters of English-like text. Wire bytes: what the clients read off their sockets (headers and payloads). Fixed push rates that both variants sustain: CPU per item compares like with like.`,
    '',
    ...run.notes.map((note) => `- ${note}`),
    '',
    '| workload | deflate | pushes/s × items | items/s delivered | items/frame | wire bytes/s | bytes/item | server cores | server µs/item | client cores | client µs/item | p50 / p99 ms | refused |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...run.results.map(
      (r) =>
        `| ${r.workload} | ${r.variant} | ${r.pushesPerSecond} × ${r.itemsPerPush} | ${n(r.itemsPerSecond)} | ${r.itemsPerFrame} | ${n(r.wireBytesPerSecond)} | ${r.wireBytesPerItem} | ${r.serverCores} | ${r.serverCpuUsPerItem} | ${r.clientCores} | ${r.clientCpuUsPerItem} | ${r.latencyMs.p50} / ${r.latencyMs.p99} | ${r.refused} |`,
    ),
    '',
  ];
  writeFileSync(`${dir}/${name}.md`, lines.join('\n'));
  process.stderr.write(`wrote ${dir}/${name}.md and .json\n`);
}

if (process.argv[2] === 'client') await clientProcess();
else await coordinator();
