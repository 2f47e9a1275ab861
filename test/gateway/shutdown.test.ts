import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort } from '../helpers/services.js';
import { TestClient } from '../helpers/client.js';
import { startGateway } from '../helpers/gateway.js';
import { withTimeout } from '../helpers/wait.js';

describe('graceful shutdown', () => {
  it('delivers accepted pushes, closes clients with 1001, stops accepting', async (t) => {
    // A long batch delay keeps the pushes queued until the shutdown flushes them.
    const gw = await startGateway({ maxBatchDelay: 60000, shutdownTimeout: 5 });
    t.after(() => gw.close()); // idempotent: a no-op once the test has closed it
    const clients = await Promise.all([gw.connect(), gw.connect(), gw.connect()]);
    for (const client of clients) await client.request('JOIN', { room: 'last-words' });
    await gw.gateway.pushRoom('last-words', ['bye 1']);
    await gw.gateway.pushAll(['bye 2']);
    assert.equal(gw.gateway.snapshot().mergerPending, 2);

    const started = Date.now();
    const closing = gw.close();
    await assert.rejects(gw.gateway.pushAll(['too late']), { code: 'SHUTTING_DOWN', status: 503 });
    await assert.rejects(gw.gateway.pushConn('any-1', ['too late']), { code: 'SHUTTING_DOWN', status: 503 });
    await assert.rejects(TestClient.open(gw.wsUrl()), 'no new connections');
    for (const client of clients) {
      const received = [await client.next(), await client.next()].flatMap((frame) => frame.data.items).sort();
      assert.deepEqual(received, ['bye 1', 'bye 2']);
      assert.deepEqual(await client.waitClosed(), { code: 1001, reason: 'server shutting down' });
    }
    await withTimeout(closing, 5000, 'close()');
    assert.ok(Date.now() - started < 2000, 'clients that answer the close are not waited for');
    assert.equal(gw.gateway.snapshot().onlineConnections, 0);
    await assert.rejects(fetch(`${gw.apiUrl}/stats`), 'the push API is closed');
  });

  it('cuts clients that do not answer the close once shutdownTimeout passes', async (t) => {
    const gw = await startGateway({ shutdownTimeout: 0.3 });
    t.after(() => gw.close());
    const stuck = await gw.connect();
    // A client that reads nothing never answers the close frame.
    stuck.pauseReading();
    const started = Date.now();
    await withTimeout(gw.close(), 3000, 'close()');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 2000, `close took ${elapsed} ms`);
    stuck.resumeReading();
    const { code } = await stuck.waitClosed();
    assert.ok(code === 1001 || code === 1006, `code ${code}`);
  });
});

describe('close() during listen()', () => {
  it('waits for the ports, then closes them: the gateway does not end up running', async (t) => {
    const { Gateway } = await import('../../src/gateway/gateway.js');
    const gateway = new Gateway({ host: '127.0.0.1', port: 0, apiHost: '127.0.0.1', apiPort: 0 });
    t.after(() => gateway.close());
    const listening = gateway.listen();
    await withTimeout(gateway.close(), 3000, 'close()');
    const { api } = await listening;
    assert.equal(gateway.isRunning, false);
    await assert.rejects(fetch(`http://127.0.0.1:${api!.port}/healthz`), 'the API port is closed');
  });
});

describe('a failed start', () => {
  it('releases the port it did bind and reports the error', async (t) => {
    const { createServer } = await import('node:net');
    const { Gateway } = await import('../../src/gateway/gateway.js');
    const taken = await startGateway();
    t.after(() => taken.close());
    const port = await freePort();
    const apiPort = Number(new URL(taken.apiUrl).port);
    const failing = new Gateway({ host: '127.0.0.1', port, apiHost: '127.0.0.1', apiPort });
    t.after(() => failing.close());
    await assert.rejects(failing.listen(), { code: 'EADDRINUSE' });
    assert.equal(failing.isRunning, false);
    await withTimeout(failing.close(), 2000, 'close() after a failed start');
    // The WebSocket port it had bound is free again.
    await new Promise<void>((resolve, reject) => {
      const again = createServer().once('error', reject).listen(port, '127.0.0.1', () => again.close(() => resolve()));
    });
  });
});
