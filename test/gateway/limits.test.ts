import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { refusal, TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
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
    const refused = await refusal(TestClient.open(gw.wsUrl()));
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.code, 'TOO_MANY_CONNECTIONS');
    a.close();
    // The address's count is released once the closed connection's socket is gone.
    await waitFor(() => gw.gateway.connectionsFrom('127.0.0.1') === 1, 3000, 'the close to be counted');
    const c = await TestClient.open(gw.wsUrl());
    b.close();
    c.close();
  });
});
