import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parsePushBody } from '../../src/api/body.js';
import { decodePushEnvelope, encodePushEnvelope } from '../../src/cluster/envelope.js';
import { outline } from '../../src/protocol/json-text.js';
import { JsonItems } from '../../src/push/items.js';
import { anyJsonText, arrayText, fastCheckJson, handBuiltJson, type JsonText, jsonWhitespace } from '../helpers/json-texts.js';

const SEED = Number(process.env.PUSHGATE_FUZZ_SEED ?? 0x5eed);
const runs = { seed: SEED, numRuns: 500 };

const slice = (text: string, span: { start: number; end: number }): string => text.slice(span.start, span.end);

/** The items a body was parsed into, as texts and depths (fails when they are not exact texts). */
function itemsOf(type: string, body: string): { texts: readonly string[]; depths: readonly number[] } {
  const { items } = parsePushBody(type, Buffer.from(body));
  assert.ok(items instanceof JsonItems, `items kept as texts for ${body.slice(0, 60)}`);
  return { texts: [...items.texts], depths: [...items.depths] };
}

const itemLists = fc.tuple(fc.array(anyJsonText, { minLength: 1, maxLength: 6 }), fc.array(jsonWhitespace, { minLength: 1, maxLength: 12 }));

describe('json-text: spans of values in validated JSON', () => {
  it('finds values across strings holding quotes, backslashes, brackets and commas', () => {
    const text = ' [ "a\\"],{" , "\\\\" ,{"k\\\\":"[\\\\\\"" , "x" : [ ] },-0 ,1e400] ';
    const { value, elements } = outline(text);
    assert.equal(slice(text, value), text.trim());
    assert.deepEqual(
      elements.map((e) => slice(text, e)),
      ['"a\\"],{"', '"\\\\"', '{"k\\\\":"[\\\\\\"" , "x" : [ ] }', '-0', '1e400'],
    );
    assert.deepEqual(
      elements.map((e) => e.depth),
      [0, 0, 2, 0, 0],
    );
    const object = slice(text, elements[2]);
    assert.deepEqual(
      outline(object).members.map((m) => [m.name, slice(object, m.value), m.elements.length]),
      [
        ['k\\', '"[\\\\\\""', 0],
        ['x', '[ ]', 0],
      ],
    );
  });

  it('keeps duplicate members, in order, with their names unescaped, and the elements of array members', () => {
    const text = '{"a":1,"\\u0061":2,"b":{"a":3,"a":[4]}, "c" : [ [ ] , {"d":[5]} ,"]" ] ,"e":"x"}';
    assert.deepEqual(
      outline(text).members.map((m) => [m.name, slice(text, m.value), m.value.depth, m.elements.map((e) => [slice(text, e), e.depth])]),
      [
        ['a', '1', 0, []],
        ['a', '2', 0, []],
        ['b', '{"a":3,"a":[4]}', 2, []],
        [
          'c',
          '[ [ ] , {"d":[5]} ,"]" ]',
          3,
          [
            ['[ ]', 1],
            ['{"d":[5]}', 2],
            ['"]"', 0],
          ],
        ],
        ['e', '"x"', 0, []],
      ],
    );
  });

  it('measures depth without recursion, at any nesting', () => {
    const depth = 500000;
    const text = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    JSON.parse(text);
    assert.equal(outline(text).value.depth, depth);
    assert.deepEqual(
      ['1', ' 12 ', '[]', '{"a":[1]}', '"[[["', '{}'].map((t) => [outline(t).value.depth, slice(t, outline(t).value)]),
      [
        [0, '1'],
        [0, '12'],
        [1, '[]'],
        [2, '{"a":[1]}'],
        [0, '"[[["'],
        [1, '{}'],
      ],
    );
  });

  it('gives back every element of an array, and of an array member, exactly as written, with its depth (property)', () => {
    fc.assert(
      fc.property(itemLists, ([items, spaces]) => {
        const array = arrayText(
          items.map((i) => i.text),
          spaces,
        );
        const text = `${spaces[0]}${array}${spaces[spaces.length - 1]}`;
        JSON.parse(text);
        const { elements } = outline(text);
        assert.deepEqual(
          elements.map((e) => slice(text, e)),
          items.map((i) => i.text),
        );
        assert.deepEqual(
          elements.map((e) => e.depth),
          items.map((i) => i.depth),
        );
        const object = `{"before":${items[0].text},${spaces[0]}"items"${spaces[1 % spaces.length]}:${array},"after":${array}}`;
        const [, member] = outline(object).members;
        assert.deepEqual(
          member.elements.map((e) => slice(object, e)),
          items.map((i) => i.text),
        );
        assert.deepEqual(
          member.elements.map((e) => e.depth),
          items.map((i) => i.depth),
        );
        assert.equal(member.value.depth, 1 + Math.max(...items.map((i) => i.depth)));
      }),
      runs,
    );
  });
});

describe('push bodies: item texts equal the pushed ones (property)', () => {
  const check = (arbitrary: fc.Arbitrary<JsonText>): void => {
    fc.assert(
      fc.property(
        fc.tuple(fc.array(arbitrary, { minLength: 1, maxLength: 6 }), fc.array(jsonWhitespace, { minLength: 1, maxLength: 12 }), fc.boolean()),
        ([items, spaces, itemsFirst]) => {
          const texts = items.map((i) => i.text);
          const array = arrayText(texts, spaces);
          const [a, b, c, d] = [0, 1, 2, 3].map((i) => spaces[i % spaces.length]);
          const members = [`${a}"items"${b}:${c}${array}${d}`, `${d}"room"${c}:${b}"r"${a}`];
          const json = `${b}{${(itemsFirst ? members : members.reverse()).join(',')}}${c}`;
          assert.deepEqual(itemsOf('application/json', json), { texts, depths: items.map((i) => i.depth) });
          assert.deepEqual(itemsOf('application/x-www-form-urlencoded', new URLSearchParams({ room: 'r', items: array }).toString()), {
            texts,
            depths: items.map((i) => i.depth),
          });
          const [first] = items;
          assert.deepEqual(itemsOf('application/x-www-form-urlencoded', new URLSearchParams({ msg: `${a}${first.text}${b}` }).toString()), {
            texts: [first.text],
            depths: [first.depth],
          });
          // And across nodes: the envelope gives the same texts back.
          assert.deepEqual(decodePushEnvelope(encodePushEnvelope({ kind: 'room', room: 'r', items: texts }))?.push, { kind: 'room', room: 'r', items: texts });
        },
      ),
      runs,
    );
  };

  it('for fc.json() texts and fc.jsonValue() values stringified with odd whitespace', () => check(fastCheckJson));
  it('for hand-built texts: odd whitespace, number spellings, escapes, duplicate keys', () => check(handBuiltJson));
});
