import { type Dispatcher, request } from 'undici';
import { type BreakerState, CircuitBreaker } from './circuit-breaker.js';
import { HookHeader, signHookRequest } from './hook-signature.js';

/** How a hook call failed: no answer in time, the backend down (or 5xx, or its breaker open), or an answer that cannot be used. */
export type HookFailure = 'timeout' | 'unavailable' | 'bad-answer';

/** What became of one hook call, for the counters and the latency histogram. */
export type HookOutcome = 'ok' | 'refused' | HookFailure;

/** A hook call that got no usable answer. The client is told by {@link HookFailure} (see src/hooks/hook-errors.ts). */
export class HookCallError extends Error {
  constructor(
    /** The hook's name (`connect`, `rpc`, …). */
    readonly hook: string,
    readonly kind: HookFailure,
    /** What happened, for the client's ERROR message and the logs: never the backend's body. */
    readonly detail: string,
  ) {
    super(`${hook} hook: ${detail}`);
    this.name = 'HookCallError';
  }
}

/** A backend's answer: its status (2xx or 4xx) and its JSON body (null when empty). */
export interface HookAnswer {
  status: number;
  body: unknown;
}

/** Anything a hook call can be made through: a {@link HookClient}, or a batcher in front of one. */
export interface HookCaller {
  /** The hook's name (`connect`, `rpc`, …). */
  readonly hook: string;
  /** Posts `payload` as JSON; resolves with a 2xx or 4xx answer, rejects with a {@link HookCallError}. */
  call(payload: unknown): Promise<HookAnswer>;
}

/** Told of every call's outcome and time (the gateway keeps counters and histograms). */
export interface HookObserver {
  called(hook: string, outcome: HookOutcome, ms: number): void;
}

/** How a hook's calls are made (`--hook-timeout`, `--hook-concurrency`, `--hook-max-answer`, the breaker, `--hook-secret`). */
export interface HookClientSettings {
  timeoutMs: number;
  concurrency: number;
  maxAnswerBytes: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  /** Signs every request when not empty. */
  secret: string;
}

/**
 * One backend URL called as a hook: JSON posted over a shared keep-alive undici dispatcher, at most
 * `concurrency` at once (more wait their turn, within the same timeout), each signed when a secret is set,
 * each bounded in time (`timeoutMs`, from the call to the whole answer) and in answer size, behind a
 * circuit breaker. A 2xx or 4xx is an answer (the backend decided); a 5xx, a timeout, a network error or
 * an answer that is not JSON is a failure, counted by the breaker.
 */
