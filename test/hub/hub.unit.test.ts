import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Connection } from '../../src/connection/connection.js';
import { Hub } from '../../src/hub/hub.js';

/** A stand-in connection: the hub only reads its id and reads and writes its user. */
function conn(id: string, userId?: string): Connection {
  return { id, userId } as unknown as Connection;
}

const ids = (set: ReadonlySet<Connection> | undefined): string[] => [...(set ?? [])].map((c) => c.id).sort();

/** A hub recording its room and user open/close callbacks in order. */
function hub(maxRooms = 10) {
  const h = new Hub(maxRooms, 'cafe0001');
  const changes: string[] = [];
  h.onRoomChange = (room, open) => changes.push(`room ${room} ${open ? 'open' : 'closed'}`);
  h.onUserChange = (user, open) => changes.push(`user ${user} ${open ? 'open' : 'closed'}`);
  return { hub: h, changes };
}

describe('Hub', () => {
  it('hands out ids <nodeId>-<sequence in base 36>', () => {
    const h = new Hub(1, 'cafe0001');
    assert.equal(h.nodeId, 'cafe0001');
    const seen = Array.from({ length: 37 }, () => h.nextId());
    assert.deepEqual([seen[0], seen[35], seen[36]], ['cafe0001-1', 'cafe0001-10', 'cafe0001-11']);
    assert.match(new Hub(1).nodeId, /^[0-9a-f]{8}$/, 'a random node id by default');
  });

  it("keeps rooms both ways and tells a room's first member and last departure, once each", () => {
    const { hub: h, changes } = hub();
    const [a, b] = [conn('a'), conn('b')];
    h.add(a);
    h.add(b);
    assert.equal(h.join(a, 'news'), 'joined');
    assert.equal(h.join(a, 'news'), 'already-joined');
    assert.equal(h.join(b, 'news'), 'joined');
    assert.equal(h.join(b, 'sport'), 'joined');
    assert.deepEqual(ids(h.members('news')), ['a', 'b']);
    assert.deepEqual([...h.roomsOf(a)!], ['news']);
    assert.deepEqual(
      [...h.roomSizes()],
      [
        ['news', 2],
        ['sport', 1],
      ],
    );
    assert.equal(h.roomCount, 2);
    assert.equal(h.leave(a, 'news'), true);
    assert.equal(h.leave(a, 'news'), false, 'not a member any more');
    assert.equal(h.roomsOf(a), undefined, 'a connection in no room has no entry');
    assert.equal(h.leave(b, 'news'), true);
    assert.equal(h.members('news'), undefined, 'an empty room is dropped');
    assert.deepEqual(changes, ['room news open', 'room sport open', 'room news closed']);
  });

  it('refuses a join past maxRooms, and takes it once a room is left', () => {
    const { hub: h } = hub(2);
    const a = conn('a');
    h.add(a);
    assert.equal(h.join(a, 'r1'), 'joined');
    assert.equal(h.join(a, 'r2'), 'joined');
    assert.equal(h.join(a, 'r3'), 'too-many-rooms');
    assert.equal(h.members('r3'), undefined);
    h.leave(a, 'r1');
    assert.equal(h.join(a, 'r3'), 'joined');
  });

  it('removes a connection from every room and index at once, telling each room and user it closes', () => {
    const { hub: h, changes } = hub();
    const [a, b] = [conn('a', 'alice'), conn('b', 'alice')];
    h.add(a);
    h.add(b);
    h.join(a, 'x');
    h.join(a, 'y');
    h.join(b, 'y');
    changes.length = 0;
    h.remove(a);
    assert.equal(h.get('a'), undefined);
    assert.equal(h.size, 1);
    assert.equal(h.members('x'), undefined);
    assert.deepEqual(ids(h.members('y')), ['b']);
    assert.deepEqual(ids(h.userConnections('alice')), ['b']);
    assert.deepEqual(changes, ['room x closed'], 'alice still has b: her user stays open');
    h.remove(a); // twice: a no-op
    h.remove(b);
    assert.deepEqual(changes, ['room x closed', 'user alice closed', 'room y closed']);
    assert.equal(h.userCount, 0);
    assert.equal(h.roomCount, 0);
  });

  it('does not remove a newer connection that reuses an id', () => {
    const { hub: h } = hub();
    const old = conn('same');
    const current = conn('same');
    h.add(current);
    h.remove(old);
    assert.equal(h.get('same'), current);
  });

  it('holds connections awaiting AUTH apart: not found, not counted, never in all(), until promoted', () => {
    const { hub: h, changes } = hub();
    const waiting = conn('w');
    h.addAwaitingAuth(waiting);
    assert.equal(h.get('w'), undefined);
    assert.equal(h.size, 0);
    assert.equal(h.awaitingAuthCount, 1);
    assert.deepEqual([...h.all()], []);
    assert.deepEqual([...h.awaitingAuth()], [waiting]);
    // Authenticated: its user is set, then it comes online, indexed under that user.
    h.setUser(waiting, 'bob');
    assert.deepEqual(changes, [], 'not indexed while awaiting AUTH');
    h.promote(waiting);
    assert.equal(h.get('w'), waiting);
    assert.equal(h.awaitingAuthCount, 0);
    assert.deepEqual(ids(h.userConnections('bob')), ['w']);
    assert.deepEqual(changes, ['user bob open']);
    h.promote(waiting); // already online: a no-op
    assert.equal(h.size, 1);
  });

  it('forgets a connection that closes while awaiting AUTH, and does not promote it afterwards', () => {
    const { hub: h } = hub();
    const waiting = conn('w');
    h.addAwaitingAuth(waiting);
    h.remove(waiting);
    assert.equal(h.awaitingAuthCount, 0);
    h.promote(waiting);
    assert.equal(h.get('w'), undefined, 'a closed connection does not come online');
  });

  it('moves an online connection between users on a late AUTH', () => {
    const { hub: h, changes } = hub();
    const a = conn('a');
    h.add(a);
    h.setUser(a, 'carol');
    h.setUser(a, 'carol'); // same user: nothing changes
    h.setUser(a, 'dave');
    assert.equal(h.userConnections('carol'), undefined);
    assert.deepEqual(ids(h.userConnections('dave')), ['a']);
    assert.deepEqual([...h.userIds()], ['dave']);
    assert.deepEqual(changes, ['user carol open', 'user carol closed', 'user dave open']);
  });

  it('lists online connections in the order they came online', () => {
    const { hub: h } = hub();
    for (const id of ['c', 'a', 'b']) h.add(conn(id));
    assert.deepEqual(
      [...h.all()].map((c) => c.id),
      ['c', 'a', 'b'],
    );
  });
});
