import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { decodeBarrier, decodePushEnvelope } from '../../src/cluster/envelope.js';
import { type LinkMessage, linkCodec } from '../../src/cluster/link-message.js';
import { NodeQueries } from '../../src/cluster/node-query.js';
import { encodeQuery, encodeReply, type NodeQuery, type NodeReply, type QueryAnswer } from '../../src/cluster/query-envelope.js';
import type { ConnectionInfo } from '../../src/hub/local-connections.js';

const info = (conn: string, node: string): ConnectionInfo => ({
  conn,
  node,
  user: 'alice',
  address: '127.0.0.1',
  protocol: 'go-push',
  rooms: ['news', 'é/x'],
  connectedAt: '2026-01-01T00:00:00.000Z',
  lastSeenAt: '2026-01-01T00:00:01.000Z',
});

const reply = (id: number, from: string, answer: QueryAnswer, to = 'me'): NodeReply => ({ id, from, to, answer });
const users = (...conns: ConnectionInfo[]): QueryAnswer => ({ op: 'user', connections: conns });

/** Whether `promise` has settled once the event loop turns. */
async function settled<T>(promise: Promise<T>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('NodeQueries (fake clock)', () => {
  let published: NodeQuery[];
  let queries: NodeQueries;
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    published = [];
    queries = new NodeQueries('me', async (query) => {
      published.push(query);
    });
  });
  afterEach(() => mock.timers.reset());

  it('publishes one query with its sequence, asker, target and deadline (timeout plus clock skew)', async () => {
    void queries.ask('n2', ['n2'], { op: 'conn', conn: 'n2-1' }, 2000, 500);
    void queries.ask(null, ['n2', 'n3'], { op: 'user', user: 'alice' }, 2000);
    assert.deepEqual(published, [
      { id: 1, from: 'me', to: 'n2', expiresAt: 1_000_000 + 2500, ask: { op: 'conn', conn: 'n2-1' } },
      { id: 2, from: 'me', to: null, expiresAt: 1_000_000 + 2000, ask: { op: 'user', user: 'alice' } },
    ]);
    assert.equal(queries.size, 2);
  });

  it('resolves as soon as every node awaited has answered, without waiting for the timeout', async () => {
    const asked = queries.ask(null, ['n2', 'n3', 'me'], { op: 'user', user: 'alice' }, 2000);
    const { id } = published[0];
    queries.replied(reply(id, 'n2', users(info('n2-1', 'n2'))));
    assert.equal(await settled(asked), false, 'n3 is still awaited (and this node never is)');
    queries.replied(reply(id, 'n3', users()));
    const gathered = await asked;
    assert.deepEqual(gathered.missing, []);
    assert.deepEqual([...gathered.answers.keys()], ['n2', 'n3']);
    assert.equal(queries.size, 0);
  });

  it('resolves at its timeout with what came, naming the nodes that did not answer; later replies are counted and dropped', async () => {
    const asked = queries.ask(null, ['n2', 'n3', 'n4'], { op: 'close-user', user: 'alice', code: 4003, reason: 'bye' }, 2000);
    const { id } = published[0];
    queries.replied(reply(id, 'n3', { op: 'close-user', closed: 2 }));
    mock.timers.tick(1999);
    assert.equal(await settled(asked), false);
    mock.timers.tick(1);
    const gathered = await asked;
    assert.deepEqual(gathered.missing, ['n2', 'n4']);
    assert.deepEqual([...gathered.answers], [['n3', { op: 'close-user', closed: 2 }]]);
    queries.replied(reply(id, 'n2', { op: 'close-user', closed: 1 }));
    assert.equal(queries.late, 1);
    assert.equal(queries.size, 0);
  });

  it('takes a reply from a node it did not await when it asked every node, without waiting for more of them', async () => {
    const asked = queries.ask(null, ['n2'], { op: 'user', user: 'alice' }, 2000);
    const { id } = published[0];
    queries.replied(reply(id, 'new-node', users(info('new-node-1', 'new-node'))));
    assert.equal(await settled(asked), false);
    queries.replied(reply(id, 'n2', users()));
    assert.deepEqual([...(await asked).answers.keys()], ['new-node', 'n2']);
  });

  it('ignores replies for another node, a second reply of one node, other operations, and other nodes than the one asked', async () => {
    const asked = queries.ask('n2', ['n2'], { op: 'conn', conn: 'n2-1' }, 2000);
    const { id } = published[0];
    queries.replied(reply(id, 'n2', { op: 'conn', lookup: { state: 'unknown' } }, 'someone-else'));
    queries.replied(reply(id, 'n2', users()));
    queries.replied(reply(id, 'n3', { op: 'conn', lookup: { state: 'unknown' } }));
    assert.equal(queries.mismatched, 2);
    assert.equal(await settled(asked), false);
    queries.replied(reply(id, 'n2', { op: 'conn', lookup: { state: 'open', info: info('n2-1', 'n2') } }));
    queries.replied(reply(id, 'n2', { op: 'conn', lookup: { state: 'unknown' } }));
    assert.equal(queries.late, 1, 'the second reply finds no query waiting');
    const gathered = await asked;
    assert.deepEqual(gathered.answers.get('n2'), { op: 'conn', lookup: { state: 'open', info: info('n2-1', 'n2') } });
    queries.replied(reply(99, 'n2', users()));
    assert.equal(queries.late, 2, 'a reply to a query never asked');
  });

  it('asks nobody when no node is awaited', async () => {
    const gathered = await queries.ask(null, ['me'], { op: 'user', user: 'alice' }, 2000);
    assert.deepEqual(gathered, { answers: new Map(), missing: [] });
    assert.equal(published.length, 0);
  });

  it('rejects, waiting for nothing, when the broker refuses the query', async () => {
    const failing = new NodeQueries('me', () => Promise.reject(new Error('broker down')));
    await assert.rejects(failing.ask('n2', ['n2'], { op: 'conn', conn: 'n2-1' }, 2000), /broker down/);
    assert.equal(failing.size, 0);
  });

  it('resolves every waiting query with what it has when cleared (the node stops)', async () => {
    const asked = queries.ask('n2', ['n2'], { op: 'conn', conn: 'n2-1' }, 2000);
    queries.clear();
    assert.deepEqual((await asked).missing, ['n2']);
  });
});

