import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PushDriver } from '../../../bench/load/driver.js';

/** A push API stand-in on port 0 answering 200, 503, 500, 200, 503, 500, …, that counts what it saw. */
class FakeApi {
  readonly server: Server;
  readonly statuses = new Map<number, number>();
  readonly rooms = new Map<string, number>();
  readonly paths = new Set<string>();
  items = 0;
  inFlight = 0;
  maxInFlight = 0;
  private next = 0;

  constructor() {
    this.server = createServer((req, res) => {
      this.inFlight += 1;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      void this.read(req).then((body) => {
        const status = [200, 503, 500][this.next++ % 3]!;
        this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
        this.paths.add(req.url ?? '');
        this.items += body.items.length;
        if (body.room !== undefined) this.rooms.set(body.room, (this.rooms.get(body.room) ?? 0) + 1);
        // Answered on a later turn, so that the loops really overlap.
        setImmediate(() => {
          this.inFlight -= 1;
          res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
        });
      });
    });
  }

  private async read(req: IncomingMessage): Promise<{ room?: string; items: unknown[] }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(status: number): number {
    return this.statuses.get(status) ?? 0;
  }
}

describe('PushDriver.closedLoop', () => {
  const api = new FakeApi();
  before(() => new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve)));
  after(() => new Promise<void>((resolve) => api.server.close(() => resolve())));

  it('keeps `concurrency` one-item pushes in flight, counts 503 as refused without retrying, other errors as failed', async () => {
    const driver = new PushDriver(api.url, '', 64);
    try {
      const rooms = ['room-0', 'room-1'];
      let turn = 0;
      const result = await driver.closedLoop(
        300,
        4,
        () => rooms[turn++ % 2],
        (room) => (room === 'room-0' ? 3 : 5),
      );
      const requests = [...api.statuses.values()].reduce((a, b) => a + b, 0);
      assert.ok(requests >= 3, `some pushes were sent: ${requests}`);
      // Every request is one push: nothing was sent twice.
      assert.equal(result.itemsPushed + result.refused + result.failed, requests);
      assert.equal(api.items, requests, 'one item per request');
      assert.equal(result.itemsPushed, api.count(200));
      assert.equal(result.refused, api.count(503));
      assert.equal(result.failed, api.count(500));
      assert.ok(api.maxInFlight <= 4, `at most 4 in flight, saw ${api.maxInFlight}`);
      assert.ok(result.deliveriesOwed >= 3 * result.itemsPushed && result.deliveriesOwed <= 5 * result.itemsPushed, 'fan-out of accepted pushes only');
      assert.deepEqual([...api.paths], ['/push/room']);
    } finally {
      driver.close();
    }
  });

  it('pushes to all when the room is undefined', async () => {
    const driver = new PushDriver(api.url, '', 8);
    api.paths.clear();
    try {
      const result = await driver.closedLoop(
        100,
        1,
        () => undefined,
        () => 10,
      );
      assert.equal(result.deliveriesOwed, 10 * result.itemsPushed);
      assert.deepEqual([...api.paths], ['/push/all']);
    } finally {
      driver.close();
    }
  });
});
