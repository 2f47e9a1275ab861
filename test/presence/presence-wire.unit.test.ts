import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { linkCodec } from '../../src/cluster/link-message.js';
import { decodeQueryMessage, encodeQuery, encodeReply } from '../../src/cluster/query-envelope.js';
import { OptionError, resolveOptions } from '../../src/config/options.js';
import { decodePresenceChange, encodePresenceChange, type PresenceChange } from '../../src/presence/presence-change.js';
import { localPresence, presenceAnswerOf, presenceAskOf } from '../../src/presence/presence-query.js';
import { PresenceRules } from '../../src/presence/presence-rules.js';
import { applyChange, difference, type Holders, type Member } from '../../src/presence/room-replica.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';

const change: PresenceChange = { room: 'chat:1', event: 'join', conn: 'n1-a', user: 'alice', origin: 'n1', seq: 7 };

describe('presence on the wire between nodes', () => {
  it('a change goes through the link codec as itself, and is not taken for a push, a query or a report', () => {
    const bytes = linkCodec.encode({ type: 'presence-change', change });
    assert.deepEqual(linkCodec.decode(bytes), { type: 'presence-change', change });
    assert.deepEqual(decodePresenceChange(encodePresenceChange({ ...change, event: 'leave', user: null })), { ...change, event: 'leave', user: null });
    // No top-level `node`: an older node's presence decoder does not take it for a report.
    assert.equal('node' in JSON.parse(bytes.toString()), false);
    for (const bad of [
      { ...change, event: 'wave' },
      { ...change, seq: -1 },
      { ...change, conn: '' },
      { ...change, user: 3 },
    ]) {
      assert.equal(decodePresenceChange(Buffer.from(JSON.stringify({ v: 1, kind: 'presence-change', ...bad }))), null, JSON.stringify(bad));
    }
    const push = linkCodec.decode(
      linkCodec.encode({ type: 'push', push: { kind: 'room', room: 'presence-change', items: ['"presence-change"'] }, expiresAt: null }),
    );
    assert.equal(push.type, 'push');
  });

  it('a presence query and its answer round-trip in the node query envelope', () => {
    const ask = { op: 'presence' as const, room: 'chat:1', list: true, max: 1000 };
    assert.deepEqual(decodeQueryMessage(encodeQuery({ id: 3, from: 'n1', to: null, expiresAt: 10, ask })), {
      type: 'query',
      query: { id: 3, from: 'n1', to: null, expiresAt: 10, ask },
    });
    const answer = {
      op: 'presence' as const,
      count: 2,
      userCount: 1,
      members: [
        { conn: 'n2-a', user: 'bob' },
        { conn: 'n2-b', user: null },
      ],
      seq: 9,
    };
    assert.deepEqual(decodeQueryMessage(encodeReply({ id: 3, from: 'n2', to: 'n1', answer })), {
      type: 'reply',
      reply: { id: 3, from: 'n2', to: 'n1', answer },
    });
    const counts = { op: 'presence' as const, count: 2000, userCount: 3, seq: 0 };
    assert.deepEqual(presenceAnswerOf(counts), counts);
    for (const bad of [
      { count: -1, userCount: 0, seq: 0 },
      { count: 1, userCount: 0, seq: 0, members: [{ conn: 1 }] },
      { count: 1, userCount: 0 },
    ]) {
      assert.equal(presenceAnswerOf(bad), null, JSON.stringify(bad));
    }
    assert.equal(presenceAskOf({ room: 'r', list: 'yes', max: 1 }), null);
    assert.equal(presenceAskOf({ room: '', list: true, max: 1 }), null);
  });

  it("a node's own answer counts open members and distinct users, and lists them only up to max", () => {
    const members = [
      { id: 'n-1', userId: 'alice', isOpen: true },
      { id: 'n-2', userId: 'alice', isOpen: true },
      { id: 'n-3', isOpen: true },
      { id: 'n-4', userId: 'bob', isOpen: false },
    ];
    assert.deepEqual(localPresence(members, { op: 'presence', room: 'r', list: true, max: 3 }, 4), {
      op: 'presence',
      count: 3,
      userCount: 1,
      members: [
        { conn: 'n-1', user: 'alice' },
        { conn: 'n-2', user: 'alice' },
        { conn: 'n-3', user: null },
      ],
      seq: 4,
    });
    assert.deepEqual(localPresence(members, { op: 'presence', room: 'r', list: true, max: 2 }, 4), { op: 'presence', count: 3, userCount: 1, seq: 4 });
    assert.deepEqual(localPresence(undefined, { op: 'presence', room: 'r', list: true, max: 2 }, 0), {
      op: 'presence',
      count: 0,
      userCount: 0,
      members: [],
      seq: 0,
    });
  });
});

