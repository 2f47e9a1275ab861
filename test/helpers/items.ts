import assert from 'node:assert/strict';
import type { TestClient } from './client.js';

/** Helpers for tests of pushed items: exact texts, nesting, raw PUSH frames. */

/** Items whose text a parse and re-serialisation would change. */
export const EXACT_ITEMS = ['9007199254740993', '1e400', '-0', '{"a":1,"a":2}', '1.0', '"\\u00e9\\/"', '{ "b" : [ 1 , 2 ] }'] as const;

/** The PUSH frame (to all, or to `room`) that carries `items` as texts. */
export function pushFrame(items: readonly string[], room?: string): string {
  return room === undefined
    ? `{"type":"PUSH","data":{"items":[${items.join(',')}]}}`
    : `{"type":"PUSH","data":{"room":${JSON.stringify(room)},"items":[${items.join(',')}]}}`;
}

/** A value nested `depth` deep: arrays and objects alternating, around a number. */
export function nested(depth: number): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += i % 2 === 0 ? '[' : '{"k":';
    close = (i % 2 === 0 ? ']' : '}') + close;
  }
  return `${open}7${close}`;
}

const consumed = new WeakMap<TestClient, number>();

/** The raw text of the next PUSH frame this client receives (every PUSH of the client is read here). */
export async function nextPushText(client: TestClient, ms = 5000): Promise<string> {
  await client.nextOfType('PUSH', ms);
  const n = consumed.get(client) ?? 0;
  consumed.set(client, n + 1);
  return client.texts.filter((text) => text.startsWith('{"type":"PUSH"'))[n];
}

/** POSTs `body` as is with `contentType`; resolves with the status and the JSON answer. */
export async function post(url: string, contentType: string, body: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, body: await res.json() };
}

export const JSON_TYPE = 'application/json';
export const FORM_TYPE = 'application/x-www-form-urlencoded';

/** A form body, each value percent-encoded, fields in the order given (duplicates kept). */
export function form(fields: Array<[string, string]>): string {
  return fields.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/** Asserts `client`'s next frame answers a PING: no PUSH came before it. */
export async function assertNoPush(client: TestClient): Promise<void> {
  assert.equal((await client.request('PING')).type, 'PONG');
  const unread = client.frames.filter((f) => f.type === 'PUSH').length;
  assert.equal(unread, consumed.get(client) ?? 0, 'no PUSH frame arrived');
}
