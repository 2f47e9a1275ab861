import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PresenceAnswer, PresenceAsk } from '../../src/presence/presence-query.js';
import { localPresence } from '../../src/presence/presence-query.js';
import { type PresenceGathering, PresenceService } from '../../src/presence/presence-service.js';
import { PushError } from '../../src/protocol/errors.js';

type Member = { id: string; userId?: string; isOpen: boolean };
const members = (node: string, users: Array<string | undefined>): Member[] => users.map((userId, i) => ({ id: `${node}-${i}`, userId, isOpen: true }));

/** A service on node "n1" whose other nodes answer from their member lists, as their own answer would. */
function service(max: number, nodes: Record<string, Member[]>, options: { reported?: number; partial?: boolean; unanswered?: string[] } = {}) {
  const asks: PresenceAsk[] = [];
  let counted = 0;
  const presence = new PresenceService({
    nodeId: 'n1',
    max,
    local: (ask) => localPresence(nodes.n1, ask, 0),
    gather: async (ask): Promise<PresenceGathering> => {
      asks.push(ask);
      const answers = new Map<string, PresenceAnswer>();
      for (const [node, list] of Object.entries(nodes))
        if (node !== 'n1' && !(options.unanswered ?? []).includes(node)) answers.set(node, localPresence(list, ask, 0));
      return { answers, partial: options.partial ?? false, unanswered: options.unanswered ?? [] };
    },
    reported: () => options.reported ?? 0,
    counted: () => {
      counted += 1;
    },
  });
  return { presence, asks, counted: () => counted };
}

describe('room presence over the cluster', () => {
  it('lists every node’s connections with their node, the distinct users, and counts them', async () => {
    const { presence, asks, counted } = service(10, { n1: members('n1', ['alice', undefined]), n2: members('n2', ['alice', 'bob']) });
    assert.deepEqual(await presence.presence('r'), {
      room: 'r',
      connections: [
        { conn: 'n1-0', user: 'alice', node: 'n1' },
        { conn: 'n1-1', user: null, node: 'n1' },
        { conn: 'n2-0', user: 'alice', node: 'n2' },
        { conn: 'n2-1', user: 'bob', node: 'n2' },
      ],
      users: ['alice', 'bob'],
      count: 4,
      userCount: 2,
      partial: false,
    });
    assert.deepEqual(await presence.counts('r'), { room: 'r', count: 4, userCount: 2, partial: false });
    assert.deepEqual(
      asks.map((a) => a.list),
      [true, true],
    );
    assert.equal(counted(), 2);
  });

  it('past max answers counts only, each node counting its own distinct users; nodes are not asked for lists the reports say are too long', async () => {
    const { presence, asks } = service(3, { n1: members('n1', ['alice', 'bob']), n2: members('n2', ['alice', 'carol']) }, { reported: 2 });
    assert.deepEqual(await presence.presence('r'), { room: 'r', count: 4, userCount: 4, partial: false, truncated: true });
    assert.deepEqual(
      asks.map((a) => a.list),
      [false],
    );
  });

  it('asks again with lists when the reports overstated the room', async () => {
    const { presence, asks } = service(3, { n1: members('n1', ['alice']), n2: members('n2', ['bob']) }, { reported: 50 });
    const view = await presence.presence('r');
    assert.deepEqual([view.count, view.users, view.truncated], [2, ['alice', 'bob'], undefined]);
    assert.deepEqual(
      asks.map((a) => a.list),
      [false, true],
    );
  });

  it('is partial, naming the nodes that did not answer', async () => {
    const { presence } = service(10, { n1: members('n1', ['alice']), n2: members('n2', ['bob']) }, { partial: true, unanswered: ['n2'] });
    assert.deepEqual(await presence.presence('r'), {
      room: 'r',
      connections: [{ conn: 'n1-0', user: 'alice', node: 'n1' }],
      users: ['alice'],
      count: 1,
      userCount: 1,
      partial: true,
      unanswered: ['n2'],
    });
  });

  it('refuses a bad room name with 400 INVALID_ROOM, uncounted', async () => {
    const { presence, counted } = service(10, { n1: [] });
    for (const room of ['', 'a b', 'x'.repeat(129)]) {
      await assert.rejects(presence.presence(room), (error: unknown) => error instanceof PushError && error.status === 400 && error.code === 'INVALID_ROOM');
      await assert.rejects(presence.counts(room), PushError);
    }
    assert.equal(counted(), 0);
  });
});
