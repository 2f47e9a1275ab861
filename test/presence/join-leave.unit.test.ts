import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JoinLeave } from '../../src/presence/join-leave.js';
import type { PresenceChange } from '../../src/presence/presence-change.js';
import type { PresenceAnswer } from '../../src/presence/presence-query.js';
import { PresenceRules } from '../../src/presence/presence-rules.js';
import type { PresenceGathering } from '../../src/presence/presence-service.js';
import type { PresenceEventBody } from '../../src/protocol/client-protocol.js';

class FakeConn {
  isOpen = true;
  constructor(
    readonly id: string,
    readonly userId?: string,
  ) {}
}

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A node "na" with fakes for its hub, broker link and delivery; "nb" is the other node. */
function node(max = 10) {
  const rooms = new Map<string, Set<FakeConn>>();
  const published: PresenceChange[] = [];
  const sent: Array<{ event: PresenceEventBody; to: string[] }> = [];
  const known = new Set(['nb']);
  let ready: Promise<void> | null = null;
  let gathering: Promise<PresenceGathering> | null = null;
  let reported = 0;
  const engine = new JoinLeave<FakeConn>({
    nodeId: 'na',
    rules: new PresenceRules(max, ['jl-*']),
    members: (room) => rooms.get(room),
    publish: async (change) => {
      published.push(change);
    },
    ready: () => ready,
    gather: () => gathering ?? Promise.resolve({ answers: new Map(), partial: false, unanswered: [] }),
    knows: (n) => known.has(n),
    viewCurrent: () => true,
    available: () => true,
    reported: () => reported,
    send: (_room, event, recipients) => sent.push({ event, to: recipients.map((c) => c.id) }),
  });
  return {
    engine,
    published,
    sent,
    known,
    setReady(promise: Promise<void> | null) {
      ready = promise;
    },
    setGathering(promise: Promise<PresenceGathering> | null) {
      gathering = promise;
    },
    setReported(count: number) {
      reported = count;
    },
    join(conn: FakeConn, room: string) {
      let set = rooms.get(room);
      if (set === undefined) rooms.set(room, (set = new Set()));
      set.add(conn);
      engine.changed(conn, room, true);
    },
    leave(conn: FakeConn, room: string) {
      const set = rooms.get(room);
      set?.delete(conn);
      if (set?.size === 0) rooms.delete(room);
      engine.changed(conn, room, false);
    },
    /** Hands every change published so far back to the engine, as the broker would. */
    echo() {
      for (const change of published.splice(0)) engine.received(change);
    },
    /** The events sent since the last call, as `event conn → recipients`. */
    take(): string[] {
      return sent.splice(0).map(({ event, to }) => {
        const what = event.event === 'state' ? event.connections.map((c) => c.conn).join(',') : event.event === 'overflow' ? event.count : event.conn;
        return `${event.event} ${what} → ${to.join(',')}`;
      });
    },
  };
}

const answer = (members: Array<[string, string | null]>, seq: number): PresenceAnswer => ({
  op: 'presence',
  count: members.length,
  userCount: new Set(members.map(([, user]) => user).filter((u) => u !== null)).size,
  members: members.map(([conn, user]) => ({ conn, user })),
  seq,
});
const gathered = (answers: Record<string, PresenceAnswer>, partial = false): PresenceGathering => ({
  answers: new Map(Object.entries(answers)),
  partial,
  unanswered: [],
});
const change = (event: 'join' | 'leave', conn: string, user: string | null, origin: string, seq: number, room = 'jl-r'): PresenceChange => ({
  room,
  event,
  conn,
  user,
  origin,
  seq,
});

