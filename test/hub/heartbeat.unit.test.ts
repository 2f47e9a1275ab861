import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { grantedAuth, pendingAuth } from '../../src/auth/jwt.js';
import type { Connection } from '../../src/connection/connection.js';
import { type AuthSweepCounts, Heartbeat } from '../../src/hub/heartbeat.js';
import type { Hub } from '../../src/hub/hub.js';
import type { ClientProtocol, PreparedFrame } from '../../src/protocol/client-protocol.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';

/** A stand-in connection recording how it was closed and what it was sent. */
interface FakeConn {
  lastSeen: number;
  auth: Connection['auth'];
  closed: { code: number; reason: string } | null;
  sent: string[];
}

function fakeConn(lastSeen: number, auth: Connection['auth'] = null): FakeConn & Connection {
  const conn: FakeConn = { lastSeen, auth, closed: null, sent: [] };
  return Object.assign(conn, {
    close(code: number, reason: string) {
      conn.closed ??= { code, reason };
    },
    protocol: goPushProtocol,
    sendPrepared(frame: PreparedFrame) {
      // One unmasked text frame: a 2-byte header for payloads up to 125 bytes, 4 bytes up to 64 KiB.
      const length = frame.bytes[1]! & 0x7f;
      conn.sent.push(frame.bytes.subarray(length === 126 ? 4 : 2).toString());
    },
  }) as unknown as FakeConn & Connection;
}

/** A hub holding `online` and `awaiting` connections; a closed one leaves both, as the real hub's removal does. */
function fakeHub(online: Array<FakeConn & Connection>, awaiting: Array<FakeConn & Connection> = []): Hub {
  const open = (list: Array<FakeConn & Connection>) => list.filter((c) => c.closed === null)[Symbol.iterator]();
  return { all: () => open(online), awaitingAuth: () => open(awaiting) } as unknown as Hub;
}

const INTERVAL = 60_000;

