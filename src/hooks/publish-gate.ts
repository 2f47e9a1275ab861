import type { Connection } from '../connection/connection.js';
import { type ErrorFrameBody, frameError } from '../protocol/errors.js';
import { HookCallError, type HookCaller } from './hook-client.js';
import { hookFailureFrame, refusalReason } from './hook-errors.js';

/** A PUBLISH allowed: the item to push to the room (the client's, or what the publish hook put instead). */
export interface PublishGrant {
  ok: true;
  item: unknown;
}

/**
 * Who may PUBLISH to a room: the token, when its `publish` claim allows the room (no backend is asked),
 * else the publish hook (a 2xx allows, with `{"data": …}` replacing the item; a 4xx refuses with the
 * backend's reason), else nobody (ERROR `FORBIDDEN`).
 */
export class PublishGate {
  constructor(private readonly caller: HookCaller | null) {}

  /** Decides; never rejects. */
  async decide(conn: Connection, room: string, data: unknown): Promise<PublishGrant | ErrorFrameBody> {
    if (conn.auth?.publish?.allows(room) === true) return { ok: true, item: data };
    if (this.caller === null) return frameError.FORBIDDEN.publishNotAllowed(room);
    try {
      const answer = await this.caller.call({ conn: conn.id, user: conn.userId ?? null, room, data });
      if (answer.status >= 400) return frameError.FORBIDDEN.byBackend(refusalReason(answer.body, `the backend refused the publish to ${JSON.stringify(room)}`));
      const body = answer.body;
      if (body !== null && (typeof body !== 'object' || Array.isArray(body)))
        return frameError.BAD_GATEWAY.badAnswer('publish', 'the answer must be a JSON object');
      const replaced = (body as { data?: unknown } | null)?.data;
      return { ok: true, item: replaced === undefined ? data : replaced };
    } catch (error) {
      if (error instanceof HookCallError) return hookFailureFrame(error);
      throw error;
    }
  }
}
