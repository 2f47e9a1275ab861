import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connection, type ConnectionHandler } from '../../src/connection/connection.js';
import { Hub } from '../../src/hub/hub.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { FakeTransport } from '../helpers/fake-transport.js';

/** A hub whose connections (over fake transports) leave it when they close, as the gateway's handler does. */
function hubWithConnections() {
  const hub = new Hub(3, 'n1');
  const handler: ConnectionHandler = { onMessage() {}, onClose: (conn) => hub.remove(conn) };
  const connect = (user?: string) => {
    const transport = new FakeTransport();
    const conn = new Connection(transport, hub.nextId(), goPushProtocol, undefined, handler);
    if (user !== undefined) hub.setUser(conn, user);
    hub.add(conn);
    return { conn, transport };
  };
  return { hub, connect };
}

describe('Hub with connections', () => {
  it('owns membership both ways: members of a room, rooms of a connection', () => {
    const { hub, connect } = hubWithConnections();
    const a = connect().conn;
    const b = connect().conn;
    assert.equal(hub.join(a, 'r1'), 'joined');
    assert.equal(hub.join(a, 'r2'), 'joined');
    assert.equal(hub.join(b, 'r1'), 'joined');
    assert.deepEqual([...hub.roomsOf(a)!], ['r1', 'r2']);
    assert.deepEqual([...hub.members('r1')!], [a, b]);
    assert.equal(hub.leave(a, 'r1'), true);
    assert.deepEqual([...hub.roomsOf(a)!], ['r2']);
    assert.deepEqual([...hub.members('r1')!], [b]);
    assert.equal(hub.leave(a, 'r2'), true);
    assert.equal(hub.roomsOf(a), undefined);
    assert.equal(hub.roomsOf(b)?.size, 1);
  });

  it('refuses joins past maxRooms', () => {
    const { hub, connect } = hubWithConnections();
    const { conn } = connect();
    for (const room of ['a', 'b', 'c']) assert.equal(hub.join(conn, room), 'joined');
    assert.equal(hub.join(conn, 'd'), 'too-many-rooms');
    assert.equal(hub.join(conn, 'a'), 'already-joined');
  });

  it('forgets a connection that closes: its rooms, its user, its id', () => {
    const { hub, connect } = hubWithConnections();
    const alice1 = connect('alice');
    const alice2 = connect('alice');
    hub.join(alice1.conn, 'news');
    hub.join(alice2.conn, 'news');
    assert.equal(alice1.conn.userId, 'alice');
    assert.deepEqual([...hub.userConnections('alice')!], [alice1.conn, alice2.conn]);
    alice1.transport.gone(1001, 'bye');
    assert.equal(hub.get(alice1.conn.id), undefined);
    assert.equal(hub.roomsOf(alice1.conn), undefined);
    assert.deepEqual([...hub.members('news')!], [alice2.conn]);
    assert.deepEqual([...hub.userConnections('alice')!], [alice2.conn]);
    alice2.conn.close(1000, 'done');
    assert.equal(hub.members('news'), undefined);
    assert.equal(hub.userConnections('alice'), undefined);
    assert.deepEqual([hub.size, hub.roomCount, hub.userCount], [0, 0, 0]);
  });

  it('moves a connection between users through setUser only', () => {
    const { hub, connect } = hubWithConnections();
    const { conn } = connect('bob');
    hub.setUser(conn, 'carol');
    assert.equal(conn.userId, 'carol');
    assert.equal(hub.userConnections('bob'), undefined);
    assert.deepEqual([...hub.userConnections('carol')!], [conn]);
    hub.setUser(conn, undefined);
    assert.equal(hub.userCount, 0);
  });
});
