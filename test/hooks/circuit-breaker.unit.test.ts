import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker } from '../../src/hooks/circuit-breaker.js';

describe('CircuitBreaker', () => {
  it('opens after N failures in a row, fails fast for the cool-down, then lets exactly one probe through', () => {
    let now = 0;
    const breaker = new CircuitBreaker(3, 1000, () => now);
    for (let i = 0; i < 2; i++) {
      assert.ok(breaker.allow());
      breaker.failed();
    }
    assert.ok(breaker.allow());
    breaker.succeeded();
    for (let i = 0; i < 2; i++) {
      assert.ok(breaker.allow(), 'a success in between starts the count again');
      breaker.failed();
    }
    assert.equal(breaker.state, 'closed');
    assert.ok(breaker.allow());
    breaker.failed();
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.allow(), false);
    now = 999;
    assert.equal(breaker.allow(), false);
    assert.equal(breaker.retryInMs, 1);
    now = 1000;
    assert.equal(breaker.state, 'half-open');
    assert.ok(breaker.allow(), 'the probe');
    assert.equal(breaker.allow(), false, 'one probe at a time');
    breaker.failed();
    assert.equal(breaker.state, 'open', 'a failed probe opens it for another cool-down');
    now = 2000;
    assert.ok(breaker.allow());
    breaker.succeeded();
    assert.equal(breaker.state, 'closed');
    assert.ok(breaker.allow() && breaker.allow(), 'closed: every call goes');
  });
});
