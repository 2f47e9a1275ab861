import type { Connection } from '../connection/connection.js';
import { type ErrorFrameBody, frameError } from '../protocol/errors.js';
import { HookCallError, type HookCaller } from './hook-client.js';
import { hookFailureFrame } from './hook-errors.js';

/** The outcome of an RPC: the backend's result (JSON text), or an ERROR (with the backend's own code beside it). */
export type RpcOutcome = { ok: true; result: string } | { ok: false; error: ErrorFrameBody; backendCode?: string };

/**
 * Client RPC to the backend: each request is posted to the route of its method (`rpcRoutes`) or to
 * `rpcHook`; a 2xx `{"result": …}` becomes the REPLY, a 2xx `{"error": {code, message}}` or a 4xx
 * `{code, message}` an ERROR `BACKEND_ERROR` carrying the backend's code. At most `maxInFlight` requests
 * per connection wait for their answers (more get `TOO_MANY_REQUESTS` at once); the owner of that count.
 */
export class RpcRelay {
  private readonly inFlight = new Map<Connection, number>();

  constructor(
    /** The caller for a method, or null when none handles it. */
    private readonly route: (method: string) => HookCaller | null,
    private readonly maxInFlight: number,
  ) {}

  /** Calls the backend; never rejects. */
  async call(conn: Connection, method: string, data: unknown): Promise<RpcOutcome> {
    const caller = this.route(method);
    if (caller === null) return { ok: false, error: frameError.UNKNOWN_METHOD.noRoute(method) };
    const count = this.inFlight.get(conn) ?? 0;
    if (count >= this.maxInFlight) return { ok: false, error: frameError.TOO_MANY_REQUESTS.rpcInFlight(this.maxInFlight) };
    this.inFlight.set(conn, count + 1);
    try {
      const answer = await caller.call({ conn: conn.id, user: conn.userId ?? null, method, data: data ?? null });
      return outcome(answer.status, answer.body);
    } catch (error) {
      if (error instanceof HookCallError) return { ok: false, error: hookFailureFrame(error) };
      throw error;
    } finally {
      const left = (this.inFlight.get(conn) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(conn);
      else this.inFlight.set(conn, left);
    }
  }

  /** Requests in flight for `conn` (for the tests). */
  inFlightOf(conn: Connection): number {
    return this.inFlight.get(conn) ?? 0;
  }
}

function outcome(status: number, body: unknown): RpcOutcome {
  const object = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  const failure = status >= 400 ? (object ?? {}) : object?.error;
  if (failure !== undefined) {
    const { code, message } = (failure ?? {}) as { code?: unknown; message?: unknown };
    const backendCode = typeof code === 'string' && code !== '' ? code.slice(0, 64) : typeof code === 'number' ? String(code) : 'ERROR';
    const text = typeof message === 'string' && message !== '' ? message.slice(0, 500) : `the backend refused the call (HTTP ${status})`;
    return { ok: false, error: frameError.BACKEND_ERROR.rpc(text), backendCode };
  }
  if (body !== null && object === null) return { ok: false, error: frameError.BAD_GATEWAY.badAnswer('rpc', 'the answer must be a JSON object {"result": …}') };
  return { ok: true, result: JSON.stringify(object?.result ?? null) };
}
