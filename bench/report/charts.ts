/**
 * Charts of a benchmark run (see `results.ts`) as self-contained SVG strings: no scripts, no external
 * fonts or resources, so they can sit beside the markdown report and render on GitHub or in a browser.
 */
import type { BenchRun, HistoryStore, OpenLoopResult, ServerResults, ThroughputResult } from '../load/results.js';
import { findWorkload, formatCompact, formatMs, formatNumber } from './report.js';

const WIDTH = 720;
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', 'Helvetica Neue', Arial, sans-serif";
const INK = '#1f2937';
const MUTED = '#6b7280';
const GRID = '#e5e7eb';
const GRID_MINOR = '#f3f4f6';

/** Fixed colours so a server looks the same in every chart; others take the fallback palette in order. */
const SERVER_COLOURS: Record<string, string> = {
  pushgate: '#2563eb',
  'pushgate-pusher': '#0d9488',
  ws: '#ea580c',
  socketio: '#16a34a',
  external: '#9333ea',
};
const FALLBACK_COLOURS = ['#0891b2', '#db2777', '#65a30d', '#a16207', '#4b5563'];

function colourOf(servers: ServerResults[], server: ServerResults): string {
  const fixed = SERVER_COLOURS[server.server];
  if (fixed) return fixed;
  const others = servers.filter((s) => !SERVER_COLOURS[s.server]);
  return FALLBACK_COLOURS[Math.max(0, others.indexOf(server)) % FALLBACK_COLOURS.length]!;
}

/** Text safe inside SVG text nodes and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Coordinates rounded to 0.1 px to keep the markup small. */
function px(value: number): string {
  return (Math.round(value * 10) / 10).toString();
}

interface TextOptions {
  size?: number;
  anchor?: 'start' | 'middle' | 'end';
  fill?: string;
  weight?: 'normal' | 'bold';
  transform?: string;
}

