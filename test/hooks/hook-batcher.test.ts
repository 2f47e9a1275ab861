import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Agent } from 'undici';
import { HookBatcher } from '../../src/hooks/hook-batcher.js';
import { type HookAnswer, HookCallError, HookClient, type HookClientSettings } from '../../src/hooks/hook-client.js';
import { verifyHookSignature } from '../../src/hooks/hook-signature.js';
import { withTimeout } from '../helpers/wait.js';

/** One request the backend got: its headers and its raw body, as sent. */
interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
}

/** What the backend answers a request with: status and body text. */
type Handler = (request: Received) => { status: number; body: string };

const SECRET = 'batch-test-secret';

const settings = (secret = ''): HookClientSettings => ({
  timeoutMs: 5000,
  concurrency: 8,
  maxAnswerBytes: 1 << 20,
  breakerFailures: 100,
  breakerCooldownMs: 1000,
  secret,
});

/**
 * The backend's batch handler: answers each call `{"n":k}` by its position: a refusal for multiples of 7,
 * a 503 for multiples of 11, otherwise `{"result": k * 2}`.
 */
const perCall: Handler = ({ raw }) => {
  const { calls } = JSON.parse(raw.toString('utf8')) as { calls: Array<{ n: number }> };
  const results = calls.map(({ n }) =>
    n % 7 === 0 ? { status: 403, body: { reason: `no ${n}` } } : n % 11 === 0 ? { status: 503 } : { status: 200, body: { result: n * 2 } },
  );
  return { status: 200, body: JSON.stringify({ results }) };
};

describe('HookBatcher over HTTP (a node:http backend, a HookClient on an undici Agent)', () => {
  let server: Server;
  let url: string;
  let agent: Agent;
  let received: Received[] = [];
  let handler: Handler = perCall;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request = { headers: req.headers, raw: Buffer.concat(chunks) };
        received.push(request);
        const { status, body } = handler(request);
        res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    agent = new Agent({ keepAliveTimeout: 10_000 });
  });

  after(async () => {
    await agent.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    received = [];
    handler = perCall;
  });

  it('sends a burst of 50 calls as ONE request with the batch header, and hands each caller its own answer', async () => {
    const batcher = new HookBatcher(new HookClient('rpc', url, settings(), agent), { maxCalls: 100, delayMs: 0 });
    const calls = Array.from({ length: 50 }, (_, i) => batcher.call({ n: i + 1 }));
    const settled = await withTimeout(Promise.allSettled(calls), 5000, 'the 50 calls');
    assert.equal(received.length, 1, 'one request for the burst');
    const [request] = received;
    assert.equal(request!.headers['x-pushgate-batch'], '50');
    assert.equal(request!.headers['x-pushgate-hook'], 'rpc');
    assert.equal(request!.headers['content-type'], 'application/json');
    assert.equal(request!.headers['x-pushgate-signature'], undefined, 'not signed without a secret');
    const body = JSON.parse(request!.raw.toString('utf8')) as { calls: Array<{ n: number }> };
    assert.deepEqual(
      body.calls.map((c) => c.n),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    settled.forEach((outcome, i) => {
      const n = i + 1;
      if (n % 7 === 0) assert.deepEqual(outcome, { status: 'fulfilled', value: { status: 403, body: { reason: `no ${n}` } } }, `call ${n}`);
      else if (n % 11 === 0) {
        assert.equal(outcome.status, 'rejected', `call ${n}`);
        const reason = (outcome as PromiseRejectedResult).reason as HookCallError;
        assert.ok(reason instanceof HookCallError);
        assert.equal(reason.kind, 'unavailable');
      } else assert.deepEqual(outcome, { status: 'fulfilled', value: { status: 200, body: { result: n * 2 } } }, `call ${n}`);
    });
  });

  it('signs the batch: the backend verifies the signature over the raw body', async () => {
    const verified: boolean[] = [];
    handler = (request) => {
      const ok = verifyHookSignature(SECRET, request.raw, request.headers['x-pushgate-timestamp'], request.headers['x-pushgate-signature']);
      verified.push(ok);
      // A wrong secret must not verify: the check is not one that passes anything.
      verified.push(!verifyHookSignature(`${SECRET}x`, request.raw, request.headers['x-pushgate-timestamp'], request.headers['x-pushgate-signature']));
      return ok ? perCall(request) : { status: 401, body: '{"reason":"bad signature"}' };
    };
    const batcher = new HookBatcher(new HookClient('publish', url, settings(SECRET), agent), { maxCalls: 100, delayMs: 0 });
    const answers = await withTimeout(Promise.all([1, 2, 3].map((n) => batcher.call({ n }))), 5000, 'the signed calls');
    assert.equal(received.length, 1);
    assert.match(String(received[0]!.headers['x-pushgate-signature']), /^v1=[0-9a-f]{64}$/);
    assert.equal(received[0]!.headers['x-pushgate-hook'], 'publish');
    assert.deepEqual(verified, [true, true]);
    assert.deepEqual(answers, [1, 2, 3].map((n) => ({ status: 200, body: { result: n * 2 } })) satisfies HookAnswer[]);
  });

  it('fails every call of the batch when the backend answers the whole batch 500, or with the wrong number of results', async () => {
    const batcher = new HookBatcher(new HookClient('rpc', url, settings(), agent), { maxCalls: 100, delayMs: 0 });
    handler = () => ({ status: 500, body: '{}' });
    const down = await withTimeout(Promise.allSettled([1, 2, 3].map((n) => batcher.call({ n }))), 5000, 'the calls to a failing backend');
    assert.deepEqual(
      down.map((o) => o.status === 'rejected' && (o.reason as HookCallError).kind),
      ['unavailable', 'unavailable', 'unavailable'],
    );
    handler = () => ({ status: 200, body: '{"results":[{"status":200}]}' });
    const short = await withTimeout(Promise.allSettled([1, 2].map((n) => batcher.call({ n }))), 5000, 'the calls answered short');
    assert.deepEqual(
      short.map((o) => o.status === 'rejected' && (o.reason as HookCallError).kind),
      ['bad-answer', 'bad-answer'],
    );
    assert.equal(received.length, 2);
    assert.equal(batcher.batchesInFlight, 0);
    assert.equal(batcher.waitingCalls, 0);
  });
});
