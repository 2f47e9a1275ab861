import {
  type Consumer,
  type ConsumerMessages,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StoredMsg,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { type MsgHdrs, type NatsConnection, nanos, errors as natsErrors, headers as natsHeaders } from '@nats-io/transport-node';
import { BrokerUnavailableError } from '../broker/broker.js';
import { NoAnswerError } from '../broker/liveness.js';
import { roomChannel } from '../cluster/channels.js';
import { decodePushEnvelope } from '../cluster/envelope.js';
import { newEpoch, readStamp, stampPush } from './history-frame.js';
import type { HistoryPolicy } from './history-policy.js';
import type { HistoryEntry, HistoryPage, HistoryQuery, HistoryStore, StreamPosition } from './history-store.js';
import { RoomIndex } from './jetstream-index.js';
import { STREAM_META_TTL_MS } from './memory-streams.js';

/**
 * Room streams on NATS JetStream, beside the core-NATS broker (`--broker nats://`, a server run with `-js`).
 *
 * One JetStream stream holds every room: subject `pushgate.hist.<room in base64url>`, one message per push
 * (the push as delivered live: `#<first offset>:<epoch>\n<envelope>`, see history-frame.ts), with headers
 * `Pushgate-Count` (its items) and `Pushgate-Deadline`. The append is one JetStream publish, made
 * conditional on the room's last message (`Nats-Expected-Last-Subject-Sequence`): whoever appends to a room,
 * on whichever node, the offsets stay contiguous, and a publisher that lost the race reads the room's new
 * last message and tries again.
 *
 * Live delivery comes from the stream itself: each node that holds room subscriptions follows the whole
 * stream with one ordered consumer and hands every message to the handler of its room's channel. So a
 * push goes out live if and only if it is in the stream, and each room's pushes reach every node in
 * offset order.
 *
 * A message stored after its deadline (a server that stalled with the publish in its socket, then
 * resumed after the publisher had answered 503) is void: neither delivered nor read, and the room's
 * next push takes its offsets. Both paths decide it from the message's own server timestamp, so they agree.
 *
 * The epoch is kept in the room's messages: a room with none left (new, expired whole, stream lost or
 * recreated) starts a new epoch at offset 1. A read of such a room writes an empty marker message with
 * the new epoch, so that the epoch it reports is the one the room's next push carries.
 */

/** The stream's name by default. */
export const HISTORY_STREAM = 'PUSHGATE_HISTORY';
/** Subjects of room streams: this prefix, then the room channel's last token. */
export const HISTORY_SUBJECT_PREFIX = 'pushgate.hist.';
const ROOM_CHANNEL_PREFIX = 'pushgate.room.';
/** How many items a message holds (0: an epoch marker). */
const COUNT_HEADER = 'Pushgate-Count';
/** Of a message holding several pushes: `<items>/<bytes>` of each, in order (its body is their stamped bytes, one after the other). */
const PUSHES_HEADER = 'Pushgate-Pushes';
/** Ms since the epoch: a message the server stored later than this is void. */
const DEADLINE_HEADER = 'Pushgate-Deadline';

/** Conditional publishes one append may try when other nodes keep appending first. */
const MAX_APPEND_ATTEMPTS = 64;
/** The deadline given to a message whose caller gave none: the request timeout plus this (clocks differ). */
const DEFAULT_SKEW_MS = 500;
/** An acknowledgement this close to the deadline (or later) is checked against the message's server timestamp. */
const LATE_ACK_MARGIN_MS = 500;
/** Most pushes, and bytes, one message carries (a push larger than that goes alone). */
const MAX_BATCH_PUSHES = 256;
const MAX_BATCH_BYTES = 256 * 1024;
/** How long an append that lost the race waits for the consumer to show the winner's message before reading it. */
const FEED_WAIT_MS = 50;
/** Rooms whose last message is remembered (emptied when full, like the channel names). */
const ROOMS_CACHED = 10_000;
/** The live consumer pulls this many messages at a time; each pull waits this long at most. */
const FEED_BATCH = 512;
const FEED_EXPIRES_MS = 5000;
/** How long dropping the live consumer waits for the server to delete it. */
const DELETE_WAIT_MS = 1000;
/** How long the question "is the stream gone?" waits, after a direct get went unanswered. */
const QUICK_CHECK_MS = 250;
/** Wait between attempts to start the live consumer (doubling up to the most) or check the stream. */
const RETRY_MS = 250;
const MAX_RETRY_MS = 5000;

/** Options of the JetStream history (`NatsBrokerOptions.history`). */
export interface JetStreamHistoryOptions {
  /** The stream's name (default {@link HISTORY_STREAM}). */
  stream?: string;
  /** `file` (default: history survives a restart of nats-server) or `memory` (faster; lost with the server). */
  storage?: 'file' | 'memory';
  /** Replicas in a JetStream cluster (default 1). */
  replicas?: number;
  /**
   * The largest size and the longest TTL of the `--history` rules: the stream's limits are set to them
   * (raised or lowered) when the store first uses the stream. Without it, the limits only ever grow, to
   * the largest policy appended or read with.
   */
  limits?: HistoryPolicy;
}

/** What the store needs of the NATS broker it sits beside. */
export interface JetStreamHost {
  /** The broker's connection now (null while it has none). */
  connection(): NatsConnection | null;
  /** Whether the broker is `up`: nothing is sent otherwise (nats.js would send it late, after a reconnection). */
  up(): boolean;
  /** How long a request may wait for its answer (the broker's liveness timeout). */
  readonly timeoutMs: number;
  /** A request got no answer in time: the broker turns `down` until a liveness probe is answered. */
  noAnswer(error: NoAnswerError): void;
  /** Hands a live push of a room with history to the handler of `channel`, if this broker has one. */
  deliver(channel: string, payload: Buffer): void;
  log(msg: string, err?: Error): void;
}

/** The stream subject of a broker channel: a room channel's last token under {@link HISTORY_SUBJECT_PREFIX}. */
export function historySubject(channel: string): string {
  return channel.startsWith(ROOM_CHANNEL_PREFIX) ? HISTORY_SUBJECT_PREFIX + channel.slice(ROOM_CHANNEL_PREFIX.length) : HISTORY_SUBJECT_PREFIX + channel;
}

/** The broker channel of a stream subject (inverse of {@link historySubject}; base64url has no dots). */
export function channelOfSubject(subject: string): string {
  const rest = subject.slice(HISTORY_SUBJECT_PREFIX.length);
  return rest.includes('.') ? rest : ROOM_CHANNEL_PREFIX + rest;
}

/** One message of a room, as far as offsets go. */
interface Stored {
  seq: number;
  first: number;
  count: number;
  epoch: string;
  /** The offset of its last item; for a void message or a marker, the offset before its first. */
  last: number;
  /** Server time it was stored, ms since the epoch. */
  at: number;
  void: boolean;
  /** Its pushes as they go out live (each stamped), in order. */
  pushes: Array<{ first: number; count: number; payload: Buffer }>;
}

/** An append waiting for its room's next message. */
interface Pending {
  policy: HistoryPolicy;
  /** Its items. */
  n: number;
  payload: Buffer;
  /** A message holding it stored later than this (server time) is void. */
  voidAfter: number;
  /** Not sent after this, nor waited for. */
  stopAt: number;
  resolve(position: StreamPosition): void;
  reject(error: Error): void;
}

/** Where a room's next append goes: after the message at `seq` (0: the room has none), whose last offset is `last`. */
interface RoomState {
  seq: number;
  last: number;
  epoch: string;
}

/** A message of the stream taken apart; null when it is not one of ours (or damaged). */
function describe(seq: number, hdrs: MsgHdrs | undefined, data: Uint8Array, at: number): Stored | null {
  const whole = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const stamp = readStamp(whole);
  const count = Number(hdrs?.get(COUNT_HEADER) ?? '');
  if (stamp === null || !Number.isSafeInteger(count) || count < 0) return null;
  const deadline = hdrs?.get(DEADLINE_HEADER) ?? '';
  const isVoid = deadline !== '' && at > Number(deadline);
  const last = isVoid || count === 0 ? stamp.first - 1 : stamp.first + count - 1;
  const layout = hdrs?.get(PUSHES_HEADER) ?? '';
  const pushes: Stored['pushes'] = [];
  if (layout === '') {
    pushes.push({ first: stamp.first, count, payload: whole });
  } else {
    let offset = 0;
    let next = stamp.first;
    for (const part of layout.split(',')) {
      const slash = part.indexOf('/');
      const n = Number(part.slice(0, slash));
      const bytes = Number(part.slice(slash + 1));
      if (slash < 0 || !Number.isSafeInteger(n) || !Number.isSafeInteger(bytes) || n < 1 || bytes < 1 || offset + bytes > whole.length) return null;
      const payload = whole.subarray(offset, offset + bytes);
      const own = readStamp(payload);
      if (own === null || own.first !== next || own.epoch !== stamp.epoch) return null;
      pushes.push({ first: next, count: n, payload });
      next += n;
      offset += bytes;
    }
    if (offset !== whole.length || next - stamp.first !== count) return null;
  }
  return { seq, first: stamp.first, count, epoch: stamp.epoch, last, at, void: isVoid, pushes };
}

function describeStored(m: StoredMsg): Stored | null {
  return describe(m.seq, m.header, m.data, preciseMs(m.timestamp, m.time));
}

/**
 * An RFC 3339 time with nanoseconds (what the server stamps messages with) in ms, fraction kept: a
 * message stored in the very millisecond of its deadline, but after it, is void.
 */
function preciseMs(timestamp: string, time: Date): number {
  const match = /\.(\d+)Z$/.exec(timestamp);
  if (match === null) return time.getTime();
  const whole = Date.parse(`${timestamp.slice(0, match.index)}Z`);
  return Number.isFinite(whole) ? whole + Number(`0.${match[1]}`) * 1000 : time.getTime();
}

function* causes(err: unknown): Generator<unknown> {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) yield e;
}

