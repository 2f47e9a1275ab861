import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey, isLoopback } from '../../src/api/api-key.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';

describe('ApiKey', () => {
  it('accepts exactly "Bearer <key>"', () => {
    const key = new ApiKey('s3cret-key');
    assert.equal(key.matches('Bearer s3cret-key'), true);
    assert.equal(key.matches('bearer s3cret-key'), true);
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Bearer s3cret', 'Bearer s3cret-key2', 's3cret-key', 'Basic s3cret-key']) {
      assert.equal(key.matches(header), false, String(header));
    }
  });

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(host), true, host);
    for (const host of ['0.0.0.0', '::', '192.168.1.1', 'example.com']) assert.equal(isLoopback(host), false, host);
  });
});

describe('push API with an API key', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ apiKey: 'k-123' });
  });
  after(() => gw.close());

  const push = (authorization?: string) =>
    fetch(`${gw.apiUrl}/push/all`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: '{"items":[1]}',
    });

  it('answers 401 with WWW-Authenticate without the key or with a wrong one, for every route but /healthz', async () => {
    for (const authorization of [undefined, 'Bearer nope', 'k-123']) {
      const res = await push(authorization);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="pushgate"');
      assert.equal((await res.json()).error.code, 'UNAUTHORIZED');
    }
    assert.equal((await fetch(`${gw.apiUrl}/stats`)).status, 401);
    assert.equal((await fetch(`${gw.apiUrl}/metrics`)).status, 401);
    assert.equal((await fetch(`${gw.apiUrl}/healthz`)).status, 200);
    assert.equal(gw.gateway.stats.itemsAccepted, 0);
  });

  it('accepts the key', async () => {
    const res = await push('Bearer k-123');
    assert.equal(res.status, 200);
    assert.equal((await fetch(`${gw.apiUrl}/stats`, { headers: { authorization: 'Bearer k-123' } })).status, 200);
  });

  it('refuses to start a push API off loopback without a key, naming the option (nothing is bound)', async (t) => {
    const exposed = new Gateway({ host: '127.0.0.1', port: 0, apiHost: '0.0.0.0', apiPort: 0 });
    t.after(() => exposed.close());
    await assert.rejects(exposed.listen(), /--api-key \(PUSHGATE_API_KEY.*would listen on 0\.0\.0\.0 without a key/);
  });
});
