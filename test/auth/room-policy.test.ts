import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_ROOM_PATTERN_LENGTH, MAX_ROOM_PATTERNS, RoomPolicy } from '../../src/auth/room-policy.js';
import { refusal, TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken } from '../helpers/jwt.js';
import { type Child, CLI, startNode } from '../helpers/process.js';
import { withTimeout } from '../helpers/wait.js';

const SECRET = 'room-policy-secret';
const LISTENING = /listening ws=(\S+):(\d+) api=/;

// The matcher this module replaced: a `*` glob turned into a backtracking regular expression. Only
// ever run here on small inputs, as the reference the new matcher must agree with.
function referenceAllows(entries: readonly string[], room: string): boolean {
  return entries.some((entry) =>
    new RegExp(
      `^${entry
        .split('*')
        .map((piece) => piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
      'su',
    ).test(room),
  );
}

// Few distinct characters make overlaps and repeats likely; `é`, `默` and `😀` (two UTF-16 units) check
// that pieces are placed on whole characters.
const glyph = fc.constantFrom('a', 'b', ':', 'é', '默', '😀');
const room = fc.array(glyph, { maxLength: 12 }).map((chars) => chars.join(''));
const pattern = fc
  .array(fc.oneof({ weight: 2, arbitrary: glyph }, { weight: 1, arbitrary: fc.constant('*') }), { maxLength: 10 })
  .map((chars) => chars.join(''));

describe('RoomPolicy', () => {
  it('matches exact names and * patterns', () => {
    const policy = new RoomPolicy(['news', 'chat:*', 'a*z']);
    assert.ok(policy.allows('news'));
    assert.ok(policy.allows('chat:'));
    assert.ok(policy.allows('chat:room.1'));
    assert.ok(policy.allows('abcz'));
    assert.ok(!policy.allows('news2'));
    assert.ok(!policy.allows('xchat:1'));
    assert.ok(new RoomPolicy(['*']).allows('anything'));
    assert.ok(!new RoomPolicy([]).allows('anything'));
  });

  it('never lets a prefix and a suffix share characters', () => {
    const allows = (entry: string, name: string): boolean => new RoomPolicy([entry]).allows(name);
    assert.ok(!allows('ab*ba', 'aba'));
    assert.ok(allows('ab*ba', 'abba'));
    assert.ok(!allows('a*a', 'a'));
    assert.ok(allows('a*a', 'aa'));
    assert.ok(allows('x*y*x', 'xyx'));
    assert.ok(!allows('x*y*x', 'xy'));
    assert.ok(!allows('x*y*x', 'x'));
    assert.ok(!allows('x*x*x', 'xx'));
  });

  it('agrees with the regular-expression reference on random patterns and rooms', () => {
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 3 }), room, (entries, name) => {
        const kept = entries.map((entry) => entry.trim()).filter((entry) => entry !== '');
        assert.equal(new RoomPolicy(kept).allows(name), referenceAllows(kept, name), `${JSON.stringify(kept)} vs ${JSON.stringify(name)}`);
      }),
      { seed: 20240613, numRuns: 5000 },
    );
  });

  it(`refuses more than ${MAX_ROOM_PATTERNS} entries and entries longer than ${MAX_ROOM_PATTERN_LENGTH} characters`, () => {
    assert.doesNotThrow(() => new RoomPolicy(Array.from({ length: MAX_ROOM_PATTERNS }, (_, i) => `room${i}`)));
    assert.doesNotThrow(() => new RoomPolicy(['*'.repeat(MAX_ROOM_PATTERN_LENGTH)]));
    // Counted in characters, as room names are: 256 emoji are 512 UTF-16 units and still allowed.
    assert.doesNotThrow(() => new RoomPolicy(['😀'.repeat(MAX_ROOM_PATTERN_LENGTH)]));
    assert.throws(() => new RoomPolicy(Array.from({ length: MAX_ROOM_PATTERNS + 1 }, (_, i) => `room${i}`)), /at most 64 entries/);
    assert.throws(() => new RoomPolicy(['a'.repeat(MAX_ROOM_PATTERN_LENGTH + 1)]), /at most 256 characters/);
    assert.throws(() => new RoomPolicy(['chat:\uD800*']), /well-formed Unicode/);
  });
});

// The worst cases of the adversarial run, against a gateway process of its own: were matching to
// block that process, the answer would not come and the bounded wait here would fail (the test
// process's own event loop stays free).
describe('room patterns at a real gateway (worst cases)', () => {
  let gw: Child;
  let port: string;
  before(async () => {
    gw = startNode(CLI, ['--host', '127.0.0.1', '--port', '0', '--api-host', '127.0.0.1', '--api-port', '0', '--workers', '1', '--log-level', 'warn'], {
      PUSHGATE_JWT_SECRET: SECRET,
    });
    [, , port] = await gw.waitForLine(LISTENING, 10000);
  });
  // A process stuck in a regular expression never runs its SIGTERM handler: then it is killed.
  after(() =>
    gw.stop(3000).catch(() => {
      gw.child.kill('SIGKILL');
      return gw.exited;
    }),
  );

  const cases: Array<[string, string]> = [
    ['*a*a*a*a*a*b', 'a'.repeat(100)],
    ['*a'.repeat(11) + '*b', 'a'.repeat(40)],
    ['*a'.repeat(63) + '*b', 'a'.repeat(128)],
    ['a*'.repeat(64) + 'b', 'a'.repeat(128)],
  ];

  for (const [entry, name] of cases) {
    it(`answers a JOIN of ${name.length} characters against ${JSON.stringify(entry.length > 16 ? `${entry.slice(0, 8)}…${entry.slice(-4)}` : entry)} (${entry.split('*').length - 1} wildcards) at once`, async () => {
      const token = await signToken({ secret: SECRET, sub: 'mallory', rooms: [entry] });
      const client = await TestClient.open(`ws://127.0.0.1:${port}/connect?token=${token}`);
      try {
        const refused = await client.request('JOIN', { room: name }, 5000);
        assert.equal(refused.type, 'ERROR');
        assert.equal(refused.data.code, 'FORBIDDEN');
        // A room the pattern does match is joined, as fast.
        const allowed = `${'a'.repeat(name.length - 1)}b`;
        assert.equal((await client.request('JOIN', { room: allowed }, 5000)).type, 'ACK');
        assert.equal((await client.request('PING', undefined, 5000)).type, 'PONG');
      } finally {
        client.close();
      }
    });
  }
});

