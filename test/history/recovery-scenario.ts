import assert from 'node:assert/strict';
import type { TestClient } from '../helpers/client.js';
import { postJson } from '../helpers/gateway.js';

/** A room stream as a client sees it: every item with its offset, in arrival order. */
export interface Seen {
  offsets: number[];
  items: unknown[];
  epoch: string | undefined;
}

/** Where a deployment under test is reached. */
export interface Deployment {
  /** Opens a client (to any node of the deployment; `node` picks one when there are several). */
  connect(node?: number): Promise<TestClient>;
  /** The push API of one node. */
  apiUrl(node?: number): string;
}

/** Pushes `items` to `room`, asserting the answer is 200 with offsets; returns the last offset. */
export async function pushRoom(api: string, room: string, items: unknown[]): Promise<{ offset: number; epoch: string }> {
  const res = await postJson(`${api}/push/room`, { room, items });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(typeof res.body.offset, 'number', 'a push to a room with history answers its offset');
  return { offset: res.body.offset, epoch: res.body.epoch };
}

/** Records the PUSH frames of `room` a client reads until it has `count` items; each item's offset derived from the frame's. */
export async function readItems(client: TestClient, room: string, seen: Seen, count: number, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (seen.items.length < count) {
    const frame = await client.nextOfType('PUSH', Math.max(1, deadline - Date.now()));
    if (frame.data.room !== room) continue;
    const items = frame.data.items as unknown[];
    assert.equal(typeof frame.data.offset, 'number', 'PUSH frames of a room with history carry the offset of their last item');
    seen.epoch ??= frame.data.epoch;
    assert.equal(frame.data.epoch, seen.epoch, 'one epoch throughout');
    items.forEach((item, i) => {
      seen.offsets.push(frame.data.offset - (items.length - 1 - i));
      seen.items.push(item);
    });
  }
}

/** Asserts offsets run from `from`, contiguous, none twice. */
export function assertContiguous(offsets: readonly number[], from: number): void {
  for (let i = 0; i < offsets.length; i++) {
    if (offsets[i] !== from + i) assert.fail(`offset ${offsets[i]} at position ${i}: expected ${from + i} (a gap or a duplicate)`);
  }
}

/**
 * The first proof: a client in `room` sees some items, is cut off for about `awayMs` while
 * `missed` items are pushed, JOINs again (on node `back`) with the last offset and epoch it saw, and
 * gets all it missed, in order, none twice, `recovered: true`, then live items.
 */
export async function recoversAfterAbsence(deployment: Deployment, room: string, { missed = 1000, awayMs = 5000, back = 0 } = {}): Promise<void> {
  const api = deployment.apiUrl(0);
  const first = await deployment.connect(0);
  const ack = await first.request('JOIN', { room });
  assert.equal(ack.type, 'ACK');
  const start = ack.data.stream.offset as number;
  const before: Seen = { offsets: [], items: [], epoch: ack.data.stream.epoch };
  for (let i = 0; i < 10; i++) await pushRoom(api, room, [{ before: i }]);
  await readItems(first, room, before, 10);
  assertContiguous(before.offsets, start + 1);
  first.terminate();

  // Pushed over about `awayMs`, 10 items a push, while nobody is in the room.
  const pushes = missed / 10;
  const startedAt = Date.now();
  for (let p = 0; p < pushes; p++) {
    await pushRoom(
      api,
      room,
      Array.from({ length: 10 }, (_, i) => ({ missed: p * 10 + i })),
    );
    const due = startedAt + ((p + 1) * awayMs) / pushes;
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
  }

  const second = await deployment.connect(back);
  const last = before.offsets[before.offsets.length - 1];
  second.send({ type: 'JOIN', id: 'rejoin', data: { room, offset: last, epoch: before.epoch } });
  const replay: Seen = { offsets: [], items: [], epoch: before.epoch };
  await readItems(second, room, replay, missed, 20000);
  const rejoined = await second.nextOfType('ACK', 5000);
  assert.equal(rejoined.id, 'rejoin');
  assert.deepEqual(rejoined.data.stream, { offset: last + missed, epoch: before.epoch, recovered: true, replayed: missed });
  assertContiguous(replay.offsets, last + 1);
  assert.deepEqual(
    replay.items,
    Array.from({ length: missed }, (_, i) => ({ missed: i })),
  );

  // Then live, right after the replay.
  await pushRoom(api, room, ['live']);
  await readItems(second, room, replay, missed + 1);
  assert.deepEqual(replay.items.slice(missed), ['live']);
  assertContiguous(replay.offsets, last + 1);
  second.terminate();
}

/** A client whose offset is no longer held (trimmed, or another epoch) is told `recovered: false`, and continues live. */
export async function refusesWhatIsGone(deployment: Deployment, room: string, since: { offset: number; epoch: string }): Promise<void> {
  const client = await deployment.connect(0);
  const ack = await client.request('JOIN', { room, ...since });
  assert.equal(ack.type, 'ACK');
  assert.equal(ack.data.stream.recovered, false);
  assert.equal(ack.data.stream.replayed, 0);
  const { offset } = await pushRoom(deployment.apiUrl(0), room, ['after']);
  const seen: Seen = { offsets: [], items: [], epoch: undefined };
  await readItems(client, room, seen, 1);
  assert.deepEqual(seen.items, ['after']);
  assert.deepEqual(seen.offsets, [offset]);
  client.terminate();
}
