import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CodecBroker } from '../../src/broker/codec-broker.js';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { ALL_CHANNEL, PRESENCE_CHANNEL } from '../../src/cluster/channels.js';
import { type ClusterHost, ClusterLink } from '../../src/cluster/cluster-link.js';
import { decodePushEnvelope, encodePushEnvelope, type PushEnvelope } from '../../src/cluster/envelope.js';
import { type LinkMessage, linkCodec } from '../../src/cluster/link-message.js';
import { silentLogger } from '../../src/log.js';
import { postJson, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

/** Forces a status on a broker, as an outage would (MemoryBroker never fails on its own). */
function setStatus(broker: MemoryBroker, status: 'up' | 'down'): void {
  (broker as unknown as { setStatus(s: string): void }).setStatus(status);
}

/** A node's side of a link, recording what it was given to deliver and what it dropped as expired. */
function node(nodeId: string) {
  const received: PushEnvelope[] = [];
  const dropped: PushEnvelope[] = [];
  const host: ClusterHost = {
    nodeId,
    instance: nodeId,
    role: 'both',
    worker: null,
    holdsConnections: true,
    deliver: (push) => received.push(push),
    expired: (push) => dropped.push(push),
    stats: () => ({}),
    rooms: () => [],
    users: () => [],
    holdsRoom: () => false,
    holdsUser: () => false,
  };
  return { host, received, dropped };
}

describe('ClusterLink', () => {
  const links: ClusterLink[] = [];
  after(async () => {
    await Promise.all(links.map((link) => link.stop()));
  });
  const link = async (bus: string, nodeId: string, timing = {}) => {
    const side = node(nodeId);
    const broker = new MemoryBroker(bus);
    const created = new ClusterLink(new CodecBroker(broker, linkCodec), side.host, silentLogger(), timing);
    links.push(created);
    await created.start();
    return { link: created, broker, ...side };
  };

  it('delivers pushes that arrive before their deadline (or carry none) and drops and counts those that arrive after it', async () => {
    const { received, dropped } = await link('link-expiry', 'n1');
    const raw = new MemoryBroker('link-expiry');
    await raw.connect();
    const push = (item: string): PushEnvelope => ({ kind: 'all', items: [JSON.stringify(item)] });
    await raw.publish(ALL_CHANNEL, encodePushEnvelope(push('late'), Date.now() - 1));
    await raw.publish(ALL_CHANNEL, encodePushEnvelope(push('in time'), Date.now() + 60000));
    await raw.publish(ALL_CHANNEL, encodePushEnvelope(push('no deadline')));
    await waitFor(() => received.length + dropped.length === 3, 2000, 'the three pushes');
    assert.deepEqual(
      received.map((p) => p.items[0]),
      ['"in time"', '"no deadline"'],
    );
    assert.deepEqual(
      dropped.map((p) => p.items[0]),
      ['"late"'],
    );
  });

  it('stamps each push with its publish time plus the broker timeout plus the clock skew', async () => {
    const { link: publisher } = await link('link-stamp', 'n2', { publishTimeoutMs: 700, clockSkewMs: 300 });
    const raw = new MemoryBroker('link-stamp');
    await raw.connect();
    const seen: Buffer[] = [];
    await raw.subscribe(ALL_CHANNEL, (payload) => seen.push(payload));
    const before = Date.now();
    await publisher.publish({ kind: 'all', items: ['1'] });
    const afterPublish = Date.now();
    await waitFor(() => seen.length === 1, 2000, 'the published push');
    const { expiresAt } = decodePushEnvelope(seen[0]!)!;
    assert.ok(
      expiresAt !== null && expiresAt >= before + 1000 && expiresAt <= afterPublish + 1001,
      `deadline ${expiresAt} for a publish at ${before}..${afterPublish}`,
    );
  });

  it('ignores a presence report held back longer than the staleness window (a stalled broker delivering old news)', async () => {
    const { link: listener } = await link('link-old-news', 'n3', { presenceIntervalMs: 100, clockSkewMs: 50 });
    const raw = new MemoryBroker('link-old-news');
    await raw.connect();
    const report = (node: string, sentAt: number) =>
      Buffer.from(JSON.stringify({ v: 1, node, role: 'both', worker: null, intervalMs: 100, sentAt, stats: {}, rooms: {}, roomsTruncated: false }));
    await raw.publish(PRESENCE_CHANNEL, report('old-news', Date.now() - 10000));
    await raw.publish(PRESENCE_CHANNEL, report('fresh-news', Date.now()));
    await waitFor(() => listener.knowsNode('fresh-news'), 2000, 'the fresh report');
    assert.equal(listener.knowsNode('old-news'), false);
  });

  it('groups nodes by instance for the instance view; a node reporting none (older) or a malformed one is an instance of its own', async () => {
    const { link: listener } = await link('link-instances', 'n5', { presenceIntervalMs: 100 });
    const raw = new MemoryBroker('link-instances');
    await raw.connect();
    const report = (node: string, instance: unknown, onlineConnections: number) =>
      Buffer.from(
        JSON.stringify({
          v: 1,
          node,
          role: 'both',
          worker: 2,
          intervalMs: 100,
          sentAt: Date.now(),
          ...(instance === undefined ? {} : { instance }),
          stats: { onlineConnections, pid: 4242, uptimeSeconds: 9 },
          rooms: {},
          roomsTruncated: false,
        }),
      );
    await raw.publish(PRESENCE_CHANNEL, report('sibling', 'n5', 3));
    await raw.publish(PRESENCE_CHANNEL, report('older', undefined, 5));
    await raw.publish(PRESENCE_CHANNEL, report('odd', 42, 7));
    await waitFor(() => ['sibling', 'older', 'odd'].every((n) => listener.knowsNode(n)), 2000, 'the three reports');
    const mine = listener.instanceView();
    assert.equal(mine.id, 'n5');
    assert.deepEqual(mine.nodes.map((n) => n.node).sort(), ['n5', 'sibling']);
    assert.equal(mine.total.onlineConnections, 3);
    const view = listener.view();
    assert.deepEqual(Object.fromEntries(view.nodes.map((n) => [n.node, n.instance])), { n5: 'n5', sibling: 'n5', older: 'older', odd: 'odd' });
    assert.equal(view.total.onlineConnections, 15);
    assert.equal('pid' in view.total || 'uptimeSeconds' in view.total || 'worker' in view.total, false);
  });

  it('keeps silent nodes, marked stale, while cut off from the broker; drops them once the view is current again', async () => {
    const interval = 50;
    const a = await link('link-view', 'na', { presenceIntervalMs: interval });
    const b = await link('link-view', 'nb', { presenceIntervalMs: interval });
    await waitFor(() => a.link.viewCurrent && a.link.view().nodes.length === 2, 3000, 'a current view of both nodes');
    assert.equal(a.link.view().stale, false);
    // A is cut off, B goes silent at the same time: A cannot tell B is gone, so B stays, stale.
    setStatus(a.broker, 'down');
    await b.link.stop();
    await waitFor(() => a.link.view().maxStalenessMs > 3 * interval, 3000, 'the reports to age past the window');
    let view = a.link.view();
    assert.equal(view.stale, true);
    assert.deepEqual(
      view.nodes.map((n) => n.node),
      ['na', 'nb'],
    );
    assert.equal(a.link.knowsNode('nb'), false, 'but B is not taken as alive');
    // Back: the view is not current for a window (B could still report), then B is gone.
    setStatus(a.broker, 'up');
    assert.equal(a.link.viewCurrent, false);
    await waitFor(() => a.link.viewCurrent, 3000, 'the view to be current again');
    view = a.link.view();
    assert.equal(view.stale, false);
    assert.deepEqual(
      view.nodes.map((n) => n.node),
      ['na'],
    );
  });
});

describe('POST /push/conn to a node this one cannot see', () => {
  it('answers 503 BROKER_UNAVAILABLE while the broker is down or the view is not current, 404 only when it is', async (t) => {
    const gw = await startGateway({ broker: 'memory://pushconn-order', presenceInterval: 0.05 });
    t.after(() => gw.close());
    const cluster = (gw.gateway as unknown as { cluster: ClusterLink }).cluster;
    const broker = (cluster.broker as CodecBroker<LinkMessage>).inner as MemoryBroker;
    const toElsewhere = () => postJson(`${gw.apiUrl}/push/conn`, { conn: 'elsewhere-1', items: ['x'] });
    await waitFor(() => cluster.viewCurrent, 3000, 'a current view');
    assert.equal((await toElsewhere()).status, 404);
    setStatus(broker, 'down');
    const down = await toElsewhere();
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.equal(down.body.error.code, 'BROKER_UNAVAILABLE');
    const health = await fetch(`${gw.apiUrl}/healthz`);
    assert.equal(health.status, 503);
    assert.deepEqual(await health.json(), { ok: false, status: 'running', broker: 'down' });
    assert.match(await (await fetch(`${gw.apiUrl}/metrics`)).text(), /^pushgate_cluster_view_stale{node="[^"]+"} 1$/m);
    setStatus(broker, 'up');
    // Just back: a node missing from the view may still report; no "not connected" yet.
    const back = await toElsewhere();
    assert.equal(back.status, 503, JSON.stringify(back.body));
    assert.match(back.body.error.message, /not current/);
    await waitFor(() => cluster.viewCurrent, 3000, 'the view to be current again');
    assert.equal((await toElsewhere()).status, 404);
    assert.equal((await fetch(`${gw.apiUrl}/healthz`)).status, 200);
  });
});