describe('query and reply messages through the codec of byte brokers', () => {
  const roundTrip = (message: LinkMessage): LinkMessage => linkCodec.decode(linkCodec.encode(message));
  const decode = (value: unknown): LinkMessage => linkCodec.decode(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

  it('round-trips every query and every answer', () => {
    const asks: NodeQuery['ask'][] = [
      { op: 'conn', conn: 'n2-1' },
      { op: 'close-conn', conn: 'n2-1', code: 4003, reason: 'disconnected by the backend' },
      { op: 'user', user: 'ünïcödé "quoted"' },
      { op: 'close-user', user: 'alice', code: 4999, reason: '' },
    ];
    for (const ask of asks) {
      for (const to of ['n2', null]) {
        const message: LinkMessage = { type: 'query', query: { id: 7, from: 'n1', to, expiresAt: 1234567, ask } };
        assert.deepEqual(roundTrip(message), message);
      }
    }
    const answers: QueryAnswer[] = [
      { op: 'conn', lookup: { state: 'open', info: info('n2-1', 'n2') } },
      { op: 'conn', lookup: { state: 'unknown' } },
      {
        op: 'close-conn',
        lookup: {
          state: 'closed',
          closed: { conn: 'n2-1', node: 'n2', user: null, closedAt: '2026-01-01T00:00:00.000Z', code: 1001, reason: 'x', by: 'client' },
        },
      },
      users(info('n2-1', 'n2'), { ...info('n2-2', 'n2'), user: null, address: null, rooms: [] }),
      users(),
      { op: 'close-user', closed: 3 },
    ];
    for (const answer of answers) {
      const message: LinkMessage = { type: 'reply', reply: { id: 7, from: 'n2', to: 'n1', answer } };
      assert.deepEqual(roundTrip(message), message);
    }
  });

  it('decodes malformed queries and replies, and other bytes, as malformed', () => {
    const query = { v: 1, kind: 'query', id: 1, from: 'n1', to: 'n2', exp: 5, ask: { op: 'conn', conn: 'n2-1' } };
    const answer = { v: 1, kind: 'reply', id: 1, from: 'n2', to: 'n1', answer: { op: 'close-user', closed: 1 } };
    assert.equal(decode(query).type, 'query');
    assert.equal(decode(answer).type, 'reply');
    const broken: unknown[] = [
      'not json',
      '',
      'null',
      '[1,2]',
      { ...query, v: 2 },
      { ...query, id: 1.5 },
      { ...query, id: '1' },
      { ...query, from: '' },
      { ...query, to: 5 },
      { ...query, exp: 'soon' },
      { ...query, ask: undefined },
      { ...query, ask: { op: 'drop-table' } },
      { ...query, ask: { op: 'conn' } },
      { ...query, ask: { op: 'close-conn', conn: 'n2-1', code: 1000, reason: '' } },
      { ...query, ask: { op: 'close-user', user: 'a', code: 4003 } },
      { ...query, kind: 'other' },
      { ...answer, to: null },
      { ...answer, answer: { op: 'close-user', closed: -1 } },
      { ...answer, answer: { op: 'conn', lookup: { state: 'maybe' } } },
      { ...answer, answer: { op: 'conn', lookup: { state: 'open', info: { conn: 'x' } } } },
      { ...answer, answer: { op: 'user', connections: [{ ...info('a', 'b'), rooms: [1] }] } },
      {
        ...answer,
        answer: {
          op: 'close-conn',
          lookup: { state: 'closed', closed: { conn: 'x', node: 'y', user: null, closedAt: 'z', code: 1, reason: '', by: 'nobody' } },
        },
      },
    ];
    for (const value of broken) assert.deepEqual(decode(value), { type: 'malformed' }, JSON.stringify(value));
  });

  it('is neither a push, a barrier nor presence to the decoders of older nodes', () => {
    const query = encodeQuery({ id: 1, from: 'n1', to: null, expiresAt: 5, ask: { op: 'user', user: 'alice' } });
    const answer = encodeReply({ id: 1, from: 'n2', to: 'n1', answer: users(info('n2-1', 'n2')) });
    for (const payload of [query, answer]) {
      assert.equal(decodePushEnvelope(payload), null);
      assert.equal(decodeBarrier(payload), null);
      // Older nodes take a v:1 object with a string `node` as presence.
      assert.equal(typeof JSON.parse(payload.toString()).node, 'undefined');
    }
  });
});
