/**
 * `npm run bench:memory`: where an idle connection's bytes go. Starts pushgate and a bare `ws` server in
 * child processes (with and without pushgate's V8 setting), opens N clients to each from another
 * process, forces garbage collection, and prints the growth per connection of RSS, of the V8 heap in
 * use (live objects) and of the heap V8 reserved. Writes bench/results/memory.json and .md.
 *
 *   npm run bench:memory -- --connections 10000
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PUSHGATE_V8_FLAGS } from './v8-flags.js';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '10000' },
    out: { type: 'string', default: 'bench/results' },
    role: { type: 'string' },
    server: { type: 'string' },
    port: { type: 'string' },
  },
});
const N = Number(values.connections);

interface Sample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
}
interface Row {
  server: string;
  flags: string;
  rssPerConnection: number;
  heapUsedPerConnection: number;
  heapTotalPerConnection: number;
}

async function measure(): Promise<void> {
  let port: number;
  if (values.server === 'pushgate') {
    const { Gateway } = await import('../src/gateway/gateway.js');
    const gateway = new Gateway({ host: '127.0.0.1', port: 0, apiHost: '127.0.0.1', apiPort: 0, heartbeatInterval: 3600 });
    port = (await gateway.listen()).ws!.port;
  } else {
    const { createServer } = await import('node:http');
    const { WebSocketServer } = await import('ws');
    const server = createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    wss.on('connection', (ws) => {
      ws.on('message', () => {});
      ws.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  }
  const sample = (): Sample => {
    (globalThis as { gc?: () => void }).gc?.();
    (globalThis as { gc?: () => void }).gc?.();
    const { rss, heapUsed, heapTotal } = process.memoryUsage();
    return { rss, heapUsed, heapTotal };
  };
  const before = sample();
  const clients = fork(new URL(import.meta.url).pathname, ['--role', 'clients', '--port', String(port), '--connections', String(N)]);
  await new Promise((resolve) => clients.once('message', resolve));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = sample();
  clients.kill();
  process.send?.({ rss: (after.rss - before.rss) / N, heapUsed: (after.heapUsed - before.heapUsed) / N, heapTotal: (after.heapTotal - before.heapTotal) / N });
  process.exit(0);
}

async function clients(): Promise<void> {
  const { WebSocket } = await import('ws');
  const sockets: unknown[] = [];
  for (let i = 0; i < N; i++) {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${values.port}/connect`, { perMessageDeflate: false });
      ws.once('open', () => resolve());
      ws.once('error', () => resolve());
      sockets.push(ws);
    });
  }
  process.send?.('ready');
  setInterval(() => {}, 60000);
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const server of ['pushgate', 'ws']) {
    for (const flags of [[], PUSHGATE_V8_FLAGS]) {
      const child = fork(new URL(import.meta.url).pathname, ['--role', 'server', '--server', server, '--connections', String(N)], {
        execArgv: ['--expose-gc', ...flags],
      });
      const result = await new Promise<{ rss: number; heapUsed: number; heapTotal: number }>((resolve) => child.once('message', resolve));
      rows.push({
        server,
        flags: flags.join(' ') || '(defaults)',
        rssPerConnection: Math.round(result.rss),
        heapUsedPerConnection: Math.round(result.heapUsed),
        heapTotalPerConnection: Math.round(result.heapTotal),
      });
      process.stderr.write(`${server} ${flags.join(' ') || '(defaults)'}: ${JSON.stringify(rows[rows.length - 1])}\n`);
    }
  }
  const md = [
    `# Memory per idle connection (${N.toLocaleString('en')} connections, after forced GC)`,
    '',
    '| Server | V8 flags | RSS / conn (B) | V8 heap in use / conn (B) | V8 heap reserved / conn (B) |',
    '| :--- | :--- | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.server} | \`${r.flags}\` | ${r.rssPerConnection} | ${r.heapUsedPerConnection} | ${r.heapTotalPerConnection} |`),
    '',
  ].join('\n');
  mkdirSync(values.out ?? 'bench/results', { recursive: true });
  writeFileSync(join(values.out ?? 'bench/results', 'memory.json'), `${JSON.stringify({ connections: N, rows }, null, 2)}\n`);
  writeFileSync(join(values.out ?? 'bench/results', 'memory.md'), md);
  process.stdout.write(md);
}

if (values.role === 'server') await measure();
else if (values.role === 'clients') await clients();
else await main();