function text(x: number, y: number, content: string, options: TextOptions = {}): string {
  const attributes = [`x="${px(x)}"`, `y="${px(y)}"`, `font-size="${options.size ?? 12}"`, `fill="${options.fill ?? INK}"`];
  if (options.anchor && options.anchor !== 'start') attributes.push(`text-anchor="${options.anchor}"`);
  if (options.weight === 'bold') attributes.push('font-weight="bold"');
  if (options.transform) attributes.push(`transform="${options.transform}"`);
  return `<text ${attributes.join(' ')}>${escapeXml(content)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string, extra = ''): string {
  return `<line x1="${px(x1)}" y1="${px(y1)}" x2="${px(x2)}" y2="${px(y2)}" stroke="${stroke}"${extra ? ` ${extra}` : ''}/>`;
}

function svgDocument(height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${px(height)}" viewBox="0 0 ${WIDTH} ${px(height)}" ` +
      `role="img" font-family="${escapeXml(FONT)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    '</svg>',
  ].join('\n');
}

function noData(title: string, message: string): string {
  return svgDocument(120, title, [
    text(WIDTH / 2, 52, title, { size: 15, anchor: 'middle', weight: 'bold' }),
    text(WIDTH / 2, 78, message, { size: 13, anchor: 'middle', fill: MUTED }),
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// Scales

interface Tick {
  value: number;
  /** Empty when the tick only draws a faint grid line. */
  label: string;
  major: boolean;
}

interface Scale {
  /** Maps a value to a position between `from` and `to`. */
  at(value: number): number;
  ticks: Tick[];
  log: boolean;
}

/** 1, 2 or 5 × a power of ten: the largest at or below `value` (`up` false) or the smallest at or above it. */
function niceBound(value: number, up: boolean): number {
  const exponent = Math.floor(Math.log10(value));
  const candidates = [-1, 0, 1].flatMap((shift) => [1, 2, 5].map((m) => Number((m * 10 ** (exponent + shift)).toPrecision(1))));
  return up ? Math.min(...candidates.filter((c) => c >= value * (1 - 1e-9))) : Math.max(...candidates.filter((c) => c <= value * (1 + 1e-9)));
}

/**
 * A log axis from the 1-2-5 bound below `min` to the one above `max`. Decades are labelled, then the ends,
 * then 2× and 5× of each decade, each only where it leaves `gap` px from labels already placed.
 */
function logScale(min: number, max: number, from: number, to: number, format: (value: number) => string, gap = 44): Scale {
  const lo = niceBound(min, false);
  let hi = niceBound(max, true);
  if (hi <= lo) hi = niceBound(lo * 2, true);
  const span = Math.log10(hi) - Math.log10(lo);
  const at = (value: number): number => from + ((Math.log10(Math.min(Math.max(value, lo), hi)) - Math.log10(lo)) / span) * (to - from);

  const values: number[] = [];
  for (let exponent = Math.floor(Math.log10(lo)); exponent <= Math.ceil(Math.log10(hi)); exponent++) {
    for (let m = 1; m <= 9; m++) {
      const value = Number((m * 10 ** exponent).toPrecision(1));
      if (value >= lo * (1 - 1e-9) && value <= hi * (1 + 1e-9)) values.push(value);
    }
  }
  const leading = (value: number): number => Number(value.toExponential(0).charAt(0));
  const priority = (value: number): number =>
    leading(value) === 1 ? 0 : value === lo || value === hi ? 1 : leading(value) === 2 || leading(value) === 5 ? 2 : 3;
  const labelled: number[] = [];
  for (const value of [...values].sort((a, b) => priority(a) - priority(b) || a - b)) {
    if (priority(value) === 3) continue;
    if (labelled.every((other) => Math.abs(at(other) - at(value)) >= gap)) labelled.push(value);
  }
  const ticks = values.map((value) => {
    const label = labelled.includes(value) ? format(value) : '';
    return { value, label, major: label !== '' || leading(value) === 1 };
  });
  return { at, ticks, log: true };
}

function linearScale(max: number, from: number, to: number, format: (value: number) => string): Scale {
  const target = max > 0 ? max / 5 : 1;
  const magnitude = 10 ** Math.floor(Math.log10(target));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= target) ?? 10 * magnitude;
  const hi = Math.max(step, Math.ceil(max / step) * step);
  const ticks: Tick[] = [];
  for (let i = 0; i * step <= hi + step / 2; i++) {
    ticks.push({ value: i * step, label: format(i * step), major: true });
  }
  return { at: (value) => from + (Math.max(0, value) / hi) * (to - from), ticks, log: false };
}

// ---------------------------------------------------------------------------------------------------------
// Throughput

/** Group headings of the throughput chart. */
const THROUGHPUT_GROUPS = {
  broadcast: 'Broadcast',
  rooms: 'Rooms',
  'broadcast-open': 'Broadcast, closed loop',
  'rooms-open': 'Rooms, closed loop',
} as const;

/**
 * Items delivered per second, per server, for the broadcast and rooms workloads (flow-controlled floods,
 * then closed loops): grouped horizontal bars, on a log axis when the fastest and slowest differ by 30× or more.
 */
export function throughputChart(run: BenchRun): string {
  const title = 'Items delivered per second';
  const groups = (Object.keys(THROUGHPUT_GROUPS) as Array<keyof typeof THROUGHPUT_GROUPS>)
    .map((workload) => ({
      workload,
      bars: run.servers.flatMap((server) => {
        const result: ThroughputResult | OpenLoopResult | undefined =
          workload === 'broadcast' || workload === 'rooms' ? findWorkload(server, workload) : findWorkload(server, workload);
        return result ? [{ server, result }] : [];
      }),
    }))
    .filter((group) => group.bars.length > 0);
  if (groups.length === 0) return noData(title, 'No broadcast or rooms results in this run.');

  const values = groups.flatMap((g) => g.bars.map((b) => b.result.itemsDeliveredPerSecond));
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  const max = Math.max(0, ...positive);
  const min = Math.min(...positive);

  const labelRight = 116;
  const x0 = 124;
  const x1 = WIDTH - 104;
  const barHeight = 22;
  const barGap = 6;
  const headingHeight = 26;
  const groupGap = 12;
  const plotTop = 62;

  const useLog = positive.length > 0 && max / min >= 30;
  const scale = useLog ? logScale(min, max, x0, x1, formatCompact) : linearScale(max, x0, x1, formatCompact);

  const body: string[] = [];
  body.push(text(16, 26, title, { size: 16, weight: 'bold' }));
  body.push(
    text(16, 45, `Higher is better. ${useLog ? 'Logarithmic' : 'Linear'} axis; one bar per server.`, {
      size: 12,
      fill: MUTED,
    }),
  );

  // Lay out the bars first so the grid can span them.
  let y = plotTop;
  const content: string[] = [];
  let anyBound = false;
  for (const [index, group] of groups.entries()) {
    if (index > 0) y += groupGap;
    const first = group.bars[0]!.result;
    const detail = first.rooms
      ? `${formatNumber(first.connections)} connections in ${formatNumber(first.rooms)} rooms`
      : `${formatNumber(first.connections)} connections`;
    content.push(
      `<text x="16" y="${px(y + 17)}" font-size="13" fill="${INK}">` +
        `<tspan font-weight="bold">${THROUGHPUT_GROUPS[group.workload]}</tspan>` +
        `<tspan fill="${MUTED}" font-size="12">  ·  ${escapeXml(detail)}</tspan></text>`,
    );
    y += headingHeight;
    for (const { server, result } of group.bars) {
      const value = result.itemsDeliveredPerSecond;
      const valid = Number.isFinite(value) && value > 0;
      const end = valid ? Math.max(x0 + 2, scale.at(value)) : x0;
      const colour = colourOf(run.servers, server);
      content.push(text(labelRight, y + 15.5, server.server, { size: 12, anchor: 'end' }));
      const tooltip =
        `${server.server} ${server.version} (${server.command}), ${group.workload}: ` +
        `${formatNumber(value)} items/s${result.clientBound ? ', client-bound: a lower bound' : ''}`;
      content.push(
        `<rect class="bar" data-server="${escapeXml(server.server)}" x="${px(x0)}" y="${px(y)}" ` +
          `width="${px(end - x0)}" height="${barHeight}" rx="2" fill="${colour}"` +
          `${result.clientBound ? ' fill-opacity="0.55"' : ''}><title>${escapeXml(tooltip)}</title></rect>`,
      );
      anyBound ||= result.clientBound;
      const label = valid ? `${result.clientBound ? '≥ ' : ''}${formatCompact(value)}/s` : Number.isFinite(value) ? '0' : 'n/a';
      content.push(text(end + 6, y + 15.5, label, { size: 12, weight: 'bold' }));
      y += barHeight + barGap;
    }
  }
  const plotBottom = y - barGap + 6;

  for (const tick of scale.ticks) {
    const x = scale.at(tick.value);
    body.push(line(x, plotTop, x, plotBottom, tick.major ? GRID : GRID_MINOR));
    if (tick.label) body.push(text(x, plotBottom + 17, tick.label, { size: 11, anchor: 'middle', fill: MUTED }));
  }
  body.push(line(x0, plotTop, x0, plotBottom, MUTED));
  body.push(line(x0, plotBottom, x1, plotBottom, MUTED));
  body.push(...content);
  body.push(text((x0 + x1) / 2, plotBottom + 36, 'items delivered per second', { size: 12, anchor: 'middle', fill: MUTED }));
  let height = plotBottom + 50;
  if (anyBound) {
    body.push(
      text(16, height + 4, '≥ and pale bar: client-bound, the load generator saturated first; the figure is a lower bound.', {
        size: 11,
        fill: MUTED,
      }),
    );
    height += 18;
  }
  return svgDocument(height, title, body);
}

// ---------------------------------------------------------------------------------------------------------
// Latency

/** Tick label for milliseconds: 0.01, 0.5, 20, 1,000. */
function formatTickMs(value: number): string {
  return Number(value.toPrecision(3)).toLocaleString('en-US', { maximumFractionDigits: 4 });
}

/**
 * The latency CDF of each server's latency workload: x = latency in ms on a log axis, y = fraction of
 * deliveries at or below it, one line per server with its p50 and p99 marked.
 */
export function latencyChart(run: BenchRun): string {
  const title = 'Latency distribution (CDF)';
  const series = run.servers.flatMap((server) => {
    const result = findWorkload(server, 'latency');
    if (!result) return [];
    const points = result.latency.cdf
      .filter(([ms, fraction]) => Number.isFinite(ms) && Number.isFinite(fraction))
      .slice()
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return points.length > 0 ? [{ server, result, points }] : [];
  });
  if (series.length === 0) return noData(title, 'No latency distribution in this run.');

  const xs = series.flatMap((s) => [...s.points.map(([ms]) => ms), s.result.latency.p50, s.result.latency.p99]);
  const positive = xs.filter((ms) => Number.isFinite(ms) && ms > 0);
  const min = positive.length > 0 ? Math.min(...positive) : 0.1;
  const max = positive.length > 0 ? Math.max(...positive) : 1;

  const left = 72;
  const right = WIDTH - 28;
  const top = 62;
  const bottom = 392;
  const x = logScale(min, max, left, right, formatTickMs);
  const y = (fraction: number): number => bottom - Math.min(1, Math.max(0, fraction)) * (bottom - top);

  const body: string[] = [];
  body.push(text(16, 26, title, { size: 16, weight: 'bold' }));
  const connections = series[0]!.result.connections;
  const rate = series[0]!.result.pushesPerSecond;
  body.push(
    text(
      16,
      45,
      `Fraction of deliveries at or below each latency; further left is better. ` +
        `${formatNumber(rate, rate < 10 ? 1 : 0)} pushes/s to ${formatNumber(connections)} connections.`,
      { size: 12, fill: MUTED },
    ),
  );

  // Grid and axes.
  for (const tick of x.ticks) {
    const at = x.at(tick.value);
    body.push(line(at, top, at, bottom, tick.major ? GRID : GRID_MINOR));
    if (tick.label) body.push(text(at, bottom + 17, `${tick.label}`, { size: 11, anchor: 'middle', fill: MUTED }));
  }
  for (let step = 0; step <= 5; step++) {
    const fraction = step / 5;
    body.push(line(left, y(fraction), right, y(fraction), GRID));
    body.push(
      text(left - 8, y(fraction) + 4, fraction === 0 || fraction === 1 ? `${fraction}` : fraction.toFixed(1), {
        size: 11,
        anchor: 'end',
        fill: MUTED,
      }),
    );
  }
  for (const [fraction, label, dy] of [
    [0.5, 'p50', -4],
    [0.99, 'p99', 13],
  ] as const) {
    body.push(line(left, y(fraction), right, y(fraction), '#9ca3af', 'stroke-dasharray="4 4"'));
    body.push(
      `<text x="${px(right - 4)}" y="${px(y(fraction) + dy)}" font-size="11" font-weight="bold" fill="${MUTED}" ` +
        `text-anchor="end" stroke="#ffffff" stroke-width="3" paint-order="stroke">${label}</text>`,
    );
  }
  body.push(line(left, top, left, bottom, MUTED));
  body.push(line(left, bottom, right, bottom, MUTED));
  body.push(text((left + right) / 2, bottom + 36, 'latency (ms, logarithmic)', { size: 12, anchor: 'middle', fill: MUTED }));
  body.push(
    text(0, 0, 'fraction of deliveries', {
      size: 12,
      anchor: 'middle',
      fill: MUTED,
      transform: `translate(${px(22)} ${px((top + bottom) / 2)}) rotate(-90)`,
    }),
  );

  // Lines, clipped to the plot, then the p50/p99 marks on top.
  body.push(
    `<defs><clipPath id="pushgate-latency-plot"><rect x="${px(left)}" y="${px(top - 4)}" ` +
      `width="${px(right - left)}" height="${px(bottom - top + 8)}"/></clipPath></defs>`,
  );
  const marks: string[] = [];
  for (const { server, result, points } of series) {
    const colour = colourOf(run.servers, server);
    const d = points.map(([ms, fraction], index) => `${index === 0 ? 'M' : 'L'}${px(x.at(ms))} ${px(y(fraction))}`).join(' ');
    const tooltip = `${server.server} ${server.version} (${server.command})`;
    body.push(
      `<path class="series" data-server="${escapeXml(server.server)}" d="${d}" fill="none" stroke="${colour}" ` +
        `stroke-width="2.25" stroke-linejoin="round" stroke-linecap="round" clip-path="url(#pushgate-latency-plot)">` +
        `<title>${escapeXml(tooltip)}</title></path>`,
    );
    for (const [ms, fraction, name] of [
      [result.latency.p50, 0.5, 'p50'],
      [result.latency.p99, 0.99, 'p99'],
    ] as const) {
      if (!Number.isFinite(ms) || ms <= 0) continue;
      marks.push(
        `<circle cx="${px(x.at(ms))}" cy="${px(y(fraction))}" r="4" fill="${colour}" stroke="#ffffff" stroke-width="1.5">` +
          `<title>${escapeXml(`${server.server} ${name}: ${formatMs(ms)} ms`)}</title></circle>`,
      );
    }
  }
  body.push(...marks);

  // Legend below the axis: one row per server with its percentiles.
  let legendY = bottom + 62;
  for (const { server, result } of series) {
    const colour = colourOf(run.servers, server);
    body.push(line(left, legendY - 4, left + 24, legendY - 4, colour, 'stroke-width="3" stroke-linecap="round"'));
    body.push(`<circle cx="${px(left + 12)}" cy="${px(legendY - 4)}" r="4" fill="${colour}" stroke="#ffffff" stroke-width="1.5"/>`);
    body.push(
      `<text x="${px(left + 34)}" y="${px(legendY)}" font-size="12" font-weight="bold" fill="${INK}">` +
        `${escapeXml(server.server)}${result.clientBound ? '<tspan fill="#b45309"> ⚠</tspan>' : ''}</text>`,
    );
    const { p50, p99, p999, max: worst } = result.latency;
    const columns: Array<[string, number]> = [
      ['p50', p50],
      ['p99', p99],
      ['p99.9', p999],
      ['max', worst],
    ];
    for (const [index, [name, ms]] of columns.entries()) {
      body.push(
        `<text x="${px(left + 136 + index * 118)}" y="${px(legendY)}" font-size="12" fill="${INK}">` +
          `<tspan fill="${MUTED}">${escapeXml(name)}</tspan> ${escapeXml(formatMs(ms))} ms</text>`,
      );
    }
    legendY += 20;
  }
  if (series.some((s) => s.result.clientBound)) {
    body.push(
      text(left, legendY + 4, '⚠ client-bound: the load generator saturated first, so latencies include its own delay.', {
        size: 11,
        fill: MUTED,
      }),
    );
    legendY += 22;
  }
  return svgDocument(legendY - 4, title, body);
}

// ---------------------------------------------------------------------------------------------------------
// History cost

const HISTORY_COLOURS = { off: '#9ca3af', on: '#2563eb' } as const;
const HISTORY_STORE_NAMES: Record<HistoryStore, string> = { memory: 'memory', redis: 'Redis', nats: 'NATS JetStream' };

/**
 * The cost of history: items delivered per second in the closed-loop rooms workload, history off and
 * on, one pair of bars per store, on a linear axis; each bar labelled with its p99.
 */
export function historyCostChart(run: BenchRun): string {
  const title = 'History off and on: items delivered per second';
  const points = run.historyCost ?? [];
  if (points.length === 0) return noData(title, 'No history-cost results in this run.');
  const stores = [...new Set(points.map((p) => p.store))];
  const max = Math.max(0, ...points.map((p) => p.result.itemsDeliveredPerSecond).filter((v) => Number.isFinite(v)));
  const labelRight = 116;
  const x0 = 124;
  const x1 = WIDTH - 160;
  const barHeight = 22;
  const barGap = 6;
  const headingHeight = 26;
  const groupGap = 12;
  const plotTop = 62;
  const scale = linearScale(max, x0, x1, formatCompact);

  const body: string[] = [];
  body.push(text(16, 26, title, { size: 16, weight: 'bold' }));
  const first = points[0]!.result;
  body.push(
    text(
      16,
      45,
      `Higher is better. Rooms, closed loop: ${formatNumber(first.connections)} connections in ${formatNumber(first.rooms)} rooms; p99 latency after each bar.`,
      { size: 12, fill: MUTED },
    ),
  );
  let y = plotTop;
  const content: string[] = [];
  for (const [index, store] of stores.entries()) {
    if (index > 0) y += groupGap;
    content.push(text(16, y + 17, HISTORY_STORE_NAMES[store], { size: 13, weight: 'bold' }));
    y += headingHeight;
    for (const point of points.filter((p) => p.store === store)) {
      const state = point.history === null ? 'off' : 'on';
      const value = point.result.itemsDeliveredPerSecond;
      const valid = Number.isFinite(value) && value > 0;
      const end = valid ? Math.max(x0 + 2, scale.at(value)) : x0;
      content.push(text(labelRight, y + 15.5, `history ${state}`, { size: 12, anchor: 'end' }));
      const tooltip = `${store}, history ${point.history ?? 'off'}: ${formatNumber(value)} items/s, p99 ${formatMs(point.result.latency.p99)} ms`;
      content.push(
        `<rect class="bar" data-store="${escapeXml(store)}" data-history="${state}" x="${px(x0)}" y="${px(y)}" ` +
          `width="${px(end - x0)}" height="${barHeight}" rx="2" fill="${HISTORY_COLOURS[state]}"><title>${escapeXml(tooltip)}</title></rect>`,
      );
      const label = `${valid ? `${formatCompact(value)}/s` : '0'}  ·  p99 ${formatMs(point.result.latency.p99)} ms`;
      content.push(text(end + 6, y + 15.5, label, { size: 12, weight: 'bold' }));
      y += barHeight + barGap;
    }
  }
  const plotBottom = y - barGap + 6;
  for (const tick of scale.ticks) {
    const x = scale.at(tick.value);
    body.push(line(x, plotTop, x, plotBottom, GRID));
    body.push(text(x, plotBottom + 17, tick.label, { size: 11, anchor: 'middle', fill: MUTED }));
  }
  body.push(line(x0, plotTop, x0, plotBottom, MUTED));
  body.push(line(x0, plotBottom, x1, plotBottom, MUTED));
  body.push(...content);
  body.push(text((x0 + x1) / 2, plotBottom + 36, 'items delivered per second', { size: 12, anchor: 'middle', fill: MUTED }));
  return svgDocument(plotBottom + 50, title, body);
}
