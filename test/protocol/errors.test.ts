import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CloseCode, ErrorCode, type ErrorSpec, type ErrorSurface, errorRegistry } from '../../src/protocol/codes.js';
import { apiError, frameError, handshakeRefusal, PushError } from '../../src/protocol/errors.js';

// Tests run from the repository root (npm test, node --test dist/test/...), as the README test of options does.
const README = readFileSync('README.md', 'utf8');
// Pusher's errors are Pusher's own codes and statuses, in their one registry beside the protocol's.
const REGISTRY_FILES = new Set(['src/protocol/codes.ts', 'src/protocol/errors.ts', 'src/pusher/pusher-errors.ts']);
const entries = Object.entries(errorRegistry) as Array<[string, ErrorSpec]>;

/** The README's markdown tables: header cells and body rows, each a list of trimmed cells. */
function tables(markdown: string): Array<{ header: string[]; rows: string[][] }> {
  const found: Array<{ header: string[]; rows: string[][] }> = [];
  const lines = markdown.split('\n');
  const cells = (line: string): string[] =>
    line
      .trim()
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim());
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i].startsWith('|') || !/^\|[\s|:-]+\|$/.test(lines[i + 1].trim())) continue;
    const table = { header: cells(lines[i]), rows: [] as string[][] };
    for (i += 2; i < lines.length && lines[i].startsWith('|'); i++) table.rows.push(cells(lines[i]));
    found.push(table);
  }
  return found;
}

function table(first: string, second?: string): string[][] {
  const matches = tables(README).filter((t) => t.header[0] === first && (second === undefined || t.header[1] === second));
  assert.equal(matches.length, 1, `one README table headed "${first}"`);
  return matches[0].rows;
}

const unquote = (cell: string): string => cell.replace(/^`|`$/g, '');
const codesOn = (surface: ErrorSurface): string[] =>
  entries
    .filter(([, spec]) => spec.messages[surface] !== undefined)
    .map(([code]) => code)
    .sort();

// Each HTTP table row as "status code", and the registry's counterpart for one surface.
function httpRows(rows: string[][]): string[] {
  return rows.map(([status, code]) => `${status} ${unquote(code)}`).sort();
}
function httpEntries(surface: 'api' | 'handshake'): string[] {
  return entries
    .filter(([, spec]) => spec.messages[surface] !== undefined)
    .map(([code, spec]) => `${spec.status} ${code}`)
    .sort();
}

