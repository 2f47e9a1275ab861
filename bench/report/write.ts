import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { openFileLimit } from '../../src/config/open-file-limit.js';
import type { BenchRun } from '../load/results.js';
import { cpuModel } from '../load/runner.js';
import { historyCostChart, latencyChart, throughputChart } from './charts.js';
import { renderMarkdown } from './report.js';

/**
 * Writes a run as JSON, markdown and SVG charts under `dir` (throughput and latency when servers were
 * measured side by side or in a deployment, history off and on when that part ran); returns the markdown path.
 */
export function writeRun(run: BenchRun, dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(run, null, 2)}\n`);
  const charts: { throughput?: string; latency?: string; history?: string } = {};
  if (run.servers.length > 0 || run.historyCost === undefined) {
    charts.throughput = `${name}-throughput.svg`;
    charts.latency = `${name}-latency.svg`;
    writeFileSync(join(dir, charts.throughput), throughputChart(run));
    writeFileSync(join(dir, charts.latency), latencyChart(run));
  }
  if (run.historyCost !== undefined && run.historyCost.length > 0) {
    charts.history = `${name}-history.svg`;
    writeFileSync(join(dir, charts.history), historyCostChart(run));
  }
  const markdown = join(dir, `${name}.md`);
  writeFileSync(markdown, renderMarkdown(run, charts));
  return markdown;
}

/** The machine part of a run's description. */
export function describeMachine(pinning: string): BenchRun['machine'] {
  return {
    cpus: cpus().length,
    cpuModel: cpuModel(),
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    pinning,
    openFileLimit: openFileLimit() ?? 0,
  };
}