export class HookClient implements HookCaller {
  private readonly breaker: CircuitBreaker;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly hook: string,
    readonly url: string,
    private readonly settings: HookClientSettings,
    private readonly dispatcher: Dispatcher,
    private readonly observer: HookObserver = { called() {} },
    now: () => number = Date.now,
  ) {
    this.breaker = new CircuitBreaker(settings.breakerFailures, settings.breakerCooldownMs, now);
  }

  /** The breaker's state (for /stats and the dashboard). */
  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  call(payload: unknown, headers: Readonly<Record<string, string>> = {}): Promise<HookAnswer> {
    return this.observed(performance.now(), this.send(payload, false, headers));
  }

  /**
   * Posts `body` as it is (already serialised JSON) through the same path as {@link call}: breaker,
   * concurrency slot, timeout, signature, bounded answer. For a caller that signs the exact bytes sent
   * itself (Pusher's webhooks: `X-Pusher-Signature` is an HMAC of the raw body). Resolves with a 2xx or
   * 4xx answer whose `body` is the answer's text, unparsed (a webhook endpoint may answer `ok`); rejects
   * with a {@link HookCallError} as {@link call} does.
   */
  callBody(body: string, headers: Readonly<Record<string, string>> = {}): Promise<HookAnswer> {
    return this.observed(performance.now(), this.send(body, true, headers));
  }

  // Tells the observer of the call's outcome and time; every failure leaves as a HookCallError.
  private observed(started: number, sending: Promise<HookAnswer>): Promise<HookAnswer> {
    return sending.then(
      (answer) => {
        this.observer.called(this.hook, answer.status < 300 ? 'ok' : 'refused', performance.now() - started);
        return answer;
      },
      (error: unknown) => {
        const failure = error instanceof HookCallError ? error : new HookCallError(this.hook, 'unavailable', (error as Error).message);
        this.observer.called(this.hook, failure.kind, performance.now() - started);
        throw failure;
      },
    );
  }

  // `raw`: `payload` is the body text itself, and the answer's text is handed back unparsed.
  private async send(payload: unknown, raw: boolean, headers: Readonly<Record<string, string>>): Promise<HookAnswer> {
    if (!this.breaker.allow()) {
      throw new HookCallError(
        this.hook,
        'unavailable',
        `failed ${this.settings.breakerFailures} times in a row; retrying in ${Math.ceil(this.breaker.retryInMs / 1000)} s`,
      );
    }
    const body = raw ? (payload as string) : JSON.stringify(payload);
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.settings.timeoutMs);
    try {
      await this.slot(abort.signal);
      try {
        const answer = await this.post(body, raw, headers, abort.signal);
        this.breaker.succeeded();
        return answer;
      } finally {
        this.release();
      }
    } catch (error) {
      this.breaker.failed();
      if (timedOut) throw new HookCallError(this.hook, 'timeout', `no answer within ${this.settings.timeoutMs} ms`);
      if (error instanceof HookCallError) throw error;
      const { code, message } = error as { code?: string; message: string };
      throw new HookCallError(this.hook, 'unavailable', code ?? message);
    } finally {
      clearTimeout(timer);
    }
  }

  private async post(body: string, raw: boolean, extra: Readonly<Record<string, string>>, signal: AbortSignal): Promise<HookAnswer> {
    const timestamp = Date.now();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [HookHeader.HOOK]: this.hook,
      [HookHeader.TIMESTAMP]: String(timestamp),
      ...extra,
    };
    if (this.settings.secret !== '') headers[HookHeader.SIGNATURE] = signHookRequest(this.settings.secret, timestamp, body);
    const response = await request(this.url, { method: 'POST', headers, body, dispatcher: this.dispatcher, signal });
    const status = response.statusCode;
    const text = await this.readBody(response.body);
    if (status >= 500) throw new HookCallError(this.hook, 'unavailable', `answered HTTP ${status}`);
    if (status < 200 || (status >= 300 && status < 400)) throw new HookCallError(this.hook, 'bad-answer', `answered HTTP ${status}`);
    if (raw) return { status, body: text };
    if (text.trim() === '') return { status, body: null };
    try {
      return { status, body: JSON.parse(text) };
    } catch {
      // A refusal may come as plain text from a framework's default handler: its text is the reason.
      if (status >= 400) return { status, body: { reason: text.slice(0, 200) } };
      throw new HookCallError(this.hook, 'bad-answer', `answered HTTP ${status} with a body that is not JSON`);
    }
  }

  private async readBody(body: Dispatcher.ResponseData['body']): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > this.settings.maxAnswerBytes) {
        body.destroy();
        throw new HookCallError(this.hook, 'bad-answer', `answer larger than ${this.settings.maxAnswerBytes} bytes (hookMaxAnswer)`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  // Waits for one of the `concurrency` slots (or the abort).
  private slot(signal: AbortSignal): Promise<void> {
    if (this.inFlight < this.settings.concurrency) {
      this.inFlight += 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const take = (): void => {
        signal.removeEventListener('abort', give);
        this.inFlight += 1;
        resolve();
      };
      const give = (): void => {
        const at = this.waiting.indexOf(take);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new Error('aborted while waiting'));
      };
      signal.addEventListener('abort', give, { once: true });
      this.waiting.push(take);
    });
  }

  private release(): void {
    this.inFlight -= 1;
    this.waiting.shift()?.();
  }
}