describe('presence on the wire to clients', () => {
  it('decodes PRESENCE (id required, room checked) and encodes PRESENCE_EVENT frames', () => {
    assert.deepEqual(goPushProtocol.decode('{"type":"PRESENCE","id":4,"data":{"room":"chat:1"}}'), { type: 'PRESENCE', id: 4, room: 'chat:1' });
    assert.deepEqual(goPushProtocol.decode('{"type":"PRESENCE","data":{"room":"chat:1"}}'), {
      type: 'INVALID',
      id: undefined,
      code: 'BAD_REQUEST',
      message: 'PRESENCE needs an id (a number or a string), to match its REPLY',
    });
    const bad = goPushProtocol.decode('{"type":"PRESENCE","id":"x","data":{"room":"a b"}}');
    assert.deepEqual([bad.type, 'code' in bad ? bad.code : null, 'id' in bad ? bad.id : null], ['INVALID', 'INVALID_ROOM', 'x']);
    const frame = goPushProtocol.presenceEvent({ room: 'r', event: 'join', conn: 'n-1', user: null, node: 'n' });
    assert.equal(frame.bytes.subarray(2).toString(), '{"type":"PRESENCE_EVENT","data":{"room":"r","event":"join","conn":"n-1","user":null,"node":"n"}}');
  });
});

describe('presence rules and options', () => {
  it('--join-leave patterns match as token room patterns do; the reserved room never announces', () => {
    const rules = new PresenceRules(1000, ['chat:*', 'lobby', '*:vip'], ['pushgate:stats']);
    assert.deepEqual(
      ['chat:1', 'chat:', 'lobby', 'lobby2', 'x:vip', 'news'].map((room) => rules.announces(room)),
      [true, true, true, false, true, false],
    );
    assert.equal(new PresenceRules(1000, ['*'], ['pushgate:stats']).announces('pushgate:stats'), false);
    assert.equal(new PresenceRules(1000).announcesAny, false);
  });

  it('takes --presence-max and --join-leave, and refuses bad values', () => {
    const options = resolveOptions({ presenceMax: '50', joinLeave: 'chat:*, lobby' });
    assert.deepEqual([options.presenceMax, options.joinLeave], [50, ['chat:*', 'lobby']]);
    assert.deepEqual([resolveOptions().presenceMax, resolveOptions().joinLeave], [1000, []]);
    assert.throws(() => resolveOptions({ presenceMax: 0 }), OptionError);
    assert.throws(() => resolveOptions({ joinLeave: Array.from({ length: 65 }, (_, i) => `r${i}`) }), /--join-leave/);
  });
});

describe("a node's copy of a room", () => {
  it('applies changes once each and tells what differs between two copies', () => {
    const holders: Holders = new Map();
    assert.equal(applyChange(holders, change), true);
    assert.equal(applyChange(holders, change), false, 'twice: no change');
    assert.equal(applyChange(holders, { ...change, event: 'leave', conn: 'n1-x' }), false);
    const before: Holders = new Map([
      [
        'n1',
        new Map<string, Member>([
          ['n1-a', { user: 'alice' }],
          ['n1-b', { user: null }],
        ]),
      ],
      ['n2', new Map<string, Member>([['n2-a', { user: 'bob' }]])],
    ]);
    const after: Holders = new Map([
      [
        'n1',
        new Map<string, Member>([
          ['n1-a', { user: 'alice' }],
          ['n1-c', { user: 'carol' }],
        ]),
      ],
      ['n3', new Map<string, Member>([['n3-a', { user: 'dan' }]])],
    ]);
    assert.deepEqual(difference(before, after), {
      joined: [
        { conn: 'n1-c', user: 'carol', node: 'n1' },
        { conn: 'n3-a', user: 'dan', node: 'n3' },
      ],
      left: [
        { conn: 'n1-b', user: null, node: 'n1' },
        { conn: 'n2-a', user: 'bob', node: 'n2' },
      ],
    });
    assert.equal(applyChange(holders, { ...change, event: 'leave' }), true);
    assert.equal(holders.size, 0, 'a node without connections in the room is dropped');
  });
});
