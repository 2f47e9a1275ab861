import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

describe('connections per IP address', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ maxConnectionsPerIp: 2 });
  });
  after(() => gw.close());

  it('refuses a handshake over the limit with 429, and admits again once one closes', async () => {
    const a = await gw.connect();
    const b = await gw.connect();
    const refused = await TestClient.open(gw.wsUrl()).then(() => null, (error: { status?: number; body?: string }) => error);
    assert.equal(refused?.status, 429);
    assert.equal(JSON.parse(refused?.body ?? '{}').error.code, 'TOO_MANY_CONNECTIONS');
    a.close();
    await a.waitClosed();
    await waitFor(() => gw.gateway.hub.size === 1, 3000, 'the close to be counted');
    let c: TestClient | null = null;
    for (let i = 0; i < 50 && c === null; i++) {
      c = await TestClient.open(gw.wsUrl()).catch(() => null);
      if (c === null) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(c, 'a new connection is admitted');
    b.close();
    c.close();
  });
});