describe('join/leave events of one node', () => {
  it("publishes a join once the room's subscription is in place; the joiner gets the state, then the others' joins", async () => {
    const n = node();
    const subscribed = deferred<void>();
    n.setReady(subscribed.promise);
    const loading = deferred<PresenceGathering>();
    n.setGathering(loading.promise);
    const a1 = new FakeConn('na-1', 'alice');
    n.join(a1, 'jl-r');
    assert.equal(n.published.length, 0, 'not before the subscription');
    subscribed.resolve();
    await settle();
    assert.deepEqual(n.published, [change('join', 'na-1', 'alice', 'na', 1)]);
    n.setReady(null);
    // Changes that arrive while the room is loading: nb's answer (as of its seq 5) includes those up to
    // 5 (nb-0 came at 3 and left at 4, its leave still on its way), not seq 6.
    n.echo();
    n.engine.received(change('join', 'nb-0', 'zed', 'nb', 3));
    n.engine.received(change('join', 'nb-1', 'bob', 'nb', 5));
    n.engine.received(change('join', 'nb-2', 'bob', 'nb', 6));
    assert.deepEqual(n.take(), [], 'nothing told while loading');
    loading.resolve(gathered({ nb: answer([['nb-1', 'bob']], 5) }));
    await settle();
    assert.deepEqual(n.take(), ['state na-1,nb-1,nb-2 → na-1']);
    n.engine.received(change('leave', 'nb-0', 'zed', 'nb', 4));
    assert.deepEqual(n.take(), [], 'the leave of a connection never told of is not told');
    // Later changes are told as they come; a change seen twice is told once.
    n.engine.received(change('leave', 'nb-1', 'bob', 'nb', 7));
    n.engine.received(change('leave', 'nb-1', 'bob', 'nb', 7));
    const a2 = new FakeConn('na-2');
    n.join(a2, 'jl-r');
    n.echo();
    assert.deepEqual(n.take(), ['leave nb-1 → na-1', 'join na-2 → na-1', 'state na-1,na-2,nb-2 → na-2']);
    n.leave(a2, 'jl-r');
    n.echo();
    assert.deepEqual(n.take(), ['leave na-2 → na-1']);
  });

  it('announces nothing for rooms --join-leave does not name, and forgets a room its last member left', async () => {
    const n = node();
    const conn = new FakeConn('na-1', 'alice');
    n.join(conn, 'other');
    assert.equal(n.published.length, 0);
    n.join(conn, 'jl-r');
    await settle();
    assert.equal(n.engine.roomCount, 1);
    n.leave(conn, 'jl-r');
    assert.equal(n.engine.roomCount, 0);
    assert.deepEqual(
      n.published.map((c) => `${c.event} ${c.seq}`),
      ['join 1', 'leave 2'],
    );
  });

  it('answers presence queries with its own members and the number of its last change, listing at most max', async () => {
    const n = node(2);
    n.join(new FakeConn('na-1', 'alice'), 'jl-r');
    n.join(new FakeConn('na-2', 'alice'), 'jl-r');
    assert.deepEqual(n.engine.answer({ op: 'presence', room: 'jl-r', list: true, max: 2 }), {
      op: 'presence',
      count: 2,
      userCount: 1,
      members: [
        { conn: 'na-1', user: 'alice' },
        { conn: 'na-2', user: 'alice' },
      ],
      seq: 2,
    });
    n.join(new FakeConn('na-3'), 'jl-r');
    assert.deepEqual(n.engine.answer({ op: 'presence', room: 'jl-r', list: true, max: 2 }), { op: 'presence', count: 3, userCount: 1, seq: 3 });
    assert.deepEqual(n.engine.answer({ op: 'presence', room: 'none', list: false, max: 2 }), { op: 'presence', count: 0, userCount: 0, seq: 3 });
  });

  it('past max, tells every member once that events stop, then each newcomer; back under it, the state again', async () => {
    const n = node(2);
    const [a1, a2, a3] = [new FakeConn('na-1', 'a'), new FakeConn('na-2', 'b'), new FakeConn('na-3', 'c')];
    n.join(a1, 'jl-r');
    await settle();
    n.echo();
    n.join(a2, 'jl-r');
    n.echo();
    n.take();
    n.join(a3, 'jl-r');
    n.echo();
    assert.deepEqual(n.take(), ['overflow 3 → na-1,na-2,na-3']);
    const a4 = new FakeConn('na-4', 'd');
    n.join(a4, 'jl-r');
    n.echo();
    n.engine.received(change('join', 'nb-1', 'e', 'nb', 1));
    assert.deepEqual(n.take(), ['overflow 4 → na-4']);
    // Back to two members: the next look loads the room again, and every member gets its state.
    n.leave(a3, 'jl-r');
    n.leave(a4, 'jl-r');
    n.echo();
    n.engine.tick();
    await settle();
    assert.deepEqual(n.take(), ['state na-1,na-2 → na-1', 'state na-1,na-2 → na-2']);
  });

  it('announces the connections of a node taken as gone as left', async () => {
    const n = node();
    n.setGathering(
      Promise.resolve(
        gathered({
          nb: answer(
            [
              ['nb-1', 'bob'],
              ['nb-2', null],
            ],
            2,
          ),
        }),
      ),
    );
    const a1 = new FakeConn('na-1', 'alice');
    n.join(a1, 'jl-r');
    await settle();
    n.echo();
    n.take();
    n.known.delete('nb');
    n.engine.nodeGone('nb');
    assert.deepEqual(n.take(), ['leave nb-1 → na-1', 'leave nb-2 → na-1']);
    // A late change of the gone node is not applied; once it reports again, the room is loaded again.
    n.engine.received(change('join', 'nb-3', 'bob', 'nb', 3));
    assert.deepEqual(n.take(), []);
    n.known.add('nb');
    n.setGathering(Promise.resolve(gathered({ nb: answer([['nb-3', 'bob']], 3) })));
    n.engine.tick();
    await settle();
    assert.deepEqual(n.take(), ['join nb-3 → na-1']);
  });

  it('after a broker outage, loads every room again and tells members what changed meanwhile', async () => {
    const n = node();
    n.setGathering(Promise.resolve(gathered({ nb: answer([['nb-1', 'bob']], 1) })));
    const a1 = new FakeConn('na-1', 'alice');
    n.join(a1, 'jl-r');
    await settle();
    n.echo();
    assert.deepEqual(n.take(), ['state na-1,nb-1 → na-1']);
    // Meanwhile nb-1 left and nb-2 came, and a second local member joined (its change lost with the broker).
    const a2 = new FakeConn('na-2', 'alan');
    n.join(a2, 'jl-r');
    n.published.splice(0);
    n.setGathering(Promise.resolve(gathered({ nb: answer([['nb-2', 'bea']], 4) })));
    n.engine.brokerBack();
    n.engine.tick();
    await settle();
    assert.deepEqual(n.take(), ['leave nb-1 → na-1', 'join nb-2 → na-1', 'join na-2 → na-1', 'state na-1,na-2,nb-2 → na-2']);
  });
});