/** What went wrong with a JetStream request. */
function failure(err: unknown): 'timeout' | 'missing' | 'wrong-last' | 'other' {
  for (const e of causes(err)) {
    if (e instanceof natsErrors.TimeoutError) return 'timeout';
    if (e instanceof natsErrors.NoRespondersError) return 'missing';
    if (e instanceof JetStreamApiError) {
      if (e.code === JetStreamApiCodes.StreamWrongLastSequence) return 'wrong-last';
      if (e.code === JetStreamApiCodes.StreamNotFound) return 'missing';
    }
  }
  return 'other';
}

function unavailable(message: string, cause?: unknown): BrokerUnavailableError {
  const err = new BrokerUnavailableError(cause instanceof Error ? `${message}: ${cause.message}` : message);
  if (cause !== undefined) err.cause = cause;
  return err;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The stream is gone (or JetStream is off): make it and try again. */
class StreamMissing extends Error {}

/** See the module comment. Made by {@link NatsBroker.history}. */
export class JetStreamHistory implements HistoryStore<Buffer> {
  readonly kind = 'jetstream';
  private readonly streamName: string;
  private readonly storage: StorageType;
  private readonly replicas: number;
  /** The limits the stream must have: the options', raised by every policy seen. */
  private readonly want: { size: number; ageMs: number };
  /** Whether the stream's limits are set to exactly {@link want} (options.limits given) or only raised to it. */
  private readonly exact: boolean;
  /** What the stream was last seen to have (null: not checked since the start or a loss). */
  private has: { size: number; ageMs: number; created: string } | null = null;
  private ensuring: Promise<StreamInfo> | null = null;
  private clients: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager } | null = null;
  private readonly rooms = new Map<string, RoomState>();
  /** The rooms' recent messages, as the live consumer showed them: what recovery reads fetch at once. */
  private readonly index = new RoomIndex();
  /** Appends waiting for their room's next message, by subject (present while the room's pump runs). */
  private readonly pending = new Map<string, Pending[]>();
  /** Appends waiting for the consumer to show another node's message, by subject. */
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly feed: Feed;
  private closed = false;

  constructor(
    private readonly host: JetStreamHost,
    options: JetStreamHistoryOptions = {},
  ) {
    this.streamName = options.stream ?? HISTORY_STREAM;
    this.storage = options.storage === 'memory' ? StorageType.Memory : StorageType.File;
    this.replicas = options.replicas ?? 1;
    this.exact = options.limits !== undefined;
    this.want = { size: options.limits?.size ?? 1, ageMs: Math.max(options.limits?.ttlMs ?? 0, STREAM_META_TTL_MS) };
    this.feed = new Feed(this, host);
  }

  get stream(): string {
    return this.streamName;
  }

  /**
   * Starts following the stream (idempotent): resolves once the live consumer is in place, so a push
   * appended from anywhere after that reaches this broker's handlers (or once a first attempt failed:
   * it keeps trying in the background). Called when the broker gets its
   * first room subscription: a node without any (the push API tier) does not receive the rooms' traffic.
   */
  follow(): Promise<void> {
    return this.feed.follow();
  }

  /** The broker lost its connection or its server stalled: the server may have restarted without its store. */
  forget(): void {
    this.has = null;
    this.rooms.clear();
    this.index.clear();
  }

  append(room: string, policy: HistoryPolicy, items: readonly string[], channel: string, payload: Buffer, deadline?: number): Promise<StreamPosition> {
    if (this.closed) return Promise.reject(new BrokerUnavailableError('the jetstream history was closed'));
    if (!this.host.up()) return Promise.reject(new BrokerUnavailableError('the nats broker is not up'));
    if (items.length === 0) return Promise.reject(new RangeError('a push to history holds at least one item'));
    // Reads find a room's stream by its name, and deliveries go to the channel its subject names.
    if (channel !== roomChannel(room))
      return Promise.reject(new TypeError(`the jetstream history publishes a room's pushes on its own channel, not ${channel}`));
    const start = Date.now();
    // Stamped on the message: a server that stores it later (it stalled with the publish unread) voids it.
    // Whole ms, as the header carries it; nothing is sent or awaited after it.
    const voidAfter = Math.floor(deadline ?? start + this.host.timeoutMs + DEFAULT_SKEW_MS);
    const stopAt = Math.min(start + this.host.timeoutMs, voidAfter);
    if (start >= stopAt) return Promise.reject(new BrokerUnavailableError('the deadline has passed'));
    return new Promise((resolve, reject) => {
      this.enqueue(historySubject(channel), { policy, n: items.length, payload, voidAfter, stopAt, resolve, reject });
    });
  }

  async read(room: string, policy: HistoryPolicy, query: HistoryQuery): Promise<HistoryPage> {
    if (this.closed) throw new BrokerUnavailableError('the jetstream history was closed');
    if (!this.host.up()) throw new BrokerUnavailableError('the nats broker is not up');
    const subject = historySubject(roomChannel(room));
    for (let attempt = 0; ; attempt++) {
      await this.ensureStream(policy);
      try {
        return await this.readNow(subject, policy, query);
      } catch (err) {
        if (!(err instanceof StreamMissing) || attempt >= 2) throw this.unavailableFor(err, `reading ${subject}`);
        this.streamLost();
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.feed.close();
  }

  // --- appending ---

  /**
   * One conditional publish at a time per room from this node (concurrent ones would only race each
   * other's condition), carrying every append that queued for the room meanwhile: a room's appends from
   * one node go at one message per round trip, however many.
   */
  private enqueue(subject: string, p: Pending): void {
    const queue = this.pending.get(subject);
    if (queue !== undefined) {
      queue.push(p);
      return;
    }
    const fresh = [p];
    this.pending.set(subject, fresh);
    void this.pump(subject, fresh);
  }

  private async pump(subject: string, queue: Pending[]): Promise<void> {
    while (queue.length > 0) {
      const batch = [queue.shift()!];
      let bytes = batch[0].payload.length;
      while (queue.length > 0 && batch.length < MAX_BATCH_PUSHES && bytes + queue[0].payload.length <= MAX_BATCH_BYTES) {
        bytes += queue[0].payload.length;
        batch.push(queue.shift()!);
      }
      await this.appendBatch(subject, batch);
    }
    this.pending.delete(subject);
  }

  /** Appends `batch` as one message; settles each of its appends (never rejects). */
  private async appendBatch(subject: string, batch: Pending[]): Promise<void> {
    let live = batch;
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const refusal = this.closed
        ? 'the jetstream history was closed'
        : !this.host.up()
          ? 'the nats broker is not up'
          : attempt >= MAX_APPEND_ATTEMPTS
            ? `other nodes kept appending first (${MAX_APPEND_ATTEMPTS} attempts)`
            : null;
      live = live.filter((p) => {
        const why = refusal ?? (now >= p.stopAt ? 'no room in the stream before the deadline' : null);
        if (why !== null) p.reject(new BrokerUnavailableError(`appending to ${subject}: ${why}`));
        return why === null;
      });
      if (live.length === 0) return;
      let state: RoomState | null = null;
      try {
        for (const p of live) this.raise(p.policy);
        await this.ensureStream();
        state = this.rooms.get(subject) ?? (await this.roomState(subject));
        const message = this.message(live, state);
        const { js } = await this.client();
        const ack = await js.publish(subject, message.body, {
          headers: message.headers,
          expect: { lastSubjectSequence: state.seq },
          timeout: Math.max(1, message.stopAt - Date.now()),
        });
        if (Date.now() > message.voidAfter - LATE_ACK_MARGIN_MS && (await this.isVoid(ack.seq))) {
          throw new BrokerUnavailableError(`appending to ${subject}: stored after the deadline (void)`);
        }
        this.remember(subject, { seq: ack.seq, last: message.last, epoch: state.epoch });
        for (let i = 0; i < live.length; i++) live[i].resolve({ offset: message.lasts[i], epoch: state.epoch });
        return;
      } catch (err) {
        this.rooms.delete(subject);
        const why = err instanceof BrokerUnavailableError ? 'other' : failure(err);
        if (why === 'wrong-last' && state !== null) {
          // Another node appended first. This node's consumer (if it runs) brings its message about as
          // soon as that node has its acknowledgement: waiting for it is fairer than reading it.
          this.remember(subject, state);
          if (!(await this.caughtUp(subject, state.seq))) this.rooms.delete(subject);
          continue;
        }
        if (err instanceof StreamMissing || why === 'missing') {
          this.streamLost();
          continue;
        }
        const error = this.unavailableFor(err, `appending to ${subject}`);
        for (const p of live) p.reject(error);
        return;
      }
    }
  }

  /** The message holding `batch` after `state`: its pushes stamped one after the other. */
  private message(batch: Pending[], state: RoomState): { body: Buffer; headers: MsgHdrs; last: number; lasts: number[]; stopAt: number; voidAfter: number } {
    const hdrs = natsHeaders();
    const lasts: number[] = [];
    const parts: Buffer[] = [];
    let next = state.last + 1;
    let stopAt = Number.POSITIVE_INFINITY;
    let voidAfter = Number.POSITIVE_INFINITY;
    for (const p of batch) {
      parts.push(stampPush(p.payload, next, state.epoch));
      next += p.n;
      lasts.push(next - 1);
      stopAt = Math.min(stopAt, p.stopAt);
      voidAfter = Math.min(voidAfter, p.voidAfter);
    }
    hdrs.set(COUNT_HEADER, String(next - 1 - state.last));
    hdrs.set(DEADLINE_HEADER, String(voidAfter));
    if (batch.length > 1) hdrs.set(PUSHES_HEADER, batch.map((p, i) => `${p.n}/${parts[i].length}`).join(','));
    return { body: parts.length === 1 ? parts[0] : Buffer.concat(parts), headers: hdrs, last: next - 1, lasts, stopAt, voidAfter };
  }

  /** Resolves true once the consumer has shown the room past `seq` (false after a short wait, or when it does not run). */
  private caughtUp(subject: string, seq: number): Promise<boolean> {
    if ((this.rooms.get(subject)?.seq ?? 0) > seq) return Promise.resolve(true);
    if (!this.feed.running) return Promise.resolve(false);
    return new Promise((resolve) => {
      let waiters = this.waiters.get(subject);
      if (waiters === undefined) this.waiters.set(subject, (waiters = new Set()));
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        waiters.delete(waiter);
        if (waiters.size === 0 && this.waiters.get(subject) === waiters) this.waiters.delete(subject);
        resolve(ok);
      };
      const waiter = (): void => {
        if ((this.rooms.get(subject)?.seq ?? 0) > seq) done(true);
      };
      const timer = setTimeout(() => done(false), FEED_WAIT_MS);
      waiters.add(waiter);
    });
  }

  /** Where the room's next append goes, from its last message; a room without one starts a new epoch. */
  private async roomState(subject: string): Promise<RoomState> {
    const last = await this.lastOf(subject);
    if (last === null) return { seq: 0, last: 0, epoch: newEpoch() };
    const stored = describeStored(last);
    // Not a message of ours (or damaged): what came before it cannot be trusted, the room starts over.
    if (stored === null) return { seq: last.seq, last: 0, epoch: newEpoch() };
    return { seq: stored.seq, last: stored.last, epoch: stored.epoch };
  }

  private async isVoid(seq: number): Promise<boolean> {
    const { jsm } = await this.client();
    const m = await jsm.direct.getMessage(this.streamName, { seq });
    const stored = m === null ? null : describeStored(m);
    return stored === null || stored.void;
  }

  private remember(subject: string, state: RoomState): void {
    if (this.rooms.size >= ROOMS_CACHED && !this.rooms.has(subject)) this.rooms.clear();
    this.rooms.set(subject, state);
  }

  /** The live consumer saw a message: the room's next append goes after it (if this node appends there). */
  seen(subject: string, stored: Stored): void {
    const { seq, first, last, count, epoch, at } = stored;
    this.index.add(subject, { seq, first, last, count, epoch, at, void: stored.void });
    const known = this.rooms.get(subject);
    if (known === undefined || stored.seq <= known.seq) return;
    this.rooms.set(subject, { seq: stored.seq, last: stored.last, epoch: stored.epoch });
    const waiters = this.waiters.get(subject);
    if (waiters !== undefined) for (const waiter of [...waiters]) waiter();
  }

  // --- reading ---

  private async readNow(subject: string, policy: HistoryPolicy, query: HistoryQuery): Promise<HistoryPage> {
    let lastMsg = await this.lastOf(subject);
    let last = lastMsg === null ? null : describeStored(lastMsg);
    for (let attempt = 0; last === null; attempt++) {
      // No message, or not ours: the epoch is made now, and kept in a marker so the next push carries it.
      const epoch = newEpoch();
      const marker = await this.writeMarker(subject, lastMsg?.seq ?? 0, epoch);
      if (marker !== null) return { epoch, top: 0, first: 1, entries: [] };
      if (attempt >= 4) throw new BrokerUnavailableError(`reading ${subject}: other nodes kept appending first`);
      lastMsg = await this.lastOf(subject);
      last = lastMsg === null ? null : describeStored(lastMsg);
    }
    const { epoch, last: top } = last;
    const limit = Math.max(1, query.limit);
    const cutoff = Date.now() - policy.ttlMs;
    const sizeFirst = Math.max(1, top - policy.size + 1);
    const endOf = (m: Stored): number => (m.epoch === epoch ? m.last : 0);
    // Offsets and server times only grow along the room's messages, so both searches are binary.
    const held = (from: number) => (m: Stored) => m.at >= cutoff && endOf(m) >= from;
    const oldest = held(sizeFirst)(last) ? await this.search(subject, last, held(sizeFirst), true) : null;
    // (`oldest` is of this epoch: the predicate says so.)
    const first = oldest === null ? top + 1 : Math.min(top + 1, Math.max(sizeFirst, oldest.first));
    let from: number;
    let to: number;
    if (query.reverse) {
      to = Math.min(top, (query.since ?? top + 1) - 1);
      from = Math.max(first, to - limit + 1);
    } else {
      from = Math.max(first, (query.since ?? 0) + 1);
      to = Math.min(top, from + limit - 1);
    }
    const entries: HistoryEntry[] = [];
    if (from <= to && oldest !== null) {
      const indexed = await this.readIndexed(subject, epoch, from, to, last, entries);
      let m: Stored | null =
        indexed !== null
          ? indexed <= last.seq
            ? await this.nextOf(subject, indexed)
            : null
          : from === first
            ? oldest
            : await this.search(subject, last, held(from));
      while (m !== null && m.first <= to) {
        if (m.epoch === epoch && !m.void && m.count > 0) this.collect(m, from, to, entries);
        if (m.seq >= last.seq) break;
        m = await this.nextOf(subject, m.seq + 1);
      }
    }
    if (query.reverse) entries.reverse();
    return { epoch, top, first, entries };
  }

  /**
   * Reads from the index what it holds of `[from, to]`, every message at once; answers the stream
   * sequence to go on from (entries collected up to there), or null when the index cannot tell (then
   * nothing is collected). Past `to` it answers a sequence after `last`: nothing more to read.
   */
  private async readIndexed(subject: string, epoch: string, from: number, to: number, last: Stored, entries: HistoryEntry[]): Promise<number | null> {
    const found = this.index.from(subject, epoch, from, last.seq);
    if (found === null) return null;
    const wanted = found.messages.filter((m) => m.first <= to && m.count > 0 && !m.void);
    const { jsm } = await this.client();
    const got = await Promise.all(wanted.map((m) => this.directGet(() => jsm.direct.getMessage(this.streamName, { seq: m.seq }))));
    const stored: Stored[] = [];
    for (let i = 0; i < wanted.length; i++) {
      const m = got[i];
      const s = m === null || m.subject !== subject ? null : describeStored(m);
      // Trimmed meanwhile, or not what the consumer showed: the slow path decides.
      if (s === null || s.first !== wanted[i].first || s.epoch !== epoch) return null;
      stored.push(s);
    }
    for (const s of stored) this.collect(s, from, to, entries);
    const reached = found.messages.length === 0 ? from - 1 : found.messages[found.messages.length - 1].last;
    return reached >= to ? last.seq + 1 : found.next;
  }

  private collect(m: Stored, from: number, to: number, entries: HistoryEntry[]): void {
    for (const push of m.pushes) {
      if (push.first + push.count - 1 < from || push.first > to) continue;
      const stamp = readStamp(push.payload);
      const decoded = stamp === null ? null : decodePushEnvelope(stamp.body);
      if (decoded === null || decoded.push.items.length !== push.count) {
        this.host.log(`jetstream history: message ${m.seq} of ${this.streamName} holds something else than a push of ${push.count} items; skipped`);
        continue;
      }
      const items = decoded.push.items;
      for (let i = Math.max(0, from - push.first); i < items.length && push.first + i <= to; i++) entries.push({ offset: push.first + i, item: items[i] });
    }
  }

  /**
   * The room's first message for which `ok` holds (`ok` is false, then true, along the room's messages;
   * true for `last`): galloping back from the last message, then halving. One direct get a step, about
   * 2·log2 of the stream sequences between the answer and the end. `oldestFirst`: try the room's oldest
   * message first (the answer when nothing held has expired or been cut yet).
   */
  private async search(subject: string, last: Stored, ok: (m: Stored) => boolean, oldestFirst = false): Promise<Stored> {
    if (oldestFirst) {
      const oldest = await this.nextOf(subject, 1);
      if (oldest !== null && oldest.seq <= last.seq && ok(oldest)) return oldest;
    }
    let best = last;
    // The answer is `best` or a message in [lo, end), where nothing is known yet.
    let lo = 1;
    let end = last.seq;
    const step = async (at: number): Promise<'ok' | 'not' | 'none'> => {
      const m = await this.nextOf(subject, at);
      if (m === null || m.seq >= end) {
        end = at; // nothing of the room in [at, end)
        return 'none';
      }
      if (ok(m)) {
        best = m;
        end = m.seq;
        return 'ok';
      }
      lo = m.seq + 1;
      return 'not';
    };
    for (let back = 1; end - back >= lo; back *= 2) if ((await step(end - back)) === 'not') break;
    while (lo < end) await step(Math.floor((lo + end) / 2));
    return best;
  }

  /** The room's first message at or after `seq` (skipping what is not ours). */
  private async nextOf(subject: string, seq: number): Promise<Stored | null> {
    const { jsm } = await this.client();
    for (let at = seq; ; ) {
      const m = await this.directGet(() => jsm.direct.getMessage(this.streamName, { seq: at, next_by_subj: subject }));
      if (m === null) return null;
      const stored = describeStored(m);
      if (stored !== null) return stored;
      at = m.seq + 1;
    }
  }

  private async lastOf(subject: string): Promise<StoredMsg | null> {
    const { jsm } = await this.client();
    return this.directGet(() => jsm.direct.getMessage(this.streamName, { last_by_subj: subject }));
  }

  private async directGet(get: () => Promise<StoredMsg | null>): Promise<StoredMsg | null> {
    try {
      return await get();
    } catch (err) {
      const why = failure(err);
      // nats-server 2.9 does not answer a direct get for a stream it does not have: ask the API, which says so.
      if (why === 'missing' || (why === 'timeout' && (await this.streamGone()))) {
        throw new StreamMissing(`the stream ${this.streamName} is missing`, { cause: err });
      }
      throw err;
    }
  }

  /** Whether the server says the stream does not exist (a quick question: false when it does not answer). */
  private async streamGone(): Promise<boolean> {
    try {
      const { nc } = await this.client();
      const jsm = await jetstreamManager(nc, { timeout: Math.min(QUICK_CHECK_MS, this.host.timeoutMs), checkAPI: false });
      await jsm.streams.info(this.streamName);
      return false;
    } catch (err) {
      return failure(err) === 'missing';
    }
  }

  /** Publishes an empty message holding `epoch` after the room's message `seq`; null when another came first. */
  private async writeMarker(subject: string, seq: number, epoch: string): Promise<number | null> {
    const { js } = await this.client();
    const hdrs = natsHeaders();
    hdrs.set(COUNT_HEADER, '0');
    try {
      const ack = await js.publish(subject, stampPush(Buffer.alloc(0), 1, epoch), { headers: hdrs, expect: { lastSubjectSequence: seq } });
      return ack.seq;
    } catch (err) {
      if (failure(err) === 'wrong-last') return null;
      if (failure(err) === 'missing') throw new StreamMissing(`the stream ${this.streamName} is missing`, { cause: err });
      throw err;
    }
  }

  // --- the stream ---

  /** The JetStream clients of the broker's connection now. */
  async client(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    const nc = this.host.connection();
    if (nc === null || !this.host.up()) throw new BrokerUnavailableError('the nats broker is not up');
    if (this.clients?.nc !== nc) {
      const timeout = this.host.timeoutMs;
      const jsm = await jetstreamManager(nc, { timeout, checkAPI: false });
      if (this.clients?.nc !== nc) this.clients = { nc, js: jetstream(nc, { timeout }), jsm };
    }
    return this.clients;
  }

  /** The stream's limits must cover `policy` from now on. */
  private raise(policy: HistoryPolicy): void {
    this.want.size = Math.max(this.want.size, policy.size);
    this.want.ageMs = Math.max(this.want.ageMs, policy.ttlMs);
  }

  /** Makes sure the stream exists with limits that cover `policy` (a request only when it may not). */
  private async ensureStream(policy?: HistoryPolicy): Promise<void> {
    if (policy !== undefined) this.raise(policy);
    const has = this.has;
    if (has !== null && has.size >= this.want.size && has.ageMs >= this.want.ageMs) return;
    await this.streamInfo();
  }

  /**
   * The stream's info, after creating it or setting its limits when needed. One request at a time: the
   * concurrent callers share it.
   */
  streamInfo(): Promise<StreamInfo> {
    this.ensuring ??= this.makeStream().finally(() => {
      this.ensuring = null;
    });
    return this.ensuring;
  }

  private async makeStream(): Promise<StreamInfo> {
    const { jsm } = await this.client();
    const size = this.want.size;
    const ageMs = this.want.ageMs;
    let info: StreamInfo;
    try {
      info = await this.existing(jsm);
    } catch (err) {
      if ([...causes(err)].some((e) => e instanceof natsErrors.NoRespondersError)) {
        throw unavailable('the nats server does not run JetStream (start nats-server with -js): rooms with history cannot be served', err);
      }
      if (failure(err) !== 'missing' || err instanceof StreamMissing) throw this.unavailableFor(err, `looking up the stream ${this.streamName}`);
      try {
        info = await jsm.streams.add(this.config(size, ageMs));
        this.host.log(`jetstream history: created the stream ${this.streamName} (${this.storage}, ${size} messages a room, ${ageMs} ms)`);
      } catch (addError) {
        // Another node made it meanwhile (with other limits, maybe): take it as it is, then adjust.
        try {
          info = await this.existing(jsm);
        } catch {
          throw this.unavailableFor(addError, `creating the stream ${this.streamName}`);
        }
      }
    }
    const current = { size: info.config.max_msgs_per_subject, ageMs: Math.round(info.config.max_age / 1e6) };
    const needs = this.exact && this.has === null ? current.size !== size || current.ageMs !== ageMs : current.size < size || current.ageMs < ageMs;
    if (needs) {
      const update = this.exact ? { size, ageMs } : { size: Math.max(size, current.size), ageMs: Math.max(ageMs, current.ageMs) };
      try {
        info = await jsm.streams.update(this.streamName, { max_msgs_per_subject: update.size, max_age: nanos(update.ageMs) });
      } catch (err) {
        throw this.unavailableFor(err, `updating the limits of the stream ${this.streamName}`);
      }
    }
    const previous = this.has;
    this.has = { size: info.config.max_msgs_per_subject, ageMs: Math.round(info.config.max_age / 1e6), created: info.created };
    if (previous !== null && previous.created !== info.created) {
      this.rooms.clear();
      this.index.clear();
    }
    return info;
  }

  private async existing(jsm: JetStreamManager): Promise<StreamInfo> {
    const info = await jsm.streams.info(this.streamName);
    const subjects = info.config.subjects ?? [];
    if (!subjects.includes(`${HISTORY_SUBJECT_PREFIX}>`)) {
      throw new StreamMissing(`the stream ${this.streamName} exists but does not hold ${HISTORY_SUBJECT_PREFIX}> (subjects ${subjects.join(', ')})`);
    }
    return info;
  }

  private config(size: number, ageMs: number): Partial<StreamConfig> & { name: string } {
    return {
      name: this.streamName,
      description: 'pushgate room history',
      subjects: [`${HISTORY_SUBJECT_PREFIX}>`],
      retention: RetentionPolicy.Limits,
      storage: this.storage,
      num_replicas: this.replicas,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: size,
      max_age: nanos(ageMs),
      allow_direct: true,
    };
  }

  /** The stream is gone, or was replaced: check it again before the next use, and trust no room's position. */
  streamLost(): void {
    this.has = null;
    this.rooms.clear();
    this.index.clear();
  }

  /** A failed request as the error the caller gets; a request without an answer turns the broker down. */
  unavailableFor(err: unknown, what: string): Error {
    if (err instanceof BrokerUnavailableError) return err;
    if (failure(err) === 'timeout') {
      const noAnswer = new NoAnswerError(what, this.host.timeoutMs);
      noAnswer.cause = err;
      this.host.noAnswer(noAnswer);
      this.forget();
      return noAnswer;
    }
    return unavailable(what, err);
  }
}

