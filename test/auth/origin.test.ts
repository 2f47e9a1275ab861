import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOriginPolicy } from '../../src/auth/origin.js';

describe('origin policy', () => {
  it('allows only the same origin by default, and clients without Origin', () => {
    const policy = createOriginPolicy([]);
    assert.equal(policy.allowsAll, false);
    assert.equal(policy.allows('http://push.example:7777', 'push.example:7777'), true);
    assert.equal(policy.allows('http://evil.example', 'push.example:7777'), false);
    assert.equal(policy.allows('http://push.example:7778', 'push.example:7777'), false);
    assert.equal(policy.allows('null', 'push.example:7777'), false);
    assert.equal(policy.allows(undefined, 'push.example:7777'), true);
    assert.equal(policy.allows('not a url', 'push.example:7777'), false);
  });

  it('matches listed origins exactly, wildcard subdomains, default ports and null', () => {
    const policy = createOriginPolicy(['https://app.example.com', 'https://*.example.org', 'http://localhost:3000', 'https://x.example:443', 'null']);
    assert.equal(policy.allows('https://app.example.com', 'gw'), true);
    assert.equal(policy.allows('http://app.example.com', 'gw'), false);
    assert.equal(policy.allows('https://app.example.com:8443', 'gw'), false);
    assert.equal(policy.allows('https://a.b.example.org', 'gw'), true);
    assert.equal(policy.allows('https://example.org', 'gw'), false);
    assert.equal(policy.allows('https://evilexample.org', 'gw'), false);
    assert.equal(policy.allows('http://localhost:3000', 'gw'), true);
    assert.equal(policy.allows('https://x.example', 'gw'), true);
    assert.equal(policy.allows('null', 'gw'), true);
  });

  it('allows everything only when told "*", and refuses malformed entries', () => {
    assert.equal(createOriginPolicy(['*']).allowsAll, true);
    assert.equal(createOriginPolicy(['*']).allows('https://anything', 'gw'), true);
    assert.throws(() => createOriginPolicy(['example.com']), /allowed origin "example.com"/);
    assert.throws(() => createOriginPolicy(['https://exa*mple.com']), /allowed origin/);
  });
});
