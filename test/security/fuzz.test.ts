import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { Agent, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode } from '../../src/protocol/codes.js';
import { decodeClientMessage } from '../../src/protocol/messages.js';
import { roomNameProblem } from '../../src/protocol/room-name.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { EXACT_ITEMS, FORM_TYPE, form, JSON_TYPE, nested, nextPushText, pushFrame } from '../helpers/items.js';
import { anyJsonText, arrayText, jsonWhitespace } from '../helpers/json-texts.js';
import { waitFor } from '../helpers/wait.js';
import { frame, OP, RawWs } from './raw-ws.js';

/**
 * Property-based tests of everything a client or a backend can send: the message decoder, the
 * WebSocket frame path of a real gateway (raw bytes over TCP) and the push API. Runs are bounded and
 * the seed is fixed, so a failure replays: fast-check prints the seed and the shrunk counterexample,
 * and PUSHGATE_FUZZ_SEED=<n> runs another seed.
 */
const SEED = Number(process.env.PUSHGATE_FUZZ_SEED ?? 0x5eed);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function check(property: fc.IProperty<any> | fc.IAsyncProperty<any>, numRuns: number): Promise<void> {
  try {
    await fc.assert(property as fc.IAsyncProperty<unknown[]>, { seed: SEED, numRuns });
  } catch (error) {
    process.stderr.write(
      `\nfuzz failure (seed ${SEED}; rerun with PUSHGATE_FUZZ_SEED=${SEED}):\n${(error as Error).message}\n${String((error as Error).cause ?? '')}\n`,
    );
    throw error;
  }
}

const errorCodes = new Set<string>(Object.values(ErrorCode));

function validId(id: unknown): boolean {
  return id === undefined || (typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.length <= 64);
}

/** Decodes `text` and checks the result is a well-formed request or a failure with a known code. */
function decodesSafely(text: string): void {
  const result = decodeClientMessage(text); // must not throw: a throw fails the property
  assert.equal(typeof result, 'object');
  assert.ok(validId(result.id), `invalid id ${String(result.id)}`);
  let parses = true;
  try {
    JSON.parse(text);
  } catch {
    parses = false;
  }
  switch (result.type) {
    case 'PING':
      assert.deepEqual(Object.keys(result).sort(), ['id', 'type']);
      break;
    case 'JOIN':
    case 'LEAVE':
      assert.equal(roomNameProblem(result.room), null, `accepted bad room ${JSON.stringify(result.room)}`);
      break;
    case 'INVALID':
      assert.ok(errorCodes.has(result.code), `unknown code ${result.code}`);
      assert.equal(typeof result.message, 'string');
      assert.ok(result.message.length < 300, 'error messages are bounded');
      assert.equal(result.code === ErrorCode.BAD_JSON, !parses);
      break;
    default:
      assert.fail(`unexpected result ${JSON.stringify(result)}`);
  }
}

const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)); // lone surrogates too
const roomish = fc.oneof(
  fc.constantFrom('news', 'a', 'x'.repeat(128), 'x'.repeat(129), 'é', 'e\u0301', '默认房间', 'a b', '', 'room/1:@_-.', '\u200b', '\u0301a'),
  fc.string({ maxLength: 140 }),
  fc.string({ unit: 'binary', maxLength: 140 }),
);
const nearValid = fc.record(
  {
    type: fc.oneof(fc.constantFrom('PING', 'JOIN', 'LEAVE', 'ping', 'JOIN ', 'PUSH', '__proto__', 'constructor'), fc.jsonValue()),
    id: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 70 }), fc.jsonValue()),
    data: fc.oneof(fc.record({ room: fc.oneof(roomish, fc.jsonValue()) }, { requiredKeys: [] }), fc.jsonValue()),
  },
  { requiredKeys: [] },
);
const validMessage = fc
  .record({
    type: fc.constantFrom('PING', 'JOIN', 'LEAVE'),
    id: fc.oneof(fc.nat(), fc.string({ maxLength: 64 })),
    room: fc.constantFrom('news', 'r-1', '默认房间', 'a/b:c@d'),
  })
  .map(({ type, id, room }) => JSON.stringify({ type, id, data: { room } }));
