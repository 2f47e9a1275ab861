import assert from 'node:assert/strict';
import { hostname, networkInterfaces } from 'node:os';
import { describe, it } from 'node:test';
import { createOriginPolicy, gatewayHostnames } from '../../src/auth/origin.js';

const at7777 = { address: '127.0.0.1', port: 7777 };

describe('origin policy', () => {
  it('allows only the same origin by default: http, the listening port, a name of the gateway', () => {
    const policy = createOriginPolicy([], ['push.example']);
    assert.equal(policy.allowsAll, false);
    assert.equal(policy.allows('http://push.example:7777', at7777), true);
    assert.equal(policy.allows('ws://push.example:7777', at7777), true);
    assert.equal(policy.allows('http://PUSH.example:7777/', at7777), true);
    assert.equal(policy.allows('https://push.example:7777', at7777), false, 'no TLS on this listener');
    assert.equal(policy.allows('http://push.example:7778', at7777), false);
    assert.equal(policy.allows('http://push.example', at7777), false, 'port 80 is not the listening port');
    assert.equal(policy.allows('http://push.example', { address: '127.0.0.1', port: 80 }), true);
    assert.equal(policy.allows('http://evil.example:7777', at7777), false);
    assert.equal(policy.allows('http://localhost:7777', at7777), false, 'push.example is not a loopback address');
    assert.equal(policy.allows('null', at7777), false);
    assert.equal(policy.allows(undefined, at7777), true);
    assert.equal(policy.allows('not a url', at7777), false);
    assert.equal(policy.allows('http://push.example:7777', {}), false, 'no local port: nothing is its own');
  });

  it("takes the address the request arrived on as the gateway's own, IPv4-mapped or not", () => {
    const policy = createOriginPolicy([], ['push.example']);
    assert.equal(policy.allows('http://127.0.0.1:7777', at7777), true);
    assert.equal(policy.allows('http://127.0.0.1:7777', { address: '::ffff:127.0.0.1', port: 7777 }), true);
    assert.equal(policy.allows('http://[::1]:7777', { address: '::1', port: 7777 }), true);
    assert.equal(policy.allows('http://127.0.0.2:7777', at7777), false);
  });

  it('knows a loopback gateway as localhost too, and a specific address by that address only', () => {
    assert.deepEqual(gatewayHostnames(['127.0.0.1']).sort(), ['127.0.0.1', 'localhost']);
    assert.deepEqual(gatewayHostnames(['::1']).sort(), ['[::1]', 'localhost']);
    assert.deepEqual(gatewayHostnames(['127.0.0.1', '127.0.0.2']).sort(), ['127.0.0.1', '127.0.0.2', 'localhost']);
    assert.deepEqual(gatewayHostnames(['192.0.2.7']), ['192.0.2.7']);
    assert.deepEqual(gatewayHostnames(['Push.Example']), ['push.example']);
    const policy = createOriginPolicy([], ['127.0.0.1']);
    assert.equal(policy.allows('http://localhost:7777', at7777), true);
    assert.equal(policy.allows(`http://${hostname()}:7777`, at7777), hostname().toLowerCase() === 'localhost');
  });

  it("on a wildcard address, knows the interface addresses, localhost and the machine's hostname, and no other name", () => {
    for (const wildcard of ['0.0.0.0', '::']) {
      const names = gatewayHostnames([wildcard]);
      const policy = createOriginPolicy([], [wildcard]);
      const local = { address: '10.255.255.254', port: 7777 };
      assert.ok(names.includes('localhost'));
      assert.ok(names.includes(new URL(`http://${hostname()}`).hostname), hostname());
      for (const info of Object.values(networkInterfaces()).flat()) {
        if (info === undefined || info.address.includes('%')) continue;
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        assert.equal(policy.allows(`http://${host}:7777`, local), true, host);
      }
      assert.equal(policy.allows('http://localhost:7777', local), true);
      assert.equal(policy.allows(`http://${hostname()}:7777`, local), true);
      assert.equal(policy.allows('http://evil.com:7777', local), false, 'DNS rebinding');
      assert.equal(policy.allows('https://localhost:7777', local), false);
      assert.equal(policy.allows('http://localhost:7778', local), false);
    }
  });

  it('matches listed origins exactly, wildcard subdomains, default ports and null', () => {
    const policy = createOriginPolicy(
      ['https://app.example.com', 'https://*.example.org', 'http://localhost:3000', 'https://x.example:443', 'null'],
      ['127.0.0.1'],
    );
    assert.deepEqual(policy.ownHostnames, [], 'a list replaces the same-origin default');
    assert.equal(policy.allows('https://app.example.com', at7777), true);
    assert.equal(policy.allows('http://app.example.com', at7777), false);
    assert.equal(policy.allows('https://app.example.com:8443', at7777), false);
    assert.equal(policy.allows('https://a.b.example.org', at7777), true);
    assert.equal(policy.allows('https://example.org', at7777), false);
    assert.equal(policy.allows('https://evilexample.org', at7777), false);
    assert.equal(policy.allows('http://localhost:3000', at7777), true);
    assert.equal(policy.allows('http://localhost:7777', at7777), false);
    assert.equal(policy.allows('https://x.example', at7777), true);
    assert.equal(policy.allows('null', at7777), true);
  });

  it('allows everything only when told "*", and refuses malformed entries', () => {
    assert.equal(createOriginPolicy(['*'], []).allowsAll, true);
    assert.equal(createOriginPolicy(['*'], []).allows('https://anything', at7777), true);
    assert.throws(() => createOriginPolicy(['example.com'], []), /allowed origin "example.com"/);
    assert.throws(() => createOriginPolicy(['https://exa*mple.com'], []), /allowed origin/);
  });
});