describe('room pattern bounds at the handshake and in AUTH', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ jwtSecret: SECRET });
  });
  after(() => gw.close());

  const tooMany = Array.from({ length: MAX_ROOM_PATTERNS + 1 }, (_, i) => `room${i}`);
  const tooLong = ['chat:' + '*a'.repeat(MAX_ROOM_PATTERN_LENGTH)];

  it('refuses a handshake token over the bounds with 401 and says why', async () => {
    for (const [rooms, message] of [
      [tooMany, /at most 64 entries/],
      [tooLong, /at most 256 characters/],
      [tooMany.join(','), /at most 64 entries/],
    ] as const) {
      const token = await signToken({ secret: SECRET, sub: 'mallory', rooms });
      const refused = await refusal(TestClient.open(`${gw.wsUrl()}?token=${token}`));
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error.code, 'UNAUTHORIZED');
      assert.match(refused.body.error.message, message);
    }
    const atBound = await signToken({ secret: SECRET, sub: 'alice', rooms: tooMany.slice(1) });
    const client = await TestClient.open(`${gw.wsUrl()}?token=${atBound}`);
    assert.equal((await client.request('JOIN', { room: 'room64' })).type, 'ACK');
    client.close();
  });

  it('answers an AUTH token over the bounds with ERROR UNAUTHORIZED and closes with 4001', async () => {
    const client = await TestClient.open(gw.wsUrl(), {}, ['pushgate.auth']);
    const answer = await client.request('AUTH', { token: await signToken({ secret: SECRET, sub: 'mallory', rooms: tooLong }) });
    assert.equal(answer.type, 'ERROR');
    assert.equal(answer.data.code, 'UNAUTHORIZED');
    assert.match(answer.data.message, /at most 256 characters/);
    assert.equal((await withTimeout(client.closed, 5000, 'the close')).code, 4001);
  });
});
