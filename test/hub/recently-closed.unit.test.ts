import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connection, type ConnectionHandler } from '../../src/connection/connection.js';
import { Hub } from '../../src/hub/hub.js';
import { LocalConnections } from '../../src/hub/local-connections.js';
import { RECENTLY_CLOSED_LIMIT, RECENTLY_CLOSED_MS, RecentlyClosed } from '../../src/hub/recently-closed.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { FakeTransport } from '../helpers/fake-transport.js';

/** A clock the test moves. */
function clock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const closed = (conn: string, code = 1000) => ({ conn, node: 'n1', user: null, code, reason: 'bye', by: 'client' as const });

describe('RecentlyClosed', () => {
  it('keeps 10,000 connections for 5 minutes by default', () => {
    const store = new RecentlyClosed();
    assert.equal(store.limit, RECENTLY_CLOSED_LIMIT);
    assert.equal(store.maxAgeMs, RECENTLY_CLOSED_MS);
    assert.equal(RECENTLY_CLOSED_LIMIT, 10000);
    assert.equal(RECENTLY_CLOSED_MS, 300000);
  });

  it('answers how a connection ended, with the time it closed as ISO 8601', () => {
    const time = clock();
    const store = new RecentlyClosed(10, 1000, time.now);
    store.record({ conn: 'n1-1', node: 'n1', user: 'alice', code: 4003, reason: 'kicked', by: 'server' });
    assert.deepEqual(store.get('n1-1'), {
      conn: 'n1-1',
      node: 'n1',
      user: 'alice',
      closedAt: '2026-01-01T00:00:00.000Z',
      code: 4003,
      reason: 'kicked',
      by: 'server',
    });
    assert.equal(store.get('n1-2'), undefined);
  });

  it('forgets a connection once it is older than the retention', () => {
    const time = clock();
    const store = new RecentlyClosed(10, 1000, time.now);
    store.record(closed('a'));
    time.advance(600);
    store.record(closed('b'));
    time.advance(400);
    assert.ok(store.get('a'), 'exactly at the retention: still kept');
    time.advance(1);
    assert.equal(store.get('a'), undefined);
    assert.ok(store.get('b'));
    assert.equal(store.size, 1, 'the expired entry is pruned, not just hidden');
    time.advance(600);
    assert.equal(store.get('b'), undefined);
    assert.equal(store.size, 0);
  });

  it('holds at most `limit` connections, dropping the oldest first', () => {
    const time = clock();
    const store = new RecentlyClosed(3, 60000, time.now);
    for (const conn of ['a', 'b', 'c', 'd', 'e']) {
      store.record(closed(conn));
      time.advance(1);
    }
    assert.equal(store.size, 3);
    assert.deepEqual(
      ['a', 'b', 'c', 'd', 'e'].map((conn) => store.get(conn) !== undefined),
      [false, false, true, true, true],
    );
  });

  it('keeps the latest record of an id, as the newest entry', () => {
    const time = clock();
    const store = new RecentlyClosed(2, 60000, time.now);
    store.record(closed('a', 1000));
    store.record(closed('b'));
    store.record(closed('a', 4000));
    store.record(closed('c')); // drops the oldest: b, not a (re-recorded after it)
    assert.equal(store.get('a')?.code, 4000);
    assert.equal(store.get('b'), undefined);
    assert.ok(store.get('c'));
  });

  it('hides an entry past the retention even when the clock went back and pruning stopped before it', () => {
    const time = clock();
    const store = new RecentlyClosed(10, 1000, time.now);
    store.record(closed('a'));
    time.advance(-5000); // the clock is set back: 'b' looks older than 'a'
    store.record(closed('b'));
    time.advance(5500);
    assert.ok(store.get('a'), 'a closed 500 ms ago');
    assert.equal(store.get('b'), undefined, 'b closed 5500 ms ago by the clock');
  });
});

/** A hub (with a store on the test's clock) whose connections leave it when they close, as the gateway's handler does. */
function hubWithConnections() {
  const time = clock();
  const hub = new Hub(5, 'n1', new RecentlyClosed(100, 60000, time.now));
  const handler: ConnectionHandler = { onMessage() {}, onClose: (conn) => hub.remove(conn) };
  const connect = (user?: string) => {
    const transport = new FakeTransport();
    const conn = new Connection(transport, hub.nextId(), goPushProtocol, undefined, handler);
    if (user !== undefined) hub.setUser(conn, user);
    hub.add(conn);
    return { conn, transport };
  };
  return { hub, connect, time, local: new LocalConnections(hub) };
}

describe('LocalConnections (a hub over fake transports)', () => {
  it('describes an online connection: node, user, address, protocol, rooms in join order, times', () => {
    const { hub, connect, local } = hubWithConnections();
    const { conn } = connect('alice');
    hub.join(conn, 'b');
    hub.join(conn, 'a');
    const found = local.lookup(conn.id);
    assert.equal(found.state, 'open');
    assert.deepEqual(found.state === 'open' ? found.info : null, {
      conn: conn.id,
      node: 'n1',
      user: 'alice',
      address: '192.0.2.1',
      protocol: 'go-push',
      rooms: ['b', 'a'],
      connectedAt: new Date(conn.openedAt).toISOString(),
      lastSeenAt: new Date(conn.lastSeen).toISOString(),
    });
    assert.deepEqual(local.lookup('n1-zz'), { state: 'unknown' });
  });

  it('closes a connection with the code and reason asked, then knows it as closed by the server', () => {
    const { connect, local } = hubWithConnections();
    const { conn, transport: socket } = connect();
    assert.equal(local.close(conn.id, 4003, 'go away').state, 'open', 'the lookup before closing');
    assert.deepEqual(socket.closedWith, { code: 4003, reason: 'go away' });
    const after = local.lookup(conn.id);
    assert.equal(after.state, 'closed');
    if (after.state !== 'closed') return;
    assert.deepEqual({ ...after.closed, closedAt: '' }, { conn: conn.id, node: 'n1', user: null, closedAt: '', code: 4003, reason: 'go away', by: 'server' });
    assert.equal(local.close(conn.id, 4003, 'again').state, 'closed', 'a second close finds it closed and does nothing');
    assert.equal(socket.closeCalls, 1);
  });

  it('records a close by the client, with its code and reason, as the hub removes it', () => {
    const { connect, local } = hubWithConnections();
    const { conn } = connect('bob');
    conn.transportClosed(1001, 'tab closed');
    const found = local.lookup(conn.id);
    assert.equal(found.state, 'closed');
    if (found.state === 'closed')
      assert.deepEqual([found.closed.code, found.closed.reason, found.closed.by, found.closed.user], [1001, 'tab closed', 'client', 'bob']);
  });

  it("lists and closes a user's connections, and only theirs", () => {
    const { connect, local } = hubWithConnections();
    const a1 = connect('alice');
    const a2 = connect('alice');
    const b = connect('bob');
    assert.deepEqual(
      local.ofUser('alice').map((c) => c.conn),
      [a1.conn.id, a2.conn.id],
    );
    assert.deepEqual(local.ofUser('nobody'), []);
    assert.equal(local.closeUser('alice', 4005, 'logged out'), 2);
    assert.deepEqual(a1.transport.closedWith, { code: 4005, reason: 'logged out' });
    assert.deepEqual(a2.transport.closedWith, { code: 4005, reason: 'logged out' });
    assert.equal(b.transport.closedWith, null);
    assert.deepEqual(local.ofUser('alice'), []);
    assert.equal(local.closeUser('alice', 4005, 'again'), 0);
  });
});
