import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { withTimeout } from '../helpers/wait.js';

const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

// The bound itself (closed between 1 and 1.25 intervals after the last frame, whatever the sweeps'
// phase) is checked on a fake clock in heartbeat.unit.test.ts; here, a real gateway and real clients.
describe('heartbeat', () => {
  let gw: RunningGateway;
  // Long enough that a client beating every 100 ms survives a stall of most of a second on a loaded machine.
  const intervalMs = 1000;
  before(async () => {
    gw = await startGateway({ heartbeatInterval: intervalMs / 1000 });
  });
  after(() => gw.close());

  /**
   * Keeps `client` busy with `beat` until a silent client, opened after it, is closed for its silence:
   * by then `client` has been connected for longer than the interval. Resolves whether `client` stayed open.
   */
  async function survives(client: TestClient, beat: () => Promise<void>): Promise<boolean> {
    const silent = await gw.connect();
    let silentClosed = false;
    void silent.closed.then(() => (silentClosed = true));
    // Bounded: 200 beats of at least 100 ms are far more than the 1.25 intervals the silent client lasts.
    for (let i = 0; i < 200 && !silentClosed; i++) {
      await beat();
      await Promise.race([silent.closed, new Promise((r) => setTimeout(r, 100))]);
      if (client.ws.readyState !== client.ws.OPEN) return false;
    }
    assert.equal((await silent.waitClosed(10 * intervalMs)).code, 4000, 'the silent client was closed by the heartbeat');
    return client.ws.readyState === client.ws.OPEN;
  }

  it('disconnects a silent client with 4000, and forgets it', async () => {
    const client = await gw.connect();
    await client.request('JOIN', { room: 'quiet' });
    const before = gw.gateway.stats.heartbeatDisconnects;
    // Generous: only a heartbeat that never comes fails here.
    const closed = await client.waitClosed(10 * intervalMs);
    assert.equal(closed.code, 4000);
    assert.equal(closed.reason, 'heartbeat timeout');
    assert.equal(gw.gateway.stats.heartbeatDisconnects, before + 1);
    assert.equal(gw.gateway.hub.members('quiet'), undefined);
  });

  it('keeps a client alive that sends PING frames', async (t) => {
    const client = await gw.connect();
    t.after(() => client.close());
    assert.equal(
      await survives(client, async () => {
        client.send({ type: 'PING', data: {} });
        await client.nextOfType('PONG');
      }),
      true,
    );
  });

  it('keeps a client alive that sends WebSocket-level pongs or pings', async (t) => {
    const ponger = await gw.connect();
    const pinger = await gw.connect();
    t.after(() => {
      ponger.close();
      pinger.close();
    });
    const ok = await survives(pinger, async () => {
      ponger.ws.pong();
      pinger.ws.ping();
      await withTimeout(new Promise<void>((resolve) => pinger.ws.once('pong', () => resolve())), 5000, 'the pong');
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
