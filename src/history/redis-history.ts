import { createHash } from 'node:crypto';
import { ErrorReply, type RedisArgument } from 'redis';
import { type BrokerStatus, BrokerUnavailableError } from '../broker/broker.js';
import { answerWithin, type NoAnswerError } from '../broker/liveness.js';
import { newEpoch } from './history-frame.js';
import type { HistoryPolicy } from './history-policy.js';
import type { HistoryEntry, HistoryPage, HistoryQuery, HistoryStore, StreamPosition } from './history-store.js';
import { STREAM_META_TTL_MS } from './memory-streams.js';

/** Why `--history` refuses Redis Cluster (see {@link RedisHistory}). */
export const HISTORY_NEEDS_STANDALONE = 'history needs a standalone Redis; Redis Cluster is not supported for --history';

/** What of a node-redis connection the store uses (the broker's command connection). */
export interface ScriptClient {
  evalSha(sha1: RedisArgument, options: { keys: RedisArgument[]; arguments: RedisArgument[] }): Promise<unknown>;
  eval(script: RedisArgument, options: { keys: RedisArgument[]; arguments: RedisArgument[] }): Promise<unknown>;
}

/** What the store needs of its RedisBroker: its command connection and its liveness handling. */
export interface RedisHistoryHost {
  status(): BrokerStatus;
  /** The command connection (the one PUBLISH goes on), or undefined when there is none now. */
  client(): ScriptClient | undefined;
  /** How long a command may wait for its reply (the broker's `liveness.timeoutMs`). */
  readonly timeoutMs: number;
  /** A command went unanswered: the broker goes down until a liveness probe is answered. */
  noAnswer(error: NoAnswerError): void;
}

// Shared by both scripts. Stream entries have the id `<offset>-0` (so XRANGE works by offset) and the
// fields t (append time, ms, Redis's clock) and i (the item), in that order.
const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fmt(n)
  return string.format('%d', n)
end
local function offset_of(id)
  return tonumber(string.match(id, '^%d+'))
end
-- The stream's epoch and top. Without a meta hash the stream starts a new epoch at top 0: whatever is
-- left of its entries belonged to the epoch that was lost (evicted meta), so they go.
local function meta(stream, hmeta, candidate)
  local m = redis.call('HMGET', hmeta, 'epoch', 'top')
  if m[1] then return m[1], tonumber(m[2]) end
  redis.call('HSET', hmeta, 'epoch', candidate, 'top', 0)
  redis.call('DEL', stream)
  return candidate, 0
