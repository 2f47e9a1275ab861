import { type HookAnswer, HookCallError, type HookCaller, type HookClient } from './hook-client.js';
import { HookHeader } from './hook-signature.js';

/** How a {@link HookBatcher} merges calls (`--hook-batch-max`, `--hook-batch-delay`). */
export interface HookBatchSettings {
  /** Calls one batch holds at most: a batch that reaches it is posted at once. */
  maxCalls: number;
  /** How long the first call of a batch waits for more (ms); 0: until the end of the event-loop turn. */
  delayMs: number;
  /**
   * Batches not yet full that may be in flight at once (default {@link DEFAULT_BATCHES_IN_FLIGHT}):
   * while that many are out, a batch that is due waits for one of them to settle, gathering calls.
   * Give at most the client's `concurrency` (a batch posted beyond it would only wait in the client).
   */
  maxInFlight?: number;
}

/**
 * Partial batches in flight at once by default. One would leave the backend idle for a round trip
 * after every answer (while the answer travels back, the callers ask again and the next batch travels
 * out); two keep it busy while one batch is answered and the next is sent; a few more let a backend of
 * several workers take them in parallel. Beyond that the batches only get smaller for the same load, and
 * a backend pays its per-request cost (parsing, routing, signature, logging) more often. Measured with
 * bench/hook-rate.ts: see notes/readme-batching.md.
 */
export const DEFAULT_BATCHES_IN_FLIGHT = 4;

/** One call waiting in a batch. */
interface Waiting {
  payload: unknown;
  resolve: (answer: HookAnswer) => void;
  reject: (error: HookCallError) => void;
}

/**
 * Merges the calls made to one hook close together into one POST (`--hook-batch`): body
 * `{"calls":[<payload 1>, <payload 2>, …]}` with header `X-Pushgate-Batch: <n>`, answered
 * 200 `{"results":[{"status":200,"body":<answer 1>}, {"status":403,"body":{"reason":"…"}}, …]}` — one
 * entry per call, in the same order. Each call's promise gets its entry: `status` 2xx is the backend's
 * answer, 4xx its refusal (`body` any JSON, null when missing), 5xx fails that call alone as
 * `unavailable`.
 *
 * With batching on, EVERY call goes in that shape, a lone call too (`{"calls":[p]}`, `X-Pushgate-Batch: 1`):
 * a backend then speaks one shape, and needs no second code path that only bursts would exercise.
 *
 * When a batch goes: when it holds `maxCalls`, at once; otherwise at the end of the event-loop turn of
 * its first call (`delayMs` 0), so the calls a burst of frames makes in one turn share a POST while a
 * lone call waits for nothing, or `delayMs` after its first call. Under load the batches grow by
 * themselves: at most `maxInFlight` batches that are not full are in flight, and while they are all
 * out, a batch that is due stays open and takes the calls that come meanwhile, going as soon as one of
 * them settles (or at once when it fills up). So a light load costs no latency, and a heavy one
 * turns into few fat requests instead of many small ones queued behind the client's concurrency limit.
 * A full batch never waits for that rule (waiting could not make it larger): it is posted at once,
 * bounded by the client's concurrency and timeout like any call.
 *
 * What bounds a call's wait: its batch's delay, then (when `maxInFlight` batches are out) the first of
 * them to settle — each bounded by the client's timeout — then its own POST, bounded by the timeout too.
 *
 * No call is left pending: a POST that fails (the client's timeout, `unavailable`, `bad-answer`, its
 * breaker open) fails every call in it with that error; an answer that is not 200 with a `results`
 * array of exactly one well-formed entry per call (`status` an integer 200–599) fails every call
 * as `bad-answer` — a backend that got one entry wrong may have shifted the others, so none is trusted.
 *
 * The client counts each POST once (its breaker, its observer): a 5xx entry does not count toward the
 * breaker, a batch whose POST fails counts once. The client's `maxAnswerBytes` bounds the whole batch's
 * answer. Payloads are serialised when their batch is posted: do not change one after calling.
 */