const mutation = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('insert', 'delete', 'replace', 'truncate'),
  char: fc.oneof(utf16Unit, fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '\\', '0', 'e', '-')),
});

function mutate(text: string, mutations: ReadonlyArray<{ at: number; kind: string; char: string }>): string {
  let out = text;
  for (const { at, kind, char } of mutations) {
    const i = out.length === 0 ? 0 : at % (out.length + 1);
    if (kind === 'insert') out = out.slice(0, i) + char + out.slice(i);
    else if (kind === 'delete') out = out.slice(0, i) + out.slice(i + 1);
    else if (kind === 'replace') out = out.slice(0, i) + char + out.slice(i + 1);
    else out = out.slice(0, i);
  }
  return out;
}

describe('fuzz: decodeClientMessage', () => {
  it('never throws on arbitrary strings', async () => {
    await check(
      fc.property(
        fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: utf16Unit, maxLength: 100 })),
        decodesSafely,
      ),
      2000,
    );
  });

  it('never throws on arbitrary JSON values and near-valid messages', async () => {
    await check(
      fc.property(
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          nearValid.map((v) => JSON.stringify(v)),
        ),
        decodesSafely,
      ),
      2000,
    );
  });

  it('never throws on mutated valid messages', async () => {
    await check(
      fc.property(fc.tuple(validMessage, fc.array(mutation, { minLength: 1, maxLength: 4 })), ([text, mutations]) => decodesSafely(mutate(text, mutations))),
      2000,
    );
  });

  it('refuses deeply nested JSON without a stack overflow', async () => {
    await check(
      fc.property(fc.integer({ min: 1, max: 60000 }), fc.constantFrom('[', '{"a":'), (depth, open) => {
        const close = open === '[' ? ']' : '}';
        decodesSafely(`{"type":"PING","data":${open.repeat(depth)}1${close.repeat(depth)}}`);
        decodesSafely(open.repeat(depth));
      }),
      40,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// The WebSocket frame path of a real gateway.

type Expect =
  | { kind: 'close'; code: number } // the server must close with this code
  | { kind: 'answer'; pongs: Buffer[]; id: number } // control PONGs with these payloads, then PONG {id}
  | { kind: 'any' }; // no defined answer (random bytes, truncation): only the invariants

interface FrameCase {
  what: string;
  bytes: readonly Buffer[]; // written one after another, with a tick between them
  expect: Expect;
}

const MAX_MESSAGE = 4096;
const ping = (id: number): string => JSON.stringify({ type: 'PING', id });
const smallPayload = fc.uint8Array({ maxLength: 125 }).map((a) => Buffer.from(a));
const reservedOpcode = fc.constantFrom(3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf);
const invalidUtf8 = fc
  .oneof(
    fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80]).map((b) => Buffer.from(b)),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => Buffer.from(a)),
  )
  .filter((b) => !isUtf8(b));

/** Splits `buffer` at the given cut points (positions modulo its length). */
function splitAt(buffer: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (buffer.length <= 1 ? 0 : 1 + (c % (buffer.length - 1)))))].filter((p) => p > 0).sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    parts.push(buffer.subarray(from, p));
    from = p;
  }
  parts.push(buffer.subarray(from));
  return parts;
}

