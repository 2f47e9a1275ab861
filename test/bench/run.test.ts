import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startGateway } from '../helpers/gateway.js';
import { CLI, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

// The bench of the same build as this test (dist/, or wherever it was compiled), not the working directory's dist/.
const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

/** Runs `npm run bench -- args` (its script) to the end; exit code and output. */
async function bench(args: string[], ms = 15000): Promise<{ code: number | string; output: string }> {
  const child = startNode(RUN, args);
  try {
    return { code: await withTimeout(child.exited, ms, `bench ${args.join(' ')}`), output: child.output() };
  } finally {
    await child.stop();
  }
}

describe('npm run bench', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('prints both modes in --help', async () => {
    const { code, output } = await bench(['--help']);
    assert.equal(code, 0, output);
    assert.match(output, /Usage: npm run bench --/);
    for (const flag of [
      '--url',
      '--api',
      '--pusher-app',
      '--servers',
      '--smoke',
      '--server-pid',
      '--workloads',
      '--open-concurrency',
      '--budgets',
      '--budget-duration',
    ]) {
      assert.ok(output.includes(flag), flag);
    }
    for (const workload of ['broadcast-open', 'rooms-open']) assert.ok(output.includes(workload), workload);
  });

  it('refuses options of the other mode, and --url without --api, with a clear error', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--url', 'ws://127.0.0.1:1'], /--url needs --api/],
      [['--url', 'ws://127.0.0.1:1', '--api', 'http://127.0.0.1:1', '--smoke'], /--smoke is for the side-by-side run, not with --url/],
      [['--url', 'ws://127.0.0.1:1', '--api', 'http://127.0.0.1:1', '--servers', 'ws'], /--servers is for the side-by-side run/],
      [['--server-pid', '1'], /--server-pid needs --url/],
      [['--servers', 'pushgate,nginx'], /unknown server "nginx"/],
      [['--workloads', 'idle,soak'], /unknown workload "soak"/],
      [['--connections', '0'], /--connections must be an integer ≥ 1/],
      [['--url', 'ws://127.0.0.1:1', '--api', 'http://127.0.0.1:1', '--budgets', '50'], /--budgets is for the side-by-side run/],
      [['--budgets', '5'], /each budget is an integer of ms from 10 to 60000, got "5"/],
      [['--budgets', '50,abc'], /got "abc"/],
      [['--budgets', '50', '--servers', 'ws'], /--budgets restarts pushgate: keep it in --servers/],
      [['--budgets', '50', '--workloads', 'idle,latency'], /--budgets runs the closed-loop workloads/],
      [['--open-concurrency', '0'], /--open-concurrency must be an integer ≥ 1/],
      [['--pusher-app', 'a:b:c'], /--pusher-app needs --url/],
      [['--url', 'ws://127.0.0.1:1', '--api', 'http://127.0.0.1:1', '--pusher-app', 'a:b:c'], /--pusher-app is for --protocol pusher/],
      [['--url', 'ws://127.0.0.1:1', '--api', 'http://127.0.0.1:1', '--protocol', 'pusher', '--pusher-app', 'a:b'], /--pusher-app: .*three parts/],
    ];
    for (const [args, message] of cases) {
      const { code, output } = await bench(args);
      assert.notEqual(code, 0, args.join(' '));
      assert.match(output, message, args.join(' '));
    }
  });

  // What `pushgate bench` did before the load generator left the package: a running gateway, loaded from here.
  it('--url loads a running gateway and writes its results', async (t) => {
    const gw = await startGateway();
    t.after(() => gw.close());
    const out = mkdtempSync(join(tmpdir(), 'pushgate-bench-url-'));
    dirs.push(out);
    const { code, output } = await bench(
      [
        '--url',
        gw.wsUrl('').replace(/\/$/, ''),
        '--api',
        gw.apiUrl,
        '--connections',
        '60',
        '--clients',
        '1',
        '--duration',
        '1',
        '--workloads',
        'idle,latency,rooms,rooms-open',
        '--rooms',
        '3',
        '--server-pid',
        String(process.pid),
        '--out',
        out,
      ],
      60000,
    );
    assert.equal(code, 0, output);
    assert.match(output, /## Latency/);
    const json = readdirSync(out).find((file) => file.endsWith('.json')) ?? '';
    assert.ok(json.startsWith('deployment-'), `a deployment-*.json result file was written: ${readdirSync(out).join(', ')}`);
    const run = JSON.parse(readFileSync(join(out, json), 'utf8'));
    assert.equal(run.servers[0].server, 'external');
    const workloads = run.servers[0].workloads;
    assert.deepEqual(
      workloads.map((w: { workload: string }) => w.workload),
      ['idle', 'latency', 'rooms', 'rooms-open'],
    );
    assert.equal(workloads[0].connections, 60);
    assert.equal(workloads[1].itemsLost, 0);
    assert.ok(workloads[2].itemsDeliveredPerSecond > 0);
    assert.ok(workloads[3].pushesAccepted > 0 && workloads[3].latency.count > 0, 'the closed loop pushed and timed deliveries');
    assert.equal(workloads[3].rooms, 3);
    assert.match(output, /## Rooms, closed loop/);
    assert.doesNotMatch(output, /Throughput–latency/, 'no budget sweep against a deployment');
  });

  it("--url --protocol pusher loads a running gateway's Pusher app, its events signed with --pusher-app", async (t) => {
    const app = 'app7:key7:secret7';
    const gw = await startGateway({ pusherApps: [app] });
    t.after(() => gw.close());
    const out = mkdtempSync(join(tmpdir(), 'pushgate-bench-url-pusher-'));
    dirs.push(out);
    const { code, output } = await bench(
      [
        ...['--url', gw.wsUrl(''), '--api', gw.apiUrl, '--protocol', 'pusher', '--pusher-app', app],
        ...['--connections', '40', '--clients', '1', '--duration', '1', '--workloads', 'idle,latency,rooms-open', '--rooms', '2', '--out', out],
      ],
      60000,
    );
    assert.equal(code, 0, output);
    const json = readdirSync(out).find((file) => file.endsWith('.json')) ?? '';
    const workloads = JSON.parse(readFileSync(join(out, json), 'utf8')).servers[0].workloads;
    assert.equal(workloads[0].connections, 40);
    assert.ok(workloads[1].itemsPushed > 0 && workloads[1].itemsLost === 0, 'every event of the latency workload reached every client');
    assert.ok(workloads[2].pushesAccepted > 0 && workloads[2].pushesFailed === 0 && workloads[2].itemsPerFrame === 1, 'signed events accepted, one per frame');
  });

  it('is no longer a subcommand of the packaged pushgate CLI', async () => {
    const help = startNode(CLI, ['--help']);
    assert.equal(await withTimeout(help.exited, 10000, 'pushgate --help'), 0, help.output());
    assert.match(help.output(), /^ {2}token\b/m);
    assert.doesNotMatch(help.output(), /^ {2}bench\b/m);
  });
});
