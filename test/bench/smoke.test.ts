import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BenchRun, OpenLoopResult } from '../../bench/load/results.js';
import { type Child, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

// The bench of the same build as this test (dist/, or wherever it was compiled), not the working directory's dist/.
const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

/** A closed-loop result that is whole: the loops pushed, the clients received and timed, every field there. */
function assertClosedLoop(result: OpenLoopResult, what: string): void {
  assert.ok(result.pushesAccepted > 0, `${what}: pushes accepted`);
  assert.equal(result.pushesFailed, 0, `${what}: every answer 200 or 503`);
  assert.ok(result.itemsDeliveredPerSecond > 0, `${what}: delivered`);
  assert.ok(result.itemsPerFrame >= 1, `${what}: items per frame`);
  assert.ok(result.latency.count > 0 && result.latency.max >= result.latency.p99, `${what}: latency measured`);
  assert.ok(Number.isInteger(result.pushesRefused) && Number.isInteger(result.itemsLost) && Number.isInteger(result.disconnects), `${what}: counts`);
  assert.equal(typeof result.cpu.server, 'number', `${what}: server CPU`);
  assert.equal(typeof result.clientBound, 'boolean', `${what}: client-bound flag`);
}

/** The body rows of the markdown table that follows `heading`, as cells. */
function tableRows(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(`${heading}\n`);
  assert.ok(start >= 0, `has a "${heading}" section`);
  const lines = markdown.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
  }
  return rows;
}

// The benchmark's smoke run: every server and workload end to end with a few hundred clients, so that
// `npm run bench` keeps working. It asserts what the run produced, never how fast it was.
describe('npm run bench -- --smoke', () => {
  let run: Child | null = null;
  after(() => run?.stop(30000));

  it('runs pushgate (go-push and Pusher endpoints), ws and Socket.IO through every workload, then pushgate per latency budget, and writes JSON, markdown and charts', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pushgate-bench-'));
    const args = ['--smoke', '--connections', '200', '--duration', '1', '--churn-rate', '20', '--budgets', '250', '--out', out, '--name', 'smoke'];
    run = startNode(RUN, args);
    assert.equal(await withTimeout(run.exited, 180000, 'the smoke run'), 0, run.output());
    for (const file of ['smoke.json', 'smoke.md', 'smoke-throughput.svg', 'smoke-latency.svg']) assert.ok(existsSync(join(out, file)), file);
    const result = JSON.parse(readFileSync(join(out, 'smoke.json'), 'utf8')) as BenchRun;
    assert.deepEqual(
      result.servers.map((s) => s.server),
      ['pushgate', 'pushgate-pusher', 'ws', 'socketio'],
    );
    for (const server of result.servers) {
      assert.deepEqual(
        server.workloads.map((w) => w.workload),
        ['idle', 'latency', 'broadcast', 'rooms', 'rooms-open', 'broadcast-open', 'churn'],
        server.server,
      );
      for (const workload of server.workloads) {
        if (workload.workload === 'idle') assert.equal(workload.connections, 200, `${server.server}: everyone connected`);
        if (workload.workload === 'latency') assert.equal(workload.itemsLost, 0, `${server.server}: nothing lost`);
        if (workload.workload === 'broadcast' || workload.workload === 'rooms') {
          assert.ok(workload.itemsDeliveredPerSecond > 0, `${server.server} ${workload.workload} delivered`);
          assert.equal(workload.disconnects, 0, `${server.server} ${workload.workload}: no client dropped`);
        }
        if (workload.workload === 'churn') assert.equal(workload.errors, 0, `${server.server}: churn without errors`);
        if (workload.workload === 'broadcast-open' || workload.workload === 'rooms-open') {
          assertClosedLoop(workload, `${server.server} ${workload.workload}`);
          // Pusher has no batch frame: however the engine merged, each event reached the client as its own frame.
          if (server.server === 'pushgate-pusher') assert.equal(workload.itemsPerFrame, 1, `${server.server} ${workload.workload}: one event per frame`);
        }
      }
    }
    const pusher = result.servers.find((s) => s.server === 'pushgate-pusher');
    assert.match(pusher?.command ?? '', /--pusher-apps bench:bench-key:bench-secret/, 'the Pusher endpoint of the same gateway');
    assert.deepEqual(
      result.budgets?.map((point) => [point.maxLatencyMs, point.workloads.map((w) => w.workload)]),
      [[250, ['rooms-open', 'broadcast-open']]],
    );
    for (const point of result.budgets ?? []) {
      assert.match(point.command, new RegExp(`--max-latency ${point.maxLatencyMs}\\b`));
      for (const workload of point.workloads) assertClosedLoop(workload, `--max-latency ${point.maxLatencyMs} ${workload.workload}`);
    }
    const markdown = readFileSync(join(out, 'smoke.md'), 'utf8');
    assert.match(markdown, /pushgate \/ peer/);
    assert.match(markdown, /\| pushgate \/ pushgate-pusher \|/);
    assert.match(markdown, /Pusher has no batch frame/);
    assert.match(markdown, /Rooms, closed loop: items delivered\/s \(pushgate ÷ peer\) \| [≥≤]? ?[\d.,]+×/);
    for (const heading of ['## Rooms, closed loop', '## Broadcast, closed loop']) {
      assert.deepEqual(
        tableRows(markdown, heading).map((row) => row[0]),
        ['pushgate', 'pushgate-pusher', 'ws', 'socketio'],
        heading,
      );
    }
    const sweep = markdown.slice(markdown.indexOf('## Throughput–latency'));
    for (const heading of ['### Rooms, closed loop', '### Broadcast, closed loop']) {
      assert.deepEqual(
        tableRows(sweep, heading).map((row) => row[0]),
        ['250'],
        heading,
      );
    }
    assert.match(readFileSync(join(out, 'smoke-latency.svg'), 'utf8'), /^<svg/);
  });
});
