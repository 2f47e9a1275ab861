import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodePushEnvelope, encodePushEnvelope } from '../../src/cluster/envelope.js';
import { InFlight } from '../../src/cluster/in-flight.js';

/** Whether `promise` has settled by the end of the current macrotask queue turn. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true));
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

describe('InFlight', () => {
  it('settles once every tracked push came back and every publish was answered, in either order', async () => {
    const inFlight = new InFlight();
    assert.equal(await isSettled(inFlight.whenSettled()), true, 'nothing in flight: at once');
    inFlight.started(1, 'room.a');
    inFlight.started(2, null); // a channel not subscribed here: only its publish is waited for
    inFlight.started(3, 'all');
    const settled = inFlight.whenSettled();
    inFlight.returned(1); // back before the broker's answer
    inFlight.published(1, true);
    inFlight.published(2, true);
    inFlight.published(3, true);
    assert.equal(inFlight.size, 1);
    assert.equal(await isSettled(settled), false, 'push 3 is still on its way back');
    inFlight.returned(3);
    assert.equal(await isSettled(settled), true);
    assert.equal(inFlight.size, 0);
    inFlight.returned(3); // a duplicate or a stranger's sequence: ignored
    assert.equal(inFlight.settled, true);
  });

  it('forgets a push whose publish failed (answered 503), and those of a channel dropped here', async () => {
    const inFlight = new InFlight();
    inFlight.started(1, 'room.a');
    inFlight.started(2, 'room.a');
    inFlight.started(3, 'room.b');
    inFlight.published(1, false);
    inFlight.published(2, true);
    inFlight.published(3, true);
    assert.equal(inFlight.size, 2);
    const settled = inFlight.whenSettled();
    inFlight.channelClosed('room.a');
    assert.equal(inFlight.size, 1);
    inFlight.channelClosed('room.b');
    assert.equal(await isSettled(settled), true);
  });

  it('drops everything when the broker connection is lost, and expires what never came back', async () => {
    const inFlight = new InFlight(1000);
    inFlight.started(1, 'all', 0);
    inFlight.started(2, 'all', 10);
    inFlight.clear();
    assert.equal(inFlight.size, 0);
    inFlight.published(1, true);
    inFlight.published(2, true);
    inFlight.started(3, 'all', 100);
    inFlight.published(3, true);
    inFlight.started(4, 'all', 1099);
    inFlight.published(4, true);
    // The next publish, 1000 ms after push 3, expires it (and counts it), not the younger push 4.
    inFlight.started(5, null, 1100);
    inFlight.published(5, true);
    assert.equal(inFlight.lost, 1);
    assert.equal(inFlight.size, 1);
  });
});

describe('push envelopes', () => {
  it('carry their origin (node, sequence) when set, and decode without one from older nodes', () => {
    const tagged = decodePushEnvelope(encodePushEnvelope({ kind: 'room', room: 'r', items: ['1', '"a"'], origin: { node: 'abcd', seq: 42 } }))?.push;
    assert.deepEqual(tagged, { kind: 'room', room: 'r', items: ['1', '"a"'], origin: { node: 'abcd', seq: 42 } });
    assert.deepEqual(decodePushEnvelope(Buffer.from('{"v":1,"kind":"all","items":[1]}'))?.push, { kind: 'all', items: ['1'] });
    assert.deepEqual(
      decodePushEnvelope(Buffer.from('{"v":1,"kind":"all","origin":"x","seq":"1","items":[1]}'))?.push,
      { kind: 'all', items: ['1'] },
      'a malformed origin is ignored',
    );
  });
});
