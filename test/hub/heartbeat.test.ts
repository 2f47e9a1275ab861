import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import type { TestClient } from '../helpers/client.js';
import { withTimeout } from '../helpers/wait.js';

const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('heartbeat', () => {
  let gw: RunningGateway;
  const intervalMs = 300;
  before(async () => {
    gw = await startGateway({ heartbeatInterval: intervalMs / 1000 });
  });
  after(() => gw.close());

  /** Keeps `client` busy with `beat` every 100 ms for three intervals; resolves whether it stayed open. */
  async function survives(client: TestClient, beat: () => Promise<void>): Promise<boolean> {
    const until = Date.now() + 3 * intervalMs;
    while (Date.now() < until) {
      await beat();
      if (client.ws.readyState !== client.ws.OPEN) return false;
    }
    return true;
  }

  it('disconnects a silent client with 4000 within 1.25 intervals, and forgets it', async () => {
    const client = await gw.connect();
    await client.request('JOIN', { room: 'quiet' });
    const before = gw.gateway.stats.heartbeatDisconnects;
    const started = Date.now();
    const closed = await client.waitClosed(3000);
    assert.equal(closed.code, 4000);
    assert.equal(closed.reason, 'heartbeat timeout');
    assert.ok(Date.now() - started <= 1.25 * intervalMs + 200, `closed after ${Date.now() - started} ms`);
    assert.equal(gw.gateway.stats.heartbeatDisconnects, before + 1);
    assert.equal(gw.gateway.hub.members('quiet'), undefined);
  });

  it('keeps a client alive that sends PING frames', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    assert.equal(await survives(client, async () => {
      client.send({ type: 'PING', data: {} });
      await client.nextOfType('PONG');
      await new Promise((r) => setTimeout(r, 100));
    }), true);
  });

  it('keeps a client alive that sends WebSocket-level pongs or pings', async (t) => {
    const ponger = await gw.connect();
    const pinger = await gw.connect();
    t.after(() => { ponger.close(); pinger.close(); });
    const ok = await survives(pinger, async () => {
      ponger.ws.pong();
      pinger.ws.ping();
      await withTimeout(new Promise<void>((resolve) => pinger.ws.once('pong', () => resolve())), 2000, 'the pong');
      await new Promise((r) => setTimeout(r, 100));
    });
    assert.equal(ok, true);
    assert.equal(ponger.ws.readyState, ponger.ws.OPEN);
  });

  it('uses one timer for all connections, not one each', async (t) => {
    const base = timers();
    const clients = await Promise.all(Array.from({ length: 40 }, () => gw.connect()));
    t.after(() => clients.forEach((c) => c.close()));
    await Promise.all(clients.map((c) => c.request('PING')));
    assert.ok(timers() <= base + 2, `timers went from ${base} to ${timers()} with 40 more connections`);
  });
});
