import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLIENT_LAG_SHARE, DeliveryPace, type DispatchGauges } from '../../src/merger/delivery-pace.js';

/** A pace over gauges the test sets: utilization, the dispatcher's lag, cost per write, backlog, connections. */
function pace(budgetMs = 100) {
  const state = { lag: 0, clientLag: 0, writeCostMs: 0, backlogShare: 0, population: 0, now: 0 };
  const gauges: DispatchGauges = {
    lagMs: () => state.lag,
    clientLagMs: () => state.clientLag,
    get writeCostMs() {
      return state.writeCostMs;
    },
    get leastWriteCostMs() {
      return state.writeCostMs;
    },
    get backlogShare() {
      return state.backlogShare;
    },
  };
  return {
    state,
    pace: new DeliveryPace(
      { budgetMs },
      gauges,
      () => state.population,
      () => state.now,
    ),
  };
}

describe('DeliveryPace (the latency budget)', () => {
  it('refuses once the oldest unwritten item is older than the budget plus one pass over every connection', () => {
    const { pace: p, state } = pace(100);
    // 10,000 connections at 24 µs a write: one pass is 240 ms, the time a push to all takes anyway.
    state.population = 10000;
    state.writeCostMs = 0.024;
    assert.equal(Math.round(p.passMs()), 240);
    state.lag = 300;
    assert.equal(p.overload(0), null, 'a pass over everyone is not overload');
    assert.equal(p.overload(339), null);
    assert.equal(p.overload(341), null, 'behind for a moment: a pause the next pass makes up');
    state.now = 24;
    assert.equal(p.overload(341), null);
    state.now = 25;
    assert.deepEqual(p.overload(341), { lagMs: 341 }, 'behind for a quarter of the budget: overload');
    state.lag = 500;
    assert.deepEqual(p.overload(0), { lagMs: 500 });
    state.lag = 10;
    assert.equal(p.overload(0), null, 'caught up');
    state.lag = 500;
    assert.equal(p.overload(0), null, 'behind again: a new moment');
    // A small node: the budget alone.
    const small = pace(100);
    small.state.population = 10;
    small.state.writeCostMs = 0.02;
    small.state.lag = 99;
    assert.equal(small.pace.overload(0), null);
    small.state.lag = 101;
    assert.equal(small.pace.overload(0), null);
    small.state.now = 30;
    assert.deepEqual(small.pace.overload(0), { lagMs: 101 });
  });

  it('refuses while most writes find their client still holding earlier bytes', () => {
    const { pace: p, state } = pace(100);
    state.backlogShare = 0.4;
    assert.equal(p.overload(0), null);
    state.backlogShare = 0.6;
    assert.equal(p.overload(0), null, 'for a moment');
    state.now = 25;
    assert.deepEqual(p.overload(0), { lagMs: 0 });
  });

  it(`refuses at once when the clients' probes come back later than ${CLIENT_LAG_SHARE * 100} % of the budget (what waits in their sockets)`, () => {
    const { pace: p, state } = pace(100);
    state.population = 10000;
    state.writeCostMs = 0.024;
    state.clientLag = 100 * CLIENT_LAG_SHARE;
    assert.equal(p.overload(0), null, 'up to that share, with no pass added: a probe follows its write');
    state.clientLag = 100 * CLIENT_LAG_SHARE + 1;
    assert.deepEqual(p.overload(0), { lagMs: 51 }, 'no grace period: the lag is a measure over time already');
    state.clientLag = 2000;
    assert.deepEqual(p.overload(0), { lagMs: 2000 });
    state.clientLag = 0;
    assert.equal(p.overload(0), null, 'accepted again once they have caught up');
  });

  it('is off with a budget of 0', () => {
    const { pace: p, state } = pace(0);
    state.lag = 1e6;
    state.backlogShare = 1;
    state.now = 1e6;
    assert.equal(p.overload(1e6), null);
  });
});
