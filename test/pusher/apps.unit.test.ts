import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PUSHER_APP_DEFAULTS, type PusherApp, PusherApps, parsePusherApp, pusherAppFromObject } from '../../src/pusher/apps.js';

/** Asserts `run` throws a TypeError whose message matches `message`, and returns the message. */
function typeError(run: () => unknown, message: RegExp): string {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof TypeError, `a TypeError, got ${String(thrown)}`);
  assert.match(thrown.message, message);
  return thrown.message;
}

describe('parsePusherApp (id:key:secret)', () => {
  it("reads the three parts, with Pusher's defaults for the rest", () => {
    assert.deepEqual(parsePusherApp('1234:app-key:app-secret'), {
      id: '1234',
      key: 'app-key',
      secret: 'app-secret',
      enableClientMessages: false,
      maxPresenceMembers: 100,
      maxPresenceMemberBytes: 1024,
      maxEventBytes: 10240,
      maxChannelsPerEvent: 100,
      maxBatchEvents: 10,
      webhooks: [],
    });
    assert.equal(parsePusherApp('  a.b_c-1:K:s  ').id, 'a.b_c-1', 'surrounding spaces trimmed');
  });

  it('says how many parts it got and shows the expected form', () => {
    typeError(() => parsePusherApp('1234:key'), /^a Pusher app is three parts separated by ':', got 2 parts: expected id:key:secret \(e\.g\. /);
    typeError(() => parsePusherApp(''), /got 1 part: expected id:key:secret/);
    const four = typeError(() => parsePusherApp('1:k:top:secret'), /got 4 parts/);
    assert.ok(!four.includes('top'), 'no part of a secret in the message');
  });

  it('names the part that is empty or has characters outside letters, digits, _ . -', () => {
    typeError(() => parsePusherApp(':k:s'), /^Pusher app: its id "" must be non-empty \(expected id:key:secret/);
    typeError(() => parsePusherApp('app 1:k:s'), /^Pusher app: its id "app 1" must be only letters, digits, _ \. -/);
    typeError(() => parsePusherApp('1::s'), /^Pusher app "1": its key "" must be non-empty/);
    typeError(() => parsePusherApp('1:k/x:s'), /its key "k\/x" must be only letters/);
    const secret = typeError(() => parsePusherApp('1:k:s&cret'), /^Pusher app "1": its secret must be only letters, digits, _ \. - \(expected id:key:secret/);
    assert.ok(!secret.includes('s&cret'), 'the secret is not echoed');
  });
});

describe('pusherAppFromObject (a pusherApps entry)', () => {
  const minimal = { id: '1234', key: 'app-key', secret: 'app-secret' };

  it('takes the three credentials alone, with the defaults', () => {
    assert.deepEqual(pusherAppFromObject(minimal, 'pusherApps[0]'), { ...minimal, ...PUSHER_APP_DEFAULTS, webhooks: [] });
  });

  it('takes every field', () => {
    const full = {
      ...minimal,
      name: 'Chat',
      enableClientMessages: true,
      maxPresenceMembers: 500,
      maxPresenceMemberBytes: 2048,
      maxEventBytes: 65536,
      maxChannelsPerEvent: 10,
      maxBatchEvents: 50,
      webhooks: [{ url: 'https://hooks.example.com/pusher' }, { url: 'http://127.0.0.1:9000/h', events: ['member_added', 'member_removed', 'member_added'] }],
    };
    const app: PusherApp = pusherAppFromObject(full, 'pusherApps[0]');
    assert.deepEqual(app, {
      ...full,
      webhooks: [{ url: 'https://hooks.example.com/pusher' }, { url: 'http://127.0.0.1:9000/h', events: ['member_added', 'member_removed'] }],
    });
  });

  it('refuses what is not an app object', () => {
    for (const bad of [null, 'id:key:secret', [minimal], 42])
      typeError(() => pusherAppFromObject(bad, 'pusherApps[2]'), /^pusherApps\[2\]: a Pusher app must be an object/);
  });

  it('refuses missing, mistyped and unsafe credentials, naming the field', () => {
    const at = 'pusherApps[1]';
    typeError(() => pusherAppFromObject({ key: 'k', secret: 's' }, at), /^pusherApps\[1\]\.id: missing \(a Pusher app needs an id, a key and a secret\)$/);
    typeError(() => pusherAppFromObject({ ...minimal, id: 1234 }, at), /^pusherApps\[1\]\.id: must be a string: write "1234", in quotes$/);
    typeError(() => pusherAppFromObject({ ...minimal, key: true }, at), /^pusherApps\[1\]\.key: must be a string$/);
    typeError(() => pusherAppFromObject({ ...minimal, key: '' }, at), /^pusherApps\[1\]\.key: must be non-empty, got ""$/);
    typeError(() => pusherAppFromObject({ ...minimal, id: 'a:b' }, at), /^pusherApps\[1\]\.id: must be only letters, digits, _ \. -, got "a:b"$/);
    const secret = typeError(
      () => pusherAppFromObject({ ...minimal, secret: 'my secret' }, at),
      /^pusherApps\[1\]\.secret: must be only letters, digits, _ \. -$/,
    );
    assert.ok(!secret.includes('my secret'));
  });

  it('refuses limits that are not positive integers, with the default', () => {
    for (const bad of [0, -1, 1.5, '100', Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      typeError(() => pusherAppFromObject({ ...minimal, maxEventBytes: bad }, 'p'), /^p\.maxEventBytes: must be a positive integer \(default 10240\), got /);
    }
    typeError(() => pusherAppFromObject({ ...minimal, maxBatchEvents: 0 }, 'p'), /^p\.maxBatchEvents: .*\(default 10\), got 0$/);
  });

  it('refuses a wrong name, enableClientMessages or unknown field (a misspelt limit would be silently ignored)', () => {
    typeError(() => pusherAppFromObject({ ...minimal, name: '' }, 'p'), /^p\.name: must be a non-empty string$/);
    typeError(() => pusherAppFromObject({ ...minimal, enableClientMessages: 'yes' }, 'p'), /^p\.enableClientMessages: must be true or false$/);
    typeError(() => pusherAppFromObject({ ...minimal, maxPresenceMember: 5 }, 'p'), /^p: unknown field "maxPresenceMember" \(known: id, key, secret, name, /);
  });

  it('refuses webhooks that are not http(s) URLs, or name unknown events', () => {
    const hooks = (webhooks: unknown) => () => pusherAppFromObject({ ...minimal, webhooks }, 'p');
    typeError(hooks({ url: 'https://x' }), /^p\.webhooks: must be an array/);
    typeError(hooks(['https://x']), /^p\.webhooks\[0\]: must be an object/);
    typeError(hooks([{}]), /^p\.webhooks\[0\]\.url: missing, or not a string$/);
    typeError(hooks([{ url: 'https://ok' }, { url: 'not a url' }]), /^p\.webhooks\[1\]\.url: "not a url" is not a URL$/);
    typeError(hooks([{ url: 'ftp://example.com/' }]), /^p\.webhooks\[0\]\.url: must be http:\/\/ or https:\/\/, got "ftp:\/\/example\.com\/"$/);
    typeError(hooks([{ url: 'https://x', secret: 's' }]), /^p\.webhooks\[0\]: unknown field "secret" \(known: url, events\)$/);
    typeError(hooks([{ url: 'https://x', events: [] }]), /^p\.webhooks\[0\]\.events: must be a non-empty array of channel_occupied, .* \(omit it for all\)$/);
    typeError(
      hooks([{ url: 'https://x', events: ['channel_occupied', 'member_joined'] }]),
      /^p\.webhooks\[0\]\.events: "member_joined" is not a Pusher webhook event/,
    );
  });
});

describe('PusherApps', () => {
  const a = parsePusherApp('1:key-a:secret-a');
  const b = parsePusherApp('2:key-b:secret-b');

  it('finds an app by key and by id, and lists them in order', () => {
    const apps = new PusherApps([b, a]);
    assert.equal(apps.byKey('key-a'), a);
    assert.equal(apps.byId('2'), b);
    assert.equal(apps.byKey('1'), undefined, 'an id is no key');
    assert.equal(apps.byId('key-a'), undefined, 'a key is no id');
    assert.deepEqual(apps.all(), [b, a]);
    assert.deepEqual(new PusherApps([]).all(), []);
  });

  it('refuses two apps with one id or one key', () => {
    typeError(() => new PusherApps([a, { ...b, id: '1' }]), /^two Pusher apps have the id 1: each app needs its own id$/);
    typeError(() => new PusherApps([a, { ...b, key: 'key-a' }]), /^two Pusher apps have the key key-a: each app needs its own key$/);
  });
});
