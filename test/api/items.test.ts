import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestClient } from '../helpers/client.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { assertNoPush, EXACT_ITEMS, FORM_TYPE, form, JSON_TYPE, nested, nextPushText, post, pushFrame } from '../helpers/items.js';

/**
 * The push API hands every item on as the exact JSON text that was pushed: numbers beyond double
 * precision, exponents past the double range, `-0` and duplicate keys inside an item all reach the
 * client byte for byte. Checked on the raw text of the PUSH frame, never on a parsed value.
 */

describe('push API: items pass through exactly', () => {
  let gw: RunningGateway;
  let member: TestClient;
  before(async () => {
    gw = await startGateway();
    member = await gw.connect();
    await member.request('JOIN', { room: 'r' });
  });
  after(async () => {
    member?.close();
    await gw.close();
  });

  it('delivers each item of a JSON body byte for byte', async () => {
    const res = await post(`${gw.apiUrl}/push/all`, JSON_TYPE, `{"items":[${EXACT_ITEMS.join(',')}]}`);
    assert.deepEqual(res, { status: 200, body: { ok: true, items: EXACT_ITEMS.length, recipients: 1 } });
    assert.equal(await nextPushText(member), pushFrame(EXACT_ITEMS));
  });

  it("keeps each item's own whitespace and drops only the whitespace between items", async () => {
    const res = await post(`${gw.apiUrl}/push/room`, JSON_TYPE, `{ "items" : [ \n\t${EXACT_ITEMS.join(' ,\r\n ')}\n ] , "room" : "r" }`);
    assert.equal(res.status, 200);
    assert.equal(await nextPushText(member), pushFrame(EXACT_ITEMS, 'r'));
  });

  it('delivers each item of a form body (items and msg) byte for byte', async () => {
    const res = await post(
      `${gw.apiUrl}/push/room`,
      FORM_TYPE,
      form([
        ['room', 'r'],
        ['items', `[ ${EXACT_ITEMS.join(', ')} ]`],
      ]),
    );
    assert.equal(res.status, 200);
    assert.equal(await nextPushText(member), pushFrame(EXACT_ITEMS, 'r'));
    for (const item of EXACT_ITEMS) {
      assert.equal((await post(`${gw.apiUrl}/push/all`, FORM_TYPE, form([['msg', ` ${item} `]]))).status, 200);
      assert.equal(await nextPushText(member), pushFrame([item]));
    }
  });

  it('delivers to one connection byte for byte', async () => {
    const conn = await member.connId();
    const res = await post(`${gw.apiUrl}/push/conn`, JSON_TYPE, `{"conn":${JSON.stringify(conn)},"items":[9007199254740993,-0]}`);
    assert.equal(res.status, 200);
    assert.equal(await nextPushText(member), pushFrame(['9007199254740993', '-0']));
  });
});

describe('push API: item depth', () => {
  let gw: RunningGateway;
  let member: TestClient;
  before(async () => {
    gw = await startGateway();
    member = await gw.connect();
  });
  after(async () => {
    member?.close();
    await gw.close();
  });

  it('accepts and delivers an item nested exactly 64 deep (the default limit), in JSON and form bodies', async () => {
    const item = nested(64);
    assert.equal((await post(`${gw.apiUrl}/push/all`, JSON_TYPE, `{"items":[1,${item}]}`)).status, 200);
    assert.equal(await nextPushText(member), pushFrame(['1', item]));
    assert.equal((await post(`${gw.apiUrl}/push/all`, FORM_TYPE, form([['items', `[${item}]`]]))).status, 200);
    assert.equal(await nextPushText(member), pushFrame([item]));
    assert.equal((await post(`${gw.apiUrl}/push/all`, FORM_TYPE, form([['msg', item]]))).status, 200);
    assert.equal(await nextPushText(member), pushFrame([item]));
  });

  it('refuses an item nested 65 deep with 400 ITEM_TOO_DEEP, naming the item and the limit, and delivers nothing', async () => {
    const item = nested(65);
    for (const [type, body] of [
      [JSON_TYPE, `{"items":[1,${item}]}`],
      [FORM_TYPE, form([['items', `[1,${item}]`]])],
      [FORM_TYPE, form([['msg', item]])],
    ]) {
      const res = await post(`${gw.apiUrl}/push/all`, type, body);
      assert.equal(res.status, 400, body.slice(0, 40));
      assert.equal(res.body.ok, false);
      assert.equal(res.body.error.code, 'ITEM_TOO_DEEP');
      assert.match(res.body.error.message, /items\[\d\] is nested 65 deep; the limit is 64 \(maxItemDepth\)/);
    }
    // Deeper than the old re-encoder could recurse: the same clear answer.
    const deep = await post(`${gw.apiUrl}/push/all`, JSON_TYPE, `{"items":[${'['.repeat(200000)}${']'.repeat(200000)}]}`);
    assert.equal(deep.status, 400);
    assert.equal(deep.body.error.code, 'ITEM_TOO_DEEP');
    await assertNoPush(member);
  });
});

describe('push API: fields given twice', () => {
  let gw: RunningGateway;
  let inR: TestClient;
  let inEvil: TestClient;
  before(async () => {
    gw = await startGateway();
    inR = await gw.connect();
    inEvil = await gw.connect();
    await inR.request('JOIN', { room: 'r' });
    await inEvil.request('JOIN', { room: 'evil' });
  });
  after(async () => {
    inR?.close();
    inEvil?.close();
    await gw.close();
  });

  it("takes the first value of a form field, as go-push (Go's Form.Get) does", async () => {
    const res = await post(
      `${gw.apiUrl}/push/room`,
      FORM_TYPE,
      form([
        ['room', 'r'],
        ['items', '[1]'],
        ['room', 'evil'],
        ['items', '[2]'],
      ]),
    );
    assert.deepEqual(res, { status: 200, body: { ok: true, items: 1, recipients: 1 } });
    assert.equal(await nextPushText(inR), pushFrame(['1'], 'r'));
    await assertNoPush(inEvil);
    assert.equal(
      (
        await post(
          `${gw.apiUrl}/push/all`,
          FORM_TYPE,
          form([
            ['msg', '"first"'],
            ['msg', '"second"'],
          ]),
        )
      ).status,
      200,
    );
    assert.equal(await nextPushText(inR), pushFrame(['"first"']));
    assert.equal(await nextPushText(inEvil), pushFrame(['"first"']));
  });

  it('refuses a JSON body with a top-level member given twice (400 INVALID_BODY), however the name is spelt', async () => {
    for (const body of ['{"room":"r","items":[1],"room":"evil"}', '{"items":[1],"room":"r","items":[2]}', '{"room":"r","items":[1],"r\\u006fom":"evil"}']) {
      const res = await post(`${gw.apiUrl}/push/room`, JSON_TYPE, body);
      assert.equal(res.status, 400, body);
      assert.equal(res.body.error.code, 'INVALID_BODY');
      assert.match(res.body.error.message, /member "(room|items)" appears more than once/);
    }
    await assertNoPush(inR);
    await assertNoPush(inEvil);
  });
});
