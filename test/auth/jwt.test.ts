import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportSPKI, generateKeyPair } from 'jose';
import { OptionError } from '../../src/config/options.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { refusal, TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { signToken, type TokenClaims } from '../helpers/jwt.js';

const SECRET = 'test-secret-of-sufficient-length-0123456789';

/** A token signed with the suite's secret unless the claims say otherwise. */
const token = (claims: TokenClaims = {}): Promise<string> => signToken({ secret: SECRET, ...claims });

describe('JWT authentication (HS256)', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ jwtSecret: SECRET, handshakeTimeout: 1 });
  });
  after(() => gw.close());

  it("accepts a token in the query: sub becomes the connection's user", async (t) => {
    const client = await TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'alice' })}`);
    t.after(() => client.close());
    const ack = await client.request('JOIN', { room: 'news' });
    assert.equal(ack.type, 'ACK');
    const conn = gw.gateway.hub.get(ack.data.conn);
    assert.equal(conn?.userId, 'alice');
    assert.ok(gw.gateway.hub.userConnections('alice')?.has(conn!));
  });

  it('accepts a token as a pushgate.token.<jwt> subprotocol, answering with it (or with pushgate if offered)', async (t) => {
    const jwt = await token({ sub: 'bob' });
    const alone = await TestClient.open(gw.wsUrl(), {}, [`pushgate.token.${jwt}`]);
    const withPlain = await TestClient.open(gw.wsUrl(), {}, ['pushgate', `pushgate.token.${jwt}`]);
    t.after(() => {
      alone.close();
      withPlain.close();
    });
    assert.equal(alone.ws.protocol, `pushgate.token.${jwt}`);
    assert.equal(withPlain.ws.protocol, 'pushgate');
    assert.equal((await alone.request('JOIN', { room: 'a' })).type, 'ACK');
    assert.equal((await withPlain.request('PING')).type, 'PONG');
    assert.equal(gw.gateway.hub.userConnections('bob')?.size, 2);
  });

  it('takes the token from a first AUTH message (the client offers pushgate.auth); anything before it gets ERROR UNAUTHORIZED', async (t) => {
    const client = await TestClient.open(gw.wsUrl(), {}, ['pushgate.auth']);
    assert.equal(client.ws.protocol, 'pushgate.auth');
    t.after(() => client.close());
    const early = await client.request('JOIN', { room: 'news' });
    assert.equal(early.type, 'ERROR');
    assert.equal(early.data.code, 'UNAUTHORIZED');
    assert.equal((await client.request('PING')).data.code, 'UNAUTHORIZED');
    const ack = await client.request('AUTH', { token: await token({ sub: 'carol' }) });
    assert.equal(ack.type, 'ACK');
    assert.equal(gw.gateway.hub.get(ack.data.conn)?.userId, 'carol');
    assert.equal((await client.request('JOIN', { room: 'news' })).type, 'ACK');
    assert.equal((await client.request('PING')).type, 'PONG');
  });

  it('refuses a handshake with an invalid, expired or foreign token with 401 UNAUTHORIZED', async () => {
    const invalid = await refusal(TestClient.open(`${gw.wsUrl()}?token=not.a.jwt`));
    assert.equal(invalid.status, 401);
    assert.equal(invalid.body.ok, false);
    assert.equal(invalid.body.error.code, 'UNAUTHORIZED');
    const expired = await refusal(TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'alice', ttl: -10 })}`));
    assert.equal(expired.status, 401);
    assert.match(expired.body.error.message, /expired/);
    const foreign = await refusal(TestClient.open(gw.wsUrl(), {}, [`pushgate.token.${await token({ sub: 'alice', secret: 'another-secret' })}`]));
    assert.equal(foreign.status, 401);
    assert.equal(foreign.body.error.code, 'UNAUTHORIZED');
  });

  it('refuses at once, with 401, a handshake that carries no token and does not offer pushgate.auth', async () => {
    const bare = await refusal(TestClient.open(gw.wsUrl()));
    assert.equal(bare.status, 401);
    assert.match(bare.body.error.message, /pushgate\.auth/);
  });

  it('closes a connection that sends no valid AUTH within handshakeTimeout with 4001', async () => {
    const silent = await TestClient.open(gw.wsUrl(), {}, ['pushgate.auth']);
    // Generous: only a deadline never enforced fails here.
    const closed = await silent.waitClosed(15_000);
    assert.equal(closed.code, 4001);
    const wrong = await TestClient.open(gw.wsUrl(), {}, ['pushgate.auth']);
    const answer = await wrong.request('AUTH', { token: await token({ sub: 'x', secret: 'wrong-secret' }) });
    assert.equal(answer.data.code, 'UNAUTHORIZED');
    assert.equal((await wrong.waitClosed()).code, 4001);
  });

  it('refuses a JOIN the rooms claim does not allow with FORBIDDEN; patterns with * match', async (t) => {
    const client = await TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'dave', rooms: ['news', 'chat:*'] })}`);
    const commaString = await TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'erin', rooms: 'sport, chat:*' })}`);
    const any = await TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'frank', rooms: ['*'] })}`);
    t.after(() => {
      client.close();
      commaString.close();
      any.close();
    });
    const forbidden = await client.request('JOIN', { room: 'admin' });
    assert.equal(forbidden.type, 'ERROR');
    assert.equal(forbidden.data.code, 'FORBIDDEN');
    assert.equal(gw.gateway.hub.members('admin'), undefined, 'no join happened');
    assert.equal((await client.request('JOIN', { room: 'news' })).type, 'ACK');
    assert.equal((await client.request('JOIN', { room: 'chat:lobby' })).type, 'ACK');
    assert.equal((await client.request('JOIN', { room: 'chat' })).data.code, 'FORBIDDEN');
    assert.equal((await client.request('JOIN', { room: 'newsroom' })).data.code, 'FORBIDDEN');
    assert.equal((await commaString.request('JOIN', { room: 'sport' })).type, 'ACK');
    assert.equal((await commaString.request('JOIN', { room: 'chat:x' })).type, 'ACK');
    assert.equal((await commaString.request('JOIN', { room: 'news' })).data.code, 'FORBIDDEN');
    assert.equal((await any.request('JOIN', { room: 'whatever' })).type, 'ACK');
  });

  it('opens every room to a token without a rooms claim', async (t) => {
    const client = await TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'gina' })}`);
    t.after(() => client.close());
    assert.equal((await client.request('JOIN', { room: 'anything:at-all' })).type, 'ACK');
  });

  it('warns with TOKEN_EXPIRING before the token expires, then closes with 4001', async () => {
    // exp is in whole seconds: 6 s gives a warning window (half the remaining life, about 3 s) of three
    // 1 s sweeps, so a sweep delayed on a loaded machine still warns before the token expires. The
    // warning's timing itself is checked on a fake clock in heartbeat.unit.test.ts.
    const client = await TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'hank', ttl: 6 })}`);
    const warning = await client.nextOfType('WARNING', 15_000);
    assert.equal(warning.data.code, 'TOKEN_EXPIRING');
    assert.equal(typeof warning.data.message, 'string');
    assert.ok(warning.data.expiresIn > 0 && warning.data.expiresIn <= 30000);
    const closed = await client.waitClosed(15_000);
    assert.deepEqual(closed, { code: 4001, reason: 'token expired' });
  });
});

describe('JWT authentication with a public key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-jwt-'));

  for (const alg of ['RS256', 'ES256'] as const) {
    it(`verifies ${alg} tokens with the PEM public key file, and refuses others`, async (t) => {
      const { publicKey, privateKey } = await generateKeyPair(alg);
      const file = join(dir, `${alg}.pem`);
      writeFileSync(file, await exportSPKI(publicKey));
      const gw = await startGateway({ jwtPublicKey: file });
      t.after(() => gw.close());
      const client = await TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'kim', alg, key: privateKey })}`);
      t.after(() => client.close());
      const ack = await client.request('JOIN', { room: 'news' });
      assert.equal(gw.gateway.hub.get(ack.data.conn)?.userId, 'kim');
      // An HS256 token (no secret configured) and a token of another key pair are refused.
      assert.equal((await refusal(TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'kim' })}`))).status, 401);
      const other = await generateKeyPair(alg);
      assert.equal((await refusal(TestClient.open(`${gw.wsUrl()}?token=${await token({ sub: 'kim', alg, key: other.privateKey })}`))).status, 401);
    });
  }

  it('refuses to start with an unusable key file, naming --jwt-public-key', () => {
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a key');
    for (const file of [garbage, join(dir, 'missing.pem')]) {
      assert.throws(
        () => new Gateway({ jwtPublicKey: file }),
        (error: unknown) => error instanceof OptionError && /--jwt-public-key/.test(error.message),
      );
    }
  });
});
