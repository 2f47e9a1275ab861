import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { optionSpecs } from '../../src/config/options.js';
import { TestClient } from '../helpers/client.js';
import { type Child, CLI, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

const LISTENING = /listening ws=(\S+):(\d+) api=(\S+):(\d+)/;
const children: Child[] = [];
// One process unless a test says otherwise: --workers defaults to one per core (see test/cluster/workers.test.ts).
function run(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = startNode(CLI, args, { PUSHGATE_WORKERS: '1', ...env });
  children.push(child);
  return child;
}
after(() => Promise.all(children.map((c) => c.stop())));

describe('pushgate CLI', () => {
  it('is the package bin', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    assert.equal(pkg.name, 'pushgate');
    assert.equal(pkg.bin.pushgate, CLI);
  });

  it('lists every option with its flag and environment variable in --help', async () => {
    const help = run(['--help']);
    assert.equal(await withTimeout(help.exited, 10000, '--help'), 0);
    for (const spec of optionSpecs) {
      assert.ok(help.output().includes(spec.flag), spec.flag);
      assert.ok(help.output().includes(spec.env), spec.env);
    }
    assert.match(help.output(), /--config <file>/);
  });

  it('prints the chosen ports in one start-up line when given port 0, and serves there', async () => {
    const gw = run(['--port', '0', '--host', '127.0.0.1', '--api-port', '0', '--api-host', '127.0.0.1']);
    const [, wsHost, wsPort, apiHost, apiPort] = await gw.waitForLine(LISTENING);
    assert.equal(wsHost, '127.0.0.1');
    assert.equal(apiHost, '127.0.0.1');
    assert.notEqual(wsPort, '0');
    const client = await TestClient.open(`ws://127.0.0.1:${wsPort}/connect`);
    const stats = await (await fetch(`http://127.0.0.1:${apiPort}/stats`)).json();
    assert.equal(stats.onlineConnections, 1);
    client.close();
  });

  it('takes --public-stats alone as a boolean flag, and says the dashboard stream is public', async () => {
    const gw = run(['--port', '0', '--host', '127.0.0.1', '--api-port', '0', '--api-host', '127.0.0.1', '--public-stats']);
    const [, , wsPort] = await gw.waitForLine(LISTENING);
    assert.match(gw.output(), /dashboard stream \(pushgate:stats\): public/);
    const client = await TestClient.open(`ws://127.0.0.1:${wsPort}/connect`);
    assert.equal((await client.request('JOIN', { room: 'pushgate:stats' })).type, 'ACK');
    client.close();
  });

  it('prints the start-up line whatever the log level', async () => {
    const gw = run(['--port', '0', '--api-port', '0', '--host', '127.0.0.1', '--log-level', 'silent']);
    await gw.waitForLine(LISTENING);
  });

  it('refuses invalid options at start with a message naming the option', async () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['--port', 'abc'], {}, /invalid --port \(PUSHGATE_PORT.*got "abc"/],
      [['--max-batch-items', '0'], {}, /invalid --max-batch-items/],
      [[], { PUSHGATE_HEARTBEAT_INTERVAL: 'soon' }, /invalid --heartbeat-interval \(PUSHGATE_HEARTBEAT_INTERVAL/],
      [['--allowed-origins', 'example.com'], {}, /invalid --allowed-origins.*"example.com" must look like/],
      [['--host', ','], {}, /invalid --host/],
      [['--api-host', '0.0.0.0'], {}, /invalid --api-key .*without a key/],
      [['--log-format', 'xml'], {}, /invalid --log-format/],
    ];
    for (const [args, env, message] of cases) {
      // The case's own flags come last: commander keeps the last value given.
      const child = run(['--port', '0', '--api-port', '0', '--host', '127.0.0.1', ...args], env);
      const code = await withTimeout(child.exited, 10000, 'the refusal');
      assert.equal(code, 2, args.join(' '));
      assert.match(child.output(), message);
      assert.doesNotMatch(child.output(), /^\s+at /m, 'a message, not a stack trace');
    }
    const unknown = run(['--colour', 'red']);
    assert.notEqual(await withTimeout(unknown.exited, 10000, 'the refusal'), 0);
    assert.match(unknown.output(), /unknown option '--colour'/);
  });

  it('reads a JSON config file, with flags and environment taking precedence', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pushgate-cli-'));
    const file = join(dir, 'pushgate.json');
    writeFileSync(file, JSON.stringify({ host: '127.0.0.1', apiHost: '127.0.0.1', port: 0, apiPort: 0, maxRooms: 1, logFormat: 'json' }));
    const gw = run(['--config', file], { PUSHGATE_MAX_ROOMS: '2' });
    const [, , wsPort] = await gw.waitForLine(LISTENING);
    assert.match(gw.output(), /^\{.*"msg":"listening ws=/m, 'json logs from the file');
    const client = await TestClient.open(`ws://127.0.0.1:${wsPort}/connect`);
    assert.equal((await client.request('JOIN', { room: 'a' })).type, 'ACK');
    assert.equal((await client.request('JOIN', { room: 'b' })).type, 'ACK', 'the environment raised maxRooms to 2');
    assert.equal((await client.request('JOIN', { room: 'c' })).data.code, 'TOO_MANY_ROOMS');
    client.close();
  });

  it('shuts down gracefully on SIGTERM: clients get 1001 and the process exits 0', async () => {
    const gw = run(['--port', '0', '--api-port', '0', '--host', '127.0.0.1']);
    const [, , wsPort] = await gw.waitForLine(LISTENING);
    const client = await TestClient.open(`ws://127.0.0.1:${wsPort}/ws`);
    gw.child.kill('SIGTERM');
    assert.equal((await client.waitClosed(5000)).code, 1001);
    assert.equal(await withTimeout(gw.exited, 5000, 'the exit'), 0);
    assert.match(gw.output(), /SIGTERM: shutting down/);
  });

  it('shuts down on SIGINT as well', async () => {
    const gw = run(['--port', '0', '--api-port', '0', '--host', '127.0.0.1']);
    await gw.waitForLine(LISTENING);
    gw.child.kill('SIGINT');
    assert.equal(await withTimeout(gw.exited, 5000, 'the exit'), 0);
  });

  it('exits with a clear message when the port is taken', async () => {
    const first = run(['--port', '0', '--api-port', '0', '--host', '127.0.0.1']);
    const [, , wsPort] = await first.waitForLine(LISTENING);
    const second = run(['--port', wsPort, '--api-port', '0', '--host', '127.0.0.1']);
    assert.equal(await withTimeout(second.exited, 10000, 'the second gateway to exit'), 1);
    assert.match(second.output(), /cannot listen: .*EADDRINUSE/);
  });
});
