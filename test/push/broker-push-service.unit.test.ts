import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { NoAnswerError } from '../../src/broker/liveness.js';
import { LocalBroker } from '../../src/broker/local-broker.js';
import { type ClusterHost, ClusterLink } from '../../src/cluster/cluster-link.js';
import type { PushEnvelope } from '../../src/cluster/envelope.js';
import type { LinkMessage } from '../../src/cluster/link-message.js';
import type { Connection } from '../../src/connection/connection.js';
import { silentLogger } from '../../src/log.js';
import { ErrorCode } from '../../src/protocol/codes.js';
import { PushError } from '../../src/protocol/errors.js';
import { BrokerPushService, type PushTargets } from '../../src/push/broker-push-service.js';
import { Stats } from '../../src/stats/stats.js';

const NODE = 'cafe0001';

/** A hub as the service reads it: `size` connections, rooms with members, connection ids, users. */
function fakeHub(size: number, rooms: Record<string, number>, conns: string[] = [], users: Record<string, number> = {}): PushTargets {
  const members = (count: number) => new Set(Array.from({ length: count }, () => ({}) as Connection));
  return {
    nodeId: NODE,
    size,
    members: (room) => (rooms[room] === undefined ? undefined : members(rooms[room])),
    get: (id) => (conns.includes(id) ? ({ id } as Connection) : undefined),
    userConnections: (user) => (users[user] === undefined ? undefined : members(users[user])),
  };
}

/** Every link the tests start, stopped after them however they end. */
const links: ClusterLink[] = [];

/** The service over a real link on the local broker; `received` is what the node's receive was handed. */
async function service(options: { hub?: PushTargets; accepting?: boolean; pending?: number; broker?: LocalBroker<LinkMessage> } = {}) {
  const received: PushEnvelope[] = [];
  const hub = options.hub ?? fakeHub(3, { news: 2 }, [`${NODE}-1`]);
  const host: ClusterHost = {
    nodeId: NODE,
    instance: NODE,
    role: 'both',
    worker: null,
    holdsConnections: true,
    deliver: (push) => received.push(push),
    expired: () => {},
    stats: () => ({ onlineConnections: hub.size }),
    rooms: () => [['news', 2]],
    users: () => [],
    holdsRoom: (room) => room === 'news',
    holdsUser: () => false,
  };
  const broker = options.broker ?? new LocalBroker<LinkMessage>();
  const running = new ClusterLink(broker, host, silentLogger());
  links.push(running);
  await running.start();
  const stats = new Stats();
  const state = { accepting: options.accepting ?? true, pending: options.pending ?? 0, overload: null as { lagMs: number; budgetMs: number } | null };
  const pushes = new BrokerPushService(
    hub,
    () => running,
    stats,
    { maxPendingItems: 10, maxItemDepth: 4 },
    {
      accepting: () => state.accepting,
      pendingItems: () => state.pending,
      overload: () => state.overload,
    },
  );
  return { pushes, received, stats, state, link: running };
}