/**
 * The node's live view of the stream: one ordered consumer (the library's: it recreates itself from the
 * last sequence it saw after a reconnection, a lost message or a lost consumer, so nothing is skipped or
 * seen twice), handing each message to the broker's handler of its room channel.
 *
 * What the library cannot tell is that the stream itself was replaced (nats-server restarted without its
 * store, or the stream deleted): its sequences start over at 1, and a consumer recreated "after sequence
 * N" would skip the new stream's first N messages. So after every recreation of the consumer the stream's
 * creation time is checked before anything more is delivered (what arrives meanwhile is held); a new
 * stream is followed from its first message.
 */
class Feed {
  private generation = 0;
  private messages: ConsumerMessages | null = null;
  private consumer: Consumer | null = null;
  /** Creation time of the stream followed (null before the first start). */
  private created: string | null = null;
  /** The last stream sequence handed over. */
  private lastSeq = 0;
  private checking = 0;
  private held: JsMsg[] = [];
  private started: Promise<void> | null = null;
  private ready: { promise: Promise<void>; resolve: () => void } | null = null;
  /** Whether a consumer is in place (it may be recovering from a loss). */
  running = false;
  private closed = false;
  private failureLogged = false;

  constructor(
    private readonly store: JetStreamHistory,
    private readonly host: JetStreamHost,
  ) {}