/** Cases that need no generating: each is run by name after the fuzzing, as well as drawn during it. */
const fixedCloseCases: readonly FrameCase[] = [
  { what: 'a continuation with no message to continue', bytes: [frame({ opcode: OP.CONT, payload: ping(1) })] },
  {
    what: 'a new text frame inside a fragmented message',
    bytes: [frame({ opcode: OP.TEXT, fin: false, payload: '{' }), frame({ opcode: OP.TEXT, payload: '}' })],
  },
  { what: 'a fragmented ping', bytes: [frame({ opcode: OP.PING, fin: false, payload: 'a' })] },
  { what: 'a ping longer than 125 bytes', bytes: [frame({ opcode: OP.PING, payload: Buffer.alloc(126) })] },
  { what: 'a close frame with a 1-byte payload', bytes: [frame({ opcode: OP.CLOSE, payload: Buffer.from([3]) })] },
  { what: 'a close frame with code 1005', bytes: [frame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xed]) })] },
  { what: 'a close frame with code 999', bytes: [frame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe7]) })] },
  { what: 'a close frame with an invalid UTF-8 reason', bytes: [frame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8, 0xff]) })] },
].map((c) => ({ ...c, expect: { kind: 'close', code: c.what.includes('UTF-8') ? 1007 : 1002 } as Expect }));
const binaryMessage: FrameCase = {
  what: 'a binary message',
  bytes: [frame({ opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) })],
  expect: { kind: 'close', code: 1003 },
};

/** Each category of malformed (or awkward) input; the fuzzing draws from all of them. */
const frameCategories: ReadonlyArray<fc.Arbitrary<FrameCase>> = [
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => ({ what: 'random bytes', bytes: [Buffer.from(a)], expect: { kind: 'any' } as Expect })),
  fc.tuple(fc.nat(1000), fc.nat()).map(([id, cut]) => {
    const whole = frame({ opcode: OP.TEXT, payload: ping(id) });
    return { what: 'a truncated frame', bytes: [whole.subarray(0, cut % whole.length)], expect: { kind: 'any' } as Expect };
  }),
  fc.tuple(fc.nat(1000), fc.array(fc.nat(), { maxLength: 8 })).map(([id, cuts]) => ({
    what: 'a frame written in pieces',
    bytes: splitAt(frame({ opcode: OP.TEXT, payload: ping(id) }), cuts),
    expect: { kind: 'answer', pongs: [], id } as Expect,
  })),
  // A message in fragments (text + continuations) with pings and pongs between them.
  fc
    .tuple(fc.nat(1000), fc.array(fc.nat(), { maxLength: 6 }), fc.array(fc.oneof(fc.constant(null), smallPayload), { maxLength: 6 }))
    .map(([id, cuts, controls]) => {
      const text = Buffer.from(ping(id));
      const pieces = splitAt(text, cuts);
      const bytes: Buffer[] = [];
      const pongs: Buffer[] = [];
      pieces.forEach((piece, i) => {
        bytes.push(frame({ opcode: i === 0 ? OP.TEXT : OP.CONT, fin: i === pieces.length - 1, payload: piece }));
        const control = controls[i];
        if (control === undefined) return;
        if (control === null) bytes.push(frame({ opcode: OP.PONG, payload: 'unsolicited' }));
        else {
          bytes.push(frame({ opcode: OP.PING, payload: control }));
          pongs.push(control);
        }
      });
      return { what: `a message in ${pieces.length} fragments with control frames between`, bytes, expect: { kind: 'answer', pongs, id } as Expect };
    }),
  fc
    .tuple(
      fc.constantFrom(OP.TEXT, OP.BINARY, OP.CONT),
      fc.oneof(fc.constant(2n ** 62n), fc.bigInt({ min: BigInt(MAX_MESSAGE + 1), max: 2n ** 63n - 1n })),
      fc.uint8Array({ maxLength: 32 }),
    )
    .map(([opcode, declaredLength, data]) => ({
      what: `a declared length of ${declaredLength} with ${data.length} bytes (opcode ${opcode})`,
      bytes: [frame({ opcode, declaredLength, payload: Buffer.from(data) })],
      // A continuation with nothing to continue is a protocol error found before the length.
      expect: { kind: 'close', code: opcode === OP.CONT ? 1002 : 1009 } as Expect,
    })),
  fc.tuple(invalidUtf8, fc.boolean()).map(([bad, fragmented]) => ({
    what: `invalid UTF-8 in a text frame${fragmented ? ' (fragmented)' : ''}`,
    bytes: fragmented
      ? [frame({ opcode: OP.TEXT, fin: false, payload: '{"type":"PING","x":"' }), frame({ opcode: OP.CONT, payload: Buffer.concat([bad, Buffer.from('"}')]) })]
      : [frame({ opcode: OP.TEXT, payload: Buffer.concat([Buffer.from('{"type":"'), bad, Buffer.from('"}')]) })],
    expect: { kind: 'close', code: 1007 } as Expect,
  })),
  fc.tuple(fc.constantFrom(OP.TEXT, OP.BINARY, OP.PING, OP.PONG, OP.CLOSE, OP.CONT), fc.nat(1000)).map(([opcode, id]) => ({
    what: `an unmasked frame (opcode ${opcode})`,
    bytes: [frame({ opcode, payload: opcode === OP.CLOSE ? Buffer.from([0x03, 0xe8]) : ping(id), mask: false })],
    expect: { kind: 'close', code: 1002 } as Expect,
  })),
  fc.tuple(fc.integer({ min: 1, max: 7 }), fc.constantFrom(OP.TEXT, OP.BINARY, OP.PING)).map(([rsv, opcode]) => ({
    what: `RSV bits ${rsv} (opcode ${opcode})`,
    bytes: [frame({ opcode, rsv, payload: ping(1) })],
    expect: { kind: 'close', code: 1002 } as Expect,
  })),
  reservedOpcode.map((opcode) => ({
    what: `reserved opcode ${opcode}`,
    bytes: [frame({ opcode, payload: ping(1) })],
    expect: { kind: 'close', code: 1002 } as Expect,
  })),
  fc.constantFrom(...fixedCloseCases),
  fc.constant(binaryMessage),
  fc.integer({ min: 2, max: 6 }).map((n) => ({
    what: `a message over maxMessageSize in ${n} fragments`,
    bytes: Array.from({ length: n }, (_, i) =>
      frame({ opcode: i === 0 ? OP.TEXT : OP.CONT, fin: i === n - 1, payload: 'x'.repeat(Math.ceil((MAX_MESSAGE + 10) / n)) }),
    ),
    expect: { kind: 'close', code: 1009 } as Expect,
  })),
  fc.constantFrom(1000, 1001, 3000, 4999).map((code) => ({
    what: `a client close with ${code}`,
    bytes: [frame({ opcode: OP.CLOSE, payload: Buffer.from([code >> 8, code & 0xff]) })],
    expect: { kind: 'close', code } as Expect,
  })),
];
const frameCases: fc.Arbitrary<FrameCase> = fc.oneof(...frameCategories);

