import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it, mock } from 'node:test';
import Pusher from 'pusher';
import { type PusherApp, PusherApps, parsePusherApp } from '../../src/pusher/apps.js';
import {
  type ApiVerdict,
  channelAuthSignature,
  channelKind,
  channelNameProblem,
  isReservedChannel,
  isSocketId,
  newSocketId,
  signApiRequest,
  userAuthSignature,
  verifyApiRequest,
  verifyChannelAuth,
  verifyUserAuth,
  webhookHeaders,
  webhookSignature,
} from '../../src/pusher/signatures.js';

// The real server SDK, never asked to send anything: its signing functions are called directly.
const app: PusherApp = parsePusherApp('1234:app-key:app-secret');
const other: PusherApp = parsePusherApp('5678:other-key:other-secret');
const apps = new PusherApps([app, other]);
const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const sdk = new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', encryptionMasterKeyBase64: MASTER_KEY });
const otherSdk = new Pusher({ appId: other.id, key: other.key, secret: other.secret, host: '127.0.0.1' });
const SOCKET = '123.456';

/** The URL of a request the SDK signs, read as the API server reads it (pathname and decoded searchParams). */
function received(method: string, path: string, query: string, body: string | Buffer) {
  const url = new URL(`${path}?${query}`, 'http://127.0.0.1');
  return { method, path: url.pathname, query: url.searchParams, body };
}

/** What `createSignedQueryString` would put in the URL at `nowMs` (the SDK reads the clock itself). */
function sdkQuery(client: Pusher, nowMs: number, options: Pusher.SignedQueryStringOptions): string {
  const clock = mock.method(Date, 'now', () => nowMs);
  try {
    return client.createSignedQueryString(options);
  } finally {
    clock.mock.restore();
  }
}

function refusal(verdict: ApiVerdict): { why: string; message: string } {
  assert.equal(verdict.ok, false, 'refused');
  return verdict as { why: string; message: string };
}

describe('channel authorization, against the pusher server SDK', () => {
  it('verifies the SDK signature of a private channel, and refuses it for another socket, channel or app', () => {
    const { auth } = sdk.authorizeChannel(SOCKET, 'private-orders');
    assert.equal(auth, channelAuthSignature(app, SOCKET, 'private-orders'), 'the same text as the SDK');
    assert.equal(verifyChannelAuth(app, SOCKET, 'private-orders', auth), true);
    assert.equal(verifyChannelAuth(app, '123.457', 'private-orders', auth), false, 'another socket');
    assert.equal(verifyChannelAuth(app, SOCKET, 'private-other', auth), false, 'another channel');
    assert.equal(verifyChannelAuth(other, SOCKET, 'private-orders', auth), false, "another app's key");
  });

  it('verifies a presence signature with its channel_data, and refuses other member data', () => {
    const member = { user_id: '42', user_info: { name: 'Ada', tags: ['a', 'b'] } };
    const { auth, channel_data } = sdk.authorizeChannel(SOCKET, 'presence-room', member);
    assert.equal(typeof channel_data, 'string');
    assert.equal(verifyChannelAuth(app, SOCKET, 'presence-room', auth, channel_data), true);
    assert.equal(verifyChannelAuth(app, SOCKET, 'presence-room', auth), false, 'without the channel data');
    assert.equal(verifyChannelAuth(app, SOCKET, 'presence-room', auth, JSON.stringify({ user_id: '43' })), false, 'another member');
  });

  it('verifies a private-encrypted signature (the shared secret is apart from the signature)', () => {
    const { auth, shared_secret } = sdk.authorizeChannel(SOCKET, 'private-encrypted-vault');
    assert.ok(shared_secret);
    assert.equal(verifyChannelAuth(app, SOCKET, 'private-encrypted-vault', auth), true);
  });

  it('refuses an auth whose key part is not the app key, even with the right signature', () => {
    const { auth } = sdk.authorizeChannel(SOCKET, 'private-orders');
    const signature = auth.slice(auth.indexOf(':') + 1);
    assert.equal(verifyChannelAuth(app, SOCKET, 'private-orders', `other-key:${signature}`), false);
    assert.equal(verifyChannelAuth(app, SOCKET, 'private-orders', signature), false, 'no key part');
    assert.equal(verifyChannelAuth(app, SOCKET, 'private-orders', ''), false, 'empty');
    assert.equal(verifyChannelAuth(app, SOCKET, 'private-orders', `${app.key}:${signature.slice(1)}`), false, 'shortened');
  });

  it("refuses a signature made with another app's secret", () => {
    const { auth } = otherSdk.authorizeChannel(SOCKET, 'private-orders');
    const forged = `${app.key}:${auth.slice(auth.indexOf(':') + 1)}`;
    assert.equal(verifyChannelAuth(app, SOCKET, 'private-orders', forged), false);
  });
});

