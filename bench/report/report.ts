/**
 * Renders a benchmark run (see `results.ts`) as a markdown report for humans: the machine and settings,
 * one table per workload with one row per server, pushgate's figures relative to its peers, and the
 * throughput–latency table of pushgate's budget sweep, and the history parts (the cost of history per
 * store, the recovery proof under churn). Workloads or servers missing from a run are skipped.
 */
import type {
  BenchRun,
  BudgetPoint,
  ChurnResult,
  CpuSummary,
  HistoryCostPoint,
  HistoryStore,
  IdleResult,
  LatencyResult,
  OpenLoopResult,
  RecoveryChurnResult,
  RoomsLatencyResult,
  ServerName,
  ServerResults,
  ThroughputResult,
  WorkloadResult,
} from '../load/results.js';

// ---------------------------------------------------------------------------------------------------------
// Looking results up

/** The result of `workload` in `server`'s run, if it ran. */
export function findWorkload(server: ServerResults, workload: 'idle'): IdleResult | undefined;
export function findWorkload(server: ServerResults, workload: 'broadcast' | 'rooms'): ThroughputResult | undefined;
export function findWorkload(server: ServerResults, workload: 'latency'): LatencyResult | undefined;
export function findWorkload(server: ServerResults, workload: 'churn'): ChurnResult | undefined;
export function findWorkload(server: ServerResults, workload: 'rooms-latency'): RoomsLatencyResult | undefined;
export function findWorkload(server: ServerResults, workload: OpenLoopResult['workload']): OpenLoopResult | undefined;
export function findWorkload(server: ServerResults, workload: WorkloadResult['workload']): WorkloadResult | undefined {
  return server.workloads.find((result) => result.workload === workload);
}

/** The peers pushgate (its go-push endpoint) is compared with, in the order their columns appear: its own Pusher endpoint first. */
const PEERS: readonly ServerName[] = ['pushgate-pusher', 'ws', 'socketio'];

/**
 * What the Pusher endpoint's figures mean beside go-push's: the same engine, one frame per event. Said
 * wherever its rows appear, since "items/frame 1" reads as a fault otherwise.
 */
const PUSHER_NOTE =
  "pushgate-pusher: pushgate's Pusher Channels endpoint, the same process and engine as pushgate with `--pusher-apps`: " +
  "its clients speak Pusher protocol 7 (`/app/<key>`, public channels, `pusher:ping` answered), each on its room's channel and on one channel " +
  'every client is on (Pusher has no push to all: that is its broadcast), and every push is an event triggered through the signed HTTP API ' +
  '(`POST /apps/<id>/events`, one event per request, the driver signing each). Pusher has no batch frame: the engine still merges the events ' +
  'of a channel into one write per recipient, encoded once for all of them, but every event is its own WebSocket frame, so items/frame is 1 ' +
  'and every frame is one the client must read.';

// ---------------------------------------------------------------------------------------------------------
// Number formatting

const MISSING = '—';

