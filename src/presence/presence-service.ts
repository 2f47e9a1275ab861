import { BrokerUnavailableError } from '../broker/broker.js';
import type { ClusterLink } from '../cluster/cluster-link.js';
import type { PresenceEntry } from '../protocol/client-protocol.js';
import { apiError } from '../protocol/errors.js';
import { roomNameProblem } from '../protocol/room-name.js';
import type { PresenceAnswer, PresenceAsk } from './presence-query.js';

/**
 * A room's presence over the cluster (`GET /presence`, the PRESENCE frame's result): its connections
 * (each with its user and node) and distinct users, unless the room holds more than `presenceMax`
 * connections (then counts only, and `truncated`); `partial` as for a user's connections: some node
 * of this node's view did not answer within the broker timeout (`unanswered` names them), or the view
 * was not current.
 */
export interface PresenceView {
  room: string;
  connections?: PresenceEntry[];
  users?: string[];
  count: number;
  userCount: number;
  partial: boolean;
  unanswered?: string[];
  truncated?: true;
}

/** A room's counts over the cluster (`GET /presence/stats`). */
export interface PresenceCounts {
  room: string;
  count: number;
  userCount: number;
  partial: boolean;
  unanswered?: string[];
}

/** The other nodes' answers to one presence ask, and whether some may be missing. */
export interface PresenceGathering {
  answers: Map<string, PresenceAnswer>;
  partial: boolean;
  unanswered: string[];
}

/** What room presence is asked through, on the push API and by clients (the PRESENCE frame). */
export interface PresenceApi {
  /** The room's presence; 400 `INVALID_ROOM`, 503 `BROKER_UNAVAILABLE` (rejects with a PushError). */
  presence(room: string): Promise<PresenceView>;
  /** The room's counts; errors as {@link presence}. */
  counts(room: string): Promise<PresenceCounts>;
}

/** What the cluster-wide answers need of the node. */
export interface PresenceServiceParts {
  nodeId: string;
  /** `--presence-max`. */
  max: number;
  /** This node's own answer, live. */
  local(ask: PresenceAsk): PresenceAnswer;
  /** The other nodes' answers (none for a gateway alone); rejects with 503 while the broker is down. */
  gather(ask: PresenceAsk): Promise<PresenceGathering>;
  /** Members of the room on the other nodes as their presence reports last said: whether to ask for lists. */
  reported(room: string): number;
  /** Counts one answered query (`presenceQueries`). */
  counted(): void;
}

/**
 * Asks every other node that holds connections through `link` (one query on the channel of pushes to
 * all, as for a user's connections), waiting at most the broker timeout. A gateway alone asks nobody.
 */
export function gatherPresence(link: () => ClusterLink): (ask: PresenceAsk) => Promise<PresenceGathering> {
  return async (ask) => {
    const cluster = link();
    if (!cluster.broker.shared) return { answers: new Map(), partial: false, unanswered: [] };
    if (cluster.broker.status !== 'up') throw apiError.BROKER_UNAVAILABLE.unreachable();
    const current = cluster.viewCurrent;
    const { answers, missing } = await cluster.askAll(ask).catch((error: unknown) => {
      if (error instanceof BrokerUnavailableError) throw apiError.BROKER_UNAVAILABLE.unreachable();
      throw error;
    });
    const presence = new Map<string, PresenceAnswer>();
    for (const [node, answer] of answers) if (answer.op === 'presence') presence.set(node, answer);
    return { answers: presence, partial: missing.length > 0 || !current, unanswered: missing.sort() };
  };
}

/**
 * Room presence over the cluster. This node counts its own members live and asks the others; each
 * node sends its members only when it holds at most `presenceMax` of them, and none is asked for them
 * when the presence reports already count more than that in the room, so an answer stays bounded
 * whatever the room's size. Over `presenceMax` in all, the answer is counts only.
 */
export class PresenceService implements PresenceApi {
  constructor(private readonly parts: PresenceServiceParts) {}

  async presence(room: string): Promise<PresenceView> {
    checkRoom(room);
    this.parts.counted();
    return this.combined(room);
  }

  /**
   * The presence of a room the server names itself (a Pusher channel's `#pusher:…` room, which no
   * client or push API can spell, so {@link presence}'s name check would refuse it); 503 as {@link presence}.
   */
  async serverRoom(room: string): Promise<PresenceView> {
    this.parts.counted();
    return this.combined(room);
  }

  async counts(room: string): Promise<PresenceCounts> {
    checkRoom(room);
    this.parts.counted();
    const { count, userCount, partial, unanswered } = await this.combined(room);
    return { room, count, userCount, partial, ...(unanswered === undefined ? {} : { unanswered }) };
  }

  private async combined(room: string): Promise<PresenceView> {
    const { nodeId, max } = this.parts;
    const here = this.parts.local({ op: 'presence', room, list: false, max }).count;
    // Lists only when they may fit: the reports are at most 3 presence intervals old, so ask again
    // (once) with lists when counts alone came back under the bound.
    let list = here + this.parts.reported(room) <= max;
    for (;;) {
      const ask: PresenceAsk = { op: 'presence', room, list, max };
      const gathering = await this.parts.gather(ask);
      const answers: Array<[string, PresenceAnswer]> = [[nodeId, this.parts.local(ask)], ...gathering.answers];
      let count = 0;
      for (const [, answer] of answers) count += answer.count;
      if (!list && count <= max) {
        list = true;
        continue;
      }
      return combine(room, answers, count, max, gathering);
    }
  }
}

function combine(room: string, answers: Array<[string, PresenceAnswer]>, count: number, max: number, gathering: PresenceGathering): PresenceView {
  const gathered = { partial: gathering.partial, ...(gathering.unanswered.length === 0 ? {} : { unanswered: gathering.unanswered }) };
  const listed = answers.every(([, answer]) => answer.members !== undefined);
  if (count > max || !listed) {
    // Each node counted its own distinct users: a user with connections on two nodes counts on both.
    let userCount = 0;
    for (const [, answer] of answers) userCount += answer.userCount;
    return { room, count, userCount, ...gathered, truncated: true };
  }
  const connections: PresenceEntry[] = [];
  const users = new Set<string>();
  for (const [node, answer] of answers) {
    for (const { conn, user } of answer.members ?? []) {
      connections.push({ conn, user, node });
      if (user !== null) users.add(user);
    }
  }
  connections.sort((a, b) => compare(a.node, b.node) || compare(a.conn, b.conn));
  return { room, connections, users: [...users].sort(compare), count: connections.length, userCount: users.size, ...gathered };
}

function checkRoom(room: string): void {
  const problem = roomNameProblem(room);
  if (problem !== null) throw apiError.INVALID_ROOM.problem(problem);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