describe('user authentication (pusher:signin), against the pusher server SDK', () => {
  it('verifies the SDK signature of a user, and refuses it for other user data or another socket', () => {
    const { auth, user_data } = sdk.authenticateUser(SOCKET, { id: '1', name: 'Ada' });
    assert.equal(auth, userAuthSignature(app, SOCKET, user_data));
    assert.equal(verifyUserAuth(app, SOCKET, auth, user_data), true);
    assert.equal(verifyUserAuth(app, SOCKET, auth, JSON.stringify({ id: '2', name: 'Ada' })), false, 'another user');
    assert.equal(verifyUserAuth(app, '9.9', auth, user_data), false, 'another socket');
    assert.equal(verifyUserAuth(other, SOCKET, auth, user_data), false, 'another app');
  });

  it('is not a channel signature: a signin auth does not subscribe, nor the other way round', () => {
    const { auth, user_data } = sdk.authenticateUser(SOCKET, { id: '1' });
    assert.equal(verifyChannelAuth(app, SOCKET, 'presence-user', auth, user_data), false);
    // `socket::user::data` is also the channel text of a channel named `:user:`: the channel name rule
    // (no `:`), checked before any signature, is what keeps a signin from passing for a subscription.
    assert.equal(verifyChannelAuth(app, SOCKET, ':user:', auth, user_data), true);
    assert.notEqual(channelNameProblem(':user:'), null);
    const channel = sdk.authorizeChannel(SOCKET, 'private-x');
    assert.equal(verifyUserAuth(app, SOCKET, channel.auth, '{"id":"1"}'), false);
  });
});

