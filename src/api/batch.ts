import { apiError, PushError } from '../protocol/errors.js';
import type { PushResult, PushService } from '../push/push-service.js';
import type { BatchPush } from './batch-body.js';

/** What one push of a batch amounts to, as `POST /push/batch` lists it. */
export type BatchResult =
  | { ok: true; items: number; recipients: number; offset?: number; epoch?: string }
  | { ok: false; error: { code: string; message: string } };

/** A push's answer: what was accepted and addressed, and, for a room with history, its last item's offset and the epoch. */
export function pushAnswer({ items, recipients, offset, epoch }: PushResult): { ok: true; items: number; recipients: number; offset?: number; epoch?: string } {
  return offset === undefined ? { ok: true, items, recipients } : { ok: true, items, recipients, offset, epoch };
}

function refused(error: PushError): BatchResult {
  return { ok: false, error: { code: error.code, message: error.message } };
}

function start(service: PushService, push: BatchPush): Promise<PushResult> | PushError {
  if (push.error !== undefined) return push.error;
  const { target, items } = push;
  switch (target.kind) {
    case 'all':
      return service.pushAll(items);
    case 'room':
      return service.pushRoom(target.name, items);
    case 'conn':
      return service.pushConn(target.name, items);
    case 'user':
      return service.pushUser(target.name, items);
  }
}

/**
 * Runs a batch through the push service, one call per push as the single-push routes make them: each
 * admitted and answered on its own (a 503 for one is that push's result, not the batch's). Every call
 * is made before any is awaited, so that the pushes are accepted in order, in one event-loop turn, and
 * share frames as pushes made together do. Resolves with one result per push, in order;
 * `unexpected` hears of failures that are not a `PushError` (answered `INTERNAL_ERROR`).
 */
export function runBatch(service: PushService, pushes: readonly BatchPush[], unexpected: (error: unknown) => void): Promise<BatchResult[]> {
  const results: BatchResult[] = new Array(pushes.length);
  const waiting: Promise<void>[] = [];
  const fail = (index: number, error: unknown): void => {
    if (!(error instanceof PushError)) unexpected(error);
    results[index] = refused(error instanceof PushError ? error : apiError.INTERNAL_ERROR.internal());
  };
  for (let index = 0; index < pushes.length; index++) {
    let started: Promise<PushResult> | PushError;
    try {
      started = start(service, pushes[index]);
    } catch (error) {
      // A service that throws instead of rejecting (library use) fails only that push.
      fail(index, error);
      continue;
    }
    if (started instanceof PushError) {
      results[index] = refused(started);
      continue;
    }
    waiting.push(
      started.then(
        (result) => {
          results[index] = pushAnswer(result);
        },
        (error: unknown) => fail(index, error),
      ),
    );
  }
  return Promise.all(waiting).then(() => results);
}
