/**
 * The bench's pushed items and how clients find them in frames. Every item is a JSON object of fixed
 * length starting `{"t":<send time µs>`; clients count (and time) items by scanning a frame's bytes for
 * that mark, so counting costs the same whatever the server's envelope. Where the envelope carries the
 * item as a JSON string (Pusher's `data`), the mark and the fields are escaped: `{\"t\":`.
 */

/** Finds the bench items in one frame's bytes. */
export interface ItemScanner {
  /** How many items the frame holds. */
  count(data: Buffer): number;
  /** Hands each item's send time (ms) and sequence number to `onItem`; returns the count. */
  read(data: Buffer, onItem: (sentAt: number, seq: number) => void): number;
}

const ITEM_MARK = Buffer.from('{"t":');
const ITEM_END = 0x7d; // '}'
// "t" is microseconds (16 digits), then `,"s":` before the 9-digit sequence.
const T_DIGITS = 16;
const SEQ_DIGITS = 9;

/**
 * Counts the items in a frame: every item of a run has the same length (see {@link benchItem}) and
 * items are separated by one comma (pushgate) or alone in their frame (Socket.IO), so the first and
 * last item marks give the count without reading the frame.
 */
export function countItems(data: Buffer): number {
  const first = data.indexOf(ITEM_MARK);
  if (first === -1) return 0;
  const last = data.lastIndexOf(ITEM_MARK);
  if (last === first) return 1;
  const length = data.indexOf(ITEM_END, first) - first + 1;
  return (last - first) / (length + 1) + 1;
}

/** Hands each item's send time (ms) and sequence number to `onItem`; returns the count. */
export function readItems(data: Buffer, onItem: (sentAt: number, seq: number) => void): number {
  return readMarked(data, ITEM_MARK, ',"s":'.length, onItem);
}

/** Items as JSON objects in the frame (pushgate's PUSH, the plain ws peer, Socket.IO's event). */
export const plainItems: ItemScanner = { count: countItems, read: readItems };

const ESCAPED_MARK = Buffer.from('{\\"t\\":');
const ESCAPED_SEQ_GAP = ',\\"s\\":'.length;

/**
 * Items as JSON strings in the frame: Pusher's event `{"event":…,"data":"{\"t\":…,\"s\":…}",…}`. Pusher
 * has one event per WebSocket frame, but the count does not assume it: every mark is one item.
 */
export const escapedItems: ItemScanner = {
  count(data) {
    let count = 0;
    for (let at = data.indexOf(ESCAPED_MARK); at !== -1; at = data.indexOf(ESCAPED_MARK, at + ESCAPED_MARK.length)) count += 1;
    return count;
  },
  read: (data, onItem) => readMarked(data, ESCAPED_MARK, ESCAPED_SEQ_GAP, onItem),
};

// Each item after `mark`: its send time at once, its sequence `seqGap` bytes after the time's digits.
function readMarked(data: Buffer, mark: Buffer, seqGap: number, onItem: (sentAt: number, seq: number) => void): number {
  let count = 0;
  let at = data.indexOf(mark);
  while (at !== -1) {
    count += 1;
    const start = at + mark.length;
    // Fixed offsets, read without a string.
    const sentAt = digits(data, start, T_DIGITS) / 1000;
    const seq = digits(data, start + T_DIGITS + seqGap, SEQ_DIGITS);
    onItem(sentAt, seq);
    at = data.indexOf(mark, start);
  }
  return count;
}

// The decimal number in `count` ASCII digits at `from`; exact below 2^53 (16 digits of µs are).
function digits(data: Buffer, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) value = value * 10 + (data[i] - 0x30);
  return value;
}

/**
 * A pushed item of fixed length whatever its values: `{"t":<send time, µs, 16 digits>,"s":<9-digit
 * sequence>}` plus optional padding, so clients can count items without parsing.
 */
export function benchItem(seq: number, padding = ''): { t: number; s: number; p?: string } {
  const item: { t: number; s: number; p?: string } = { t: Math.round(now() * 1000), s: 100000000 + seq };
  if (padding) item.p = padding;
  return item;
}

/** Wall-clock milliseconds with sub-millisecond precision, the same clock in every process. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
