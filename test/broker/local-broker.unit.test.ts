import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokerUnavailableError } from '../../src/broker/broker.js';
import { CodecBroker } from '../../src/broker/codec-broker.js';
import { LocalBroker } from '../../src/broker/local-broker.js';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { type LinkMessage, linkCodec } from '../../src/cluster/link-message.js';

describe('LocalBroker', () => {
  it('hands the message object itself to the subscriber, before publish returns; only this process subscribes', async () => {
    const broker = new LocalBroker<{ n: number }>();
    await broker.connect();
    assert.equal(broker.shared, false);
    const seen: Array<[{ n: number }, string]> = [];
    await broker.subscribe('c', (message, channel) => seen.push([message, channel]));
    const message = { n: 1 };
    const published = broker.publish('c', message);
    assert.equal(seen.length, 1);
    assert.equal(seen[0][0], message, 'the same object: nothing encoded or copied');
    await published;
    await broker.publish('other', { n: 2 });
    assert.equal(seen.length, 1);
    await broker.unsubscribe('c');
    assert.equal(broker.subscriptionCount, 0);
    await broker.close();
    await assert.rejects(broker.publish('c', message), BrokerUnavailableError);
  });
});

describe('CodecBroker over a broker of bytes', () => {
  it('encodes link messages once and decodes them on receipt; bytes that are none come out as malformed', async () => {
    const bytes = new MemoryBroker('codec-unit');
    const broker = new CodecBroker<LinkMessage>(bytes, linkCodec);
    await broker.connect();
    assert.equal(broker.shared, true);
    const seen: LinkMessage[] = [];
    await broker.subscribe('c', (message) => seen.push(message));
    const push: LinkMessage = { type: 'push', push: { kind: 'room', room: 'r', items: ['{"a":[1, 2]}'], origin: { node: 'n', seq: 3 } }, expiresAt: 99 };
    await broker.publish('c', push);
    await broker.publish('c', { type: 'barrier', node: 'n' });
    await bytes.publish('c', Buffer.from('{"not":"a link message"}'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, [push, { type: 'barrier', node: 'n' }, { type: 'malformed' }]);
    await broker.close();
  });
});
