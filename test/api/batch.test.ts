import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Frame, TestClient } from '../helpers/client.js';
import { postJson, type RunningGateway, startGateway } from '../helpers/gateway.js';
import { withTimeout } from '../helpers/wait.js';

/** Reads PUSH frames of `client` until it has `count`, then checks with a PING that no other follows. */
async function pushes(client: TestClient, count: number): Promise<Frame[]> {
  const got: Frame[] = [];
  while (got.length < count) got.push(await client.nextOfType('PUSH'));
  assert.equal((await client.request('PING')).type, 'PONG');
  assert.equal(client.frames.filter((frame) => frame.type === 'PUSH').length, count, 'no other PUSH frame');
  return got;
}

/** Frames in a fixed order (by their JSON), for comparing what a client got whatever order targets flushed in. */
const sorted = (frames: Frame[]): string[] => frames.map((frame) => JSON.stringify(frame.data)).sort();

/** An HTTP/1.1 request as raw bytes, with a JSON body. */
function raw(path: string, body: string, last = false): string {
  return `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${last ? 'Connection: close\r\n' : ''}\r\n${body}`;
}

/** The answers on a connection, in order, each framed by its Content-Length. */
function answers(text: string): Array<{ status: number; body: any }> {
  const out: Array<{ status: number; body: any }> = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    assert.notEqual(end, -1, `an incomplete answer: ${text.slice(at)}`);
    const head = text.slice(at, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
    out.push({ status: Number(head.split(' ')[1]), body: JSON.parse(text.slice(end + 4, end + 4 + length)) });
    at = end + 4 + length;
  }
  return out;
}

/** Writes `requests` in one write on one raw socket and resolves with everything read until the server closes it. */
function pipelined(apiUrl: string, requests: string[]): Promise<string> {
  const { hostname, port } = new URL(apiUrl);
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write(requests.join('')));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    }),
    5000,
    'the pipelined answers',
  );
}

