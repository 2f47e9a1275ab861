import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Pusher from 'pusher';
import { PusherApps, parsePusherApp } from '../../src/pusher/apps.js';
import { signApiRequest, verifyApiRequest, verifyChannelAuth } from '../../src/pusher/signatures.js';

const app = parsePusherApp('app1:key1:secret1');
const apps = new PusherApps([app]);
const sdk = new Pusher({ appId: 'app1', key: 'key1', secret: 'secret1', host: '127.0.0.1' });
const PATH = '/apps/app1/events';
const BODY = '{"name":"greeting","channels":["news"],"data":"hi"}';

/** A request as the query string `query` signs it. */
function request(query: string, body = BODY, path = PATH) {
  return { method: 'POST', path, query: new URLSearchParams(query), body };
}

describe('Pusher request signatures', () => {
  const now = 1_700_000_000_000;
  const signed = signApiRequest(app, 'POST', PATH, {}, BODY, now / 1000);

  it('accepts a request signed with the app secret, and names its app', () => {
    const verdict = verifyApiRequest(apps, request(signed), now);
    assert.deepEqual(verdict, { ok: true, app });
  });

  it('refuses each tampering with its own reason', () => {
    const refusal = (query: string, body = BODY, path = PATH, at = now) => {
      const verdict = verifyApiRequest(apps, request(query, body, path), at);
      assert.equal(verdict.ok, false);
      return (verdict as { message: string }).message;
    };
    assert.match(refusal(signed, '{"name":"other","channels":["news"],"data":"hi"}'), /body_md5/);
    assert.match(refusal(signed, BODY, '/apps/app1/batch_events'), /Invalid signature/);
    assert.match(refusal(signed, BODY, PATH, now + 601_000), /Timestamp expired/, 'a replay 10 minutes later');
    assert.match(refusal(signed.replace('auth_key=key1', 'auth_key=key2')), /Unknown auth_key key2/);
    const forged = signApiRequest({ ...app, secret: 'guess' }, 'POST', PATH, {}, BODY, now / 1000);
    assert.match(refusal(forged), /Invalid signature/);
  });

  it("verifies the server SDK's channel authorizations", () => {
    const { auth } = sdk.authorizeChannel('123.456', 'private-orders');
    assert.equal(verifyChannelAuth(app, '123.456', 'private-orders', auth), true);
    assert.equal(verifyChannelAuth(app, '123.457', 'private-orders', auth), false, 'another socket');
    assert.equal(verifyChannelAuth(app, '123.456', 'private-other', auth), false, 'another channel');
  });

  it('refuses app specs that are not id:key:secret, and two apps with one key', () => {
    assert.throws(() => parsePusherApp('app1:key1'), /expected id:key:secret/);
    assert.throws(() => parsePusherApp('app 1:key1:s'), /its id .*must be/);
    assert.throws(() => new PusherApps([app, { ...app, id: 'app2' }]), /two Pusher apps have the key key1/);
  });
});
