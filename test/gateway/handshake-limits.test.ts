import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { refusal, TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { startNode } from '../helpers/process.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const SECRET = 'handshake-limits-test-secret-0123456789';
const LIMIT = 5;
const ADDRESS = '127.0.0.1';
/** The compiled burst helper (tests run from the package root). */
const BURST = 'dist/test/helpers/handshake-burst.js';

/** How many answers had each status. */
function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/** Sends a complete handshake request and cuts the socket at once, before the server can answer it. */
function abortedHandshake(port: number, path: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      const socket = connect({ host: ADDRESS, port }, () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${ADDRESS}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
        socket.destroy();
      });
      socket.on('error', reject);
      socket.on('close', () => resolve());
    }),
    3000,
    'an aborted handshake',
  );
}

/** Sends `request` on a fresh socket; resolves with everything the server answered once it closes. */
function rawRequest(port: number, request: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      let answer = '';
      const socket = connect({ host: ADDRESS, port }, () => socket.write(request));
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(answer));
    }),
    3000,
    'the answer to a raw request',
  );
}

describe('connections per IP address with authentication on (counted at handshake start)', () => {
  let gw: RunningGateway;
  let url: string;
  before(async () => {
    gw = await startGateway({ jwtSecret: SECRET, maxConnectionsPerIp: LIMIT });
    url = `${gw.wsUrl()}?token=${await signToken({ secret: SECRET, sub: 'alice' })}`;
  });
  after(() => gw.close());

  /** Opens LIMIT connections, checks that one more is refused with 429, and closes them all. */
  async function limitHolds(): Promise<void> {
    const open: TestClient[] = [];
    try {
      for (let i = 0; i < LIMIT; i++) open.push(await TestClient.open(url));
      const over = await refusal(TestClient.open(url));
      assert.equal(over.status, 429);
      assert.equal(over.body.error.code, 'TOO_MANY_CONNECTIONS');
    } finally {
      open.forEach((client) => client.close());
      await Promise.all(open.map((client) => client.waitClosed()));
    }
    await waitFor(() => gw.gateway.connectionsFrom(ADDRESS) === 0, 3000, 'the address count back to 0');
  }

  it('opens exactly the limit of 100 simultaneous handshakes with a valid token, refuses the rest with 429, and leaks nothing', async (t) => {
    const target = new URL(url);
    // Another process, so that the 100 requests arrive together while token checks are under way.
    const burst = startNode(BURST, [target.port, target.pathname + target.search, '100']);
    t.after(() => burst.stop());
    const [line] = await burst.waitForLine(/^\{"statuses".*\}$/m, 15000);
    const statuses = (JSON.parse(line) as { statuses: number[] }).statuses;
    assert.equal(statuses.filter((status) => status === 101).length, LIMIT, `answers: ${JSON.stringify(tally(statuses))}`);
    assert.equal(statuses.filter((status) => status === 429).length, 100 - LIMIT);
    await waitFor(() => gw.gateway.hub.size === LIMIT, 3000, 'the open connections');
    assert.equal(gw.gateway.connectionsFrom(ADDRESS), LIMIT);
    // Ending the process closes its sockets; every count is released.
    await burst.stop();
    await waitFor(() => gw.gateway.connectionsFrom(ADDRESS) === 0 && gw.gateway.hub.size === 0, 5000, 'the address count back to 0');
    await limitHolds();
  });

  it('releases the count of a handshake refused for its token (401)', async () => {
    for (let i = 0; i < 2 * LIMIT; i++) {
      const refused = await refusal(TestClient.open(`${gw.wsUrl()}?token=not.a.jwt`));
      assert.equal(refused.status, 401);
    }
    await waitFor(() => gw.gateway.connectionsFrom(ADDRESS) === 0, 3000, 'the refused handshakes released');
    await limitHolds();
  });

  it('releases the count of a handshake whose client goes away before it completes', async (t) => {
    const port = Number(new URL(gw.wsUrl()).port);
    const path = new URL(url).pathname + new URL(url).search;
    const { stats } = gw.gateway;
    const seen = (): number => stats.connectionsTotal + stats.handshakesRefused + stats.handshakesAborted;
    const abortedBefore = stats.handshakesAborted;
    const count = 4 * LIMIT;
    for (let i = 0; i < count; i++) {
      const before = seen();
      await abortedHandshake(port, path);
      // Each ends as an aborted handshake, or (when the upgrade won the race) a connection that then closed.
      await waitFor(() => seen() === before + 1, 3000, `handshake ${i} to be accounted for`);
    }
    t.diagnostic(`${stats.handshakesAborted - abortedBefore} of ${count} aborted before the upgrade completed`);
    await waitFor(() => gw.gateway.connectionsFrom(ADDRESS) === 0 && gw.gateway.hub.size === 0, 3000, 'every aborted handshake released');
    await limitHolds();
  });

  it('releases the count of an upgrade that ws refuses (bad Sec-WebSocket-Version: 400)', async () => {
    const port = Number(new URL(gw.wsUrl()).port);
    const path = new URL(url).pathname + new URL(url).search;
    for (let i = 0; i < 2 * LIMIT; i++) {
      const answer = await rawRequest(
        port,
        `GET ${path} HTTP/1.1\r\nHost: ${ADDRESS}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 7\r\n\r\n`,
      );
      assert.match(answer, /^HTTP\/1\.1 400 /);
    }
    await waitFor(() => gw.gateway.connectionsFrom(ADDRESS) === 0, 3000, 'the failed upgrades released');
    await limitHolds();
  });
});