/** Every .ts file under `dir`, as repository-relative paths. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

// What an error answered to a client may not be built from outside the registry. Quoted (not
// backticked: those are doc comments) registry codes, literal 4xx/5xx statuses in error answers.
const codeNames = Object.keys(errorRegistry).join('|');
const forbidden: Array<[string, RegExp]> = [
  ['new PushError(', /\bnew PushError\(/],
  ['a quoted registry code', new RegExp(`['"](${codeNames})['"]`)],
  ['a literal error status', /\bstatus\s*:\s*[45]\d\d\b|\bsendJson\([^,]+,\s*[45]\d\d\b|\bwriteHead\(\s*[45]\d\d\b/],
  // A `code` property or field set to a literal (not a ternary's `x.code : 'ERROR'`, the SDK reading a frame).
  ['a literal error code property', /(?:[{,]\s*|readonly\s+|^\s*)code\s*[:=]\s*['"][A-Z][A-Z0-9_]+['"]/],
];
// Codes of library-internal errors, never answered to a client (CLI option errors, a closed Connection's queue).
const internalCodes = new Map([
  ['src/config/options.ts', 'INVALID_OPTION'],
  ['src/connection/inbound-queue.ts', 'CONNECTION_CLOSED'],
]);

// The SDK imports nothing (it is served to browsers as is): its own `TIMEOUT` (no answer within its
// requestTimeout) is spelt out there, and means what the registry's TIMEOUT means (no answer in time);
// so are the server codes it reads in ERROR frames and acts on (a JOIN refused for now), never builds.
const sdkOwnCodes = new Map([['src/client/client.ts', new Set(["'TIMEOUT'", "'UNAVAILABLE'", "'BAD_GATEWAY'"])]]);

function violations(file: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, index) => {
    for (const [what, pattern] of forbidden) {
      const match = pattern.exec(line);
      if (match === null) continue;
      if (what === 'a literal error code property' && match[0].includes(`'${internalCodes.get(file)}'`)) continue;
      if (what === 'a quoted registry code' && sdkOwnCodes.get(file)?.has(match[0]) === true) continue;
      found.push(`${file}:${index + 1}: ${what}: ${line.trim()}`);
    }
  });
  return found;
}

describe('error registry', () => {
  it('gives every code a doc, a status on each HTTP surface, messages, and a known close code', () => {
    assert.deepEqual(Object.keys(ErrorCode).sort(), Object.keys(errorRegistry).sort());
    const closeCodes = new Set<number>(Object.values(CloseCode));
    for (const [code, spec] of entries) {
      assert.equal(ErrorCode[code as keyof typeof ErrorCode], code);
      assert.ok(spec.doc.length > 20, `${code}: doc`);
      const surfaces = Object.keys(spec.messages);
      assert.ok(surfaces.length > 0, `${code}: at least one surface`);
      for (const surface of surfaces) assert.ok(['frame', 'api', 'handshake'].includes(surface), `${code}: surface ${surface}`);
      if (surfaces.some((s) => s !== 'frame')) assert.ok(spec.status !== undefined && spec.status >= 400 && spec.status < 600, `${code}: HTTP status`);
      if (spec.closes !== undefined) assert.ok(closeCodes.has(spec.closes), `${code}: close code ${spec.closes}`);
    }
  });

  it("builds errors with the entry's code, status and headers, and the message the call site parameterised", () => {
    const full = apiError.QUEUE_FULL.full(7, 5);
    assert.ok(full instanceof PushError);
    assert.deepEqual([full.code, full.status, full.message], ['QUEUE_FULL', 503, '7 items are waiting for delivery (limit 5); retry later']);
    assert.equal(apiError.UNAUTHORIZED.apiKey().headers['WWW-Authenticate'], 'Bearer realm="pushgate"');
    assert.deepEqual(frameError.TOO_MANY_ROOMS.limit(3), { code: 'TOO_MANY_ROOMS', message: 'a connection may join at most 3 rooms' });
    assert.deepEqual(handshakeRefusal.TOO_MANY_CONNECTIONS.perAddress(2), {
      ok: false,
      status: 429,
      code: 'TOO_MANY_CONNECTIONS',
      message: 'at most 2 connections per address',
    });
    assert.equal(handshakeRefusal.UNAUTHORIZED.badToken('token expired').headers?.['WWW-Authenticate'], 'Bearer realm="pushgate"');
  });

  it("is what the README's ERROR, push API, handshake and close-code tables say", () => {
    assert.deepEqual(
      table('ERROR `code`')
        .map(([code]) => unquote(code))
        .sort(),
      codesOn('frame'),
      'ERROR codes',
    );
    assert.deepEqual(httpRows(table('status', '`code`')), httpEntries('api'), 'push API statuses and codes');
    assert.deepEqual(httpRows(table('handshake status')), httpEntries('handshake'), 'handshake statuses and codes');
    const closeRows = table('close code', 'meaning');
    const closeCodes = new Set<number>(Object.values(CloseCode));
    for (const [code] of closeRows) assert.ok(closeCodes.has(Number(code)), `README close code ${code} is in CloseCode`);
    const errorRows = table('ERROR `code`');
    for (const [code, spec] of entries) {
      if (spec.closes === undefined) continue;
      assert.ok(
        closeRows.some(([close]) => Number(close) === spec.closes),
        `${code}: close code ${spec.closes} in the README`,
      );
      const row = errorRows.find(([cell]) => unquote(cell) === code);
      assert.ok(row?.[1].includes(String(spec.closes)), `${code}: its ERROR row names close code ${spec.closes}`);
    }
  });

  it('finds the kinds of literal error it forbids', () => {
    const samples = [
      `throw new PushError(ErrorCode.QUEUE_FULL, 'full', 503);`,
      `return { ok: false, status: 429, code: ErrorCode.X, message: 'm' };`,
      `sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: 'no' } });`,
      `this.refuse(req, socket, { code: 'SOMETHING_NEW', message: 'm' });`,
    ];
    for (const sample of samples) assert.notEqual(violations('src/x.ts', sample).length, 0, sample);
    assert.deepEqual(violations('src/x.ts', 'sendJson(res, healthy ? 200 : 503, body); // `QUEUE_FULL` in a doc'), []);
    assert.deepEqual(violations('src/x.ts', "const code = typeof body.code === 'string' ? body.code : 'ERROR';"), []);
  });

  it('is the only place in src/ that writes an error code or an error status', () => {
    const files = sources('src')
      .map((file) => file.split('\\').join('/'))
      .filter((file) => !REGISTRY_FILES.has(file));
    assert.ok(files.length > 30, `scanned ${files.length} files`);
    assert.deepEqual(
      files.flatMap((file) => violations(file, readFileSync(file, 'utf8'))),
      [],
    );
  });
});
