import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { Connection } from '../../src/connection/connection.js';
import { ClientLag, MAX_PROBES_OUT, RATE_MEMORY_MS, RATE_SAMPLE_BYTES, RECENT_PROBES } from '../../src/merger/client-lag.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { prepareFrame } from '../../src/protocol/prepared-frame.js';
import { FakeTransport } from '../helpers/fake-transport.js';

/**
 * A ClientLag on a clock the test sets (forward only), with real connections over fake transports. The
 * clock is the mocked `Date`, which the connections read for their probes' ages.
 */
function setup(behindMs = 10) {
  mock.timers.enable({ apis: ['Date'], now: 0 });
  const clock = {
    get ms(): number {
      return Date.now();
    },
    set ms(to: number) {
      mock.timers.tick(to - Date.now());
    },
  };
  const lag = new ClientLag(behindMs, () => Date.now());
  let id = 0;
  const connect = () => {
    const transport = new FakeTransport();
    const conn = new Connection(transport, `c${++id}`, goPushProtocol, { maxQueueBytes: 1 << 20, maxInboundMessages: 8, maxClientRate: 0 }, null);
    return { conn, transport };
  };
  /** The client's pong (clearing the connection's probe), heard by the lag after `rttMs` on the test's clock. */
  const answer = (conn: Connection, rttMs: number) => {
    conn.transportPong();
    lag.answer(conn, rttMs);
  };
  return { clock, lag, connect, answer };
}