describe('fuzz: the WebSocket frame path of a real gateway', () => {
  let gw: RunningGateway;
  let port: number;
  before(async () => {
    gw = await startGateway({ maxMessageSize: MAX_MESSAGE });
    port = Number(new URL(gw.pageUrl).port);
  });
  after(() => gw.close());

  const idle = (): boolean => gw.gateway.snapshot().onlineConnections === 0 && gw.gateway.snapshot().roomCount === 0;

  async function runCase(c: FrameCase): Promise<void> {
    const raw = await RawWs.open(port);
    try {
      for (const bytes of c.bytes) {
        raw.write(bytes);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const { expect } = c;
      if (expect.kind === 'close') {
        await raw.until((r) => r.closeCode !== undefined, 3000);
        assert.equal(raw.closeCode, expect.code, `${c.what}: closed with ${raw.closeCode} (ended: ${raw.ended})`);
      } else if (expect.kind === 'answer') {
        await raw.until((r) => r.messages.length > 0 && r.frames.filter((f) => f.opcode === OP.PONG).length >= expect.pongs.length, 3000);
        assert.equal(raw.closeCode, undefined, `${c.what}: closed with ${raw.closeCode}`);
        assert.deepEqual(
          raw.messages.map((m) => [m.type, m.id]),
          [['PONG', expect.id]],
          c.what,
        );
        const pongs = raw.frames.filter((f) => f.opcode === OP.PONG).map((f) => f.payload);
        assert.deepEqual(pongs, expect.pongs, `${c.what}: every ping answered, in order`);
      } else {
        // No defined answer: the server closes, answers, or waits for the rest of a frame.
        await raw.until((r) => r.closeCode !== undefined || r.frames.length > 0, 20);
        for (const message of raw.messages) assert.ok(message.type === 'ERROR' || message.type === 'PONG', `${c.what}: unexpected ${JSON.stringify(message)}`);
      }
    } finally {
      raw.destroy();
    }
    // Whatever happened, the connection leaves no state behind and the server serves others.
    await waitFor(idle, 3000, `${c.what}: onlineConnections and rooms back to 0`);
    const probe = await gw.connect();
    try {
      assert.equal((await probe.request('PING')).type, 'PONG', `${c.what}: server still serving`);
    } finally {
      probe.close();
    }
    await waitFor(idle, 3000, 'the probe to go');
  }

  it('survives every malformed frame, closing with the right code and leaking nothing', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    await check(fc.asyncProperty(frameCases, runCase), 300);
    // Each category again at least once, whatever the draw above hit: one sample of every category
    // (same seed), then every fixed case by name.
    for (const category of frameCategories) for (const c of fc.sample(category, { seed: SEED, numRuns: 1 })) await runCase(c);
    for (const c of [...fixedCloseCases, binaryMessage]) await runCase(c);
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(heapGrowth < 50 * 1024 * 1024, `heap grew by ${Math.round(heapGrowth / 1048576)} MB`);
    assert.equal(gw.gateway.isRunning, true);
    const stats = gw.gateway.snapshot();
    assert.equal(stats.onlineConnections, 0);
    assert.equal(stats.roomCount, 0);
    assert.ok(stats.protocolDisconnects > 0, 'protocol errors were counted');
  });

  it('cuts a client that sends random bytes instead of an HTTP request', async () => {
    const { connect } = await import('node:net');
    await check(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (bytes) => {
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('error', () => {});
        const ended = new Promise<string>((resolve) => {
          let answer = '';
          socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
          socket.on('close', () => resolve(answer));
        });
        // Random bytes, then the end of a header block: a complete (bogus) request either way.
        socket.end(Buffer.concat([Buffer.from(bytes), Buffer.from('\r\n\r\n')]));
        let timer: NodeJS.Timeout | undefined;
        const answer = await Promise.race([ended, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('<still open>'), 3000)))]);
        clearTimeout(timer);
        socket.destroy();
        assert.ok(answer === '' || /^HTTP\/1\.1 (4\d\d) /.test(answer), `answered ${JSON.stringify(answer.slice(0, 40))}`);
      }),
      100,
    );
    const probe = await gw.connect();
    assert.equal((await probe.request('PING')).type, 'PONG');
    probe.close();
  });
});

