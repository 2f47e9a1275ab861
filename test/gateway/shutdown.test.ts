import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestClient } from '../helpers/client.js';
import { startGateway } from '../helpers/gateway.js';
import { memoryLogger } from '../helpers/log.js';
import { freePort } from '../helpers/services.js';
import { withTimeout } from '../helpers/wait.js';

describe('graceful shutdown', () => {
  it('delivers accepted pushes, closes clients with 1001, stops accepting', async (t) => {
    // A long batch delay keeps the pushes queued until the shutdown flushes them; a long shutdownTimeout
    // shows that close() does not wait for it once every client has answered.
    const logs = memoryLogger();
    const gw = await startGateway({ maxBatchDelay: 60000, shutdownTimeout: 60 }, logs.log);
    t.after(() => gw.close()); // idempotent: a no-op once the test has closed it
    const clients = await Promise.all([gw.connect(), gw.connect(), gw.connect()]);
    for (const client of clients) await client.request('JOIN', { room: 'last-words' });
    await gw.gateway.pushRoom('last-words', ['bye 1']);
    await gw.gateway.pushAll(['bye 2']);
    assert.equal(gw.gateway.snapshot().mergerPending, 2);

    const closing = gw.close();
    await assert.rejects(gw.gateway.pushAll(['too late']), { code: 'SHUTTING_DOWN', status: 503 });
    await assert.rejects(gw.gateway.pushConn('any-1', ['too late']), { code: 'SHUTTING_DOWN', status: 503 });
    await assert.rejects(TestClient.open(gw.wsUrl()), 'no new connections');
    for (const client of clients) {
      const received = [await client.next(), await client.next()].flatMap((frame) => frame.data.items).sort();
      assert.deepEqual(received, ['bye 1', 'bye 2']);
      assert.deepEqual(await client.waitClosed(), { code: 1001, reason: 'server shutting down' });
    }
    // Far less than the 60 s shutdownTimeout: only a close() that waited for it (or hung) fails here.
    await withTimeout(closing, 20_000, 'close() once every client answered');
    assert.ok(!logs.lines().some((l) => /deadline passed/.test(String(l.msg))), 'no client was cut: every one answered the close');
    assert.equal(gw.gateway.snapshot().onlineConnections, 0);
    await assert.rejects(fetch(`${gw.apiUrl}/stats`), 'the push API is closed');
  });

  it('cuts clients that do not answer the close once shutdownTimeout passes', async (t) => {
    const logs = memoryLogger();
    const gw = await startGateway({ shutdownTimeout: 0.3 }, logs.log);
    t.after(() => gw.close());
    const stuck = await gw.connect();
    // A client that reads nothing never answers the close frame.
    stuck.pauseReading();
    const started = performance.now();
    await withTimeout(gw.close(), 20_000, 'close()');
    // Not before the deadline (timers never fire early, load only makes it later); how much later is not asserted.
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 250, `close took ${elapsed} ms, less than shutdownTimeout`);
    const cut = logs.lines().filter((l) => l.msg === 'shutdown deadline passed: cutting the clients that did not close');
    assert.equal(cut.length, 1, 'the client that did not answer was cut at the deadline');
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
      const again = createServer()
        .once('error', reject)
        .listen(port, '127.0.0.1', () => again.close(() => resolve()));
    });
  });
});