describe('ClientLag', () => {
  afterEach(() => mock.timers.reset());

  it('is 0 while nothing was probed', () => {
    const { lag, connect } = setup();
    const { conn } = connect();
    lag.wrote(conn, 1e6);
    assert.equal(lag.lagMs(), 0, 'bytes to a connection never probed are not watched');
  });

  it('counts a probe out by its age, and sends one probe at a time per connection', () => {
    const { clock, lag, connect } = setup();
    const { conn, transport } = connect();
    assert.equal(lag.probe(conn), true);
    assert.equal(lag.probe(conn), false, 'one out already');
    assert.equal(transport.probes, 1);
    clock.ms = 70;
    assert.equal(lag.lagMs(), 70);
  });

  it('before any client was seen behind: the last round trip, less the time since it came', () => {
    const { clock, lag, connect, answer } = setup(50);
    const { conn } = connect();
    lag.probe(conn);
    clock.ms = 30;
    answer(conn, 30);
    assert.equal(lag.lagMs(), 30);
    clock.ms = 40;
    assert.equal(lag.lagMs(), 20);
    clock.ms = 100;
    assert.equal(lag.lagMs(), 0);
  });

  it('once clients were seen behind: the bytes not seen read over the rate clients behind read, rising as soon as they are written', () => {
    const { clock, lag, connect, answer } = setup(10);
    const { conn } = connect();
    lag.probe(conn);
    lag.wrote(conn, 50_000);
    clock.ms = 20;
    answer(conn, 20);
    lag.probe(conn);
    clock.ms = 70;
    // Behind at both answers, the client took the 50 ms between them to read the 50,000 bytes
    // written between their probes: 1,000 bytes/ms.
    answer(conn, 50);
    assert.equal(lag.lagMs(), 0, 'all read');
    lag.wrote(conn, 200_000);
    assert.equal(lag.lagMs(), 200, '200,000 bytes at 1,000 bytes/ms, before any probe comes back late');
    conn.outbox = prepareFrame('x'.repeat(99_990), 1);
    assert.equal(lag.lagMs(), 300, 'and what is queued in its outbox');
    conn.outbox = null;
    clock.ms = 70 + RATE_MEMORY_MS + 1;
    assert.equal(lag.lagMs(), RATE_MEMORY_MS + 1, 'the sample forgotten, the probe sent again when bytes were unread has waited since');
  });

  it(`takes no rate from an answer that confirmed under ${RATE_SAMPLE_BYTES} bytes, or when the client was not behind at both answers`, () => {
    const { clock, lag, connect, answer } = setup(10);
    const { conn } = connect();
    lag.probe(conn);
    clock.ms = 20;
    answer(conn, 20);
    lag.wrote(conn, RATE_SAMPLE_BYTES - 1);
    lag.probe(conn);
    clock.ms = 40;
    answer(conn, 20); // behind at both, too few bytes
    lag.wrote(conn, 40_000);
    lag.probe(conn);
    clock.ms = 1000;
    answer(conn, 5); // enough bytes, but it came fast: the client was idle for most of the 960 ms
    lag.wrote(conn, 40_000);
    lag.probe(conn);
    clock.ms = 1100;
    answer(conn, 100); // behind now, not at the answer before
    lag.wrote(conn, 1e6);
    // No sample: the last round trip (100 ms) less the time since, over a probe sent again (0 ms old).
    assert.equal(lag.lagMs(), 100);
  });

  it('probes again a connection with bytes unread, so that its lag falls once it has caught up', () => {
    const { clock, lag, connect, answer } = setup(10);
    const { conn, transport } = connect();
    lag.probe(conn);
    lag.wrote(conn, 20_000);
    clock.ms = 10;
    answer(conn, 10);
    lag.probe(conn);
    clock.ms = 30;
    answer(conn, 20); // behind at both, 20,000 bytes in the 20 ms between: 1,000 bytes/ms
    lag.wrote(conn, 100_000);
    const probes = transport.probes;
    // The lag is asked (as admission does): the connection has bytes unread and no probe out.
    assert.equal(lag.lagMs(), 100, 'its 100,000 bytes unread at 1,000 bytes/ms (its new probe, 0 ms old, is not a second value)');
    assert.equal(transport.probes, probes + 1, 'probed again');
    clock.ms = 130;
    answer(conn, 100);
    assert.equal(lag.lagMs(), 0, 'caught up: nothing unread');
  });

  it('counts each connection once: three clients behind and one caught up are behind', () => {
    const { clock, lag, connect, answer } = setup(10);
    const conns = Array.from({ length: 4 }, () => connect().conn);
    for (const conn of conns) lag.probe(conn);
    for (const conn of conns) lag.wrote(conn, 20_000);
    clock.ms = 10;
    for (const conn of conns) answer(conn, 10);
    for (const conn of conns) lag.probe(conn);
    clock.ms = 30;
    for (const conn of conns) answer(conn, 20); // behind at both: 1,000 bytes/ms
    for (const conn of conns.slice(0, 3)) lag.wrote(conn, 100_000);
    // Three have 100 ms unread (and are probed again, 0 ms old), one has nothing unread.
    assert.equal(lag.lagMs(), 100, 'the median of 100, 100, 100 and 0, not of those and three fresh probes');
  });

  it(`is the median of the latest ${RECENT_PROBES} answers and the probes out: one stalled client does not stand for all`, () => {
    const { clock, lag, connect, answer } = setup(1000);
    const stalled = connect().conn;
    lag.probe(stalled);
    const others = Array.from({ length: 4 }, () => connect().conn);
    for (const conn of others) {
      lag.probe(conn);
      answer(conn, 2);
    }
    clock.ms = 5000;
    assert.equal(lag.lagMs(), 0, 'four that keep up, one 5 s behind');
    for (const conn of others) conn.close(1000, 'bye');
    assert.equal(lag.lagMs(), 5000, 'alone, it is the lag');
  });

  it(`keeps at most ${MAX_PROBES_OUT} probes out`, () => {
    const { lag, connect } = setup();
    let sent = 0;
    for (let i = 0; i < MAX_PROBES_OUT + 5; i++) if (lag.probe(connect().conn)) sent += 1;
    assert.equal(sent, MAX_PROBES_OUT);
  });

  it('forgets a connection that closed, with its probe out', () => {
    const { clock, lag, connect } = setup();
    const { conn } = connect();
    lag.probe(conn);
    clock.ms = 500;
    conn.close(1000, 'bye');
    assert.equal(lag.lagMs(), 0);
    assert.equal(lag.probe(connect().conn), true);
  });
});