describe('Heartbeat', () => {
  afterEach(() => mock.timers.reset());

  it('sweeps every quarter interval (and at least every authPeriodMs with authentication on)', () => {
    assert.equal(new Heartbeat(fakeHub([]), INTERVAL, () => {}).periodMs, INTERVAL / 4);
    assert.equal(new Heartbeat(fakeHub([]), INTERVAL, () => {}, 1000).periodMs, 1000);
    assert.equal(new Heartbeat(fakeHub([]), 20, () => {}).periodMs, 10, 'never more often than every 10 ms');
  });

  it('closes with 4000 exactly the connections silent for longer than the interval, and reports how many', () => {
    const reported: number[] = [];
    const now = 1_000_000;
    const silent = fakeConn(now - INTERVAL - 1);
    const justInTime = fakeConn(now - INTERVAL);
    const recent = fakeConn(now - 1);
    const waitingSilent = fakeConn(now - INTERVAL - 1, pendingAuth(now + 10_000));
    const heartbeat = new Heartbeat(fakeHub([silent, justInTime, recent], [waitingSilent]), INTERVAL, (count) => reported.push(count));
    assert.equal(heartbeat.sweep(now), 2);
    assert.deepEqual(silent.closed, { code: 4000, reason: 'heartbeat timeout' });
    assert.deepEqual(waitingSilent.closed, { code: 4000, reason: 'heartbeat timeout' }, 'awaiting AUTH too');
    assert.equal(justInTime.closed, null, 'silent for exactly the interval: not yet');
    assert.equal(recent.closed, null);
    assert.deepEqual(reported, [2]);
    assert.equal(heartbeat.sweep(now), 0);
    assert.deepEqual(reported, [2], 'a sweep that closes nothing reports nothing');
  });

  it('pings the clients of a keep-alive protocol silent for half the interval, and closes them with its own code after the whole', () => {
    const now = 1_000_000;
    const keepAlive: ClientProtocol = { ...goPushProtocol, keepAlive: { closeCode: 4201 } };
    const probed: string[] = [];
    const make = (name: string, lastSeen: number, protocol = keepAlive) =>
      Object.assign(fakeConn(lastSeen), { protocol, probe: () => probed.push(name) }) as FakeConn & Connection;
    const quiet = make('quiet', now - INTERVAL / 2 - 1);
    const talking = make('talking', now - INTERVAL / 2 + 1);
    const gone = make('gone', now - INTERVAL - 1);
    const goPush = make('go-push', now - INTERVAL / 2 - 1, goPushProtocol);
    new Heartbeat(fakeHub([quiet, talking, gone, goPush]), INTERVAL, () => {}).sweep(now);
    assert.deepEqual(probed, ['quiet'], 'only the silent client of the keep-alive protocol is pinged');
    assert.deepEqual(gone.closed, { code: 4201, reason: 'heartbeat timeout' });
    assert.equal(quiet.closed, null);
    assert.equal(goPush.closed, null);
  });

  it("a silent client goes between 1 and 1.25 intervals after its last frame, whatever the sweeps' phase", () => {
    const period = new Heartbeat(fakeHub([]), INTERVAL, () => {}).periodMs;
    for (const phase of [0, 1, period / 3, period / 2, period - 1]) {
      const conn = fakeConn(0);
      const heartbeat = new Heartbeat(fakeHub([conn]), INTERVAL, () => {});
      let closedAt = -1;
      for (let k = 0; k < 10 && closedAt < 0; k++) {
        const now = phase + k * period;
        heartbeat.sweep(now);
        if (conn.closed !== null) closedAt = now;
      }
      assert.ok(closedAt > INTERVAL && closedAt <= 1.25 * INTERVAL, `phase ${phase}: closed at ${closedAt} ms`);
    }
  });

  it('on its own timer: a client silent from the start is closed by the fifth sweep, one that keeps sending never (fake clock)', () => {
    mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
    const silent = fakeConn(Date.now());
    const chatty = fakeConn(Date.now());
    const heartbeat = new Heartbeat(fakeHub([silent, chatty]), INTERVAL, () => {});
    heartbeat.start();
    try {
      for (let sweep = 1; sweep <= 4; sweep++) {
        mock.timers.tick(heartbeat.periodMs);
        chatty.lastSeen = Date.now();
        assert.equal(silent.closed, null, `still open after sweep ${sweep} (${Date.now()} ms)`);
      }
      mock.timers.tick(heartbeat.periodMs);
      assert.deepEqual(silent.closed, { code: 4000, reason: 'heartbeat timeout' }, 'closed by the fifth sweep, at 1.25 intervals');
      for (let sweep = 0; sweep < 20; sweep++) {
        mock.timers.tick(heartbeat.periodMs);
        chatty.lastSeen = Date.now();
      }
      assert.equal(chatty.closed, null);
    } finally {
      heartbeat.stop();
    }
  });

  it('enforces authentication deadlines: no AUTH in time, an expired token (4001), one warning before expiry', () => {
    const now = 1_000_000;
    const late = fakeConn(now, pendingAuth(now - 1));
    const pending = fakeConn(now, pendingAuth(now + 10_000));
    const expired = fakeConn(now, grantedAuth({ userId: undefined, rooms: null, publish: null, expiresAt: now - 1 }, now - 10_000));
    const expiring = fakeConn(now, grantedAuth({ userId: undefined, rooms: null, publish: null, expiresAt: now + 20_000 }, now - 100_000));
    const counts: AuthSweepCounts[] = [];
    const heartbeat = new Heartbeat(
      fakeHub([expired, expiring], [late, pending]),
      INTERVAL,
      () => {},
      1000,
      (c) => counts.push({ ...c }),
    );
    heartbeat.sweep(now);
    assert.equal(late.closed?.code, 4001);
    assert.match(late.closed!.reason, /^authentication timeout/);
    assert.equal(pending.closed, null);
    assert.deepEqual(expired.closed, { code: 4001, reason: 'token expired' });
    assert.equal(expiring.closed, null);
    assert.equal(expiring.sent.length, 1);
    const warning = JSON.parse(expiring.sent[0]!);
    assert.equal(warning.type, 'WARNING');
    assert.equal(warning.data.code, 'TOKEN_EXPIRING');
    assert.equal(warning.data.expiresIn, 20_000);
    assert.deepEqual(counts, [{ unauthenticated: 1, expired: 1, warned: 1 }]);
    heartbeat.sweep(now + 1);
    assert.equal(expiring.sent.length, 1, 'warned once');
    assert.equal(counts.length, 1, 'a sweep with nothing to do reports nothing');
    heartbeat.sweep(now + 20_000);
    assert.deepEqual(expiring.closed, { code: 4001, reason: 'token expired' });
  });
});
