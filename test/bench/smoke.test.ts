import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BenchRun } from '../../bench/load/results.js';
import { type Child, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

// The benchmark's smoke run: every server and workload end to end with a few hundred clients, so that
// `npm run bench` keeps working. It asserts what the run produced, never how fast it was.
describe('npm run bench -- --smoke', () => {
  let run: Child | null = null;
  after(() => run?.stop(30000));

  it('runs pushgate, ws and Socket.IO through every workload and writes JSON, markdown and charts', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pushgate-bench-'));
    run = startNode('dist/bench/run.js', ['--smoke', '--connections', '200', '--duration', '1', '--churn-rate', '20', '--out', out, '--name', 'smoke']);
    assert.equal(await withTimeout(run.exited, 180000, 'the smoke run'), 0, run.output());
    for (const file of ['smoke.json', 'smoke.md', 'smoke-throughput.svg', 'smoke-latency.svg']) assert.ok(existsSync(join(out, file)), file);
    const result = JSON.parse(readFileSync(join(out, 'smoke.json'), 'utf8')) as BenchRun;
    assert.deepEqual(
      result.servers.map((s) => s.server),
      ['pushgate', 'ws', 'socketio'],
    );
    for (const server of result.servers) {
      assert.deepEqual(
        server.workloads.map((w) => w.workload),
        ['idle', 'latency', 'broadcast', 'rooms', 'churn'],
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
      }
    }
    const markdown = readFileSync(join(out, 'smoke.md'), 'utf8');
    assert.match(markdown, /pushgate \/ peer/);
    assert.match(readFileSync(join(out, 'smoke-latency.svg'), 'utf8'), /^<svg/);
  });
});