describe('POST /push/batch on a real gateway', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('delivers a batch to a room, to all and to a connection, one frame per target, and answers each push in order', async (t) => {
    const member = await gw.connect();
    const other = await gw.connect();
    t.after(() => {
      member.close();
      other.close();
    });
    assert.equal((await member.request('JOIN', { room: 'news' })).type, 'ACK');
    const id = await other.connId();
    const counted = { ...gw.gateway.stats };
    const res = await postJson(`${gw.apiUrl}/push/batch`, {
      pushes: [
        { room: 'news', items: [1] },
        { all: true, items: ['everyone'] },
        { conn: id, items: ['dm'] },
        { room: 'news', items: [{ n: 2 }, 3] },
        { conn: 'cafe0000-1', items: ['nobody'] },
        { room: 'bad room', items: [1] },
        { conn: id, items: ['dm2'] },
      ],
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      ok: true,
      results: [
        { ok: true, items: 1, recipients: 1 },
        { ok: true, items: 1, recipients: 2 },
        { ok: true, items: 1, recipients: 1 },
        { ok: true, items: 2, recipients: 1 },
        { ok: false, error: { code: 'CONN_NOT_FOUND', message: 'connection cafe0000-1 is not connected' } },
        { ok: false, error: res.body.results[5].error },
        { ok: true, items: 1, recipients: 1 },
      ],
    });
    assert.equal(res.body.results[5].error.code, 'INVALID_ROOM');
    // Pushes of one batch are merged per target, as pushes made together are.
    assert.deepEqual(
      sorted(await pushes(member, 2)),
      sorted([
        { type: 'PUSH', data: { room: 'news', items: [1, { n: 2 }, 3] } },
        { type: 'PUSH', data: { items: ['everyone'] } },
      ]),
    );
    assert.deepEqual(
      sorted(await pushes(other, 2)),
      sorted([
        { type: 'PUSH', data: { items: ['everyone'] } },
        { type: 'PUSH', data: { items: ['dm', 'dm2'] } },
      ]),
    );
    assert.equal(gw.gateway.stats.pushRoomTotal - counted.pushRoomTotal, 2, 'each push counted as one');
    assert.equal(gw.gateway.stats.pushConnTotal - counted.pushConnTotal, 2);
    assert.equal(gw.gateway.stats.pushAllTotal - counted.pushAllTotal, 1);
  });

  it('keeps a connection alive across single and batch requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const { port } = new URL(gw.apiUrl);
    const post = (path: string, body: unknown) =>
      new Promise<{ status: number; body: any; reused: boolean; local: number | undefined }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), reused: req.reusedSocket, local: req.socket?.localPort }));
        });
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    try {
      const answers = [
        await post('/push/room', { room: 'k', items: [1] }),
        await post('/push/batch', {
          pushes: [
            { room: 'k', items: [1] },
            { all: true, items: [2, 3] },
          ],
        }),
        await post('/push/all', { items: [1, 2] }),
        await post('/push/batch', { pushes: [{ conn: 'cafe0000-1', items: [1] }] }),
      ];
      assert.deepEqual(
        answers.map((answer) => answer.status),
        [200, 200, 200, 200],
      );
      assert.deepEqual(answers[1]!.body.results, [
        { ok: true, items: 1, recipients: 0 },
        { ok: true, items: 2, recipients: gw.gateway.hub.size },
      ]);
      assert.equal(answers[3]!.body.results[0].error.code, 'CONN_NOT_FOUND');
      assert.deepEqual(
        answers.map((answer) => answer.reused),
        [false, true, true, true],
        'one connection for all four',
      );
      assert.equal(new Set(answers.map((answer) => answer.local)).size, 1);
    } finally {
      agent.destroy();
    }
  });

  it('answers pipelined requests — single, batch, refused — in the order they were written', async () => {
    const text = await pipelined(gw.apiUrl, [
      raw('/push/room', '{"room":"p","items":[1]}'),
      raw('/push/batch', '{"pushes":[{"room":"p","items":[1,2]},{"items":[1]},{"all":true,"items":[1,2,3]}]}'),
      raw('/push/all', '{"items":[1,'),
      raw('/push/batch', '{"pushes":[{"all":true,"items":[1,2,3,4]}]}'),
      raw('/push/all', '{"items":[1,2,3,4,5]}', true),
    ]);
    const got = answers(text);
    assert.deepEqual(
      got.map((answer) => answer.status),
      [200, 200, 400, 200, 200],
    );
    assert.equal(got[0]!.body.items, 1);
    assert.deepEqual(
      got[1]!.body.results.map((result: { ok: boolean; items?: number; error?: { code: string } }) => result.items ?? result.error?.code),
      [2, 'INVALID_BODY', 3],
    );
    assert.equal(got[2]!.body.error.code, 'INVALID_BODY');
    assert.equal(got[3]!.body.results[0].items, 4);
    assert.equal(got[4]!.body.items, 5);
  });
});

describe('POST /push/batch when the queue fills during the batch', () => {
  let gw: RunningGateway;
  before(async () => {
    // With a one-minute batch delay, accepted items stay pending.
    gw = await startGateway({ maxPendingItems: 5, maxBatchDelay: 60000, maxBatchItems: 1000 });
  });
  after(() => gw.close());

  it('takes the pushes that fit and answers QUEUE_FULL for the others, each in its place', async () => {
    const res = await postJson(`${gw.apiUrl}/push/batch`, {
      pushes: [
        { all: true, items: [1, 2, 3] },
        { room: 'r', items: [1, 2, 3] },
        { all: true, items: [1, 2] },
        { all: true, items: [1, 2, 3, 4, 5, 6] },
      ],
    });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.results.map((result: { ok: boolean; items?: number; error?: { code: string } }) => result.items ?? result.error?.code),
      [3, 'QUEUE_FULL', 2, 'TOO_MANY_ITEMS'],
    );
    assert.equal(gw.gateway.stats.pushRejected, 1);
    assert.equal(gw.gateway.snapshot().mergerPending, 5);
  });
});