// ---------------------------------------------------------------------------------------------------
// The push API.

const API_KEY = 'fuzz-key';
const visibleAscii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });

interface ApiCase {
  method: string;
  path: string;
  contentType: string | null;
  authorization: string | null;
  body: Buffer;
  chunked: boolean;
}

const apiCases: fc.Arbitrary<ApiCase> = fc.record({
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constant('POST') },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PURGE', 'BREW') },
  ),
  path: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('/push/all', '/push/room', '/push/conn', '/push/room?room=x') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '/stats',
        '/stats?scope=cluster',
        '/stats?scope=%zz',
        '/metrics',
        '/healthz',
        '/',
        '/push',
        '/push/all/',
        '/push/all?x=1#y',
        '//push/all',
        '*',
      ),
    },
    { weight: 1, arbitrary: visibleAscii.map((s) => `/${encodeURI(s)}`) },
  ),
  contentType: fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', 'application/problem+json'),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'text/plain',
        '',
        'application/json; charset=',
        ';;;',
        'multipart/form-data; boundary=x',
        'application/json; q="',
        'APPLICATION/JSON ;  charset = "utf-8"',
      ),
    },
    { weight: 1, arbitrary: visibleAscii },
    { weight: 1, arbitrary: fc.constant(null) },
  ),
  authorization: fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(`Bearer ${API_KEY}`, `bearer   ${API_KEY}  `) },
    { weight: 1, arbitrary: fc.constantFrom('Bearer', 'Bearer fuzz-ke', `Bearer ${API_KEY}x`, `Basic ${API_KEY}`, '') },
    { weight: 1, arbitrary: visibleAscii },
    { weight: 1, arbitrary: fc.constant(null) },
  ),
  body: fc
    .oneof(
      fc
        .record({ room: fc.constantFrom('r', 'news', 'a b'), items: fc.array(fc.jsonValue(), { minLength: 1, maxLength: 8 }) }, { requiredKeys: ['items'] })
        .map((v) => JSON.stringify(v)),
      fc
        .record({ room: fc.constantFrom('r', 'news'), items: fc.array(fc.jsonValue(), { minLength: 1, maxLength: 4 }).map((v) => JSON.stringify(v)) })
        .map((f) => new URLSearchParams(f).toString()),
      fc
        .record(
          {
            room: fc.oneof(roomish, fc.jsonValue()),
            conn: fc.oneof(fc.string(), fc.jsonValue()),
            items: fc.oneof(fc.array(fc.jsonValue(), { maxLength: 8 }), fc.jsonValue()),
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            room: fc.string(),
            items: fc.oneof(
              fc.jsonValue().map((v) => JSON.stringify(v)),
              fc.string(),
            ),
            msg: fc.string(),
          },
          { requiredKeys: [] },
        )
        .map((f) => new URLSearchParams(f).toString()),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.integer({ min: 1, max: 3000 }).map((d) => `{"items":[${'['.repeat(d)}${']'.repeat(d)}]}`),
      fc.integer({ min: 8000, max: 20000 }).map((n) => `{"items":["${'x'.repeat(n)}"]}`), // over maxBodySize
      fc.integer({ min: 1, max: 80 }).map((n) => JSON.stringify({ room: 'r', items: Array.from({ length: n }, (_, i) => i) })), // past maxPendingItems
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a).toString('latin1')),
      // Exact texts (numbers past double precision, -0, duplicate keys), items around maxItemDepth (64),
      // repeated members and fields, and bytes that are not UTF-8 inside a JSON body.
      fc.array(anyJsonText, { minLength: 1, maxLength: 5 }).map((items) => `{"room":"r","items":[${items.map((i) => i.text).join(',')}]}`),
      fc.constant(`{"room":"r","items":[${EXACT_ITEMS.join(',')}]}`),
      fc.tuple(fc.integer({ min: 60, max: 70 }), fc.boolean()).map(([depth, asForm]) =>
        asForm
          ? form([
              ['room', 'r'],
              ['msg', nested(depth)],
            ])
          : `{"room":"r","items":[${nested(depth)}]}`,
      ),
      fc.constantFrom(
        '{"room":"r","room":"a b","items":[1]}',
        '{"items":[1],"items":[2]}',
        '{"room":"r","items":[1],"r\\u006fom":"x"}',
        'room=r&room=a%20b&items=%5B1%5D&items=x',
        'msg=1&msg=%5B',
      ),
      fc.uint8Array({ minLength: 1, maxLength: 16 }).map((a) => Buffer.concat([Buffer.from('{"room":"r","items":["'), Buffer.from(a), Buffer.from('"]}')])),
    )
    .map((s) => (typeof s === 'string' ? Buffer.from(s) : s)),
  chunked: fc.boolean(),
});

