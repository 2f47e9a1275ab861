import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { HookCallError, HookClient, type HookClientSettings, type HookOutcome } from '../../src/hooks/hook-client.js';
import { HookHeader, verifyHookSignature } from '../../src/hooks/hook-signature.js';

const SECRET = 'body-test-secret';

describe('HookClient.callBody over HTTP (a pre-serialised body, posted as is)', () => {
  let server: Server;
  let base: string;
  let agent: Agent;
  const received: Array<{ headers: IncomingHttpHeaders; raw: string }> = [];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') });
        const status = Number(req.url?.slice(1) ?? '200');
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    agent = new Agent({ keepAliveTimeout: 10_000, connections: 2, pipelining: 1 });
  });

  after(async () => {
    await agent.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const settings: HookClientSettings = { timeoutMs: 5000, concurrency: 2, maxAnswerBytes: 1024, breakerFailures: 100, breakerCooldownMs: 1000, secret: SECRET };

  it('sends the exact bytes, signed, with the extra headers; answers the text unparsed; 4xx resolves, 5xx rejects', async () => {
    const outcomes: HookOutcome[] = [];
    const client = (status: number) => new HookClient('webhook', `${base}/${status}`, settings, agent, { called: (_hook, outcome) => outcomes.push(outcome) });
    // Spacing and key order a re-serialisation would change.
    const body = '{ "b":1,  "a":"é" }';
    const answer = await client(200).callBody(body, { 'x-extra': 'yes' });
    assert.deepEqual(answer, { status: 200, body: 'ok' }, 'a 2xx answer that is not JSON is fine here');
    const got = received.at(-1)!;
    assert.equal(got.raw, body);
    assert.equal(got.headers['x-extra'], 'yes');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(verifyHookSignature(SECRET, got.raw, got.headers[HookHeader.TIMESTAMP], got.headers[HookHeader.SIGNATURE]), true);
    assert.deepEqual(await client(404).callBody(body), { status: 404, body: 'no' });
    await assert.rejects(client(500).callBody(body), (error: unknown) => error instanceof HookCallError && error.kind === 'unavailable');
    assert.deepEqual(outcomes, ['ok', 'refused', 'unavailable']);
    // call() still parses: a 2xx that is not JSON stays a bad answer there.
    await assert.rejects(client(200).call({ x: 1 }), (error: unknown) => error instanceof HookCallError && error.kind === 'bad-answer');
  });
});
