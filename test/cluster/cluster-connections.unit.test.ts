import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokerUnavailableError } from '../../src/broker/broker.js';
import { ClusterConnections } from '../../src/cluster/cluster-connections.js';
import type { ClusterLink } from '../../src/cluster/cluster-link.js';
import type { Gathered } from '../../src/cluster/node-query.js';
import type { ConnectionQuery, QueryAnswer } from '../../src/cluster/query-envelope.js';
import { Connection, type ConnectionHandler } from '../../src/connection/connection.js';
import { Hub } from '../../src/hub/hub.js';
import { type ConnectionInfo, LocalConnections } from '../../src/hub/local-connections.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { FakeTransport } from '../helpers/fake-transport.js';

const remote = (conn: string, connectedAt: string, user: string | null = 'alice'): ConnectionInfo => ({
  conn,
  node: conn.split('-')[0],
  user,
  address: '10.0.0.9',
  protocol: 'go-push',
  rooms: [],
  connectedAt,
  lastSeenAt: connectedAt,
});

interface NodeReport {
  node: string;
  rooms: Record<string, number>;
  roomsTruncated: boolean;
  stats: Record<string, number>;
}

/**
 * The connection API of node `here` over a fake link: `known` nodes are in its view, `answer` is what
 * each asked node replies (null: no reply in time), `reports` their presence.
 */
function setup(options: {
  shared?: boolean;
  status?: string;
  viewCurrent?: boolean;
  known?: string[];
  answer?: (node: string, ask: ConnectionQuery) => QueryAnswer | null;
  gathered?: (ask: ConnectionQuery) => Gathered;
  askFails?: boolean;
  reports?: NodeReport[];
}) {
  const hub = new Hub(10, 'here');
  const handler: ConnectionHandler = { onMessage() {}, onClose: (conn) => hub.remove(conn) };
  const connect = (user?: string) => {
    const transport = new FakeTransport();
    const conn = new Connection(transport, hub.nextId(), goPushProtocol, undefined, handler);
    if (user !== undefined) hub.setUser(conn, user);
    hub.add(conn);
    return { conn, transport };
  };
  const asked: Array<{ node: string | null; ask: ConnectionQuery }> = [];
  const link = {
    broker: { shared: options.shared ?? true, status: options.status ?? 'up' },
    viewCurrent: options.viewCurrent ?? true,
    queryTimeoutMs: 2000,
    knowsNode: (node: string) => node === 'here' || (options.known ?? []).includes(node),
    ask: async (node: string, ask: ConnectionQuery) => {
      asked.push({ node, ask });
      if (options.askFails) throw new BrokerUnavailableError();
      return options.answer?.(node, ask) ?? null;
    },
    askAll: async (ask: ConnectionQuery) => {
      asked.push({ node: null, ask });
      if (options.askFails) throw new BrokerUnavailableError();
      return options.gathered?.(ask) ?? { answers: new Map(), missing: [] };
    },
    clusterView: () =>
      options.shared === false ? null : { nodes: [{ node: 'here', rooms: {}, roomsTruncated: true, stats: {} }, ...(options.reports ?? [])] },
  } as unknown as ClusterLink;
  const service = new ClusterConnections({ nodeId: 'here', local: new LocalConnections(hub), link: () => link, rooms: () => hub.roomSizes() });
  return { hub, connect, asked, service };
}

/** Asserts that `promise` rejects with a PushError of `status` and `code`; returns it. */
async function refused(promise: Promise<unknown>, status: number, code: string): Promise<any> {
  const error: any = await promise.then(
    () => assert.fail(`expected ${status} ${code}`),
    (e: unknown) => e,
  );
  assert.deepEqual([error.status, error.code], [status, code], error.message);
  return error;
}

