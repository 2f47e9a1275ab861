import type { ConnectionQuery, NodeQuery, NodeReply, QueryAnswer } from './query-envelope.js';

/** What a query gathered by its deadline: each answering node's answer, and the nodes awaited that did not answer. */
export interface Gathered {
  answers: Map<string, QueryAnswer>;
  missing: string[];
}

interface Pending {
  /** The node asked, or null when every node was. */
  to: string | null;
  op: ConnectionQuery['op'];
  awaited: Set<string>;
  answers: Map<string, QueryAnswer>;
  timer: NodeJS.Timeout;
  resolve(gathered: Gathered): void;
}

/**
 * The asking side of the connection API's queries between nodes: each query gets a sequence number of
 * this node's, and its replies are matched to it by that number until all the nodes awaited have
 * answered or its timeout passes, whichever is first; then it resolves with what it gathered. A reply
 * to no query waiting (it came after its timeout, or was never asked for) and a reply that does not
 * fit its query (another operation, a node not asked) are counted and dropped.
 */
export class NodeQueries {
  private readonly pending = new Map<number, Pending>();
  private sequence = 0;
  /** Replies that came for no query waiting: after its timeout, or twice from one node. */
  late = 0;
  /** Replies that did not fit their query: another operation, or from a node that was not asked. */
  mismatched = 0;

  /**
   * @param nodeId this node's id, the `from` of its queries
   * @param publish sends a query on its way (to `query.to`'s node channel, or to every node); rejects when the broker cannot take it
   */
  constructor(
    private readonly nodeId: string,
    private readonly publish: (query: NodeQuery) => Promise<void>,
  ) {}

  /** Queries waiting for replies. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Asks `to` (a node id), or every node (null), and resolves with what the nodes in `awaited` (and
   * any other that answers meanwhile) replied within `timeoutMs`; it resolves at once when `awaited`
   * is empty, without publishing. Rejects, having asked nobody, when the publish is refused.
   */
  ask(to: string | null, awaited: Iterable<string>, ask: ConnectionQuery, timeoutMs: number, clockSkewMs = 0): Promise<Gathered> {
    const nodes = new Set(awaited);
    nodes.delete(this.nodeId);
    if (nodes.size === 0) return Promise.resolve({ answers: new Map(), missing: [] });
    const id = ++this.sequence;
    return new Promise<Gathered>((resolve, reject) => {
      const timer = setTimeout(() => this.finish(id), timeoutMs);
      timer.unref();
      this.pending.set(id, { to, op: ask.op, awaited: nodes, answers: new Map(), timer, resolve });
      // No node may act on it once this node has answered without its reply (plus the clocks' tolerance).
      const query: NodeQuery = { id, from: this.nodeId, to, expiresAt: Date.now() + timeoutMs + clockSkewMs, ask };
      this.publish(query).catch((error: unknown) => {
        const entry = this.pending.get(id);
        if (entry === undefined) return; // timed out already: answered as missing
        clearTimeout(entry.timer);
        this.pending.delete(id);
        reject(error);
      });
    });
  }

  /** Takes a reply to one of this node's queries. */
  replied(reply: NodeReply): void {
    if (reply.to !== this.nodeId) return;
    const entry = this.pending.get(reply.id);
    if (entry === undefined || entry.answers.has(reply.from)) {
      this.late += 1;
      return;
    }
    if (reply.answer.op !== entry.op || (entry.to !== null && reply.from !== entry.to)) {
      this.mismatched += 1;
      return;
    }
    entry.answers.set(reply.from, reply.answer);
    entry.awaited.delete(reply.from);
    if (entry.awaited.size === 0) this.finish(reply.id);
  }

  /** Resolves every query waiting with what it has (this node is stopping). */
  clear(): void {
    for (const id of [...this.pending.keys()]) this.finish(id);
  }

  private finish(id: number): void {
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.pending.delete(id);
    entry.resolve({ answers: entry.answers, missing: [...entry.awaited] });
  }
}
