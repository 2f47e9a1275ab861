import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/log.js';
import { refusal, TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';

/** The refusal of a handshake to `url` from `origin` (none: no Origin header). */
const refusedFrom = (url: string, origin?: string) => refusal(TestClient.open(url, origin === undefined ? {} : { origin }));

describe('origin check, default policy (same origin)', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('refuses a cross-site origin with 403 before any WebSocket exists', async () => {
    const before = gw.gateway.stats.handshakesRefused;
    const refused = await refusedFrom(gw.wsUrl(), 'http://evil.example');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'ORIGIN_NOT_ALLOWED');
    assert.equal(gw.gateway.stats.handshakesRefused, before + 1);
    assert.equal(gw.gateway.stats.connectionsTotal, 0);
    assert.equal((await refusedFrom(gw.wsUrl(), 'null')).status, 403, 'pages opened from files');
  });

  it("accepts the page's own origin and clients that send no Origin", async () => {
    const own = await TestClient.open(gw.wsUrl(), { origin: gw.pageUrl });
    const bare = await TestClient.open(gw.wsUrl());
    assert.equal((await own.request('PING')).type, 'PONG');
    assert.equal((await bare.request('PING')).type, 'PONG');
    own.close();
    bare.close();
  });

  it('refuses a DNS-rebinding page (Origin and Host both evil.com:PORT) with 403', async () => {
    const port = new URL(gw.pageUrl).port;
    const refused = await refusal(TestClient.open(gw.wsUrl(), { origin: `http://evil.com:${port}`, headers: { host: `evil.com:${port}` } }));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'ORIGIN_NOT_ALLOWED');
  });

  it('refuses an https origin on this http listener, and another port, whatever Host says', async () => {
    const port = Number(new URL(gw.pageUrl).port);
    for (const origin of [`https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`, 'http://127.0.0.1', `https://localhost:${port}`]) {
      const host = new URL(origin).host;
      assert.equal((await refusal(TestClient.open(gw.wsUrl(), { origin, headers: { host } }))).status, 403, origin);
    }
  });

  it("accepts the console's own origins, http://127.0.0.1:PORT and http://localhost:PORT, whatever Host says", async () => {
    const port = new URL(gw.pageUrl).port;
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://LOCALHOST:${port}/`]) {
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'elsewhere.example']) {
        const client = await TestClient.open(gw.wsUrl(), { origin, headers: { host } });
        assert.equal((await client.request('PING')).type, 'PONG', `${origin} with Host ${host}`);
        client.close();
      }
    }
  });

  it('answers 404 for a WebSocket on an unknown path', async () => {
    const refused = await refusedFrom(gw.wsUrl('/elsewhere'));
    assert.equal(refused.status, 404);
    assert.equal(refused.body.error.code, 'NOT_FOUND');
  });
});

describe('origin check, configured list and "*"', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ allowedOrigins: ['https://app.example', 'https://*.example.org'] });
  });
  after(() => gw.close());

  it("accepts listed origins and refuses the rest, including the gateway's own", async () => {
    const listed = await TestClient.open(gw.wsUrl(), { origin: 'https://app.example' });
    const wildcard = await TestClient.open(gw.wsUrl(), { origin: 'https://eu.example.org' });
    listed.close();
    wildcard.close();
    assert.equal((await refusedFrom(gw.wsUrl(), 'https://app.example.evil')).status, 403);
    assert.equal((await refusedFrom(gw.wsUrl(), gw.pageUrl)).status, 403);
  });

  it('allows every origin only when configured "*", and says so at start-up', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const open = new Gateway({ host: '127.0.0.1', port: 0, apiHost: '127.0.0.1', apiPort: 0, allowedOrigins: ['*'] }, createLogger('info', 'text', sink));
    const { ws } = await open.listen();
    try {
      assert.ok(
        lines.some((line) => /WARN.*allowedOrigins is "\*".*ANY site/.test(line)),
        lines.join(''),
      );
      const client = await TestClient.open(`ws://127.0.0.1:${ws!.port}/connect`, { origin: 'https://anything.example' });
      client.close();
    } finally {
      await open.close();
    }
  });
});
