import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connection } from '../../src/connection/connection.js';
import { Dispatcher } from '../../src/merger/dispatcher.js';
import { PushBatch } from '../../src/merger/push-batch.js';
import type { ClientProtocol, PreparedFrame } from '../../src/protocol/client-protocol.js';
import { deflateCompressor, type FrameCompressor } from '../../src/protocol/deflate-frame.js';
import { goPushProtocol } from '../../src/protocol/go-push.js';
import { FakeTransport } from '../helpers/fake-transport.js';

const rsv1 = (frame: PreparedFrame): boolean => (frame.bytes[0] & 0x40) !== 0;
const item = (i: number): string => JSON.stringify({ id: i, text: `an item long enough to be worth compressing, number ${i}`, at: 1700000000000 + i });

/** A compressor that counts its calls, around the real one. */
function counting(): { compressor: FrameCompressor; calls: () => number } {
  const real = deflateCompressor(15)!;
  let calls = 0;
  return {
    compressor: {
      windowBits: 15,
      compress: (frame) => {
        calls += 1;
        return real.compress(frame);
      },
    },
    calls: () => calls,
  };
}

/** A transport that negotiated permessage-deflate, as WsTransport tells it. */
class DeflatingTransport extends FakeTransport {
  constructor(readonly compressor: FrameCompressor | null) {
    super();
  }
}

describe('PushBatch with compressed frames', () => {
  it('compresses once per (protocol, compressor), from the plain frame encoded once', () => {
    const protocol = goPushProtocol;
    const batch = new PushBatch([item(1), item(2), item(3)], 'room');
    const { compressor, calls } = counting();
    const plain = batch.frameFor(protocol);
    const compressed = batch.frameFor(protocol, compressor);
    assert.equal(batch.frameFor(protocol, compressor), compressed);
    assert.equal(batch.frameFor(protocol), plain);
    assert.equal(batch.frameFor(protocol, null), plain, 'null: the plain frame');
    assert.equal(calls(), 1);
    assert.equal(batch.encodings, 1);
    assert.ok(rsv1(compressed) && !rsv1(plain));
    assert.equal(compressed.items, 3);
  });

  it('keeps a compressed frame per compressor and per protocol', () => {
    const other: ClientProtocol = { ...goPushProtocol, name: 'other' };
    const batch = new PushBatch([item(1), item(2)], undefined);
    const a = batch.frameFor(goPushProtocol, deflateCompressor(15));
    const b = batch.frameFor(goPushProtocol, deflateCompressor(10));
    const c = batch.frameFor(other, deflateCompressor(15));
    assert.equal(new Set([a, b, c]).size, 3);
    assert.equal(batch.frameFor(goPushProtocol, deflateCompressor(10)), b);
    assert.equal(batch.frameFor(other, deflateCompressor(15)), c);
    assert.equal(batch.encodings, 2);
  });

  it('gives the plain frame itself when it is too small to compress', () => {
    const batch = new PushBatch(['1'], 'r');
    assert.equal(batch.frameFor(goPushProtocol, deflateCompressor()), batch.frameFor(goPushProtocol));
  });

  it('counts a compressed frame not yet written as in flight', () => {
    const batch = new PushBatch([item(1), item(2)], 'r');
    const frame = batch.frameFor(goPushProtocol, deflateCompressor());
    assert.equal(batch.inFlight, false);
    frame.remaining = 1;
    assert.equal(batch.inFlight, true);
  });
});

describe('Dispatcher with permessage-deflate recipients', () => {
  it('writes the compressed bytes to every deflate recipient and the plain ones to the others', async () => {
    const counts = { sent: 0, failed: 0 };
    const dispatcher = new Dispatcher({ sent: () => void counts.sent++, failed: () => void counts.failed++ });
    const transports = [
      new DeflatingTransport(deflateCompressor()),
      new FakeTransport(),
      new DeflatingTransport(deflateCompressor()),
      new DeflatingTransport(null),
    ];
    const conns = transports.map((transport, i) => new Connection(transport, `c${i}`, goPushProtocol));
    assert.deepEqual(
      conns.map((conn) => conn.compressor),
      [deflateCompressor(), null, deflateCompressor(), null],
    );
    const batch = new PushBatch([item(1), item(2), item(3)], 'room');
    dispatcher.enqueue(batch, conns);
    assert.equal(dispatcher.pendingFrames, 2, 'two frames: the plain one and the compressed one');
    assert.equal(dispatcher.pendingItems, 6);
    await new Promise((resolve) => setImmediate(resolve));
    const written = transports.map((transport) => transport.writes[0][0]);
    assert.equal(written[0], written[2], 'the very same buffer to both deflate recipients');
    assert.equal(written[1], written[3], 'and the plain one to the others');
    assert.ok((written[0][0] & 0x40) !== 0);
    assert.ok((written[1][0] & 0x40) === 0);
    assert.ok(written[0].length < written[1].length);
    assert.deepEqual(counts, { sent: 4, failed: 0 });
    assert.equal(dispatcher.pendingFrames, 0);
    assert.equal(batch.inFlight, false);
  });
});
