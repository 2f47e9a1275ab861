import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runBatch } from '../../src/api/batch.js';
import { type BatchPush, parseBatchBody } from '../../src/api/batch-body.js';
import { apiError, PushError } from '../../src/protocol/errors.js';
import { JsonItems } from '../../src/push/items.js';
import type { PushResult, PushService } from '../../src/push/push-service.js';

const JSON_TYPE = 'application/json';
const parse = (text: string, max = 10, type = JSON_TYPE): BatchPush[] => parseBatchBody(type, Buffer.from(text, 'utf8'), max, '/push/batch');
const refusal = (push: BatchPush | undefined): string => {
  assert.ok(push?.error !== undefined, 'the push is refused');
  return `${push.error.status} ${push.error.code} ${push.error.message}`;
};

describe('parseBatchBody', () => {
  it('reads each push: its one target, its items as their exact texts', () => {
    const pushes = parse(
      '{"pushes":[{"room":"news","items":[1, {"a" : 2}]}, {"all":true,"items":["x"]},{"items":[true],"conn":"c-1"},{"user":"alice","items":[null]}]}',
    );
    assert.deepEqual(
      pushes.map((push) => (push.error === undefined ? push.target : push.error.code)),
      [{ kind: 'room', name: 'news' }, { kind: 'all' }, { kind: 'conn', name: 'c-1' }, { kind: 'user', name: 'alice' }],
    );
    const [first] = pushes;
    assert.ok(first?.error === undefined && first.items instanceof JsonItems);
    assert.deepEqual(first.items.texts, ['1', '{"a" : 2}'], 'items kept as written');
    assert.deepEqual(first.items.depths, [0, 1]);
  });

  it('also takes +json types and parameters', () => {
    for (const type of ['application/json; charset=utf-8', 'application/vnd.pushgate+json'])
      assert.equal(parse('{"pushes":[{"all":true,"items":[1]}]}', 10, type).length, 1);
  });

  it('refuses one push alone, in its place, when it cannot be used', () => {
    const cases: Array<[string, RegExp]> = [
      ['1', /^400 INVALID_BODY a push must be a JSON object/],
      ['[{"all":true}]', /^400 INVALID_BODY a push must be a JSON object/],
      ['{"items":[1]}', /^400 INVALID_BODY a push names exactly one target .*; it names none$/],
      ['{"room":"a","user":"b","items":[1]}', /^400 INVALID_BODY .*; it names room and user$/],
      ['{"all":true,"conn":"c-1","items":[1]}', /it names all and conn$/],
      ['{"all":false,"items":[1]}', /^400 INVALID_BODY a push names exactly one target \(all: true/],
      ['{"room":"","items":[1]}', /^400 INVALID_BODY field room \(a non-empty string\) is required$/],
      ['{"conn":7,"items":[1]}', /^400 INVALID_BODY field conn /],
      ['{"channel":"a","items":[1]}', /^400 INVALID_BODY member "channel" is not one of all, room, conn, user, items$/],
      ['{"room":"a","room":"b","items":[1]}', /^400 INVALID_BODY member "room" appears more than once/],
      ['{"room":"a","items":[1],"items":[2]}', /^400 INVALID_BODY member "items" appears more than once/],
    ];
    const pushes = parse(`{"pushes":[${cases.map(([text]) => text).join(',')},{"room":"ok","items":[1]}]}`, 100);
    assert.equal(pushes.length, cases.length + 1);
    cases.forEach(([text, expected], index) => assert.match(refusal(pushes[index]), expected, text));
    assert.equal(pushes.at(-1)?.error, undefined, 'the good push after them stands');
  });

  it('hands on items that are not an array, or none, for the push service to refuse (as the single routes do)', () => {
    const [text, none] = parse('{"pushes":[{"all":true,"items":"x"},{"all":true}]}');
    assert.ok(text?.error === undefined && none?.error === undefined);
    assert.equal(text.items, 'x');
    assert.equal(none.items, undefined);
  });

  it('refuses a body that is not such a document, whole', () => {
    const cases: Array<[string | undefined, string, RegExp]> = [
      ['application/x-www-form-urlencoded', 'pushes=x', /^415 UNSUPPORTED_MEDIA_TYPE \/push\/batch takes a JSON body only/],
      ['text/plain', '{}', /^415 UNSUPPORTED_MEDIA_TYPE/],
      [undefined, '{}', /^415 UNSUPPORTED_MEDIA_TYPE send Content-Type/],
      [JSON_TYPE, '{"pushes":[', /^400 INVALID_BODY body is not valid JSON/],
      [JSON_TYPE, '[{"all":true,"items":[1]}]', /^400 INVALID_BODY body must be a JSON object/],
      [JSON_TYPE, '{}', /^400 INVALID_BODY pushes must be a non-empty JSON array/],
      [JSON_TYPE, '{"pushes":[]}', /^400 INVALID_BODY pushes must be a non-empty JSON array/],
      [JSON_TYPE, '{"pushes":{"all":true}}', /^400 INVALID_BODY pushes must be a non-empty JSON array/],
      [JSON_TYPE, '{"pushes":[{"all":true,"items":[1]}],"pushes":[]}', /^400 INVALID_BODY member "pushes" appears more than once/],
      [JSON_TYPE, '{"pushes":[{"all":true,"items":[1]}],"parallel":true}', /^400 INVALID_BODY member "parallel" is not one of pushes$/],
      [
        JSON_TYPE,
        `{"pushes":[${Array(11).fill('{"all":true,"items":[1]}').join(',')}]}`,
        /^413 TOO_MANY_PUSHES the batch holds 11 pushes; the limit is 10 \(maxBatchPushes\)/,
      ],
    ];
    for (const [type, text, expected] of cases) {
      assert.throws(
        () => parseBatchBody(type, Buffer.from(text), 10, '/push/batch'),
        (error: unknown) => {
          assert.ok(error instanceof PushError);
          assert.match(`${error.status} ${error.code} ${error.message}`, expected, text);
          return true;
        },
      );
    }
    assert.throws(() => parseBatchBody(JSON_TYPE, Buffer.from([0x7b, 0xff, 0x7d]), 10, '/push/batch'), /not valid UTF-8/);
    assert.equal(parse(`{"pushes":[${Array(10).fill('{"all":true,"items":[1]}').join(',')}]}`).length, 10, 'the limit itself is taken');
  });
});

/** A push service whose calls are recorded and settle when the test says so. */
function deferredService() {
  const calls: Array<{ kind: string; target?: string; items: unknown; resolve: (result: PushResult) => void; reject: (error: unknown) => void }> = [];
  const call =
    (kind: string) =>
    (...args: unknown[]): Promise<PushResult> =>
      new Promise((resolve, reject) => {
        const [target, items] = kind === 'all' ? [undefined, args[0]] : [args[0] as string, args[1]];
        calls.push({ kind, ...(target === undefined ? {} : { target }), items, resolve, reject });
      });
  const service: PushService = { pushAll: call('all'), pushRoom: call('room'), pushConn: call('conn'), pushUser: call('user') };
  return { service, calls };
}

describe('runBatch', () => {
  it('makes every call before any settles, in order, and answers in order however they settle', async () => {
    const { service, calls } = deferredService();
    const unexpected: unknown[] = [];
    const pushes = parse('{"pushes":[{"room":"a","items":[1]},{"items":[1]},{"all":true,"items":[1,2]},{"conn":"c-1","items":[1]},{"user":"u","items":[1]}]}');
    const running = runBatch(service, pushes, (error) => unexpected.push(error));
    // Synchronously: the four usable pushes are in the service already, the unusable one never is.
    assert.deepEqual(
      calls.map(({ kind, target }) => [kind, target]),
      [
        ['room', 'a'],
        ['all', undefined],
        ['conn', 'c-1'],
        ['user', 'u'],
      ],
    );
    calls[3]!.resolve({ items: 1, recipients: 2 });
    calls[2]!.reject(apiError.CONN_NOT_FOUND.notConnected('c-1'));
    calls[1]!.reject(apiError.QUEUE_FULL.full(10, 10));
    calls[0]!.reject(new Error('boom'));
    assert.deepEqual(await running, [
      { ok: false, error: { code: 'INTERNAL_ERROR', message: 'internal error' } },
      { ok: false, error: { code: 'INVALID_BODY', message: 'a push names exactly one target (all: true, room, conn or user); it names none' } },
      { ok: false, error: { code: 'QUEUE_FULL', message: '10 items are waiting for delivery (limit 10); retry later' } },
      { ok: false, error: { code: 'CONN_NOT_FOUND', message: 'connection c-1 is not connected' } },
      { ok: true, items: 1, recipients: 2 },
    ]);
    assert.equal(unexpected.length, 1, 'only the unexpected failure is reported');
    assert.equal((unexpected[0] as Error).message, 'boom');
  });

  it('fails only its push when the service throws instead of rejecting', async () => {
    const service: PushService = {
      pushAll: async () => ({ items: 1, recipients: 0 }),
      pushRoom: () => {
        throw apiError.INVALID_ROOM.problem('bad');
      },
      pushConn: async () => ({ items: 1, recipients: 1 }),
      pushUser: async () => ({ items: 1, recipients: 0 }),
    };
    const results = await runBatch(service, parse('{"pushes":[{"room":"a","items":[1]},{"all":true,"items":[1]}]}'), () => assert.fail('not unexpected'));
    assert.deepEqual(results, [
      { ok: false, error: { code: 'INVALID_ROOM', message: 'bad' } },
      { ok: true, items: 1, recipients: 0 },
    ]);
  });
});
