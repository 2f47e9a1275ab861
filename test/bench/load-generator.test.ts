import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Histogram } from '../../src/bench/histogram.js';
import { benchItem, countItems, readItems } from '../../src/bench/protocols.js';
import { encodePush } from '../../src/protocol/encode.js';
import { startGateway } from '../helpers/gateway.js';
import { CLI, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

describe('bench items', () => {
  it('have one length whatever their values, so frames are counted without parsing', () => {
    const items = [benchItem(0), benchItem(7), benchItem(123456)].map((item) => JSON.stringify(item));
    assert.equal(new Set(items.map((text) => text.length)).size, 1);
    assert.equal(countItems(Buffer.from(encodePush(items, 'room-1'))), 3);
    assert.equal(countItems(Buffer.from(encodePush(items.slice(0, 1), undefined))), 1);
    assert.equal(countItems(Buffer.from(`42${JSON.stringify(['push', benchItem(1, 'pad')])}`)), 1);
    assert.equal(countItems(Buffer.from('{"type":"PONG","data":{}}')), 0);
  });

  it('carry their send time and sequence number', () => {
    const item = benchItem(42);
    const seen: Array<[number, number]> = [];
    readItems(Buffer.from(encodePush([JSON.stringify(item)], undefined)), (sentAt, seq) => seen.push([sentAt, seq]));
    assert.equal(seen.length, 1);
    assert.ok(Math.abs(seen[0][0] - item.t / 1000) < 0.001);
    assert.equal(seen[0][1], 100000042);
  });
});

describe('Histogram', () => {
  it('reports percentiles within its 3 % precision and merges by adding counts', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let ms = 1; ms <= 1000; ms++) (ms % 2 ? a : b).record(ms);
    a.merge(JSON.parse(JSON.stringify(b)));
    const summary = a.summary();
    assert.equal(summary.count, 1000);
    assert.ok(Math.abs(summary.p50 - 500) / 500 < 0.04, `p50 ${summary.p50}`);
    assert.ok(Math.abs(summary.p99 - 990) / 990 < 0.04, `p99 ${summary.p99}`);
    assert.equal(summary.max, 1000);
    assert.deepEqual(summary.cdf.at(-1)?.[1], 1);
  });
});

describe('pushgate bench', () => {
  it('loads a running gateway and writes its results', async (t) => {
    const gw = await startGateway();
    t.after(() => gw.close());
    const out = mkdtempSync(join(tmpdir(), 'pushgate-bench-cli-'));
    const bench = startNode(CLI, ['bench', '--url', gw.wsUrl('').replace(/\/$/, ''), '--api', gw.apiUrl, '--connections', '60', '--clients', '1',
      '--duration', '1', '--workloads', 'idle,latency,rooms', '--rooms', '3', '--server-pid', String(process.pid), '--out', out]);
    t.after(() => bench.stop());
    assert.equal(await withTimeout(bench.exited, 60000, 'the bench'), 0, bench.output());
    assert.match(bench.output(), /## Latency/);
    const json = readdirSync(out).find((file) => file.endsWith('.json'));
    assert.ok(json !== undefined, 'a JSON result file was written');
    const run = JSON.parse(readFileSync(join(out, json), 'utf8'));
    const workloads = run.servers[0].workloads;
    assert.deepEqual(workloads.map((w: { workload: string }) => w.workload), ['idle', 'latency', 'rooms']);
    assert.equal(workloads[0].connections, 60);
    assert.equal(workloads[1].itemsLost, 0);
    assert.ok(workloads[2].itemsDeliveredPerSecond > 0);
  });
});
