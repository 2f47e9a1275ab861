import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IpcBrokerMessage } from '../../src/cluster/ipc-broker.js';
import { PrimaryRelay, type RelayWorker } from '../../src/cluster/primary-relay.js';

/** A worker as the relay sees it: records what it is sent. */
class FakeWorker implements RelayWorker {
  readonly sent: IpcBrokerMessage[] = [];
  connected = true;
  /** The channel reports connected but its pipe is closed: a worker between exiting and its `exit` event. */
  pipeClosed = false;
  constructor(readonly name: string) {}
  isConnected(): boolean {
    return this.connected;
  }
  send(message: IpcBrokerMessage, _handle?: undefined, done?: (error: Error | null) => void): boolean {
    if (this.pipeClosed) {
      // As node:child_process does: the error goes to the callback, or is emitted (and crashes) without one.
      if (done === undefined) throw new Error('write EPIPE (emitted as an unhandled error event)');
      done(new Error('write EPIPE'));
      return false;
    }
    this.sent.push(message);
    done?.(null);
    return true;
  }
  /** Payloads received per channel, as text. */
  received(): string[] {
    return this.sent.flatMap((m) => (m.pushgate === 'msg' ? [`${m.channel}:${Buffer.from(m.payload).toString()}`] : []));
  }
}

const payload = (text: string): Uint8Array => Buffer.from(text);

describe('PrimaryRelay', () => {
  it('relays a publish to every subscribed worker, the publisher included, then acks with the channel count', () => {
    const relay = new PrimaryRelay<FakeWorker>();
    const [a, b, c] = [new FakeWorker('a'), new FakeWorker('b'), new FakeWorker('c')];
    relay.handle(a, { pushgate: 'sub', id: 1, channel: 'room.x' });
    relay.handle(b, { pushgate: 'sub', id: 1, channel: 'room.x' });
    relay.handle(c, { pushgate: 'sub', id: 1, channel: 'room.y' });
    // Each subscription is acknowledged once it is in place, with the channel count.
    assert.deepEqual(b.sent, [{ pushgate: 'ack', id: 1, channels: 1 }]);
    assert.deepEqual(c.sent, [{ pushgate: 'ack', id: 1, channels: 2 }]);
    relay.handle(a, { pushgate: 'pub', id: 7, channel: 'room.x', payload: payload('hi') });
    assert.deepEqual(a.received(), ['room.x:hi']);
    assert.deepEqual(b.received(), ['room.x:hi']);
    assert.deepEqual(c.received(), []);
    assert.deepEqual(a.sent.at(-1), { pushgate: 'ack', id: 7, channels: 2 });
    // The ack comes after the publisher's own copy: IPC order tells it the message was sent first.
    assert.deepEqual(
      a.sent.map((m) => m.pushgate),
      ['ack', 'msg', 'ack'],
    );
  });

  it('survives a worker whose pipe closed before its exit event, and counts what it could not send', () => {
    const relay = new PrimaryRelay<FakeWorker>();
    const [a, b] = [new FakeWorker('a'), new FakeWorker('b')];
    relay.handle(a, { pushgate: 'sub', id: 1, channel: 'room.x' });
    relay.handle(b, { pushgate: 'sub', id: 1, channel: 'room.x' });
    b.pipeClosed = true;
    relay.handle(a, { pushgate: 'pub', id: 2, channel: 'room.x', payload: payload('hi') });
    assert.deepEqual(a.received(), ['room.x:hi']);
    assert.deepEqual(a.sent.at(-1), { pushgate: 'ack', id: 2, channels: 1 });
    assert.equal(relay.undeliverable, 1);
    // Nor does an ack to a publisher whose pipe closed throw.
    relay.handle(b, { pushgate: 'pub', id: 3, channel: 'room.x', payload: payload('late') });
    assert.equal(relay.undeliverable, 3);
    assert.deepEqual(a.received(), ['room.x:hi', 'room.x:late']);
  });

  it('holds no channel once its last subscriber unsubscribes', () => {
    const relay = new PrimaryRelay<FakeWorker>();
    const [a, b] = [new FakeWorker('a'), new FakeWorker('b')];
    relay.subscribe(a, 'pushgate.all');
    relay.subscribe(b, 'pushgate.all');
    for (let i = 0; i < 1000; i++) {
      relay.subscribe(i % 2 === 0 ? a : b, `room.${i}`);
      relay.subscribe(a, `room.${i}`);
    }
    assert.equal(relay.channelCount, 1001);
    for (let i = 0; i < 1000; i++) {
      relay.unsubscribe(a, `room.${i}`);
      relay.unsubscribe(b, `room.${i}`);
    }
    assert.equal(relay.channelCount, 1, 'only the channel still subscribed remains');
    relay.unsubscribe(a, 'pushgate.all');
    assert.equal(relay.channelCount, 1, 'b still subscribes');
    relay.unsubscribe(b, 'pushgate.all');
    assert.equal(relay.channelCount, 0);
    assert.equal(relay.workerCount, 0);
    // A publish to a channel nobody subscribes to reaches nobody, and is still acknowledged.
    relay.publish(a, 1, 'room.3', payload('late'));
    assert.deepEqual(a.received(), []);
    assert.deepEqual(a.sent.at(-1), { pushgate: 'ack', id: 1, channels: 0 });
  });

  it('ignores unsubscribes of channels it does not hold, and repeated subscribes', () => {
    const relay = new PrimaryRelay<FakeWorker>();
    const a = new FakeWorker('a');
    relay.unsubscribe(a, 'never');
    assert.equal(relay.channelCount, 0);
    assert.equal(relay.workerCount, 0);
    relay.subscribe(a, 'twice');
    relay.subscribe(a, 'twice');
    relay.unsubscribe(a, 'twice');
    assert.equal(relay.channelCount, 0);
    assert.equal(relay.workerCount, 0);
  });

  it('drops every subscription of a worker that exits, and only its own', () => {
    const relay = new PrimaryRelay<FakeWorker>();
    const [a, b] = [new FakeWorker('a'), new FakeWorker('b')];
    relay.subscribe(a, 'shared');
    relay.subscribe(b, 'shared');
    for (let i = 0; i < 100; i++) relay.subscribe(a, `a.${i}`);
    relay.subscribe(b, 'b.only');
    assert.equal(relay.channelCount, 102);
    a.connected = false;
    relay.workerGone(a);
    assert.equal(relay.channelCount, 2);
    assert.equal(relay.workerCount, 1);
    relay.publish(b, 2, 'shared', payload('after'));
    assert.deepEqual(b.received(), ['shared:after']);
    assert.deepEqual(a.received(), [], 'a disconnected worker is sent nothing');
    relay.workerGone(b);
    assert.equal(relay.channelCount, 0);
    assert.equal(relay.workerCount, 0);
    relay.workerGone(b);
    assert.equal(relay.channelCount, 0, 'workerGone is idempotent');
  });
});