  follow(): Promise<void> {
    if (this.started === null) {
      this.started = this.whenRunning();
      void this.restart();
    }
    return this.started;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    this.running = false;
    this.ready?.resolve();
    this.held = [];
    await this.drop();
  }

  /** Stops the consumer and deletes it on the server (else it stays for its inactive threshold). */
  private async drop(): Promise<void> {
    const messages = this.messages;
    const consumer = this.consumer;
    this.messages = null;
    this.consumer = null;
    if (messages !== null) await messages.close().catch(() => {});
    // Bounded: a stalled server must not hold up a close.
    if (consumer !== null && this.host.connection() !== null) await Promise.race([consumer.delete().catch(() => false), sleep(DELETE_WAIT_MS)]);
  }

  private whenRunning(): Promise<void> {
    let resolve!: () => void;
    const promise = new Promise<void>((res) => {
      resolve = res;
    });
    this.ready = { promise, resolve };
    return promise;
  }

  /** (Re)creates the consumer, retrying until it runs or a later restart or close() takes over. */
  private async restart(): Promise<void> {
    const generation = ++this.generation;
    this.held = [];
    this.checking = 0;
    this.running = false;
    void this.drop();
    for (let attempt = 0; !this.closed && generation === this.generation; attempt++) {
      try {
        const info = await this.store.streamInfo();
        if (generation !== this.generation || this.closed) return;
        if (info.created !== this.created) {
          // A first start follows what comes next; a replaced stream is followed from its beginning.
          this.lastSeq = this.created === null ? info.state.last_seq : 0;
          if (this.created !== null) this.store.streamLost();
          this.created = info.created;
        }
        const { js } = await this.store.client();
        const consumer = await js.consumers.get(this.store.stream, { opt_start_seq: this.lastSeq + 1 });
        const messages = await consumer.consume({
          max_messages: FEED_BATCH,
          expires: FEED_EXPIRES_MS,
          callback: (m) => this.onMessage(generation, m),
        });
        if (generation !== this.generation || this.closed) {
          void messages.close().catch(() => {});
          void consumer.delete().catch(() => false);
          return;
        }
        this.messages = messages;
        this.consumer = consumer;
        void this.watch(generation, messages);
        this.failureLogged = false;
        this.running = true;
        this.ready?.resolve();
        return;
      } catch (err) {
        if (!this.failureLogged) {
          this.failureLogged = true;
          this.host.log('jetstream history: cannot follow the stream yet (retrying)', asError(err));
        }
        this.ready?.resolve(); // those waiting (a subscribe) go on: the retries are in the background
        await sleep(Math.min(RETRY_MS * 2 ** attempt, MAX_RETRY_MS));
      }
    }
  }

