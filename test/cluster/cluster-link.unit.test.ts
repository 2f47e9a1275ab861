import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { CodecBroker } from '../../src/broker/codec-broker.js';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { type ClusterHost, ClusterLink } from '../../src/cluster/cluster-link.js';
import { decodePushEnvelope, encodePushEnvelope, type PushEnvelope } from '../../src/cluster/envelope.js';
import { linkCodec } from '../../src/cluster/link-message.js';
import { silentLogger } from '../../src/log.js';

/** A node's side of a link that holds nothing and counts one connection. */
function host(nodeId: string): ClusterHost {
  return {
    nodeId,
    instance: nodeId,
    role: 'both',
    worker: null,
    holdsConnections: true,
    deliver: () => {},
    expired: () => {},
    stats: () => ({ onlineConnections: 1 }),
    rooms: () => [],
    users: () => [],
    holdsRoom: () => false,
    holdsUser: () => false,
  };
}

/** Moves the fake clock (Date and the presence timers) on by `ms`, then lets the in-memory bus deliver. */
async function step(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await new Promise((resolve) => setImmediate(resolve));
}

const INTERVAL = 100;

describe('ClusterLink view (fake clock, in-memory bus)', () => {
  afterEach(() => mock.timers.reset());

  it('while the view is current, reports no count older than 3 presence intervals, and drops a node silent for longer', async () => {
    mock.timers.enable({ apis: ['Date', 'setInterval'], now: 1_000_000 });
    const a = new ClusterLink(new CodecBroker(new MemoryBroker('unit-staleness'), linkCodec), host('na'), silentLogger(), { presenceIntervalMs: INTERVAL });
    const b = new ClusterLink(new CodecBroker(new MemoryBroker('unit-staleness'), linkCodec), host('nb'), silentLogger(), { presenceIntervalMs: INTERVAL });
    try {
      await a.start();
      await b.start();
      // Current once this node has listened for 3 intervals since it connected and heard its own report.
      for (let i = 0; i < 3; i++) await step(INTERVAL);
      assert.equal(a.viewCurrent, false, 'not before 3 intervals');
      await step(INTERVAL);
      assert.equal(a.viewCurrent, true);
      let view = a.view();
      assert.deepEqual(
        view.nodes.map((n) => n.node),
        ['na', 'nb'],
      );
      assert.equal(view.total.onlineConnections, 2);
      assert.equal(view.maxStalenessMs, 0, 'both reported at this very moment');
      await step(60);
      view = a.view();
      assert.equal(view.maxStalenessMs, 60, 'the age of the oldest report');

      // B goes silent: its report ages; the bound holds at every moment, and B goes once it is past it.
      await b.stop();
      let goneAt = -1;
      for (let silence = 60 + 20; silence <= 600 && goneAt < 0; silence += 20) {
        await step(20);
        view = a.view();
        assert.equal(view.stale, false);
        assert.ok(view.maxStalenessMs <= 3 * INTERVAL, `${view.maxStalenessMs} ms stale at ${silence} ms of silence`);
        if (!view.nodes.some((n) => n.node === 'nb')) goneAt = silence;
      }
      // Its last report was sent 60 ms before the silence was counted from: gone within the window after 300 ms.
      assert.ok(goneAt > 3 * INTERVAL && goneAt <= 3 * INTERVAL + 60 + 50, `B dropped after ${goneAt} ms of silence`);
      assert.equal(a.knowsNode('nb'), false);
      assert.equal(a.view().total.onlineConnections, 1);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('push envelopes', () => {
  it('carry their deadline, and decode without one from older nodes', () => {
    const push: PushEnvelope = { kind: 'room', room: 'r', items: ['1', '{"a":2}'] };
    assert.deepEqual(decodePushEnvelope(encodePushEnvelope(push, 1234.2)), { push, expiresAt: 1235 });
    assert.deepEqual(decodePushEnvelope(encodePushEnvelope(push)), { push, expiresAt: null });
    assert.equal(decodePushEnvelope(Buffer.from('{"v":1,"kind":"all","exp":"soon","items":[1]}')), null, 'a deadline that is not a number is malformed');
  });

  it('carry the connection a room push leaves out', () => {
    const push: PushEnvelope = { kind: 'room', room: 'r', items: ['1'], except: '12.34' };
    assert.deepEqual(decodePushEnvelope(encodePushEnvelope(push)), { push, expiresAt: null });
  });
});
