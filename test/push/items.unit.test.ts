import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acceptItems, itemCount, JsonItems } from '../../src/push/items.js';

describe('pushed items', () => {
  it('counts the items of a list, and none of anything else', () => {
    assert.equal(itemCount(new JsonItems(['1', '2'], [0, 0])), 2);
    assert.equal(itemCount([1, 2, 3]), 3);
    for (const value of [undefined, null, 'x', { length: 2 }]) assert.equal(itemCount(value), 0);
  });

  it("keeps the push API's texts as they are, and serialises library values once", () => {
    const texts = ['{"a" : 1}', ' 2'];
    assert.equal(acceptItems(new JsonItems(texts, [1, 0]), 10), texts);
    assert.deepEqual(acceptItems([{ a: 1 }, 'two', null, [3]], 10), ['{"a":1}', '"two"', 'null', '[3]']);
  });

  it('refuses an empty list, what is not a list, and values JSON cannot hold, naming the item', () => {
    for (const items of [[], new JsonItems([], []), 'x', undefined, { items: [1] }]) {
      assert.throws(() => acceptItems(items, 10), { code: 'INVALID_BODY', status: 400, message: 'items must be a non-empty JSON array' });
    }
    assert.throws(() => acceptItems([1, undefined], 10), { code: 'INVALID_BODY', message: 'items[1] is not a JSON value' });
    assert.throws(() => acceptItems([() => 1], 10), { code: 'INVALID_BODY', message: 'items[0] is not a JSON value' });
    assert.throws(() => acceptItems([1n], 10), { code: 'INVALID_BODY', message: /^items\[0\] is not a JSON value: / });
  });

  it('refuses items nested deeper than maxItemDepth (413 is for counts; depth is 400 ITEM_TOO_DEEP)', () => {
    assert.deepEqual(acceptItems([[[1]]], 2), ['[[1]]']);
    assert.throws(() => acceptItems([1, [[[1]]]], 2), {
      code: 'ITEM_TOO_DEEP',
      status: 400,
      message: 'items[1] is nested 3 deep; the limit is 2 (maxItemDepth)',
    });
    assert.throws(() => acceptItems(new JsonItems(['1', '[[[1]]]'], [0, 3]), 2), { code: 'ITEM_TOO_DEEP', message: /^items\[1\] is nested 3 deep/ });
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    assert.throws(() => acceptItems([deep], 2), { code: 'ITEM_TOO_DEEP', message: 'items[0] is nested too deeply to encode; the limit is 2 (maxItemDepth)' });
  });
});