  private async watch(generation: number, messages: ConsumerMessages): Promise<void> {
    void messages.closed().then(
      () => this.ended(generation),
      () => this.ended(generation),
    );
    for await (const status of messages.status()) {
      if (generation !== this.generation) return;
      if (status.type === 'reset') void this.check(generation);
      else if (status.type === 'stream_not_found') void this.restart();
    }
  }

  // The library gave up (its connection closed): start over on the broker's next connection.
  private ended(generation: number): void {
    if (generation === this.generation && !this.closed) void this.restart();
  }

  /** After the library recreated its consumer: is it still the same stream? Holds deliveries until known. */
  private async check(generation: number): Promise<void> {
    const ticket = ++this.checking;
    for (;;) {
      if (generation !== this.generation) return;
      try {
        this.store.streamLost(); // re-read, not the cached info: that is the question
        const info = await this.store.streamInfo();
        if (generation !== this.generation) return;
        if (info.created !== this.created) {
          void this.restart();
          return;
        }
        break;
      } catch {
        await sleep(RETRY_MS);
      }
    }
    if (ticket !== this.checking) return; // a later reset is being checked
    this.checking = 0;
    const held = this.held;
    this.held = [];
    for (const m of held) this.handle(m);
  }

  private onMessage(generation: number, m: JsMsg): void {
    if (generation !== this.generation) return;
    if (this.checking !== 0) this.held.push(m);
    else this.handle(m);
  }

  private handle(m: JsMsg): void {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    try {
      const stored = describe(m.seq, m.headers, m.data, m.info.timestampNanos / 1e6);
      if (stored === null) return;
      this.store.seen(m.subject, stored);
      if (stored.void || stored.count === 0) return;
      const channel = channelOfSubject(m.subject);
      for (const push of stored.pushes) this.host.deliver(channel, push.payload);
    } catch (err) {
      // Thrown into the library, it would stop the consumer.
      this.host.log(`jetstream history: message ${m.seq} could not be handed over`, asError(err));
    }
  }
}
