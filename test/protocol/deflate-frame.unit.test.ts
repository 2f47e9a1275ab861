import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { PreparedFrame } from '../../src/protocol/client-protocol.js';
import { DEFLATE_MIN_PAYLOAD, deflateCompressor, deflateFrame, frameCompressed } from '../../src/protocol/deflate-frame.js';
import { frameMessage, prepareFrame } from '../../src/protocol/prepared-frame.js';

// ws's own frame parser and permessage-deflate, as a client that negotiated server_no_context_takeover
// uses them (exported by ws, not declared by @types/ws).
const { PerMessageDeflate, Receiver } = createRequire(import.meta.url)('ws');

function clientExtension(serverMaxWindowBits?: number): any {
  const extension = new PerMessageDeflate({});
  extension.accept([
    { server_no_context_takeover: [true], ...(serverMaxWindowBits === undefined ? {} : { server_max_window_bits: [String(serverMaxWindowBits)] }) },
  ]);
  return extension;
}

/** Parses `bytes` with ws's own client Receiver (and its inflater): the messages it yields, in order. */
function receive(bytes: Buffer[], serverMaxWindowBits?: number): Promise<Array<{ data: Buffer; binary: boolean }>> {
  const extension = clientExtension(serverMaxWindowBits);
  const receiver = new Receiver({ extensions: { 'permessage-deflate': extension }, isServer: false });
  const messages: Array<{ data: Buffer; binary: boolean }> = [];
  return new Promise((resolve, reject) => {
    receiver.on('message', (data: Buffer, binary: boolean) => {
      messages.push({ data, binary });
      if (messages.length === bytes.length) resolve(messages);
    });
    receiver.on('error', reject);
    for (const chunk of bytes) receiver.write(chunk);
  });
}

/** JSON of about `size` bytes that compresses, but not to nothing. */
function json(size: number): string {
  const items: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const item = JSON.stringify({ id: i, user: `user-${(i * 7919) % 1000}`, text: `message ${Math.sin(i).toString(36)}`, ts: 1700000000000 + i * 37 });
    items.push(item);
    length += item.length + 1;
  }
  return `{"type":"PUSH","data":{"items":[${items.join(',')}]}}`;
}

const rsv1 = (frame: PreparedFrame): boolean => (frame.bytes[0] & 0x40) !== 0;

describe('deflateFrame', () => {
  for (const size of [100, 2000, 200_000]) {
    it(`compresses a ${size}-byte text frame that ws's own client inflates back`, async () => {
      const text = json(size);
      const plain = prepareFrame(text, 3);
      const compressed = deflateFrame(plain);
      assert.notEqual(compressed, plain);
      assert.ok(rsv1(compressed), 'RSV1 set');
      assert.equal(compressed.bytes[0] & 0x8f, 0x81, 'FIN and the text opcode');
      assert.equal(compressed.items, 3);
      assert.equal(compressed.remaining, 0);
      assert.ok(compressed.bytes.length < plain.bytes.length);
      const [message] = await receive([compressed.bytes]);
      assert.equal(message.binary, false);
      assert.equal(message.data.toString(), text);
    });
  }

  it('strips the sync flush tail: the payload does not end with 00 00 ff ff', () => {
    const frame = deflateFrame(prepareFrame(json(500)));
    assert.notDeepEqual([...frame.bytes.subarray(-4)], [0, 0, 0xff, 0xff]);
  });

  it('one compressed frame is valid on any number of connections, one after the other (no context kept)', async () => {
    const texts = [json(300), json(700), json(300)];
    const frames = texts.map((text) => deflateFrame(prepareFrame(text)).bytes);
    // The same bytes twice on one connection, then others: each message inflates on its own.
    const messages = await receive([frames[0], frames[0], frames[1], frames[2]]);
    assert.deepEqual(
      messages.map((message) => message.data.toString()),
      [texts[0], texts[0], texts[1], texts[2]],
    );
  });

  it('keeps binary frames binary', async () => {
    const data = Buffer.from(json(400));
    const parts = frameMessage(data, true);
    const frame = deflateFrame({ bytes: Buffer.concat(parts), items: 0, remaining: 0 });
    assert.ok(rsv1(frame));
    assert.equal(frame.bytes[0] & 0x0f, 2);
    const [message] = await receive([frame.bytes]);
    assert.equal(message.binary, true);
    assert.ok(message.data.equals(data));
  });

  it(`leaves payloads under ${DEFLATE_MIN_PAYLOAD} bytes, and those that would not shrink, uncompressed (the same frame)`, () => {
    const small = prepareFrame('{"type":"PUSH","data":{"items":[1]}}');
    assert.equal(deflateFrame(small), small);
    const random = Buffer.from(Array.from({ length: 300 }, (_, i) => String.fromCharCode(33 + ((i * 2654435761) % 94))).join(''));
    const noisy = prepareFrame(random.toString('latin1'));
    const result = deflateFrame(noisy);
    assert.ok(result === noisy || result.bytes.length < noisy.bytes.length);
  });

  it('never compresses control frames, fragments or masked frames', () => {
    const ping = { bytes: Buffer.concat([Buffer.from([0x89, 100]), Buffer.alloc(100, 0x61)]), items: 0, remaining: 0 };
    assert.equal(deflateFrame(ping), ping);
    const fragment = { bytes: Buffer.concat([Buffer.from([0x01, 100]), Buffer.alloc(100, 0x61)]), items: 0, remaining: 0 };
    assert.equal(deflateFrame(fragment), fragment);
    const masked = { bytes: Buffer.concat([Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4]), Buffer.alloc(100, 0x61)]), items: 0, remaining: 0 };
    assert.equal(deflateFrame(masked), masked);
  });

  it('honours a smaller server window, which a client inflating with that window reads', async () => {
    const text = json(20_000);
    const frame = deflateCompressor(9)?.compress(prepareFrame(text));
    assert.ok(frame !== undefined && rsv1(frame));
    const [message] = await receive([frame.bytes], 9);
    assert.equal(message.data.toString(), text);
  });
});

describe('deflateCompressor', () => {
  it('is one shared object per window, and null for windows zlib cannot honour', () => {
    assert.equal(deflateCompressor(), deflateCompressor(15));
    assert.notEqual(deflateCompressor(15), deflateCompressor(12));
    assert.equal(deflateCompressor(12)?.windowBits, 12);
    assert.equal(deflateCompressor(8), null);
    assert.equal(deflateCompressor(16), null);
  });
});

describe('frameCompressed', () => {
  for (const [length, header] of [
    [0, 2],
    [125, 2],
    [126, 4],
    [65535, 4],
    [65536, 10],
  ] as const) {
    it(`frames a ${length}-byte payload with a ${header}-byte header, FIN and RSV1 set`, () => {
      const bytes = frameCompressed(Buffer.alloc(length, 1), 1);
      assert.equal(bytes.length, header + length);
      assert.equal(bytes[0], 0xc1);
      const announced = header === 2 ? bytes[1] : header === 4 ? bytes.readUInt16BE(2) : Number(bytes.readBigUInt64BE(2));
      assert.equal(announced, length);
      assert.equal(bytes[1] & 0x80, 0, 'unmasked');
    });
  }
});