describe('ClusterConnections (fake link)', () => {
  it("answers for this node's own connections without asking any other node, whatever the broker's state", async () => {
    const { connect, service, asked } = setup({ status: 'down' });
    const { conn, transport } = connect('alice');
    assert.equal((await service.connection(conn.id)).conn, conn.id);
    assert.equal(await service.closeConnection(conn.id), 1);
    assert.deepEqual(transport.closedWith, { code: 4003, reason: 'disconnected by the backend' });
    const gone = await refused(service.connection(conn.id), 410, 'CONN_GONE');
    assert.deepEqual(
      { ...gone.details, closedAt: typeof gone.details.closedAt },
      {
        conn: conn.id,
        node: 'here',
        closedAt: 'string',
        closeCode: 4003,
        reason: 'disconnected by the backend',
        by: 'server',
      },
    );
    await refused(service.connection('here-zz'), 404, 'CONN_NOT_FOUND');
    await refused(service.connection('nodash'), 404, 'CONN_NOT_FOUND');
    assert.deepEqual(asked, []);
  });

  it('asks the node that holds a connection, and answers what it replied: the connection, 410 or 404', async () => {
    const info = remote('n2-1', '2026-01-01T00:00:00.000Z');
    const closed = { conn: 'n2-2', node: 'n2', user: null, closedAt: '2026-01-01T00:00:05.000Z', code: 1006, reason: '', by: 'client' as const };
    const { service, asked } = setup({
      known: ['n2'],
      answer: (_node, ask) => {
        const conn = 'conn' in ask ? ask.conn : '';
        const op = ask.op === 'close-conn' ? 'close-conn' : 'conn';
        if (conn === 'n2-1') return { op, lookup: { state: 'open', info } };
        if (conn === 'n2-2') return { op, lookup: { state: 'closed', closed } };
        return { op, lookup: { state: 'unknown' } };
      },
    });
    assert.deepEqual(await service.connection('n2-1'), info);
    assert.equal(await service.closeConnection('n2-1', { code: 4100, reason: 'x' }), 1);
    const gone = await refused(service.closeConnection('n2-2'), 410, 'CONN_GONE');
    assert.deepEqual(gone.details, { conn: 'n2-2', node: 'n2', closedAt: closed.closedAt, closeCode: 1006, reason: '', by: 'client' });
    await refused(service.connection('n2-3'), 404, 'CONN_NOT_FOUND');
    assert.deepEqual(asked.slice(0, 2), [
      { node: 'n2', ask: { op: 'conn', conn: 'n2-1' } },
      { node: 'n2', ask: { op: 'close-conn', conn: 'n2-1', code: 4100, reason: 'x' } },
    ]);
  });

  it('answers 503 when it cannot know: broker down, no reply in time, a node missing from a view that is not current', async () => {
    await refused(setup({ status: 'down', known: ['n2'] }).service.connection('n2-1'), 503, 'BROKER_UNAVAILABLE');
    const silent = await refused(setup({ known: ['n2'], answer: () => null }).service.connection('n2-1'), 503, 'BROKER_UNAVAILABLE');
    assert.match(silent.message, /node n2 did not answer within 2000 ms/);
    await refused(setup({ known: ['n2'], askFails: true }).service.closeConnection('n2-1'), 503, 'BROKER_UNAVAILABLE');
    await refused(setup({ viewCurrent: false }).service.connection('n9-1'), 503, 'BROKER_UNAVAILABLE');
    // A current view without the node: it is gone, and so is the connection.
    const current = setup({});
    await refused(current.service.connection('n9-1'), 404, 'CONN_NOT_FOUND');
    assert.deepEqual(current.asked, []);
    // A gateway alone has no other node.
    await refused(setup({ shared: false }).service.connection('n9-1'), 404, 'CONN_NOT_FOUND');
  });

  it('refuses a close code outside 4000–4999 or a reason over 123 bytes before asking anyone', async () => {
    const { service, asked } = setup({ known: ['n2'] });
    await refused(service.closeConnection('n2-1', { code: 1000, reason: '' }), 400, 'INVALID_BODY');
    await refused(service.closeConnection('n2-1', { code: 4000, reason: 'x'.repeat(124) }), 400, 'INVALID_BODY');
    await refused(service.closeUserConnections('alice', { code: 5000, reason: '' }), 400, 'INVALID_BODY');
    await refused(service.userConnections(''), 400, 'INVALID_BODY');
    assert.deepEqual(asked, []);
  });

  it("gathers a user's connections from every node, oldest first; partial when a node did not answer or the view is not current", async () => {
    const answers = new Map<string, QueryAnswer>([
      ['n2', { op: 'user', connections: [remote('n2-1', '2026-01-01T00:00:02.000Z')] }],
      ['n3', { op: 'user', connections: [remote('n3-1', '2000-01-01T00:00:00.000Z')] }],
    ]);
    const { connect, service } = setup({ gathered: () => ({ answers, missing: ['n5', 'n4'] }) });
    const here = connect('alice').conn;
    connect('bob');
    const found = await service.userConnections('alice');
    assert.deepEqual(
      found.connections.map((c) => c.conn),
      ['n3-1', 'n2-1', here.id],
    );
    assert.deepEqual([found.user, found.partial, found.unanswered], ['alice', true, ['n4', 'n5']]);
    const complete = setup({ gathered: () => ({ answers: new Map(), missing: [] }) });
    assert.deepEqual(await complete.service.userConnections('alice'), { user: 'alice', connections: [], partial: false, unanswered: [] });
    const stale = setup({ viewCurrent: false });
    assert.deepEqual(await stale.service.userConnections('alice'), { user: 'alice', connections: [], partial: true, unanswered: [] });
  });

  it("closes a user's connections on every node and sums them; refuses (503) with the broker down, closing nothing here", async () => {
    const answers = new Map<string, QueryAnswer>([
      ['n2', { op: 'close-user', closed: 2 }],
      ['n3', { op: 'close-user', closed: 0 }],
    ]);
    const { connect, service, asked } = setup({ gathered: () => ({ answers, missing: [] }) });
    const here = connect('alice');
    assert.deepEqual(await service.closeUserConnections('alice', { code: 4020, reason: 'bye' }), { closed: 3, partial: false, unanswered: [] });
    assert.deepEqual(here.transport.closedWith, { code: 4020, reason: 'bye' });
    assert.deepEqual(asked, [{ node: null, ask: { op: 'close-user', user: 'alice', code: 4020, reason: 'bye' } }]);

    const down = setup({ status: 'down' });
    const kept = down.connect('alice');
    await refused(down.service.closeUserConnections('alice'), 503, 'BROKER_UNAVAILABLE');
    await refused(down.service.userConnections('alice'), 503, 'BROKER_UNAVAILABLE');
    assert.equal(kept.transport.closedWith, null);
    assert.deepEqual(down.asked, []);

    const alone = setup({ shared: false });
    alone.connect('alice');
    assert.deepEqual(await alone.service.closeUserConnections('alice'), { closed: 1, partial: false, unanswered: [] });
    assert.deepEqual(alone.asked, []);
  });

  it("counts rooms over this node's live members and the other nodes' reports, exact only when no report was cut", async () => {
    const reports: NodeReport[] = [
      { node: 'n2', rooms: { big: 5, shared: 1 }, roomsTruncated: false, stats: { roomCount: 2 } },
      { node: 'n3', rooms: { big: 1 }, roomsTruncated: true, stats: { roomCount: 40 } },
    ];
    const { hub, connect, service } = setup({ reports });
    const a = connect().conn;
    const b = connect().conn;
    hub.join(a, 'shared');
    hub.join(b, 'shared');
    hub.join(a, 'mine');
    const list = service.rooms();
    assert.deepEqual(list.rooms, [
      { room: 'big', members: 6 },
      { room: 'shared', members: 3 },
      { room: 'mine', members: 1 },
    ]);
    assert.equal(list.exact, false, "n3's report was cut");
    assert.equal(list.total, 40, "at least n3's own count");
    assert.deepEqual(service.rooms({ prefix: 'sh' }), { rooms: [{ room: 'shared', members: 3 }], total: 1, exact: false });
    assert.deepEqual(service.rooms({ limit: 1 }).rooms, [{ room: 'big', members: 6 }]);
    assert.deepEqual(service.room('big'), { room: 'big', members: 6, exact: true });
    assert.deepEqual(service.room('shared'), { room: 'shared', members: 3, exact: false }, 'n3 may hold members it did not report');
    assert.deepEqual(service.room('nobody-here'), { room: 'nobody-here', members: 0, exact: false });
    assert.throws(() => service.room('bad name'), { code: 'INVALID_ROOM' });

    const exact = setup({ reports: [{ node: 'n2', rooms: { r: 2 }, roomsTruncated: false, stats: { roomCount: 1 } }] });
    assert.deepEqual(exact.service.rooms(), { rooms: [{ room: 'r', members: 2 }], total: 1, exact: true });
    assert.deepEqual(exact.service.room('none'), { room: 'none', members: 0, exact: true });
  });
});
