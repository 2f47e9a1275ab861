import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type PushgateClient } from '../../src/client/node.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { withTimeout } from '../helpers/wait.js';

const SECRET = 'sdk-test-secret';

const token = (sub: string, rooms: string[]): Promise<string> => signToken({ sub, rooms, secret: SECRET });

describe('client SDK with authentication on', () => {
  let gw: RunningGateway;
  const clients: PushgateClient[] = [];
  before(async () => {
    gw = await startGateway({ jwtSecret: SECRET });
  });
  after(async () => {
    clients.forEach((c) => c.close());
    await gw.close();
  });

  it("sends its token as a subprotocol, asks a fresh one per attempt, and is held to the token's rooms", async () => {
    let asked = 0;
    const jwt = await token('alice', ['news']);
    const client = connect(gw.wsUrl(), {
      token: () => {
        asked += 1;
        return jwt;
      },
    });
    clients.push(client);
    await client.join('news');
    assert.equal(asked, 1);
    assert.equal(gw.gateway.hub.get(client.connId ?? '')?.userId, 'alice');
    await assert.rejects(client.join('sport'), { code: 'FORBIDDEN' });
    const received = new Promise<unknown[]>((resolve) => client.on('push', (items) => resolve(items)));
    assert.equal((await postJson(`${gw.apiUrl}/push/user`, { user: 'alice', items: ['for alice'] })).status, 200);
    assert.deepEqual(await withTimeout(received, 3000, 'the push'), ['for alice']);
  });
});