async function refusal(promise: Promise<unknown>): Promise<PushError> {
  const error = await promise.then(
    () => assert.fail('the push was accepted'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof PushError, `a PushError, not ${String(error)}`);
  return error;
}

describe('BrokerPushService', () => {
  after(() => Promise.all(links.map((link) => link.stop())));

  it('publishes through the link: the node receives the push in the same turn, items as their exact texts', async () => {
    const { pushes, received, stats, link } = await service();
    const answer = pushes.pushAll([{ a: 1 }, 'two']);
    // Handed over synchronously by the local broker: pushes of one turn meet in the merger.
    assert.equal(received.length, 1);
    assert.deepEqual({ ...received[0], origin: undefined }, { kind: 'all', items: ['{"a":1}', '"two"'], origin: undefined });
    assert.deepEqual(await answer, { items: 2, recipients: 3 });
    assert.equal(stats.pushAllTotal, 1);
    assert.equal(stats.itemsAccepted, 2);
    // Nothing is left in flight once the push came back.
    assert.deepEqual(link.inFlightCounts, { returning: 0, publishing: 0, lost: 0 });
  });

  it('counts the recipients of each target here, live', async () => {
    const { pushes } = await service({ hub: fakeHub(5, { news: 2 }, [`${NODE}-1`], { ann: 3 }) });
    assert.equal((await pushes.pushRoom('news', [1])).recipients, 2);
    assert.equal((await pushes.pushRoom('empty', [1])).recipients, 0);
    assert.equal((await pushes.pushUser('ann', [1])).recipients, 3);
    assert.equal((await pushes.pushConn(`${NODE}-1`, [1])).recipients, 1);
  });

  it('refuses with the registry errors: bad target 400, unknown connection 404, full or stopping 503', async () => {
    const { pushes, stats, state } = await service();
    assert.equal((await refusal(pushes.pushRoom('', [1]))).code, ErrorCode.INVALID_ROOM);
    assert.equal((await refusal(pushes.pushUser('', [1]))).code, ErrorCode.INVALID_BODY);
    assert.equal((await refusal(pushes.pushAll([]))).code, ErrorCode.INVALID_BODY);
    assert.equal((await refusal(pushes.pushAll([[[[[[1]]]]]]))).code, ErrorCode.ITEM_TOO_DEEP);
    const unknown = await refusal(pushes.pushConn(`${NODE}-9`, [1]));
    assert.deepEqual([unknown.code, unknown.status], [ErrorCode.CONN_NOT_FOUND, 404]);
    // A gateway alone knows it is the whole cluster: a connection of another node is not found either.
    assert.equal((await refusal(pushes.pushConn('beef0002-1', [1]))).code, ErrorCode.CONN_NOT_FOUND);
    assert.equal((await refusal(pushes.pushAll(Array.from({ length: 11 }, () => 1)))).code, ErrorCode.TOO_MANY_ITEMS);
    state.pending = 9;
    const full = await refusal(pushes.pushAll([1, 2]));
    assert.deepEqual([full.code, full.status], [ErrorCode.QUEUE_FULL, 503]);
    state.pending = 0;
    state.overload = { lagMs: 420, budgetMs: 100 };
    const behind = await refusal(pushes.pushRoom('news', [1]));
    assert.deepEqual(
      [behind.code, behind.status, behind.message],
      [ErrorCode.OVERLOADED, 503, 'delivery is 420 ms behind (latency budget 100 ms); retry later'],
    );
    assert.equal(stats.pushesOverloaded, 1);
    state.accepting = false;
    assert.equal((await refusal(pushes.pushAll([1]))).code, ErrorCode.SHUTTING_DOWN);
    assert.equal(stats.pushRejected, 2, 'the full queue and the overload count as rejected pushes');
    assert.equal(stats.itemsAccepted, 0);
  });

  it('answers 503 BROKER_UNAVAILABLE when the broker refuses or does not answer, and takes the items back', async () => {
    const broker = new (class extends LocalBroker<LinkMessage> {
      failNext: Error | null = null;
      override publish(channel: string, message: LinkMessage): Promise<void> {
        const error = this.failNext;
        if (error !== null && message.type === 'push') return Promise.reject(error);
        return super.publish(channel, message);
      }
    })();
    const { pushes, stats, received } = await service({ broker });
    broker.failNext = new NoAnswerError('publish', 2000);
    const hung = await refusal(pushes.pushRoom('news', [1, 2]));
    assert.deepEqual([hung.code, hung.status], [ErrorCode.BROKER_UNAVAILABLE, 503]);
    assert.equal(stats.pushesTimedOut, 1);
    assert.equal(stats.itemsAccepted, 0);
    assert.equal(received.length, 0);
    await broker.close();
    assert.equal((await refusal(pushes.pushAll([1]))).code, ErrorCode.BROKER_UNAVAILABLE);
    assert.equal(stats.pushRejected, 2);
  });
});