describe('HTTP API request signing, against the pusher server SDK', () => {
  const now = 1_700_000_000_000;
  const path = `/apps/${app.id}/events`;
  const body = JSON.stringify({ name: 'greeting', channels: ['news', 'private-orders'], data: '{"text":"hi"}' });
  const query = sdkQuery(sdk, now, { method: 'POST', path, body });

  it('accepts a POST /apps/<id>/events the SDK signs, and names its app', () => {
    assert.match(query, /auth_key=app-key&auth_timestamp=1700000000&auth_version=1\.0&body_md5=[0-9a-f]{32}&auth_signature=[0-9a-f]{64}$/);
    assert.deepEqual(verifyApiRequest(apps, received('POST', path, query, body), now), { ok: true, app });
    assert.deepEqual(verifyApiRequest(apps, received('POST', path, query, Buffer.from(body)), now), { ok: true, app }, 'a Buffer body');
  });

  it('accepts a GET with params the SDK puts in the URL unencoded (commas, a prefix)', () => {
    const getPath = `/apps/${app.id}/channels`;
    const params = { filter_by_prefix: 'presence-', info: 'user_count,subscription_count' };
    const signed = sdkQuery(sdk, now, { method: 'GET', path: getPath, params });
    assert.ok(signed.includes('info=user_count,subscription_count'), 'the SDK does not percent-encode');
    assert.deepEqual(verifyApiRequest(apps, received('GET', getPath, signed, ''), now), { ok: true, app });
    assert.deepEqual(verifyApiRequest(apps, received('get', getPath, signed, ''), now), { ok: true, app }, 'the method is upper-cased');
  });

  it('accepts a query given as a record, as well as URLSearchParams', () => {
    const record = Object.fromEntries(new URLSearchParams(query));
    assert.deepEqual(verifyApiRequest(apps, { method: 'POST', path, query: record, body }, now), { ok: true, app });
  });

  it('accepts the whole window either side of the server clock, and nothing beyond it', () => {
    assert.equal(verifyApiRequest(apps, received('POST', path, query, body), now + 600_000).ok, true, '600 s late');
    assert.equal(verifyApiRequest(apps, received('POST', path, query, body), now - 600_000).ok, true, '600 s early');
    assert.equal(verifyApiRequest(apps, received('POST', path, query, body), now + 30_000, 30).ok, true, 'a window of 30 s');
    const late = refusal(verifyApiRequest(apps, received('POST', path, query, body), now + 31_000, 30));
    assert.equal(late.why, 'unauthorized');
    assert.match(late.message, /^Timestamp expired: given timestamp 1700000000 is not within 30 s of the server's time 1700000031$/);
  });

  it('refuses each tampering with its own message', () => {
    const cases: Array<[string, ApiVerdict, RegExp]> = [
      ['body changed', verifyApiRequest(apps, received('POST', path, query, body.replace('hi', 'ha')), now), /^body_md5 does not match the body$/],
      ['replayed 10 minutes and a second later', verifyApiRequest(apps, received('POST', path, query, body), now + 601_000), /^Timestamp expired: /],
      [
        'timestamp old',
        verifyApiRequest(apps, received('POST', path, sdkQuery(sdk, now - 3_600_000, { method: 'POST', path, body }), body), now),
        /^Timestamp expired: /,
      ],
      [
        'unknown key',
        verifyApiRequest(apps, received('POST', path, query.replace('auth_key=app-key', 'auth_key=nobody'), body), now),
        /^Unknown auth_key nobody$/,
      ],
      ['another path', verifyApiRequest(apps, received('POST', `/apps/${app.id}/batch_events`, query, body), now), /^Invalid signature: /],
      ['another method', verifyApiRequest(apps, received('PUT', path, query, body), now), /^Invalid signature: /],
      ['a parameter added', verifyApiRequest(apps, received('POST', path, `${query}&socket_id=1.2`, body), now), /^Invalid signature: /],
    ];
    for (const [what, verdict, message] of cases) {
      const { why, message: text } = refusal(verdict);
      assert.equal(why, 'unauthorized', what);
      assert.match(text, message, what);
    }
  });

  it("refuses a request signed with a wrong secret, or with another app's key and secret for this key", () => {
    const wrongSecret = new Pusher({ appId: app.id, key: app.key, secret: 'guessed', host: '127.0.0.1' });
    const forged = refusal(verifyApiRequest(apps, received('POST', path, sdkQuery(wrongSecret, now, { method: 'POST', path, body }), body), now));
    assert.deepEqual(forged, { ok: false, why: 'unauthorized', message: "Invalid signature: the auth_signature is not the app's signature of this request" });
    // Signed by the other app, as itself: valid, and its app is the other one (the API then refuses this path's id).
    const otherQuery = sdkQuery(otherSdk, now, { method: 'POST', path, body });
    assert.deepEqual(verifyApiRequest(apps, received('POST', path, otherQuery, body), now), { ok: true, app: other });
  });

  it('refuses missing or malformed auth parameters, each saying which', () => {
    const without = (name: string) => {
      const q = new URLSearchParams(query);
      q.delete(name);
      return refusal(verifyApiRequest(apps, received('POST', path, q.toString(), body), now));
    };
    assert.deepEqual(without('auth_key'), { ok: false, why: 'unauthorized', message: 'Missing auth_key: sign the request as the Pusher server SDKs do' });
    assert.match(without('auth_signature').message, /^Missing auth_signature$/);
    assert.match(without('auth_timestamp').message, /^Missing auth_timestamp$/);
    assert.match(without('body_md5').message, /^Missing body_md5: /);
    const noVersion = without('auth_version');
    assert.deepEqual([noVersion.why, noVersion.message], ['malformed', 'auth_version must be 1.0, got none']);
    const malformed = refusal(verifyApiRequest(apps, received('POST', path, query.replace('auth_timestamp=1700000000', 'auth_timestamp=17e8'), body), now));
    assert.deepEqual([malformed.why, malformed.message], ['malformed', 'auth_timestamp must be Unix seconds, got "17e8"']);
    const twice = refusal(verifyApiRequest(apps, received('POST', path, `${query}&auth_key=other-key`, body), now));
    assert.deepEqual([twice.why, twice.message], ['malformed', 'Duplicated query parameter auth_key']);
  });

  it('signs as the SDK does: signApiRequest and createSignedQueryString carry the same signature', () => {
    const ours = new URLSearchParams(signApiRequest(app, 'POST', path, {}, body, now / 1000));
    const theirs = new URLSearchParams(query);
    assert.equal(ours.get('auth_signature'), theirs.get('auth_signature'));
    assert.equal(ours.get('body_md5'), theirs.get('body_md5'));
    const params = { info: 'user_count,subscription_count', filter_by_prefix: 'presence-' };
    const get = new URLSearchParams(signApiRequest(app, 'GET', '/apps/1234/channels', params, '', now / 1000));
    const sdkGet = new URLSearchParams(sdkQuery(sdk, now, { method: 'GET', path: '/apps/1234/channels', params }));
    assert.equal(get.get('auth_signature'), sdkGet.get('auth_signature'));
    assert.equal(get.has('body_md5'), false, 'no body, no body_md5');
  });

  it('signs values a URL must encode, and verifies them decoded', () => {
    const params = { info: 'a b&c=d+e%f' };
    const signed = signApiRequest(app, 'GET', '/apps/1234/channels', params, '', now / 1000);
    assert.deepEqual(verifyApiRequest(apps, received('GET', '/apps/1234/channels', signed, ''), now), { ok: true, app });
  });

  it('signs the decoded values unencoded, keys lower-cased and sorted, as Pusher documents', () => {
    const signed = new URLSearchParams(signApiRequest(app, 'GET', '/apps/1234/channels', { Zeta: 'z,1', alpha: 'a b' }, '', 1_700_000_000));
    const text = 'GET\n/apps/1234/channels\nalpha=a b&auth_key=app-key&auth_timestamp=1700000000&auth_version=1.0&zeta=z,1';
    assert.equal(signed.get('auth_signature'), createHmac('sha256', app.secret).update(text).digest('hex'));
  });

  it('refuses to sign a parameter the signing owns', () => {
    assert.throws(() => signApiRequest(app, 'GET', '/apps/1234/channels', { auth_timestamp: '1' }, '', 1), {
      name: 'TypeError',
      message: 'auth_timestamp is added by the signing and cannot be given',
    });
  });
});

describe('webhooks, against the pusher server SDK', () => {
  const body = JSON.stringify({ time_ms: 1_700_000_000_000, events: [{ name: 'channel_occupied', channel: 'news' }] });

  it("signs a body the SDK's webhook verifier accepts", () => {
    const headers = { 'x-pusher-key': app.key, 'x-pusher-signature': webhookSignature(app, body), 'content-type': 'application/json' };
    const hook = sdk.webhook({ headers, rawBody: body });
    assert.equal(hook.isValid(), true);
    assert.equal(hook.getEvents()[0]?.name, 'channel_occupied');
    assert.equal(webhookSignature(app, Buffer.from(body)), headers['x-pusher-signature'], 'a Buffer body signs the same');
  });

  it('gives the headers the verifier reads (lower-cased, as an HTTP server hands them over)', () => {
    const lower = Object.fromEntries(Object.entries(webhookHeaders(app, body)).map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(sdk.webhook({ headers: lower, rawBody: body }).isValid(), true);
  });

  it('is refused for another body, another key or a signature made with another secret', () => {
    const signature = webhookSignature(app, body);
    const check = (headers: Record<string, string>, rawBody = body) =>
      sdk.webhook({ headers: { 'content-type': 'application/json', ...headers }, rawBody }).isValid();
    assert.equal(check({ 'x-pusher-key': app.key, 'x-pusher-signature': signature }, body.replace('news', 'olds')), false, 'body');
    assert.equal(check({ 'x-pusher-key': other.key, 'x-pusher-signature': signature }), false, 'key');
    assert.equal(check({ 'x-pusher-key': app.key, 'x-pusher-signature': webhookSignature(other, body) }), false, 'secret');
  });
});

describe('socket ids', () => {
  it('are <digits>.<digits>, distinct, and accepted by the SDK', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newSocketId()));
    assert.equal(ids.size, 1000);
    for (const id of ids) {
      assert.equal(isSocketId(id), true, id);
      assert.doesNotThrow(() => sdk.authorizeChannel(id, 'private-x'), id);
    }
  });

  it('refuses what is not one', () => {
    for (const bad of ['', '1', '1.', '.1', '1.2.3', 'a.1', '1.2 ', ' 1.2', '-1.2', '1,2', '1.2\n']) assert.equal(isSocketId(bad), false, JSON.stringify(bad));
    assert.equal(isSocketId('0.0'), true);
  });
});

