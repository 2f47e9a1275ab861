import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type {
  BenchRun,
  ChurnResult,
  IdleResult,
  LatencyResult,
  LatencySummary,
  OpenLoopResult,
  ServerName,
  ServerResults,
  ThroughputResult,
} from '../../../bench/load/results.js';
import { latencyChart, throughputChart } from '../../../bench/report/charts.js';
import { renderMarkdown } from '../../../bench/report/report.js';

// The rendered report and charts, for a human to look at, under dist/ (ignored by git): dist/test-artifacts/bench-*.
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

function writeArtifact(name: string, text: string): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(`${ARTIFACTS}${name}`, text);
}

/** A CDF through the given [fraction, ms] percentiles, interpolated in log space to ~100 points. */
function cdfThrough(percentiles: Array<[number, number]>): Array<[number, number]> {
  const points: Array<[number, number]> = [];
  for (let i = 0; i < percentiles.length - 1; i++) {
    const [f0, ms0] = percentiles[i]!;
    const [f1, ms1] = percentiles[i + 1]!;
    const steps = 12;
    for (let s = 0; s < steps; s++) {
      const t = s / steps;
      points.push([Math.exp(Math.log(ms0) + t * (Math.log(ms1) - Math.log(ms0))), f0 + t * (f1 - f0)]);
    }
  }
  points.push([percentiles.at(-1)![1], percentiles.at(-1)![0]]);
  return points;
}

function summary(min: number, p50: number, p90: number, p99: number, p999: number, max: number, count = 60_000): LatencySummary {
  return {
    count,
    p50,
    p90,
    p99,
    p999,
    max,
    cdf: cdfThrough([
      [0, min],
      [0.5, p50],
      [0.9, p90],
      [0.99, p99],
      [0.999, p999],
      [1, max],
    ]),
  };
}

interface Figures {
  rssPerConnection: number;
  broadcast: number;
  rooms: number;
  broadcastBound?: boolean;
  latency: [number, number, number, number, number, number];
  floor: number | null;
  churn: number;
}

function server(name: ServerName, command: string, f: Figures): ServerResults {
  const connections = 10_000;
  const idle: IdleResult = {
    workload: 'idle',
    connections,
    handshakesPerSecond: 8_412.6,
    serverRssBefore: 52_000_000,
    serverRssAfter: 52_000_000 + f.rssPerConnection * connections,
    serverRssPerConnection: f.rssPerConnection,
    kernelSocketBytesPerConnection: 9_011,
    errors: 0,
  };
  const throughput = (workload: 'broadcast' | 'rooms', perSecond: number, clientBound: boolean): ThroughputResult => ({
    workload,
    connections,
    ...(workload === 'rooms' ? { rooms: 100 } : {}),
    durationSeconds: 20,
    itemsPushed: Math.round((perSecond * 20) / (workload === 'rooms' ? 100 : connections)),
    pushesRefused: workload === 'broadcast' ? 12 : 0,
    itemsDeliveredPerSecond: perSecond,
    framesPerSecond: perSecond / 8,
    timeline: Array.from({ length: 20 }, (_, i) => perSecond * (0.9 + 0.01 * i)),
    cpu: { server: 0.98, clients: 3.1, busiestClient: clientBound ? 0.97 : 0.62 },
    clientBound,
    disconnects: 0,
  });
  const latency: LatencyResult = {
    workload: 'latency',
    connections,
    pushesPerSecond: 10,
    durationSeconds: 20,
    itemsPushed: 200,
    itemsLost: name === 'socketio' ? 3 : 0,
    latency: summary(...f.latency),
    cpu: { server: 0.35, clients: 0.8, busiestClient: 0.21 },
    clientBound: false,
  };
  const churn: ChurnResult = {
    workload: 'churn',
    targetCyclesPerSecond: 500,
    cyclesCompleted: f.churn * 20,
    cyclesPerSecond: f.churn,
    errors: f.churn < 500 ? 7 : 0,
    cycleLatency: summary(0.9, 2.2, 4, 9.5, 20, 31),
    cpu: { server: 0.5, clients: 1.2, busiestClient: 0.4 },
  };
  return {
    server: name,
    version: name === 'pushgate' ? '0.1.0' : '8.18.2',
    command,
    passFloorMs: f.floor,
    workloads: [idle, throughput('broadcast', f.broadcast, f.broadcastBound ?? false), throughput('rooms', f.rooms, false), latency, churn],
  };
}

