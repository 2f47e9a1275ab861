import fc from 'fast-check';

/**
 * Arbitrary JSON texts for property tests of exact pass-through: each comes with its nesting depth
 * (arrays and objects, counting itself), worked out while it is built, not by a parser.
 */
export interface JsonText {
  text: string;
  depth: number;
}

/** JSON's whitespace, up to three characters of it. */
export const jsonWhitespace: fc.Arbitrary<string> = fc.array(fc.constantFrom(' ', '\t', '\n', '\r'), { maxLength: 3 }).map((a) => a.join(''));

/** Number spellings that a parse and re-serialisation would change, and random valid ones. */
const numberText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '9007199254740993',
    '1e400',
    '-1e400',
    '-0',
    '-0.0',
    '1.0',
    '1E+2',
    '0e-5',
    '1e-400',
    '123456789012345678901234567890',
    '0.1000000000000000055511151231257827',
  ),
  fc
    .tuple(
      fc.boolean(),
      fc.oneof(fc.constant('0'), fc.bigInt({ min: 1n, max: 10n ** 30n }).map(String)),
      fc.option(fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String)),
      fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.nat(999).map(String))),
    )
    .map(([negative, int, frac, exp]) => `${negative ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : exp.join('')}`),
);

/** Strings as JSON.stringify writes them, or with every UTF-16 unit escaped (`\u00e9`), or with `\/`. */
const stringText: fc.Arbitrary<string> = fc
  .tuple(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('plain', 'escaped', 'slashes'))
  .map(([s, how]) => {
    if (how === 'escaped')
      return `"${s
        .split('')
        .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .join('')}"`;
    const text = JSON.stringify(s);
    return how === 'slashes' ? text.replace(/\//g, '\\/') : text;
  });

const scalarText: fc.Arbitrary<JsonText> = fc.oneof(numberText, stringText, fc.constantFrom('true', 'false', 'null')).map((text) => ({ text, depth: 0 }));

/** Member names, often repeated within one object (duplicate keys must survive). */
const memberName: fc.Arbitrary<string> = fc.oneof(fc.constantFrom('"a"', '"a"', '"b"', '"__proto__"', '""', '"\\u0061"'), stringText);

const texts = fc.letrec<{ value: JsonText; array: JsonText; object: JsonText }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalarText, tie('array'), tie('object')),
  array: fc.tuple(jsonWhitespace, fc.array(fc.tuple(jsonWhitespace, tie('value'), jsonWhitespace), { maxLength: 4 })).map(([inner, elements]) => ({
    text: elements.length === 0 ? `[${inner}]` : `[${elements.map(([a, v, b]) => a + v.text + b).join(',')}]`,
    depth: 1 + Math.max(0, ...elements.map(([, v]) => v.depth)),
  })),
  object: fc
    .tuple(jsonWhitespace, fc.array(fc.tuple(jsonWhitespace, memberName, jsonWhitespace, jsonWhitespace, tie('value'), jsonWhitespace), { maxLength: 4 }))
    .map(([inner, members]) => ({
      text: members.length === 0 ? `{${inner}}` : `{${members.map(([a, k, b, c, v, d]) => `${a}${k}${b}:${c}${v.text}${d}`).join(',')}}`,
      depth: 1 + Math.max(0, ...members.map(([, , , , v]) => v.depth)),
    })),
}));

/** Hand-built JSON texts: odd whitespace, number spellings, escapes and duplicate keys. */
export const handBuiltJson: fc.Arbitrary<JsonText> = texts.value;

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depthOf));
}

/** `value` as JSON text with whitespace from `spaces` (in turn) between every two tokens. */
function spacedJson(value: unknown, spaces: readonly string[]): string {
  let turn = 0;
  const space = (): string => spaces[turn++ % spaces.length];
  const write = (v: unknown): string => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) return `[${space()}${v.map((e) => `${write(e)}${space()}`).join(`,${space()}`)}]`;
    return `{${space()}${Object.entries(v)
      .map(([k, e]) => `${JSON.stringify(k)}${space()}:${space()}${write(e)}${space()}`)
      .join(`,${space()}`)}}`;
  };
  return write(value);
}

/** fast-check's own JSON: `fc.json()` texts, and `fc.jsonValue()` values stringified with odd whitespace. */
export const fastCheckJson: fc.Arbitrary<JsonText> = fc.oneof(
  fc.json().map((text) => ({ text, depth: depthOf(JSON.parse(text)) })),
  fc
    .tuple(fc.jsonValue(), fc.array(jsonWhitespace, { minLength: 1, maxLength: 20 }))
    .map(([value, spaces]) => ({ text: spacedJson(value, spaces), depth: depthOf(value) })),
);

/** Any of the above. */
export const anyJsonText: fc.Arbitrary<JsonText> = fc.oneof(handBuiltJson, fastCheckJson);

/** A JSON array text holding `items`, with whitespace from `spaces` around each. */
export function arrayText(items: readonly string[], spaces: readonly string[]): string {
  const at = (i: number): string => spaces[i % spaces.length] ?? '';
  return `[${items.map((item, i) => `${at(2 * i)}${item}${at(2 * i + 1)}`).join(',')}]`;
}
