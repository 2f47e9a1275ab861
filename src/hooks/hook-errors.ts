import { type ErrorFrameBody, frameError, type HandshakeRefusal, handshakeRefusal } from '../protocol/errors.js';
import type { HookCallError } from './hook-client.js';

/** What a client is told in an ERROR frame when a hook call failed: TIMEOUT, UNAVAILABLE or BAD_GATEWAY. */
export function hookFailureFrame(error: HookCallError): ErrorFrameBody {
  switch (error.kind) {
    case 'timeout':
      return frameError.TIMEOUT.hook(error.hook, error.detail);
    case 'unavailable':
      return frameError.UNAVAILABLE.hookFailed(error.hook, error.detail);
    case 'bad-answer':
      return frameError.BAD_GATEWAY.badAnswer(error.hook, error.detail);
  }
}

/**
 * What a handshake is answered with when the connect hook failed: 503 `UNAVAILABLE` (with `Retry-After`,
 * so clients back off and retry) when it is down, slow or failing; 502 `BAD_GATEWAY` when its answer
 * cannot be used.
 */
export function hookFailureRefusal(error: HookCallError): HandshakeRefusal {
  return error.kind === 'bad-answer'
    ? handshakeRefusal.BAD_GATEWAY.badAnswer(error.hook, error.detail)
    : handshakeRefusal.UNAVAILABLE.hookFailed(error.hook, error.detail);
}

/** A backend's reason for a refusal: `reason` or `message` of its answer, a string of at most 200 characters. */
export function refusalReason(body: unknown, fallback: string): string {
  if (body !== null && typeof body === 'object') {
    const { reason, message } = body as { reason?: unknown; message?: unknown };
    const text = typeof reason === 'string' ? reason : typeof message === 'string' ? message : null;
    if (text !== null && text !== '') return text.slice(0, 200);
  }
  return fallback;
}
