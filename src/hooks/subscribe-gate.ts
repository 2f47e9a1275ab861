import type { Connection } from '../connection/connection.js';
import { type ErrorFrameBody, frameError } from '../protocol/errors.js';
import { HookCallError, type HookCaller } from './hook-client.js';
import { hookFailureFrame, refusalReason } from './hook-errors.js';

/** A JOIN the subscribe hook allowed: its per-room data for the client (JSON text), if any. */
export interface SubscribeGrant {
  ok: true;
  data: string | undefined;
}

/**
 * The subscribe hook: a JOIN is posted to the backend first (connection, user, room, the client's data);
 * a 2xx allows it (its `data`, if any, goes back in the ACK), a 4xx refuses it (ERROR `FORBIDDEN` with the
 * backend's reason). A room the token's `rooms` claim allows skips the hook (the token is the backend's
 * own earlier decision); one the claim does not allow is refused before the hook is asked.
 */
export class SubscribeGate {
  constructor(private readonly caller: HookCaller) {}

  /** Whether a JOIN of `room` by `conn` must ask the hook. */
  asks(conn: Connection): boolean {
    // A rooms claim that allows the room was checked before: the token decided.
    return (conn.auth?.rooms ?? null) === null;
  }

  /** Asks the backend; never rejects. */
  async ask(conn: Connection, room: string, data: unknown): Promise<SubscribeGrant | ErrorFrameBody> {
    try {
      const answer = await this.caller.call({ conn: conn.id, user: conn.userId ?? null, room, data: data ?? null });
      if (answer.status >= 400) return frameError.FORBIDDEN.byBackend(refusalReason(answer.body, `the backend refused room ${JSON.stringify(room)}`));
      const body = answer.body;
      if (body !== null && (typeof body !== 'object' || Array.isArray(body)))
        return frameError.BAD_GATEWAY.badAnswer('subscribe', 'the answer must be a JSON object');
      const given = (body as { data?: unknown } | null)?.data;
      return { ok: true, data: given === undefined ? undefined : JSON.stringify(given) };
    } catch (error) {
      if (error instanceof HookCallError) return hookFailureFrame(error);
      throw error;
    }
  }
}
