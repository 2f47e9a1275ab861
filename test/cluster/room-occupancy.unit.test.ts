import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type OccupancyChange, RoomOccupancy } from '../../src/cluster/room-occupancy.js';

/**
 * Nodes sharing one ordered presence channel, as the broker gives it: every change published goes to
 * every node, in one order, when `deliver` runs.
 */
function cluster(ids: string[], current = true) {
  const told: string[] = [];
  const stream: OccupancyChange[] = [];
  const view = { current, live: new Set(ids) };
  const nodes = new Map<string, RoomOccupancy>();
  for (const id of ids) {
    nodes.set(
      id,
      new RoomOccupancy({
        nodeId: id,
        watches: (room) => room.startsWith('#pusher:'),
        shared: () => true,
        publish: async (change) => {
          stream.push(change);
        },
        viewCurrent: () => view.current,
        liveNodes: () => view.live,
        occupied: (room) => told.push(`${id} occupied ${room}`),
        vacated: (room) => told.push(`${id} vacated ${room}`),
      }),
    );
  }
  const deliver = async (): Promise<void> => {
    await Promise.resolve();
    for (const change of stream.splice(0)) for (const node of nodes.values()) node.received(change);
  };
  return { nodes, told, deliver, view };
}

const ROOM = '#pusher:app1:news';

describe('RoomOccupancy (cluster-wide first and last holders, fake stream)', () => {
  it('the first holder tells of occupied, the last of vacated; holders in between tell nothing', async () => {
    const { nodes, told, deliver } = cluster(['a', 'b']);
    nodes.get('a')?.localChanged(ROOM, true);
    await deliver();
    nodes.get('b')?.localChanged(ROOM, true);
    await deliver();
    nodes.get('a')?.localChanged(ROOM, false);
    await deliver();
    assert.deepEqual(told, ['a occupied #pusher:app1:news']);
    nodes.get('b')?.localChanged(ROOM, false);
    await deliver();
    assert.deepEqual(told, ['a occupied #pusher:app1:news', 'b vacated #pusher:app1:news']);
  });

  it('a leave and a join on two nodes at once come out as the stream ordered them, told by one node each', async () => {
    const { nodes, told, deliver } = cluster(['a', 'b']);
    nodes.get('a')?.localChanged(ROOM, true);
    await deliver();
    // a leaves, b joins, in that order in the stream: vacated by a, then occupied by b.
    nodes.get('a')?.localChanged(ROOM, false);
    nodes.get('b')?.localChanged(ROOM, true);
    await deliver();
    assert.deepEqual(told, ['a occupied #pusher:app1:news', 'a vacated #pusher:app1:news', 'b occupied #pusher:app1:news']);
    // a joins while b holds it, then b leaves and a leaves: only the last leave empties the room.
    told.length = 0;
    nodes.get('a')?.localChanged(ROOM, true);
    await deliver();
    nodes.get('b')?.localChanged(ROOM, false);
    nodes.get('a')?.localChanged(ROOM, false);
    await deliver();
    assert.deepEqual(told, ['a vacated #pusher:app1:news']);
  });

  it('a node just started learns what the others hold from their reports before telling of its own', async () => {
    const { nodes, told, deliver, view } = cluster(['a', 'b'], false);
    nodes.get('b')?.localChanged(ROOM, true);
    await deliver();
    assert.deepEqual(told, [], 'b waits for its view');
    nodes.get('b')?.reported('a', [ROOM, 'not-followed'], false);
    view.current = true;
    nodes.get('b')?.flushWaiting();
    assert.deepEqual(told, [], 'a held the room already: not occupied again');
    // A report that leaves the room out (not truncated) means a no longer holds it.
    nodes.get('b')?.reported('a', [], false);
    assert.equal(nodes.get('b')?.holds('a', ROOM), false);
    nodes.get('b')?.reported('a', [ROOM], false);
    nodes.get('b')?.reported('a', [], true);
    assert.equal(nodes.get('b')?.holds('a', ROOM), true, 'a truncated report says nothing of the rooms it leaves out');
  });

  it('two nodes started together decide what they read before their view was current at its place in the stream', async () => {
    const { nodes, told, deliver, view } = cluster(['a', 'b'], false);
    nodes.get('a')?.localChanged(ROOM, true);
    nodes.get('b')?.localChanged(ROOM, true);
    await deliver();
    view.current = true;
    for (const node of nodes.values()) node.flushWaiting();
    assert.deepEqual(told, ['a occupied #pusher:app1:news'], 'once, by the first in the stream');
  });

  it("takes another node's holding before this one started from its first word: a release means it held the room", async () => {
    const { nodes, told, deliver, view } = cluster(['a', 'b'], false);
    const b = nodes.get('b');
    // a held the room before b started (b never saw it take it); b takes it, then a leaves.
    b?.localChanged(ROOM, true);
    await deliver();
    b?.received({ node: 'a', room: ROOM, held: false });
    view.current = true;
    b?.flushWaiting();
    assert.deepEqual(told, [], 'a held it when b took it: not occupied again; a left while b held it: not vacated');
    assert.equal(b?.holds('b', ROOM), true);
    assert.equal(b?.holds('a', ROOM), false);
  });

  it('a node taken as gone leaves its rooms; the live node of the lowest id tells of those now vacated', async () => {
    const { nodes, told, deliver, view } = cluster(['a', 'b', 'c']);
    nodes.get('c')?.localChanged(ROOM, true);
    await deliver();
    told.length = 0;
    view.live.delete('c');
    for (const id of ['a', 'b']) nodes.get(id)?.nodeGone('c');
    assert.deepEqual(told, ['a vacated #pusher:app1:news']);
  });

  it('a gateway alone decides at once (after the current turn), and follows only the rooms it watches', async () => {
    const told: string[] = [];
    const alone = new RoomOccupancy({
      nodeId: 'n',
      watches: (room) => room.startsWith('#pusher:'),
      shared: () => false,
      publish: () => Promise.reject(new Error('no broker')),
      viewCurrent: () => true,
      liveNodes: () => ['n'],
      occupied: (room) => told.push(`occupied ${room}`),
      vacated: (room) => told.push(`vacated ${room}`),
    });
    alone.localChanged(ROOM, true);
    alone.localChanged('chat', true);
    assert.deepEqual(told, []);
    await Promise.resolve();
    alone.localChanged(ROOM, false);
    await Promise.resolve();
    assert.deepEqual(told, [`occupied ${ROOM}`, `vacated ${ROOM}`]);
  });
});