function fakeRun(): BenchRun {
  return {
    startedAt: '2025-06-01T14:03:27.512Z',
    command: 'node dist/bench/run.js --servers pushgate,ws,socketio --connections 10000 --duration 20',
    machine: {
      cpus: 8,
      cpuModel: 'AMD EPYC 7B13',
      memoryBytes: 33_621_045_248,
      kernel: 'Linux 6.1.0-18-cloud-amd64',
      node: 'v20.20.2',
      pinning: 'server on core 0, clients on cores 1-7',
      openFileLimit: 1_048_576,
    },
    settings: { connections: 10_000, clientProcesses: 4, destinations: ['127.0.0.1'], durationSeconds: 20 },
    servers: [
      server('pushgate', 'node dist/src/cli/main.js --config <(echo \'{"port":8080}\')', {
        rssPerConnection: 3_480,
        broadcast: 2_412_345,
        rooms: 1_873_210,
        broadcastBound: true,
        latency: [0.41, 1.8, 3.1, 6.4, 11.2, 17.9],
        floor: 1.62,
        churn: 500,
      }),
      server('ws', 'node dist/bench/peers/ws.js', {
        rssPerConnection: 5_120,
        broadcast: 1_004_112,
        rooms: 998_004,
        latency: [0.52, 2.5, 5.2, 12.1, 19.5, 26.3],
        floor: 2.05,
        churn: 500,
      }),
      server('socketio', 'node dist/bench/peers/socketio.js', {
        rssPerConnection: 21_504,
        broadcast: 21_870,
        rooms: 19_112,
        latency: [1.9, 9.2, 21.4, 45.3, 88.1, 140.6],
        floor: null,
        churn: 311.4,
      }),
    ],
  };
}

const TAG = /<\/?([A-Za-z][\w:-]*)(?:\s+[\w:-]+="[^"<>]*")*\s*(\/?)>/g;