function call(agent: Agent, apiPort: number, c: ApiCase): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (c.contentType !== null) headers['content-type'] = c.contentType;
    if (c.authorization !== null) headers.authorization = c.authorization;
    if (!c.chunked) headers['content-length'] = String(c.body.length);
    const req = request({ host: '127.0.0.1', port: apiPort, method: c.method, path: c.path, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(c.body);
  });
}

describe('fuzz: the push API', () => {
  let gw: RunningGateway;
  let apiPort: number;
  before(async () => {
    gw = await startGateway({ apiKey: API_KEY, maxBodySize: 8192, maxPendingItems: 50 });
    apiPort = Number(new URL(gw.apiUrl).port);
  });
  after(() => gw.close());

  it("delivers every accepted push with its items' exact texts, and refuses only items past maxItemDepth", async () => {
    const member = await gw.connect();
    await member.request('JOIN', { room: 'exact' });
    const headers = (type: string): Record<string, string> => ({ 'content-type': type, authorization: `Bearer ${API_KEY}` });
    try {
      await check(
        fc.asyncProperty(
          fc.array(anyJsonText, { minLength: 1, maxLength: 6 }),
          fc.array(jsonWhitespace, { minLength: 1, maxLength: 8 }),
          fc.boolean(),
          async (items, spaces, asForm) => {
            const texts = items.map((i) => i.text);
            const array = arrayText(texts, spaces);
            const res = await fetch(`${gw.apiUrl}/push/room`, {
              method: 'POST',
              headers: headers(asForm ? FORM_TYPE : JSON_TYPE),
              body: asForm
                ? form([
                    ['room', 'exact'],
                    ['items', array],
                  ])
                : `{"room":"exact","items":${array}}`,
            });
            const answer = await res.json();
            if (items.some((i) => i.depth > 64)) {
              assert.deepEqual([res.status, answer.error.code], [400, 'ITEM_TOO_DEEP']);
              return;
            }
            assert.equal(res.status, 200, JSON.stringify(answer));
            assert.equal(await nextPushText(member), pushFrame(texts, 'exact'));
          },
        ),
        150,
      );
    } finally {
      member.close();
    }
    await waitFor(() => gw.gateway.snapshot().onlineConnections === 0, 3000, 'the member to go');
  });

  it('never answers 5xx (other than 503) to random methods, paths, content types and bodies', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    // Clients in rooms, so pushes go somewhere and /push/conn has a real target.
    const member = await gw.connect();
    await member.request('JOIN', { room: 'r' });
    const connId = await member.connId();
    const statuses = new Map<number, number>();
    try {
      await check(
        fc.asyncProperty(fc.tuple(apiCases, fc.boolean()), async ([c, toMember]) => {
          const body = toMember && c.path === '/push/conn' ? Buffer.from(JSON.stringify({ conn: connId, items: [1] })) : c.body;
          let status: number;
          try {
            status = await call(agent, apiPort, { ...c, body });
          } catch (error) {
            // Node's client refuses some of our own inputs before sending (e.g. a bad method token).
            if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_')) return;
            // The server may cut a connection after answering 400/413 while a body is still being sent.
            if (['ECONNRESET', 'EPIPE'].includes((error as NodeJS.ErrnoException).code ?? '')) return;
            throw error;
          }
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          assert.ok(status >= 200 && (status < 500 || status === 503), `${c.method} ${c.path} (${c.contentType}) answered ${status}`);
        }),
        400,
      );
    } finally {
      agent.destroy();
      member.close();
    }
    process.stdout.write(`# push API statuses over the run: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}\n`);
    assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0, `statuses seen: ${JSON.stringify([...statuses])}`);
    // Still up, and everything accepted was delivered.
    const health = await fetch(`${gw.apiUrl}/healthz`);
    assert.equal(health.status, 200);
    await waitFor(() => gw.gateway.snapshot().pendingItems === 0, 3000, 'the queues to drain');
    await waitFor(() => gw.gateway.snapshot().onlineConnections === 0, 3000, 'the member to go');
  });
});
