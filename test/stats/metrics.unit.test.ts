import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetricsRegistry } from '../../src/stats/metrics.js';
import { protocolView } from '../../src/stats/protocol-view.js';
import { Stats, type StatsSnapshot } from '../../src/stats/stats.js';

/** A snapshot of one process: every counter 0 but those given. */
function snapshot(counters: Partial<StatsSnapshot> = {}): StatsSnapshot {
  return {
    ...new Stats(),
    onlineConnections: 0,
    pendingAuthConnections: 0,
    roomCount: 0,
    dispatchPending: 0,
    mergerPending: 0,
    pendingItems: 0,
    writePassMs: 0,
    mergeWindowMs: 0,
    deliveryLagMs: 0,
    nodeId: 'n1',
    pid: 1,
    role: 'both',
    worker: null,
    broker: 'none',
    brokerSubscriptions: 0,
    pushesInFlight: 0,
    pushesNotReturned: 0,
    queriesExpired: 0,
    queryRepliesDropped: 0,
    uptimeSeconds: 1,
    ...counters,
  };
}

// A gateway with go-push and Pusher clients: 5 online, 2 of them Pusher; 9 accepted, 3 of them Pusher.
const SAMPLE = snapshot({
  onlineConnections: 5,
  connectionsTotal: 9,
  pusherOpen: 2,
  pusherConnections: 3,
  pushRoomTotal: 20,
  pushAllTotal: 1,
  pushUserTotal: 2,
  clientPublishes: 4,
  pusherEvents: 6,
  pusherClientEvents: 7,
  pusherUserEvents: 2,
  pusherSubscriptionsRefused: 1,
  pusherSignins: 8,
  pusherSigninsRefused: 1,
  pusherApiRequests: 12,
  pusherApiRefused: 3,
  pusherTerminations: 1,
  webhookEvents: 30,
  webhookEventsDelivered: 25,
  webhookPosts: 10,
  webhookRetries: 2,
  webhookFailures: 1,
  webhookEventsDropped: 4,
  webhookQueued: 5,
});

async function scrape(counters: StatsSnapshot): Promise<string> {
  return createMetricsRegistry(() => counters).metrics();
}

/** The value of the one sample `name{labels}` in `text`. */
function sample(text: string, name: string, labels = ''): number {
  const escaped = `${name}${labels}`.replace(/[{}"]/g, (c) => `\\${c}`);
  const match = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  assert.ok(match, `${name}${labels} is exported`);
  return Number(match[1]);
}

describe('/metrics: Pusher, webhooks and the per-protocol view', () => {
  it("exports Pusher's and the webhooks' counters as counters and their gauges as gauges", async () => {
    const text = await scrape(SAMPLE);
    const counters: Array<[string, number]> = [
      ['pushgate_pusher_connections_total', 3],
      ['pushgate_pusher_events_total', 6],
      ['pushgate_pusher_client_events_total', 7],
      ['pushgate_pusher_subscriptions_refused_total', 1],
      ['pushgate_pusher_signins_total', 8],
      ['pushgate_pusher_signins_refused_total', 1],
      ['pushgate_pusher_api_requests_total', 12],
      ['pushgate_pusher_api_refused_total', 3],
      ['pushgate_pusher_user_events_total', 2],
      ['pushgate_pusher_terminations_total', 1],
      ['pushgate_webhook_events_total', 30],
      ['pushgate_webhook_events_delivered_total', 25],
      ['pushgate_webhook_posts_total', 10],
      ['pushgate_webhook_retries_total', 2],
      ['pushgate_webhook_failures_total', 1],
      ['pushgate_webhook_events_dropped_total', 4],
    ];
    for (const [name, value] of counters) {
      assert.match(text, new RegExp(`^# TYPE ${name} counter$`, 'm'), name);
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), `${name} has help text`);
      assert.equal(sample(text, name), value, name);
    }
    for (const [name, value] of [
      ['pushgate_pusher_open_connections', 2],
      ['pushgate_webhook_queued_events', 5],
    ] as const) {
      assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'), name);
      assert.equal(sample(text, name), value, name);
    }
  });

  it('labels connections open, accepted and client events by protocol', async () => {
    const text = await scrape(SAMPLE);
    assert.match(text, /^# TYPE pushgate_protocol_connections gauge$/m);
    assert.equal(sample(text, 'pushgate_protocol_connections', '{protocol="go-push"}'), 3);
    assert.equal(sample(text, 'pushgate_protocol_connections', '{protocol="pusher"}'), 2);
    assert.match(text, /^# TYPE pushgate_protocol_connections_accepted_total counter$/m);
    assert.equal(sample(text, 'pushgate_protocol_connections_accepted_total', '{protocol="go-push"}'), 6);
    assert.equal(sample(text, 'pushgate_protocol_connections_accepted_total', '{protocol="pusher"}'), 3);
    assert.equal(sample(text, 'pushgate_protocol_client_events_total', '{protocol="go-push"}'), 4);
    assert.equal(sample(text, 'pushgate_protocol_client_events_total', '{protocol="pusher"}'), 7);
  });

  it('reads the stats at each scrape: a closed Pusher connection leaves the gauges', async () => {
    const live = snapshot({ onlineConnections: 2, pusherOpen: 1, connectionsTotal: 2, pusherConnections: 1 });
    const registry = createMetricsRegistry(() => live);
    assert.equal(sample(await registry.metrics(), 'pushgate_protocol_connections', '{protocol="pusher"}'), 1);
    live.pusherOpen = 0;
    live.onlineConnections = 1;
    const text = await registry.metrics();
    assert.equal(sample(text, 'pushgate_protocol_connections', '{protocol="pusher"}'), 0);
    assert.equal(sample(text, 'pushgate_protocol_connections', '{protocol="go-push"}'), 1);
    assert.equal(sample(text, 'pushgate_pusher_open_connections'), 0);
  });
});

describe('protocolView: GET /stats `protocols`', () => {
  it("gives Pusher its own counters and go-push the totals less Pusher's share", () => {
    assert.deepEqual(protocolView(SAMPLE), {
      'go-push': { connections: 3, connectionsTotal: 6, pushes: 23 - 15, clientEvents: 4 },
      pusher: {
        connections: 2,
        connectionsTotal: 3,
        events: 6,
        userEvents: 2,
        clientEvents: 7,
        subscriptionsRefused: 1,
        signins: 8,
        signinsRefused: 1,
        apiRequests: 12,
        apiRefused: 3,
        terminations: 1,
        webhooks: { events: 30, queued: 5, delivered: 25, posts: 10, retries: 2, failures: 1, dropped: 4 },
      },
    });
  });

  it('never goes below 0, and takes a missing or broken number as 0 (a report from an older node)', () => {
    const view = protocolView(snapshot({ onlineConnections: 1, pusherOpen: 2, pusherEvents: 5, pusherConnections: Number.NaN }));
    assert.deepEqual(view['go-push'], { connections: 0, connectionsTotal: 0, pushes: 0, clientEvents: 0 });
    assert.equal(view.pusher.connectionsTotal, 0);
    const partial = protocolView({ onlineConnections: 4 } as unknown as Parameters<typeof protocolView>[0]);
    assert.equal(partial['go-push'].connections, 4);
    assert.equal(partial.pusher.webhooks.queued, 0);
  });
});