/** Checks that every tag is well formed and balanced and that no raw '<' sits outside a tag. */
function assertWellFormed(svg: string): void {
  assert.ok(svg.startsWith('<svg'), 'starts with <svg');
  assert.ok(svg.trimEnd().endsWith('</svg>'), 'ends with </svg>');
  const stack: string[] = [];
  for (const match of svg.matchAll(TAG)) {
    const [whole, name, selfClosing] = match;
    if (selfClosing) continue;
    if (whole.startsWith('</')) assert.equal(stack.pop(), name, `closing </${name}> matches its opening tag`);
    else stack.push(name!);
  }
  assert.deepEqual(stack, [], 'every tag is closed');
  assert.ok(!svg.replace(TAG, '').includes('<'), 'no raw < outside tags');
  assert.ok(!/&(?!(amp|lt|gt|quot|apos);)/.test(svg), 'every & starts an entity');
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** The markdown table that follows `heading`, as rows of cells. */
function tableAfter(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(`${heading}\n`);
  assert.ok(start >= 0, `has a "${heading}" section`);
  const lines = markdown.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

describe('bench report', () => {
  const run = fakeRun();
  const markdown = renderMarkdown(run, { throughput: 'throughput.svg', latency: 'charts/latency cdf.svg' });
  writeArtifact('bench-report.md', markdown);

  it('has a header with the date, exact command, machine and settings', () => {
    assert.match(markdown, /^# Benchmark run, 2025-06-01 14:03 UTC/);
    assert.ok(markdown.includes(`\`\`\`sh\n${run.command}\n\`\`\``));
    for (const text of ['8 × AMD EPYC 7B13', '31.3 GiB', 'Linux 6.1.0-18-cloud-amd64', 'v20.20.2']) {
      assert.ok(markdown.includes(text), text);
    }
    assert.ok(markdown.includes('server on core 0, clients on cores 1-7'));
    assert.ok(markdown.includes('1,048,576'));
    assert.ok(markdown.includes('**Client processes:** 4'));
  });

  it('has one table per workload with one row per server', () => {
    for (const heading of ['## Idle connections', '## Broadcast', '## Rooms', '## Latency', '## Churn']) {
      const rows = tableAfter(markdown, heading);
      assert.equal(rows.length, 2 + 3, `${heading}: header, rule, three servers`);
      assert.deepEqual(
        rows.slice(2).map((r) => r[0]),
        ['pushgate', 'ws', 'socketio'],
      );
    }
    const idle = tableAfter(markdown, '## Idle connections');
    assert.equal(idle[2]![3], '3.4', 'RSS per connection in KB with one decimal');
    assert.equal(idle[4]![3], '21.0');
    const broadcast = tableAfter(markdown, '## Broadcast');
    assert.equal(broadcast[2]![2], '2,412,345', 'items delivered/s with thousands separators');
    assert.ok(broadcast[0]!.includes('Floor (ms)'));
    assert.equal(broadcast[2]!.at(-1), '1.62', 'pushgate pass floor beside broadcast');
    assert.equal(broadcast[4]!.at(-1), '—', 'missing floor shows a dash');
    const latency = tableAfter(markdown, '## Latency');
    assert.equal(latency[2]![3], '100,000', 'deliveries/s = pushes/s × connections');
    assert.deepEqual(latency[4]!.slice(4, 9), ['9.20', '45.3', '88.1', '140.6', '3']);
    const churn = tableAfter(markdown, '## Churn');
    assert.deepEqual(churn[4]!.slice(1, 5), ['500.0', '311.4', '6,228', '7']);
  });

  it('flags client-bound runs with ⚠ and explains the flag', () => {
    const broadcast = tableAfter(markdown, '## Broadcast');
    const flagColumn = broadcast[0]!.indexOf('Client-bound');
    assert.equal(broadcast[2]![flagColumn], '⚠ yes');
    assert.equal(broadcast[3]![flagColumn], 'no');
    assert.ok(markdown.includes('the load generator saturated first: a lower bound'));
    const rooms = tableAfter(markdown, '## Rooms');
    assert.ok(!rooms.some((row) => row.includes('⚠ yes')));
  });

  it('shows pushgate / peer ratios with > 1 meaning better', () => {
    const section = markdown.slice(markdown.indexOf('## pushgate / peer'));
    assert.ok(section.includes('> 1'));
    const rows = tableAfter(markdown, '## pushgate / peer');
    assert.deepEqual(rows[0]!.slice(1), ['pushgate / ws', 'pushgate / socketio']);
    const ratio = (value: number): string => `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)}×`;
    // Broadcast: pushgate was client-bound, so its ratios are lower bounds.
    assert.equal(rows[2]![1], `≥ ${ratio(2_412_345 / 1_004_112)}`);
    assert.equal(rows[2]![2], `≥ ${ratio(2_412_345 / 21_870)}`);
    assert.equal(rows[3]![1], ratio(1_873_210 / 998_004));
    assert.equal(rows[3]![2], ratio(1_873_210 / 19_112));
    assert.equal(rows[4]![1], ratio(12.1 / 6.4));
    assert.equal(rows[4]![2], ratio(45.3 / 6.4));
    assert.equal(rows[5]![2], ratio(21_504 / 3_480));
    assert.ok(section.includes(ratio(45.3 / 6.4)));
  });

  it('embeds the charts with relative links', () => {
    assert.ok(markdown.includes('](throughput.svg)'));
    assert.ok(markdown.includes('](<charts/latency cdf.svg>)'));
    assert.ok(!renderMarkdown(run).includes('!['));
  });

  it('skips missing workloads and servers', () => {
    const partial = fakeRun();
    partial.servers = [partial.servers[0]!];
    partial.servers[0]!.workloads = partial.servers[0]!.workloads.filter((w) => w.workload === 'idle');
    const text = renderMarkdown(partial, { throughput: 't.svg', latency: 'l.svg' });
    assert.ok(text.includes('## Idle connections'));
    for (const absent of ['## Broadcast', '## Rooms', '## Latency', '## Churn', '## pushgate / peer', '![']) {
      assert.ok(!text.includes(absent), absent);
    }
    const noPushgate = fakeRun();
    noPushgate.servers = noPushgate.servers.slice(1);
    assert.ok(!renderMarkdown(noPushgate).includes('## pushgate / peer'));
    const onlyWs = fakeRun();
    onlyWs.servers = onlyWs.servers.slice(0, 2);
    onlyWs.servers[1]!.workloads = onlyWs.servers[1]!.workloads.filter((w) => w.workload !== 'rooms');
    const rows = tableAfter(renderMarkdown(onlyWs), '## pushgate / peer');
    assert.deepEqual(rows[0]!.slice(1), ['pushgate / ws']);
    assert.ok(!rows.some((row) => row[0]!.startsWith('Rooms')), 'no rooms row when no peer ran rooms');
    assert.equal(rows.length, 2 + 3);
    const idleOnlyPushgate = fakeRun();
    idleOnlyPushgate.servers[1]!.workloads = idleOnlyPushgate.servers[1]!.workloads.filter((w) => w.workload !== 'idle');
    const idleRow = tableAfter(renderMarkdown(idleOnlyPushgate), '## pushgate / peer').find((row) => row[0]!.startsWith('Idle'));
    assert.deepEqual(idleRow?.slice(1), ['—', `${(21_504 / 3_480).toFixed(2)}×`], 'a missing figure shows a dash');
    const empty = fakeRun();
    empty.servers = [];
    assert.ok(renderMarkdown(empty).includes('No servers'));
  });

  it('keeps awkward names and commands from breaking tables and markup', () => {
    const odd = fakeRun();
    odd.servers[1]!.server = 'ws<b>|x' as ServerName;
    odd.servers[1]!.command = 'a | b `c`';
    const text = renderMarkdown(odd);
    assert.ok(text.includes('ws&lt;b&gt;\\|x'));
    assert.ok(text.includes('`` a \\| b `c` ``'));
    assert.equal(tableAfter(text, '## Broadcast')[3]!.length, tableAfter(text, '## Broadcast')[0]!.length);
  });
});

function openLoop(workload: OpenLoopResult['workload'], perSecond: number, p99: number, refused: number, clientBound = false): OpenLoopResult {
  return {
    workload,
    connections: 10_000,
    ...(workload === 'rooms-open' ? { rooms: 100 } : {}),
    concurrency: 8,
    durationSeconds: 10,
    pushesAccepted: Math.round((perSecond * 10) / (workload === 'rooms-open' ? 100 : 10_000)),
    pushesRefused: refused,
    pushesFailed: 0,
    itemsDeliveredPerSecond: perSecond,
    framesPerSecond: perSecond / 4,
    itemsPerFrame: 4,
    latency: summary(1, p99 / 2, p99 * 0.8, p99, p99 * 1.1, p99 * 1.2),
    itemsLost: 0,
    drainSeconds: 0.4,
    cpu: { server: 0.99, clients: 0.95, busiestClient: clientBound ? 0.93 : 0.6 },
    clientBound,
    disconnects: 0,
  };
}

/** The fake run with the closed-loop workloads for every server and a two-point budget sweep. */
function fakeOpenRun(): BenchRun {
  const run = fakeRun();
  const figures: Record<string, [number, number, number, number]> = {
    pushgate: [155_945, 94, 5_770_000, 9_359],
    ws: [40_000, 30, 100_000, 250],
    socketio: [20_000, 60, 50_000, 900],
  };
  for (const server of run.servers) {
    const [rooms, roomsP99, broadcast, broadcastP99] = figures[server.server]!;
    server.workloads.push(openLoop('rooms-open', rooms, roomsP99, 0), openLoop('broadcast-open', broadcast, broadcastP99, 0, server.server === 'pushgate'));
  }
  run.budgets = [1000, 25].map((budget) => ({
    maxLatencyMs: budget,
    command: `node dist/src/cli/main.js --max-latency ${budget}`,
    durationSeconds: 5,
    workloads: [openLoop('rooms-open', budget * 1000, budget, budget === 25 ? 1_234 : 0), openLoop('broadcast-open', budget * 5000, budget * 2, 5)],
  }));
  return run;
}

describe('bench report, closed-loop workloads and the budget sweep', () => {
  const run = fakeOpenRun();
  const markdown = renderMarkdown(run);
  writeArtifact('bench-report-open.md', markdown);

  it('has a table per closed-loop workload, one row per server, with every figure the issue asks for', () => {
    for (const heading of ['## Rooms, closed loop', '## Broadcast, closed loop']) {
      const rows = tableAfter(markdown, heading);
      assert.deepEqual(
        rows.slice(2).map((r) => r[0]),
        ['pushgate', 'ws', 'socketio'],
        heading,
      );
      for (const header of [
        'Items delivered/s',
        'Frames/s',
        'Items/frame',
        'p50 (ms)',
        'p99 (ms)',
        'max (ms)',
        'Accepted',
        'Refused (503)',
        'Failed',
        'Items lost',
        'Server CPU (cores)',
        'Client-bound',
        'Disconnects',
      ]) {
        assert.ok(rows[0]!.includes(header), `${heading}: ${header}`);
      }
    }
    const rooms = tableAfter(markdown, '## Rooms, closed loop');
    const column = (name: string): number => rooms[0]!.indexOf(name);
    assert.equal(rooms[2]![column('Items delivered/s')], '155,945');
    assert.equal(rooms[2]![column('Items/frame')], '4.00');
    assert.equal(rooms[2]![column('p99 (ms)')], '94.0');
    assert.equal(rooms[2]![column('Server CPU (cores)')], '0.99');
    assert.ok(markdown.includes('8 push requests in flight, one item each to a random one of 100 rooms'));
    assert.ok(markdown.includes('A 503 is counted as refused and not retried'));
    const broadcast = tableAfter(markdown, '## Broadcast, closed loop');
    assert.equal(broadcast[2]![broadcast[0]!.indexOf('Client-bound')], '⚠ yes');
  });

  it('adds closed-loop ratios to pushgate / peer', () => {
    const rows = tableAfter(markdown, '## pushgate / peer');
    const row = (name: string): string[] | undefined => rows.find((r) => r[0] === name);
    assert.deepEqual(row('Rooms, closed loop: items delivered/s (pushgate ÷ peer)')?.slice(1), ['3.90×', '7.80×']);
    assert.deepEqual(row('Broadcast, closed loop: items delivered/s (pushgate ÷ peer)')?.slice(1), ['≥ 57.7×', '≥ 115×']);
    assert.deepEqual(row('Rooms, closed loop: latency p99 (peer ÷ pushgate)')?.slice(1), [`${(30 / 94).toFixed(2)}×`, `${(60 / 94).toFixed(2)}×`]);
  });

  it('has a throughput–latency table per workload, one row per budget in increasing order', () => {
    const sweep = markdown.slice(markdown.indexOf('## Throughput–latency (pushgate `--max-latency`)'));
    assert.ok(sweep.length < markdown.length, 'the sweep section is there');
    const rooms = tableAfter(sweep, '### Rooms, closed loop');
    assert.deepEqual(
      rooms.slice(2).map((r) => r[0]),
      ['25', '1,000'],
    );
    const column = (name: string): number => rooms[0]!.indexOf(name);
    assert.equal(rooms[2]![column('Items delivered/s')], '25,000');
    assert.equal(rooms[2]![column('Refused/s')], '123', 'refused per second of the run');
    assert.equal(rooms[3]![column('p99 (ms)')], '1,000.0');
    assert.deepEqual(
      tableAfter(sweep, '### Broadcast, closed loop')
        .slice(2)
        .map((r) => r[1]),
      ['125,000', '5,000,000'],
    );
  });

  it('adds the closed loops to the throughput chart, one bar per server', () => {
    const svg = throughputChart(run);
    writeArtifact('bench-throughput-open.svg', svg);
    assertWellFormed(svg);
    assert.equal(count(svg, 'class="bar"'), 12);
    for (const heading of ['Broadcast, closed loop', 'Rooms, closed loop']) assert.ok(svg.includes(heading), heading);
    assert.ok(svg.includes('≥ 5.77M/s'), 'a client-bound closed loop is a lower bound');
  });

  it('leaves the sections out of runs without them', () => {
    const text = renderMarkdown(fakeRun());
    for (const absent of ['closed loop', 'Throughput–latency']) assert.ok(!text.includes(absent), absent);
  });
});

describe('bench charts', () => {
  const run = fakeRun();

  it('draws throughput as one labelled bar per server and workload', () => {
    const svg = throughputChart(run);
    writeArtifact('bench-throughput.svg', svg);
    assertWellFormed(svg);
    assert.equal(count(svg, 'class="bar"'), 6);
    for (const label of ['≥ 2.41M/s', '1M/s', '21.9k/s', '1.87M/s', '19.1k/s']) assert.ok(svg.includes(label), label);
    assert.ok(svg.includes('&lt;(echo'), "escapes '<' in pushgate's command");
    assert.ok(!svg.includes('<(echo'));
  });

  it('draws one latency CDF line per server', () => {
    const svg = latencyChart(run);
    writeArtifact('bench-latency.svg', svg);
    assertWellFormed(svg);
    assert.equal(count(svg, '<path '), 3);
    assert.equal(count(svg, 'class="series"'), 3);
    for (const name of ['pushgate', 'ws', 'socketio']) assert.ok(svg.includes(`data-server="${name}"`));
    assert.ok(svg.includes('p99</tspan> 45.3 ms'));
    assert.ok(svg.includes('&lt;(echo'));
  });

  it("escapes '<' in a server name", () => {
    const odd = fakeRun();
    odd.servers[2]!.server = 'io<script>&' as ServerName;
    for (const svg of [throughputChart(odd), latencyChart(odd)]) {
      assertWellFormed(svg);
      assert.ok(svg.includes('io&lt;script&gt;&amp;'));
      assert.ok(!svg.includes('<script'));
    }
  });

  it('returns a small "no data" chart when the data is absent', () => {
    const empty = fakeRun();
    empty.servers = empty.servers.map((s) => ({ ...s, workloads: s.workloads.filter((w) => w.workload === 'idle') }));
    for (const svg of [throughputChart(empty), latencyChart(empty)]) {
      assertWellFormed(svg);
      assert.ok(svg.includes('No '));
      assert.equal(count(svg, 'class="bar"') + count(svg, 'class="series"'), 0);
    }
    const noCdf = fakeRun();
    for (const s of noCdf.servers) {
      for (const w of s.workloads) if (w.workload === 'latency') w.latency.cdf = [];
    }
    assert.ok(latencyChart(noCdf).includes('No latency'));
  });
});
