import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { jwtVerify } from 'jose';
import { type Child, CLI, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

const children: Child[] = [];
function run(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = startNode(CLI, ['token', ...args], env);
  children.push(child);
  return child;
}
after(() => Promise.all(children.map((c) => c.stop())));

const key = (secret: string): Uint8Array => new TextEncoder().encode(secret);

describe('pushgate token', () => {
  it('prints an HS256 token alone on stdout, verifiable with the secret', async () => {
    const child = run(['--secret', 's3cret', '--sub', 'alice', '--rooms', 'news,chat:*', '--ttl', '120']);
    assert.equal(await withTimeout(child.exited, 10000, 'pushgate token'), 0);
    const output = child.output();
    assert.match(output, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one token and a newline');
    const { payload, protectedHeader } = await jwtVerify(output.trim(), key('s3cret'), { algorithms: ['HS256'] });
    assert.equal(protectedHeader.alg, 'HS256');
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(payload.rooms, ['news', 'chat:*']);
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 120);
    await assert.rejects(jwtVerify(output.trim(), key('another'), { algorithms: ['HS256'] }));
  });

  it('takes the secret from PUSHGATE_JWT_SECRET, defaults to one hour and no rooms claim', async () => {
    const child = run(['--sub', 'bob'], { PUSHGATE_JWT_SECRET: 'from-env' });
    assert.equal(await withTimeout(child.exited, 10000, 'pushgate token'), 0);
    const { payload } = await jwtVerify(child.output().trim(), key('from-env'));
    assert.equal(payload.sub, 'bob');
    assert.equal(payload.rooms, undefined);
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 3600);
  });

  it('fails without a secret or without --sub', async () => {
    const noSecret = run(['--sub', 'bob'], { PUSHGATE_JWT_SECRET: '' });
    assert.notEqual(await withTimeout(noSecret.exited, 10000, 'pushgate token'), 0);
    assert.match(noSecret.output(), /PUSHGATE_JWT_SECRET/);
    const noSub = run(['--secret', 'x']);
    assert.notEqual(await withTimeout(noSub.exited, 10000, 'pushgate token'), 0);
    assert.match(noSub.output(), /--sub/);
  });

  it('refuses --rooms the gateway would refuse (over 64 entries or 256 characters)', async () => {
    for (const [rooms, message] of [
      [Array.from({ length: 65 }, (_, i) => `r${i}`).join(','), /at most 64 entries/],
      ['*a'.repeat(129), /at most 256 characters/],
    ] as const) {
      const child = run(['--secret', 'x', '--sub', 'bob', '--rooms', rooms]);
      assert.equal(await withTimeout(child.exited, 10000, 'pushgate token'), 2);
      assert.match(child.output(), message);
      assert.doesNotMatch(child.output(), /^[\w-]+\.[\w-]+\.[\w-]+$/m, 'no token printed');
    }
  });
});