end
`;

// Appends trim by size only (inside XADD); reads trim by age too, which an append need not pay for:
// what expired is bounded by the size meanwhile, and goes with the stream's key expiry at the latest.
const TRIM = `
-- Keeps the last size entries, none appended before oldest (the head only: append times follow the
-- offsets); returns the oldest offset held, or nil. Expired entries are scanned once, then deleted.
local function trim(stream, size, oldest)
  redis.call('XTRIM', stream, 'MAXLEN', size)
  local count = 1
  while true do
    local batch = redis.call('XRANGE', stream, '-', '+', 'COUNT', count)
    if #batch == 0 then return nil end
    for i, entry in ipairs(batch) do
      if tonumber(entry[2][2]) >= oldest then
        if count > 1 or i > 1 then redis.call('XTRIM', stream, 'MINID', entry[1]) end
        return offset_of(entry[1])
      end
    end
    redis.call('XTRIM', stream, 'MINID', fmt(offset_of(batch[#batch][1]) + 1) .. '-0')
    count = 64
  end
end
`;

// KEYS: stream, meta. ARGV: epoch candidate, size, ttl ms, meta ttl ms, deadline ms (0: none), channel,
// payload, items... Returns {last offset, epoch}. Nothing is written before the deadline check, and the
// first write is the one Redis refuses under maxmemory (an error then leaves no trace).
const APPEND = `${PRELUDE}
local stream, hmeta = KEYS[1], KEYS[2]
local now = now_ms()
local deadline = tonumber(ARGV[5])
if deadline > 0 and now > deadline then
  return redis.error_reply('PUSHGATE_LATE the append reached redis after its deadline')
end
local epoch, top = meta(stream, hmeta, ARGV[1])
local first = top + 1
for i = 8, #ARGV do
  top = top + 1
  redis.call('XADD', stream, 'MAXLEN', ARGV[2], fmt(top) .. '-0', 't', now, 'i', ARGV[i])
end
redis.call('HSET', hmeta, 'top', fmt(top))
redis.call('PEXPIRE', stream, ARGV[3])
redis.call('PEXPIRE', hmeta, ARGV[4])
redis.call('PUBLISH', ARGV[6], '#' .. fmt(first) .. ':' .. epoch .. '\\n' .. ARGV[7])
return {top, epoch}
`;

// KEYS: stream, meta. ARGV: epoch candidate, size, ttl ms, meta ttl ms, since ('': none), limit,
// reverse ('1'). Returns {epoch, top, first, offset, item, offset, item, ...}.
const READ = `${PRELUDE}${TRIM}
local stream, hmeta = KEYS[1], KEYS[2]
local now = now_ms()
local epoch, top = meta(stream, hmeta, ARGV[1])
redis.call('PEXPIRE', hmeta, ARGV[4])
local first = trim(stream, tonumber(ARGV[2]), now - tonumber(ARGV[3])) or top + 1
local out = {epoch, top, first}
local since, limit = ARGV[5], ARGV[6]
local entries
if ARGV[7] == '1' then
  if since == '' then
    entries = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', limit)
  elseif tonumber(since) > 1 then
    entries = redis.call('XREVRANGE', stream, '(' .. since .. '-0', '-', 'COUNT', limit)
  else
    entries = {}
  end
else
  local after = since == '' and '-' or '(' .. since .. '-0'
  entries = redis.call('XRANGE', stream, after, '+', 'COUNT', limit)
end
for _, entry in ipairs(entries) do
  out[#out + 1] = offset_of(entry[1])
  out[#out + 1] = entry[2][4]
end
return out
`;

interface Script {
  source: string;
  sha1: string;
}

function script(source: string): Script {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

const APPEND_SCRIPT = script(APPEND);
const READ_SCRIPT = script(READ);

function unavailable(what: string, cause: unknown): BrokerUnavailableError {
  if (cause instanceof BrokerUnavailableError) return cause;
  const error = new BrokerUnavailableError(`${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  error.cause = cause;
  return error;
}

function malformed(what: string, reply: unknown): BrokerUnavailableError {
  return new BrokerUnavailableError(`${what}: unexpected reply from redis ${JSON.stringify(reply)?.slice(0, 200)}`);
}

/** A room's keys: its stream and its meta hash (epoch, top), named after the room like its channel. */
function keysOf(room: string): [string, string] {
  const name = Buffer.from(room, 'utf8').toString('base64url');
  return [`pushgate.hist.${name}`, `pushgate.hmeta.${name}`];
}

/**
 * Room streams in Redis Streams, on the RedisBroker's command connection (so its outage and liveness
 * handling applies: refused at once while the broker is not up, and a command unanswered within the
 * broker timeout is refused and turns the broker down).
 *
 * Each room has two keys: `pushgate.hist.<base64url room>`, a stream whose entry ids are the offsets
 * (`<offset>-0`), and `pushgate.hmeta.<base64url room>`, a hash with the epoch and the top offset. One
 * Lua script appends the items and PUBLISHes the stamped push: Redis runs it whole, alone, so offsets
 * are contiguous across every gateway appending to the room, and what is in history went out live in
 * offset order. The stream expires `ttlMs` after its last append, the meta an hour later; a meta found
 * missing (expired, evicted, a restarted Redis without persistence, a flush) starts a new epoch.
 *
 * Standalone Redis only: in Redis Cluster a script runs on the node of its keys and its PUBLISH would
 * not reach the sharded (SSUBSCRIBE) subscriptions the broker uses there.
 */
export class RedisHistory implements HistoryStore {
  readonly kind = 'redis';
  private closed = false;

  constructor(private readonly host: RedisHistoryHost) {}

  async append(room: string, policy: HistoryPolicy, items: readonly string[], channel: string, payload: Buffer, deadline?: number): Promise<StreamPosition> {
    const args: RedisArgument[] = [
      newEpoch(),
      String(policy.size),
      String(policy.ttlMs),
      String(policy.ttlMs + STREAM_META_TTL_MS),
      deadline === undefined ? '0' : String(Math.ceil(deadline)),
      channel,
      payload,
      ...items,
    ];
    const reply = await this.run(APPEND_SCRIPT, keysOf(room), args, `history append to ${channel}`);
    if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'string') throw malformed('history append', reply);
    return { offset: reply[0], epoch: reply[1] };
  }

  async read(room: string, policy: HistoryPolicy, query: HistoryQuery): Promise<HistoryPage> {
    const { since } = query;
    if (since !== undefined && !(Number.isSafeInteger(since) && since >= 0)) throw new RangeError(`since must be an offset ≥ 0, not ${since}`);
    const limit = Math.max(1, Math.floor(query.limit));
    const args = [
      newEpoch(),
      String(policy.size),
      String(policy.ttlMs),
      String(policy.ttlMs + STREAM_META_TTL_MS),
      since === undefined ? '' : String(since),
      String(Number.isFinite(limit) ? limit : policy.size),
      query.reverse ? '1' : '0',
    ];
    const reply = await this.run(READ_SCRIPT, keysOf(room), args, 'history read');
    if (!Array.isArray(reply) || reply.length % 2 === 0 || typeof reply[0] !== 'string' || typeof reply[1] !== 'number' || typeof reply[2] !== 'number') {
      throw malformed('history read', reply);
    }
    const entries: HistoryEntry[] = [];
    for (let i = 3; i < reply.length; i += 2) entries.push({ offset: reply[i] as number, item: String(reply[i + 1]) });
    return { epoch: reply[0], top: reply[1], first: reply[2], entries };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Runs `script` (EVALSHA; EVAL when Redis lost its script cache), bounded by the broker timeout. */
  private run(script: Script, keys: RedisArgument[], args: RedisArgument[], what: string): Promise<unknown> {
    const status = this.closed ? 'closed' : this.host.status();
    if (status !== 'up') return Promise.reject(new BrokerUnavailableError(`the redis broker is ${status}`));
    const client = this.host.client();
    if (client === undefined) return Promise.reject(new BrokerUnavailableError('the redis broker is not connected'));
    let late = false;
    const options = { keys, arguments: args };
    let command: Promise<unknown>;
    try {
      command = client.evalSha(script.sha1, options).catch((err: unknown) => {
        // Once the caller has been refused, nothing more is sent.
        if (late || !(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
        return client.eval(script.source, options);
      });
    } catch (err) {
      return Promise.reject(unavailable(what, err));
    }
    return answerWithin(command, this.host.timeoutMs, what, (error) => {
      late = true;
      this.host.noAnswer(error);
    }).catch((err: unknown) => {
      throw unavailable(what, err);
    });
  }
}