describe('channel names', () => {
  it('kinds by prefix, private-encrypted before private', () => {
    assert.equal(channelKind('news'), 'public');
    assert.equal(channelKind('private-orders'), 'private');
    assert.equal(channelKind('private-encrypted-vault'), 'private-encrypted');
    assert.equal(channelKind('presence-room'), 'presence');
    assert.equal(channelKind('privateer'), 'public');
    assert.equal(channelKind('Private-x'), 'public', 'prefixes are case-sensitive');
  });

  it('reserves #server-to-user- channels', () => {
    assert.equal(isReservedChannel('#server-to-user-42'), true);
    assert.equal(isReservedChannel('server-to-user-42'), false);
    assert.equal(isReservedChannel('private-x'), false);
  });

  it("allows Pusher's alphabet, and refuses anything else with a reason", () => {
    for (const ok of ['a', 'news', 'private-a_b-c=d@e,f.g;h', 'presence-0', 'c'.repeat(164)]) assert.equal(channelNameProblem(ok), null, ok);
    for (const bad of ['', 'a b', 'a:b', 'a/b', 'é', '#other', 'c'.repeat(165)]) assert.match(channelNameProblem(bad) ?? '', /\w/, JSON.stringify(bad));
    assert.match(channelNameProblem('c'.repeat(165)) ?? '', /longer than 164/);
  });

  it('allows no name the server SDK refuses', () => {
    for (const name of ['a b', 'a:b', 'é', 'c'.repeat(201)]) {
      assert.throws(() => sdk.authorizeChannel(SOCKET, name), name);
      assert.notEqual(channelNameProblem(name), null, name);
    }
  });
});