function finite(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** `value` with `decimals` decimals and thousands separators; a dash when absent. */
export function formatNumber(value: number | null | undefined, decimals = 0): string {
  if (!finite(value)) return MISSING;
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Milliseconds: two decimals below 10 ms, one above. */
export function formatMs(value: number | null | undefined): string {
  if (!finite(value)) return MISSING;
  return formatNumber(value, Math.abs(value) < 10 ? 2 : 1);
}

/** Bytes as kilobytes (1024) with one decimal. */
function formatKB(bytes: number | null | undefined): string {
  return finite(bytes) ? formatNumber(bytes / 1024, 1) : MISSING;
}

/** A fraction of one core as cores, two decimals. */
function formatCores(cores: number | null | undefined): string {
  return formatNumber(cores, 2);
}

/** A ratio such as `12.3×`: two decimals below 10, one below 100, none above. */
export function formatRatio(ratio: number | null | undefined): string {
  if (!finite(ratio)) return MISSING;
  const decimals = ratio < 10 ? 2 : ratio < 100 ? 1 : 0;
  return `${formatNumber(ratio, decimals)}×`;
}

/** Compact form for chart labels: 1.23M, 45.6k, 789. */
export function formatCompact(value: number): string {
  const abs = Math.abs(value);
  const units: Array<[number, string]> = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    if (abs >= size) {
      const scaled = value / size;
      // Three significant digits, unless rounding carries into the next unit (999.96k → 1.00M).
      const text = scaled.toPrecision(3);
      if (Math.abs(Number(text)) >= 1000 && suffix !== 'G') continue;
      return `${Number(text).toString()}${suffix}`;
    }
  }
  if (abs >= 100 || value === 0) return Math.round(value).toString();
  return Number(value.toPrecision(3)).toString();
}

function formatBytesGiB(bytes: number): string {
  return `${formatNumber(bytes / 1024 ** 3, 1)} GiB`;
}

// ---------------------------------------------------------------------------------------------------------
// Markdown building blocks

/** Text safe inside a table cell: pipes escaped, HTML tags neutralised, one line. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

/** Inline code that survives backticks in `text` and sits safely inside a table cell. */
function code(text: string, inTable = false): string {
  const flat = text.replace(/\r?\n/g, ' ');
  const longestRun = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  const body = inTable ? flat.replace(/\|/g, '\\|') : flat;
  return `${fence}${pad}${body}${pad}${fence}`;
}

/** A fenced code block that survives fences in `text`. */
function codeBlock(text: string, language = ''): string {
  const longestRun = Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  return `${fence}${language}\n${text}\n${fence}`;
}

type Align = 'left' | 'right';

interface Column<Row> {
  header: string;
  align?: Align;
  value: (row: Row) => string;
}

/** A GitHub-flavoured markdown table; headers and values are already escaped. */
function table<Row>(columns: Array<Column<Row>>, rows: Row[]): string {
  const header = `| ${columns.map((column) => column.header).join(' | ')} |`;
  const rule = `| ${columns.map((column) => (column.align === 'right' ? '---:' : ':---')).join(' | ')} |`;
  const body = rows.map((row) => `| ${columns.map((column) => column.value(row)).join(' | ')} |`);
  return [header, rule, ...body].join('\n');
}

/** A relative image link; angle brackets keep paths with spaces or parentheses intact. */
function image(alt: string, path: string): string {
  const target = /[\s()<>]/.test(path) ? `<${path.replace(/[<>]/g, encodeURIComponent)}>` : path;
  return `![${alt}](${target})`;
}

const CLIENT_BOUND_NOTE = 'the load generator saturated first: a lower bound';
const FLOOR_NOTE = 'one write pass over all connections';

function flag(clientBound: boolean): string {
  return clientBound ? '⚠ yes' : 'no';
}

function serverLabel(server: ServerResults): string {
  return cell(server.server);
}

function floorMs(server: ServerResults): string {
  return formatMs(server.passFloorMs);
}

// ---------------------------------------------------------------------------------------------------------
// Sections

function formatDate(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function headerSection(run: BenchRun): string {
  const { machine, settings } = run;
  const lines = [
    `# Benchmark run, ${cell(formatDate(run.startedAt))}`,
    '',
    `Started at ${code(run.startedAt)} with:`,
    '',
    codeBlock(run.command, 'sh'),
    '',
    '## Machine',
    '',
    `- **CPUs:** ${formatNumber(machine.cpus)} × ${cell(machine.cpuModel)}`,
    `- **Memory:** ${formatBytesGiB(machine.memoryBytes)}`,
    `- **Kernel:** ${cell(machine.kernel)}`,
    `- **Node:** ${cell(machine.node)}`,
    `- **Pinning:** ${cell(machine.pinning)}`,
    `- **Open-file limit:** ${formatNumber(machine.openFileLimit)}`,
    '',
    '## Settings',
    '',
    `- **Connections:** ${formatNumber(settings.connections)}`,
    `- **Client processes:** ${formatNumber(settings.clientProcesses)}`,
    `- **Destinations:** ${settings.destinations.length > 0 ? settings.destinations.map((d) => code(d)).join(', ') : MISSING}`,
    `- **Duration:** ${formatNumber(settings.durationSeconds)} s per workload`,
  ];
  return lines.join('\n');
}

function serversSection(run: BenchRun): string | null {
  if (run.servers.length === 0) return null;
  const columns: Array<Column<ServerResults>> = [
    { header: 'Server', value: serverLabel },
    { header: 'Version', value: (s) => cell(s.version) },
    { header: 'Command', value: (s) => code(s.command, true) },
    { header: `Floor (ms): ${FLOOR_NOTE}`, align: 'right', value: floorMs },
  ];
  const notes = run.servers.some((s) => s.server === 'pushgate-pusher') ? ['', PUSHER_NOTE] : [];
  return ['## Servers', '', table(columns, run.servers), ...notes].join('\n');
}

/** Rows of servers that ran `workload`, paired with their result. */
function rowsFor<R extends WorkloadResult>(run: BenchRun, lookup: (server: ServerResults) => R | undefined): Array<{ server: ServerResults; result: R }> {
  const rows: Array<{ server: ServerResults; result: R }> = [];
  for (const server of run.servers) {
    const result = lookup(server);
    if (result) rows.push({ server, result });
  }
  return rows;
}

type Row<R> = { server: ServerResults; result: R };

function idleSection(run: BenchRun): string | null {
  const rows = rowsFor(run, (s) => findWorkload(s, 'idle'));
  if (rows.length === 0) return null;
  const columns: Array<Column<Row<IdleResult>>> = [
    { header: 'Server', value: (r) => serverLabel(r.server) },
    { header: 'Connections', align: 'right', value: (r) => formatNumber(r.result.connections) },
    { header: 'Handshakes/s', align: 'right', value: (r) => formatNumber(r.result.handshakesPerSecond) },
    { header: 'Server RSS / conn (KB)', align: 'right', value: (r) => formatKB(r.result.serverRssPerConnection) },
    {
      header: 'Kernel socket memory / conn (KB)',
      align: 'right',
      value: (r) => formatKB(r.result.kernelSocketBytesPerConnection),
    },
    { header: 'Errors', align: 'right', value: (r) => formatNumber(r.result.errors) },
  ];
  return [
    '## Idle connections',
    '',
    'Memory held by connections that only sit there. Kernel socket memory counts both ends of each connection.',
    '',
    table(columns, rows),
  ].join('\n');
}

function throughputSection(run: BenchRun, workload: 'broadcast' | 'rooms'): string | null {
  const rows = rowsFor(run, (s) => findWorkload(s, workload));
  if (rows.length === 0) return null;
  const columns: Array<Column<Row<ThroughputResult>>> = [
    { header: 'Server', value: (r) => serverLabel(r.server) },
    { header: 'Connections', align: 'right', value: (r) => formatNumber(r.result.connections) },
  ];
  if (workload === 'rooms') {
    columns.push({ header: 'Rooms', align: 'right', value: (r) => formatNumber(r.result.rooms) });
  }
  columns.push(
    { header: 'Items delivered/s', align: 'right', value: (r) => formatNumber(r.result.itemsDeliveredPerSecond) },
    { header: 'Frames/s', align: 'right', value: (r) => formatNumber(r.result.framesPerSecond) },
    { header: 'Items pushed', align: 'right', value: (r) => formatNumber(r.result.itemsPushed) },
    { header: 'Refused pushes', align: 'right', value: (r) => formatNumber(r.result.pushesRefused) },
    {
      header: 'Server CPU (cores)',
      align: 'right',
      value: (r) => (r.result.cpu.server === null ? 'remote' : formatCores(r.result.cpu.server)),
    },
    { header: 'Client CPU (cores)', align: 'right', value: (r) => formatCores(r.result.cpu.clients) },
    { header: 'Busiest client (cores)', align: 'right', value: (r) => formatCores(r.result.cpu.busiestClient) },
    { header: 'Client-bound', value: (r) => flag(r.result.clientBound) },
    { header: 'Disconnects', align: 'right', value: (r) => formatNumber(r.result.disconnects) },
  );
  if (workload === 'broadcast') {
    columns.push({ header: 'Floor (ms)', align: 'right', value: (r) => floorMs(r.server) });
  }
  const title =
    workload === 'broadcast'
      ? ['## Broadcast', '', 'Every item pushed goes to every connection.']
      : ['## Rooms', '', 'Connections are spread over rooms; each item pushed goes to one room.'];
  const notes: string[] = [];
  if (rows.some((r) => r.result.clientBound)) notes.push(`⚠ Client-bound: ${CLIENT_BOUND_NOTE}.`);
  if (workload === 'broadcast') notes.push(`Floor: ${FLOOR_NOTE} (ms), measured per server.`);
  return [...title, '', table(columns, rows), ...(notes.length ? ['', ...notes.map((n) => `${n}  `)] : [])].join('\n').trimEnd();
}

function latencySection(run: BenchRun): string | null {
  const rows = rowsFor(run, (s) => findWorkload(s, 'latency'));
  if (rows.length === 0) return null;
  const columns: Array<Column<Row<LatencyResult>>> = [
    { header: 'Server', value: (r) => serverLabel(r.server) },
    { header: 'Connections', align: 'right', value: (r) => formatNumber(r.result.connections) },
    { header: 'Pushes/s', align: 'right', value: (r) => formatNumber(r.result.pushesPerSecond, 1) },
    {
      header: 'Deliveries/s',
      align: 'right',
      value: (r) => formatNumber(r.result.pushesPerSecond * r.result.connections),
    },
    { header: 'p50 (ms)', align: 'right', value: (r) => formatMs(r.result.latency.p50) },
    { header: 'p99 (ms)', align: 'right', value: (r) => formatMs(r.result.latency.p99) },
    { header: 'p99.9 (ms)', align: 'right', value: (r) => formatMs(r.result.latency.p999) },
    { header: 'max (ms)', align: 'right', value: (r) => formatMs(r.result.latency.max) },
    { header: 'Items lost', align: 'right', value: (r) => formatNumber(r.result.itemsLost) },
    { header: 'Client-bound', value: (r) => flag(r.result.clientBound) },
    { header: 'Floor (ms)', align: 'right', value: (r) => floorMs(r.server) },
  ];
  const notes: string[] = [];
  if (rows.some((r) => r.result.clientBound)) {
    notes.push('⚠ Client-bound: the load generator saturated first, so these latencies include its own delay.');
  }
  notes.push(`Floor: ${FLOOR_NOTE} (ms), the least a broadcast can take to reach the last connection.`);
  return [
    '## Latency',
    '',
    'A fixed push rate to every connection; latency runs from the push to its arrival at a client.',
    '',
    table(columns, rows),
    '',
    ...notes.map((n) => `${n}  `),
  ]
    .join('\n')
    .trimEnd();
}

function roomsLatencySection(run: BenchRun): string | null {
  const rows = rowsFor(run, (s) => findWorkload(s, 'rooms-latency'));
  if (rows.length === 0) return null;
  const columns: Array<Column<Row<RoomsLatencyResult>>> = [
    { header: 'Server', value: (r) => serverLabel(r.server) },
    { header: 'Connections', align: 'right', value: (r) => formatNumber(r.result.connections) },
    { header: 'Rooms', align: 'right', value: (r) => formatNumber(r.result.rooms) },
    { header: 'Pushes/s', align: 'right', value: (r) => formatNumber(r.result.pushesPerSecond) },
    { header: 'Deliveries/s', align: 'right', value: (r) => formatNumber(r.result.deliveriesPerSecond) },
    { header: 'p50 (ms)', align: 'right', value: (r) => formatMs(r.result.latency.p50) },
    { header: 'p99 (ms)', align: 'right', value: (r) => formatMs(r.result.latency.p99) },
    { header: 'p99.9 (ms)', align: 'right', value: (r) => formatMs(r.result.latency.p999) },
    { header: 'max (ms)', align: 'right', value: (r) => formatMs(r.result.latency.max) },
    { header: 'Refused (503)', align: 'right', value: (r) => formatNumber(r.result.pushesRefused) },
    { header: 'Items lost', align: 'right', value: (r) => formatNumber(r.result.itemsLost) },
    { header: 'Server CPU (cores)', align: 'right', value: (r) => (r.result.cpu.server === null ? 'remote' : formatCores(r.result.cpu.server)) },
    { header: 'Client-bound', value: (r) => flag(r.result.clientBound) },
  ];
  return [
    '## Rooms latency',
    '',
    'A fixed push rate, one item each to a random room; latency runs from the push to its arrival at a client.',
    '',
    table(columns, rows),
  ].join('\n');
}

/** The cells every closed-loop table shares, after its first (server or budget) column. */
function openColumns<Row>(result: (row: Row) => OpenLoopResult): Array<Column<Row>> {
  return [
    { header: 'Items delivered/s', align: 'right', value: (r) => formatNumber(result(r).itemsDeliveredPerSecond) },
    { header: 'Frames/s', align: 'right', value: (r) => formatNumber(result(r).framesPerSecond) },
    { header: 'Items/frame', align: 'right', value: (r) => formatNumber(result(r).itemsPerFrame, 2) },
    { header: 'p50 (ms)', align: 'right', value: (r) => formatMs(result(r).latency.p50) },
    { header: 'p99 (ms)', align: 'right', value: (r) => formatMs(result(r).latency.p99) },
    { header: 'max (ms)', align: 'right', value: (r) => formatMs(result(r).latency.max) },
    { header: 'Accepted', align: 'right', value: (r) => formatNumber(result(r).pushesAccepted) },
    { header: 'Refused (503)', align: 'right', value: (r) => formatNumber(result(r).pushesRefused) },
    { header: 'Refused/s', align: 'right', value: (r) => formatNumber(result(r).pushesRefused / result(r).durationSeconds) },
    { header: 'Failed', align: 'right', value: (r) => formatNumber(result(r).pushesFailed) },
    { header: 'Items lost', align: 'right', value: (r) => formatNumber(result(r).itemsLost) },
    {
      header: 'Server CPU (cores)',
      align: 'right',
      value: (r) => (result(r).cpu.server === null ? 'remote' : formatCores(result(r).cpu.server)),
    },
    { header: 'Busiest client (cores)', align: 'right', value: (r) => formatCores(result(r).cpu.busiestClient) },
    { header: 'Client-bound', value: (r) => flag(result(r).clientBound) },
    { header: 'Disconnects', align: 'right', value: (r) => formatNumber(result(r).disconnects) },
  ];
}

const OPEN_TITLES: Record<OpenLoopResult['workload'], string> = {
  'broadcast-open': 'Broadcast, closed loop',
  'rooms-open': 'Rooms, closed loop',
};

function openLoopDescription(result: OpenLoopResult): string {
  const target = result.rooms === undefined ? 'to all' : `to a random one of ${formatNumber(result.rooms)} rooms`;
  return (
    `What a backend does: ${formatNumber(result.concurrency)} push requests in flight, one item each ${target}, ` +
    'the next sent as soon as the last is answered: no flow control. A 503 is counted as refused and not retried. ' +
    'Latency runs from the push request to the arrival at a client; items lost are those accepted but not received after a bounded drain.'
  );
}

function openSection(run: BenchRun, workload: OpenLoopResult['workload']): string | null {
  const rows = rowsFor(run, (s) => findWorkload(s, workload));
  if (rows.length === 0) return null;
  const columns: Array<Column<Row<OpenLoopResult>>> = [
    { header: 'Server', value: (r) => serverLabel(r.server) },
    { header: 'Connections', align: 'right', value: (r) => formatNumber(r.result.connections) },
    ...openColumns<Row<OpenLoopResult>>((r) => r.result),
  ];
  const notes = rows.some((r) => r.result.clientBound) ? ['', `⚠ Client-bound: ${CLIENT_BOUND_NOTE}.`] : [];
  return [`## ${OPEN_TITLES[workload]}`, '', openLoopDescription(rows[0]!.result), '', table(columns, rows), ...notes].join('\n');
}

function budgetSection(points: BudgetPoint[] | undefined): string | null {
  if (points === undefined || points.length === 0) return null;
  const sorted = [...points].sort((a, b) => a.maxLatencyMs - b.maxLatencyMs);
  const lines = [
    '## Throughput–latency (pushgate `--max-latency`)',
    '',
    `pushgate alone, restarted with each latency budget and put through the closed-loop workloads for ${formatNumber(sorted[0]!.durationSeconds)} s each ` +
      '(same pinning and destinations as above).',
  ];
  let any = false;
  for (const workload of ['rooms-open', 'broadcast-open'] as const) {
    const rows = sorted.flatMap((point) => {
      const result = point.workloads.find((w) => w.workload === workload);
      return result === undefined ? [] : [{ point, result }];
    });
    if (rows.length === 0) continue;
    any = true;
    const columns: Array<Column<{ point: BudgetPoint; result: OpenLoopResult }>> = [
      { header: 'Budget (ms)', align: 'right', value: (r) => formatNumber(r.point.maxLatencyMs) },
      ...openColumns<{ point: BudgetPoint; result: OpenLoopResult }>((r) => r.result),
    ];
    lines.push('', `### ${OPEN_TITLES[workload]}`, '', table(columns, rows));
    if (rows.some((r) => r.result.clientBound)) lines.push('', `⚠ Client-bound: ${CLIENT_BOUND_NOTE}.`);
  }
  return any ? lines.join('\n') : null;
}

function churnSection(run: BenchRun): string | null {
  const rows = rowsFor(run, (s) => findWorkload(s, 'churn'));
  if (rows.length === 0) return null;
  const columns: Array<Column<Row<ChurnResult>>> = [
    { header: 'Server', value: (r) => serverLabel(r.server) },
    { header: 'Target cycles/s', align: 'right', value: (r) => formatNumber(r.result.targetCyclesPerSecond, 1) },
    { header: 'Achieved cycles/s', align: 'right', value: (r) => formatNumber(r.result.cyclesPerSecond, 1) },
    { header: 'Cycles completed', align: 'right', value: (r) => formatNumber(r.result.cyclesCompleted) },
    { header: 'Errors', align: 'right', value: (r) => formatNumber(r.result.errors) },
    { header: 'Cycle p50 (ms)', align: 'right', value: (r) => formatMs(r.result.cycleLatency.p50) },
    { header: 'Cycle p99 (ms)', align: 'right', value: (r) => formatMs(r.result.cycleLatency.p99) },
  ];
  return ['## Churn', '', 'Connect, join, receive one push, disconnect: cycles per second and how long a cycle took.', '', table(columns, rows)].join('\n');
}

/** How sure a throughput ratio is when either side was held back by its load generator. */
function boundedRatio(ratio: number | null, pushgateBound: boolean, peerBound: boolean): string {
  const text = formatRatio(ratio);
  if (text === MISSING) return text;
  if (pushgateBound && peerBound) return `${text} ⚠`;
  if (pushgateBound) return `≥ ${text}`;
  if (peerBound) return `≤ ${text}`;
  return text;
}

function divide(numerator: number | null | undefined, denominator: number | null | undefined): number | null {
  if (!finite(numerator) || !finite(denominator) || denominator <= 0 || numerator < 0) return null;
  return numerator / denominator;
}

function ratiosSection(run: BenchRun): string | null {
  const pushgate = run.servers.find((s) => s.server === 'pushgate');
  if (!pushgate) return null;
  const peers = PEERS.map((name) => run.servers.find((s) => s.server === name)).filter((s): s is ServerResults => s !== undefined);
  if (peers.length === 0) return null;

  interface Metric {
    name: string;
    value: (peer: ServerResults) => string;
  }
  const throughput = (workload: 'broadcast' | 'rooms') => (peer: ServerResults) => {
    const ours = findWorkload(pushgate, workload);
    const theirs = findWorkload(peer, workload);
    if (!ours || !theirs) return MISSING;
    return boundedRatio(divide(ours.itemsDeliveredPerSecond, theirs.itemsDeliveredPerSecond), ours.clientBound, theirs.clientBound);
  };
  const openThroughput = (workload: OpenLoopResult['workload']) => (peer: ServerResults) => {
    const ours = findWorkload(pushgate, workload);
    const theirs = findWorkload(peer, workload);
    if (!ours || !theirs) return MISSING;
    return boundedRatio(divide(ours.itemsDeliveredPerSecond, theirs.itemsDeliveredPerSecond), ours.clientBound, theirs.clientBound);
  };
  const metrics: Metric[] = [
    { name: 'Broadcast items delivered/s (pushgate ÷ peer)', value: throughput('broadcast') },
    { name: 'Rooms items delivered/s (pushgate ÷ peer)', value: throughput('rooms') },
    {
      name: 'Latency p99 (peer ÷ pushgate)',
      value: (peer) => formatRatio(divide(findWorkload(peer, 'latency')?.latency.p99, findWorkload(pushgate, 'latency')?.latency.p99)),
    },
    {
      name: 'Idle RSS per connection (peer ÷ pushgate)',
      value: (peer) => formatRatio(divide(findWorkload(peer, 'idle')?.serverRssPerConnection, findWorkload(pushgate, 'idle')?.serverRssPerConnection)),
    },
    { name: 'Broadcast, closed loop: items delivered/s (pushgate ÷ peer)', value: openThroughput('broadcast-open') },
    { name: 'Rooms, closed loop: items delivered/s (pushgate ÷ peer)', value: openThroughput('rooms-open') },
    {
      name: 'Rooms, closed loop: latency p99 (peer ÷ pushgate)',
      value: (peer) => formatRatio(divide(findWorkload(peer, 'rooms-open')?.latency.p99, findWorkload(pushgate, 'rooms-open')?.latency.p99)),
    },
  ];
  const shown = metrics.filter((metric) => peers.some((peer) => metric.value(peer) !== MISSING));
  if (shown.length === 0) return null;
  const columns: Array<Column<Metric>> = [
    { header: 'Metric (> 1: pushgate is better)', value: (m) => m.name },
    ...peers.map((peer): Column<Metric> => ({ header: `pushgate / ${cell(peer.server)}`, align: 'right', value: (m) => m.value(peer) })),
  ];
  const lines = [
    '## pushgate / peer',
    '',
    'Every ratio is arranged so that **> 1 means pushgate is better**: throughput is pushgate ÷ peer, ' + 'latency and memory are peer ÷ pushgate.',
    '',
    table(columns, shown),
  ];
  const ratioed = new Set<WorkloadResult['workload']>(['broadcast', 'rooms', 'broadcast-open', 'rooms-open']);
  const anyBound = [pushgate, ...peers].some((s) => s.workloads.some((w) => ratioed.has(w.workload) && 'clientBound' in w && w.clientBound));
  if (anyBound) {
    lines.push(
      '',
      '≥: pushgate was client-bound, so its figure and the ratio are lower bounds; ' +
        '≤: the peer was client-bound, so the ratio is an upper bound; ⚠: both were.',
    );
  }
  return lines.join('\n');
}

/** CPU (cores over the run) per accepted push, µs. */
function cpuPerPush(cores: number | null | undefined, accepted: number, seconds: number): number | null {
  if (!finite(cores) || accepted <= 0) return null;
  return (cores * seconds * 1e6) / accepted;
}

const STORE_NAMES: Record<HistoryStore, string> = { memory: 'memory', redis: 'Redis', nats: 'NATS JetStream' };

/** CPU per push of the server (or the broker) in one history-cost run's closed loop, or at its fixed rate. */
function openCpuPerPush(point: HistoryCostPoint, of: 'server' | 'broker'): number | null {
  return cpuPerPush(point.result.cpu[of], point.result.pushesAccepted, point.result.durationSeconds);
}
function fixedCpuPerPush(point: HistoryCostPoint, of: 'server' | 'broker'): number | null {
  const latency = point.latency;
  return latency === undefined ? null : cpuPerPush(latency.cpu[of], latency.itemsPushed, latency.durationSeconds);
}

/** Machine CPU beyond what the run's own processes used (other load sharing the machine), cores; null when unknown. */
function otherCpu(cpu: { server: number | null; broker?: number | null; clients: number; machine?: number | null } | undefined): number | null {
  if (cpu === undefined || !finite(cpu.machine) || !finite(cpu.server)) return null;
  return Math.max(0, cpu.machine - cpu.server - (cpu.broker ?? 0) - cpu.clients);
}

const OTHER_NOTE =
  'Other CPU: what the machine was busy with beyond the server, the broker and the load generator (/proc/stat); well above 0, another program shared the cores and the row is disturbed.';

function historyCostSection(points: HistoryCostPoint[] | undefined): string | null {
  if (points === undefined || points.length === 0) return null;
  const off = (point: HistoryCostPoint): HistoryCostPoint | undefined => points.find((p) => p.store === point.store && p.history === null);
  const brokered = points.some((p) => p.store !== 'memory');
  const lead: Array<Column<HistoryCostPoint>> = [
    { header: 'Store', value: (p) => cell(STORE_NAMES[p.store]) },
    { header: 'History', value: (p) => (p.history === null ? 'off' : code(p.history, true)) },
  ];
  const cpuColumns = (cores: (p: HistoryCostPoint) => CpuSummary | undefined, perPush: typeof openCpuPerPush): Array<Column<HistoryCostPoint>> => [
    { header: 'Server CPU (cores)', align: 'right', value: (p) => formatCores(cores(p)?.server) },
    { header: 'Server CPU / push (µs)', align: 'right', value: (p) => formatNumber(perPush(p, 'server'), 1) },
    ...(brokered
      ? [
          {
            header: 'Broker CPU (cores)',
            align: 'right',
            value: (p) => (p.store === 'memory' ? MISSING : formatCores(cores(p)?.broker)),
          } as Column<HistoryCostPoint>,
          {
            header: 'Broker CPU / push (µs)',
            align: 'right',
            value: (p) => (p.store === 'memory' ? MISSING : formatNumber(perPush(p, 'broker'), 1)),
          } as Column<HistoryCostPoint>,
        ]
      : []),
    { header: 'Busiest client (cores)', align: 'right', value: (p) => formatCores(cores(p)?.busiestClient) },
    { header: 'Other CPU (cores)', align: 'right', value: (p) => formatCores(otherCpu(cores(p))) },
  ];
  const fixed = points.filter((p) => p.latency !== undefined);
  const first = points[0]!;
  const lines = [
    '## History cost',
    '',
    `pushgate started as above with history off and on, on each store: ${formatNumber(first.result.connections)} connections in ` +
      `${formatNumber(first.result.rooms)} rooms, pushes of one item each to a random room. ` +
      "With history every push is appended to its room's stream (offset, trimming) before it goes out, and every frame carries its offset and epoch. " +
      "CPU per push is the process's CPU over the run divided by the pushes accepted." +
      (brokered ? " A broker (started here, on the server's core) is measured from its /proc stat over the same window; each run has a fresh one." : ''),
  ];
  if (fixed.length > 0) {
    const columns: Array<Column<HistoryCostPoint>> = [
      ...lead,
      { header: 'Pushes/s', align: 'right', value: (p) => formatNumber(p.latency?.pushesPerSecond) },
      { header: 'Deliveries/s', align: 'right', value: (p) => formatNumber(p.latency?.deliveriesPerSecond) },
      { header: 'p50 (ms)', align: 'right', value: (p) => formatMs(p.latency?.latency.p50) },
      { header: 'p99 (ms)', align: 'right', value: (p) => formatMs(p.latency?.latency.p99) },
      { header: 'p99.9 (ms)', align: 'right', value: (p) => formatMs(p.latency?.latency.p999) },
      { header: 'max (ms)', align: 'right', value: (p) => formatMs(p.latency?.latency.max) },
      { header: 'Refused (503)', align: 'right', value: (p) => formatNumber(p.latency?.pushesRefused) },
      { header: 'Items lost', align: 'right', value: (p) => formatNumber(p.latency?.itemsLost) },
      ...cpuColumns((p) => p.latency?.cpu, fixedCpuPerPush),
      { header: 'Client-bound', value: (p) => (p.latency === undefined ? MISSING : flag(p.latency.clientBound)) },
    ];
    lines.push(
      '',
      '### At a fixed rate: latency',
      '',
      `${formatNumber(fixed[0]!.latency!.pushesPerSecond)} pushes a second on schedule for ${formatNumber(fixed[0]!.latency!.durationSeconds)} s, below saturation: ` +
        'latency from the push request to the arrival at a client; the same work with history off and on, so the CPU figures compare directly.',
      '',
      table(columns, fixed),
    );
  }
  const openColumns: Array<Column<HistoryCostPoint>> = [
    ...lead,
    { header: 'Items delivered/s', align: 'right', value: (p) => formatNumber(p.result.itemsDeliveredPerSecond) },
    {
      header: 'vs off',
      align: 'right',
      value: (p) => (p.history === null ? MISSING : formatRatio(divide(p.result.itemsDeliveredPerSecond, off(p)?.result.itemsDeliveredPerSecond))),
    },
    { header: 'p50 (ms)', align: 'right', value: (p) => formatMs(p.result.latency.p50) },
    { header: 'p99 (ms)', align: 'right', value: (p) => formatMs(p.result.latency.p99) },
    { header: 'max (ms)', align: 'right', value: (p) => formatMs(p.result.latency.max) },
    { header: 'Accepted', align: 'right', value: (p) => formatNumber(p.result.pushesAccepted) },
    { header: 'Refused (503)', align: 'right', value: (p) => formatNumber(p.result.pushesRefused) },
    { header: 'Items lost', align: 'right', value: (p) => formatNumber(p.result.itemsLost) },
    ...cpuColumns((p) => p.result.cpu, openCpuPerPush),
    { header: 'Client-bound', value: (p) => flag(p.result.clientBound) },
    { header: 'Disconnects', align: 'right', value: (p) => formatNumber(p.result.disconnects) },
  ];
  lines.push(
    '',
    '### Closed loop: throughput',
    '',
    `${formatNumber(first.result.concurrency)} push loops, each sending the next push as soon as the last is answered, for ${formatNumber(first.result.durationSeconds)} s ` +
      '(no flow control; a 503 is counted and not retried): as fast as the API answers.',
    '',
    table(openColumns, points),
  );
  const summaries: string[] = [];
  for (const store of [...new Set(points.map((p) => p.store))]) {
    const without = points.find((p) => p.store === store && p.history === null);
    const with_ = points.find((p) => p.store === store && p.history !== null);
    if (without === undefined || with_ === undefined) continue;
    const ratio = (a: number | null | undefined, b: number | null | undefined): string => formatRatio(divide(a, b));
    const parts = [`throughput ${ratio(with_.result.itemsDeliveredPerSecond, without.result.itemsDeliveredPerSecond)} of history off`];
    if (with_.latency !== undefined && without.latency !== undefined) {
      parts.push(
        `at ${formatNumber(with_.latency.pushesPerSecond)} pushes/s p50 ${formatMs(without.latency.latency.p50)} → ${formatMs(with_.latency.latency.p50)} ms ` +
          `and p99 ${formatMs(without.latency.latency.p99)} → ${formatMs(with_.latency.latency.p99)} ms`,
        `server CPU per push ${ratio(fixedCpuPerPush(with_, 'server'), fixedCpuPerPush(without, 'server'))} at that rate`,
      );
    }
    parts.push(`${ratio(openCpuPerPush(with_, 'server'), openCpuPerPush(without, 'server'))} in the closed loop`);
    if (store !== 'memory') {
      const name = STORE_NAMES[store];
      if (with_.latency !== undefined && without.latency !== undefined) {
        parts.push(
          `${name} CPU per push ${ratio(fixedCpuPerPush(with_, 'broker'), fixedCpuPerPush(without, 'broker'))} at the fixed rate ` +
            `(${formatNumber(fixedCpuPerPush(without, 'broker'), 1)} → ${formatNumber(fixedCpuPerPush(with_, 'broker'), 1)} µs)`,
        );
      }
      parts.push(
        `${ratio(openCpuPerPush(with_, 'broker'), openCpuPerPush(without, 'broker'))} in the closed loop ` +
          `(${formatNumber(openCpuPerPush(without, 'broker'), 1)} → ${formatNumber(openCpuPerPush(with_, 'broker'), 1)} µs)`,
      );
    }
    summaries.push(`- **${cell(STORE_NAMES[store])}**, history on: ${parts.join('; ')}.`);
  }
  if (summaries.length > 0) lines.push('', ...summaries);
  if (points.some((p) => p.result.clientBound || p.latency?.clientBound === true)) lines.push('', `⚠ Client-bound: ${CLIENT_BOUND_NOTE}.`);
  lines.push('', OTHER_NOTE);
  return lines.join('\n');
}

/** Whether a recovery churn held the promise: no silent gap, no duplicate, nobody behind, no announced gap either. */
function recoveryClean(result: RecoveryChurnResult): boolean {
  return result.silentGaps === 0 && result.duplicates === 0 && result.behind === 0 && result.notRecovered === 0;
}

function recoverySection(results: RecoveryChurnResult[] | undefined): string | null {
  if (results === undefined || results.length === 0) return null;
  const brokered = results.some((r) => r.store !== 'memory');
  const columns: Array<Column<RecoveryChurnResult>> = [
    { header: 'Store', value: (r) => cell(STORE_NAMES[r.store]) },
    { header: 'Gateways', align: 'right', value: (r) => formatNumber(r.commands.length) },
    { header: 'Clients', align: 'right', value: (r) => formatNumber(r.clients) },
    { header: 'Rooms', align: 'right', value: (r) => formatNumber(r.rooms) },
    { header: 'Seconds', align: 'right', value: (r) => formatNumber(r.durationSeconds) },
    { header: 'Pushes/s (asked)', align: 'right', value: (r) => `${formatNumber(r.pushesPerSecond)} (${formatNumber(r.targetPushesPerSecond)})` },
    { header: 'Pushes', align: 'right', value: (r) => formatNumber(r.pushes) },
    { header: 'Refused', align: 'right', value: (r) => formatNumber(r.pushesRefused) },
    { header: 'Reconnects', align: 'right', value: (r) => formatNumber(r.reconnects) },
    { header: 'Recovered', align: 'right', value: (r) => formatNumber(r.recovered) },
    { header: 'Not recovered', align: 'right', value: (r) => formatNumber(r.notRecovered) },
    { header: 'Join errors', align: 'right', value: (r) => formatNumber(Object.values(r.joinErrors ?? {}).reduce((a, b) => a + b, 0)) },
    { header: 'Unanswered', align: 'right', value: (r) => formatNumber(r.unanswered) },
    { header: 'Silent gaps', align: 'right', value: (r) => formatNumber(r.silentGaps) },
    { header: 'Duplicates', align: 'right', value: (r) => formatNumber(r.duplicates) },
    { header: 'Behind', align: 'right', value: (r) => formatNumber(r.behind) },
    { header: 'Items received', align: 'right', value: (r) => formatNumber(r.items) },
    { header: 'Server CPU (cores)', align: 'right', value: (r) => formatCores(r.cpu.server) },
  ];
  if (brokered) columns.push({ header: 'Broker CPU (cores)', align: 'right', value: (r) => (r.store === 'memory' ? MISSING : formatCores(r.cpu.broker)) });
  columns.push({ header: 'Other CPU (cores)', align: 'right', value: (r) => formatCores(otherCpu(r.cpu)) });
  columns.push({ header: 'Clean', value: (r) => (recoveryClean(r) ? '✓' : '✗') });
  const first = results[0]!;
  const refusals = results.filter((r) => Object.keys(r.refusals).length > 0);
  return [
    '## Recovery under churn',
    '',
    `Clients in rooms with history (${code(first.history)}) over ${formatNumber(first.destinations)} loopback addresses, each connection living a random time up to ` +
      `${formatNumber(first.maxLifeMs / 1000, 1)} s, then dropped and away up to ${formatNumber(first.maxAwayMs / 1000, 1)} s, rejoining with the last offset and epoch it saw, ` +
      "while one item at a time is pushed round the rooms. Every frame is checked against the client's last offset: a gap is allowed only when announced by " +
      "`recovered: false` (not recovered); a silent gap, a duplicate, or a client short of its room's last offset 20 s after the pushes stop (behind) breaks the promise. " +
      'A rejoin is answered recovered or not, or with an ERROR (join errors: the client drops and comes back), or its client dropped it before the answer came ' +
      '(unanswered: its random life ended first). Over a broker, two gateways, and every (re)connect picks either. CPU over the time pushes flowed; ' +
      'clean: not recovered, silent gaps, duplicates and behind all 0.',
    '',
    table(columns, results),
    ...(refusals.length > 0 ? ['', ...refusals.map((r) => `Refused on ${cell(STORE_NAMES[r.store])}: ${code(JSON.stringify(r.refusals))}.  `)] : []),
    ...results
      .filter((r) => Object.keys(r.joinErrors ?? {}).length > 0)
      .map(
        (r) =>
          `Join errors on ${cell(STORE_NAMES[r.store])}: ${code(JSON.stringify(r.joinErrors))} (an ERROR instead of the ACK: the client drops and comes back).  `,
      ),
    '',
    OTHER_NOTE,
  ]
    .join('\n')
    .trimEnd();
}

// ---------------------------------------------------------------------------------------------------------

/**
 * The run as a markdown report. `chartFiles` are paths relative to where the markdown is written, e.g.
 * the outputs of `throughputChart` and `latencyChart` saved beside it.
 */
export function renderMarkdown(run: BenchRun, chartFiles?: { throughput?: string; latency?: string; history?: string }): string {
  const sections: Array<string | null> = [headerSection(run), serversSection(run), idleSection(run)];
  const broadcast = throughputSection(run, 'broadcast');
  const rooms = throughputSection(run, 'rooms');
  sections.push(broadcast, rooms);
  if (chartFiles?.throughput && (broadcast || rooms)) {
    sections.push(image('Items delivered per second, per server', chartFiles.throughput));
  }
  const latency = latencySection(run);
  sections.push(latency);
  if (chartFiles?.latency && latency) {
    sections.push(image('Latency distribution, per server', chartFiles.latency));
  }
  sections.push(roomsLatencySection(run), openSection(run, 'rooms-open'), openSection(run, 'broadcast-open'));
  sections.push(churnSection(run), ratiosSection(run), budgetSection(run.budgets));
  const historyCost = historyCostSection(run.historyCost);
  sections.push(historyCost);
  if (chartFiles?.history && historyCost) sections.push(image('Items delivered per second, history off and on, per store', chartFiles.history));
  sections.push(recoverySection(run.recoveryChurn));
  if (run.servers.length === 0 && run.historyCost === undefined && run.recoveryChurn === undefined) sections.push('_No servers were measured in this run._');
  return `${sections.filter((s): s is string => s !== null).join('\n\n')}\n`;
}
