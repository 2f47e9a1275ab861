import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { BodyAbortedError, parsePushBody, readBody, stringField } from '../../src/api/body.js';
import type { JsonItems } from '../../src/push/items.js';

const body = (text: string): Buffer => Buffer.from(text, 'utf8');
const texts = (items: unknown): readonly string[] => (items as JsonItems).texts;

/** A stand-in request: a stream with headers and `complete`, fed by the test. */
function request(headers: Record<string, string> = {}) {
  const stream = new PassThrough();
  const req = Object.assign(stream, { headers, complete: false }) as unknown as IncomingMessage & PassThrough;
  return req;
}

describe('parsePushBody', () => {
  it('takes JSON objects (also +json types, with parameters) and keeps each item as written', () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/vnd.pushgate+json']) {
      const parsed = parsePushBody(type, body('{"room":"news","items":[1, "two",{"x" :[3]}]}'));
      assert.equal(parsed.format, 'json');
      assert.equal(parsed.fields.room, 'news');
      assert.deepEqual(texts(parsed.items), ['1', '"two"', '{"x" :[3]}']);
    }
  });

  it("takes go-push's form: items (a JSON array) or msg (one value); of a field given twice, the first", () => {
    const items = parsePushBody('application/x-www-form-urlencoded', body('room=a&room=b&items=%5B1%2C%20%7B%7D%5D'));
    assert.equal(items.format, 'form');
    assert.equal(items.fields.room, 'a');
    assert.deepEqual(texts(items.items), ['1', '{}']);
    const msg = parsePushBody('application/x-www-form-urlencoded', body('msg=%7B%22hello%22%3A1%7D'));
    assert.deepEqual(texts(msg.items), ['{"hello":1}']);
  });

  it('hands on what is not an array as it is (refused when the push is accepted)', () => {
    assert.equal(parsePushBody('application/json', body('{"items":"nope"}')).items, 'nope');
    assert.equal(parsePushBody('application/json', body('{}')).items, undefined);
  });

  it('refuses with 400 or 415 and a message naming the problem', () => {
    const refusals: Array<[string | undefined, string, number, RegExp]> = [
      [undefined, '{}', 415, /Content-Type/],
      ['text/plain', 'hi', 415, /text\/plain is not supported/],
      ['not a type', '{}', 415, /Content-Type/],
      ['application/json', '{"items":[1', 400, /not valid JSON/],
      ['application/json', '[1,2]', 400, /must be a JSON object/],
      ['application/json', '{"items":[1],"items":[2]}', 400, /"items" appears more than once/],
      ['application/x-www-form-urlencoded', 'room=a', 400, /items \(a JSON array\) is required/],
      ['application/x-www-form-urlencoded', 'items=%5B1', 400, /items is not valid JSON/],
    ];
    for (const [type, text, status, message] of refusals) {
      assert.throws(
        () => parsePushBody(type, body(text)),
        (error: { status: number; message: string }) => {
          assert.equal(error.status, status, `${type} ${text}`);
          assert.match(error.message, message);
          return true;
        },
      );
    }
    assert.throws(() => parsePushBody('application/json', Buffer.from([0x7b, 0xff, 0x7d])), /not valid UTF-8/);
  });

  it('stringField requires a non-empty string', () => {
    const parsed = parsePushBody('application/json', body('{"room":"","conn":7,"user":"u"}'));
    assert.equal(stringField(parsed, 'user'), 'u');
    for (const name of ['room', 'conn', 'missing'])
      assert.throws(() => stringField(parsed, name), { status: 400, message: `field ${name} (a non-empty string) is required` });
  });
});

describe('readBody', () => {
  it('reads a body in chunks', async () => {
    const req = request();
    const reading = readBody(req, 100);
    req.write('{"items":');
    req.end('[1]}');
    assert.equal((await reading).toString(), '{"items":[1]}');
  });

  it('refuses a declared Content-Length over the limit before reading, and a body that grows past it', async () => {
    await assert.rejects(readBody(request({ 'content-length': '101' }), 100), { status: 413, message: 'body is 101 bytes; the limit is 100' });
    const req = request();
    const reading = readBody(req, 10);
    req.write('x'.repeat(11));
    await assert.rejects(reading, { status: 413 });
  });

  it('rejects with BodyAbortedError when the request closes before its body ends: closed, or cut for its timeout', async () => {
    for (const [timedOut, reason] of [
      [false, 'closed'],
      [true, 'timeout'],
    ] as const) {
      const req = request();
      const reading = readBody(req, 100, { has: () => timedOut });
      req.write('{"items"');
      req.destroy();
      await assert.rejects(reading, (error: unknown) => error instanceof BodyAbortedError && error.reason === reason);
    }
  });
});