export class HookBatcher implements HookCaller {
  readonly hook: string;
  private readonly maxInFlight: number;
  private open: Waiting[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private timerIsImmediate = false;
  /** The open batch's time has come; it waits for a batch in flight to settle. */
  private due = false;
  private inFlight = 0;

  constructor(
    private readonly client: HookClient,
    private readonly settings: HookBatchSettings,
  ) {
    this.hook = client.hook;
    this.maxInFlight = Math.max(1, settings.maxInFlight ?? DEFAULT_BATCHES_IN_FLIGHT);
    if (!Number.isInteger(settings.maxCalls) || settings.maxCalls < 1) throw new RangeError(`maxCalls must be an integer ≥ 1, got ${settings.maxCalls}`);
  }

  /** Calls waiting in the open batch (not posted yet). */
  get waitingCalls(): number {
    return this.open.length;
  }

  /** Batches posted and not settled yet. */
  get batchesInFlight(): number {
    return this.inFlight;
  }

  call(payload: unknown): Promise<HookAnswer> {
    return new Promise<HookAnswer>((resolve, reject) => {
      this.open.push({ payload, resolve, reject });
      if (this.open.length >= this.settings.maxCalls) this.post();
      else if (this.open.length === 1 && !this.due) this.schedule();
    });
  }

  /** Posts the open batch now, whatever is in flight (e.g. when the gateway stops). */
  flush(): void {
    if (this.open.length > 0) this.post();
  }

  private schedule(): void {
    const fire = (): void => {
      this.timer = null;
      this.due = true;
      if (this.inFlight < this.maxInFlight) this.post();
    };
    this.timerIsImmediate = this.settings.delayMs <= 0;
    this.timer = this.timerIsImmediate ? setImmediate(fire) : setTimeout(fire, this.settings.delayMs);
  }

  private cancel(): void {
    if (this.timer === null) return;
    if (this.timerIsImmediate) clearImmediate(this.timer as NodeJS.Immediate);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = null;
  }

  private post(): void {
    this.cancel();
    this.due = false;
    const batch = this.open;
    this.open = [];
    this.inFlight += 1;
    void this.send(batch).finally(() => {
      this.inFlight -= 1;
      if (this.due && this.open.length > 0 && this.inFlight < this.maxInFlight) this.post();
    });
  }

  // Never rejects: every call of the batch is settled here, one way or the other.
  private async send(batch: Waiting[]): Promise<void> {
    const n = batch.length;
    let answer: HookAnswer;
    try {
      answer = await this.client.call({ calls: batch.map((waiting) => waiting.payload) }, { [HookHeader.BATCH]: String(n) });
    } catch (error) {
      const failure = error instanceof HookCallError ? error : new HookCallError(this.hook, 'unavailable', (error as Error)?.message ?? String(error));
      for (const waiting of batch) waiting.reject(failure);
      return;
    }
    const problem = shapeProblem(answer, n);
    if (problem !== null) {
      const failure = new HookCallError(this.hook, 'bad-answer', `batch of ${n}: ${problem}`);
      for (const waiting of batch) waiting.reject(failure);
      return;
    }
    const results = (answer.body as { results: Array<{ status: number; body?: unknown }> }).results;
    batch.forEach((waiting, i) => {
      const { status, body } = results[i]!;
      if (status >= 500) waiting.reject(new HookCallError(this.hook, 'unavailable', `answered ${status} in a batch`));
      else waiting.resolve({ status, body: body === undefined ? null : body });
    });
  }
}

/** Why a batch's answer cannot be used (never the backend's body, which may be large or private), or null. */
function shapeProblem(answer: HookAnswer, n: number): string | null {
  if (answer.status !== 200) return `answered HTTP ${answer.status}, not 200 with results`;
  const body = answer.body;
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { results?: unknown }).results)) return 'the answer has no "results" array';
  const results = (body as { results: unknown[] }).results;
  if (results.length !== n) return `${results.length} results for ${n} calls`;
  for (let i = 0; i < n; i++) {
    const entry = results[i];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `result ${i} is not an object`;
    const status = (entry as { status?: unknown }).status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return `result ${i} has no status from 200 to 599`;
    if (status >= 300 && status < 400) return `result ${i} has status ${status} (2xx, 4xx or 5xx only)`;
  }
  return null;
}
