import type { ClientRequest, DecodeFailure, RequestId } from './client-protocol.js';
import { type ErrorFrameBody, frameError } from './errors.js';
import { roomNameProblem } from './room-name.js';

/** An epoch as the history stores make them (src/history/history-frame.ts). */
const EPOCH = /^[A-Za-z0-9_-]{1,64}$/;

function failure(id: RequestId | undefined, { code, message }: ErrorFrameBody): DecodeFailure {
  return { type: 'INVALID', id, code, message };
}

function requestId(value: unknown): RequestId | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.length <= 64) return value;
  return undefined;
}

/**
 * Decodes one text frame from a client: go-push's `{"type": T, "data": {...}}`, with an optional `id`.
 * Never throws: anything unusable comes back as a {@link DecodeFailure} naming the error code.
 */
export function decodeClientMessage(text: string): ClientRequest | DecodeFailure {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return failure(undefined, frameError.BAD_JSON.notJson());
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    return failure(undefined, frameError.BAD_REQUEST.notObject());
  }
  const { type, data, id: rawId } = message as Record<string, unknown>;
  const id = requestId(rawId);
  if (rawId !== undefined && id === undefined) {
    return failure(undefined, frameError.BAD_REQUEST.badId());
  }
  if (typeof type !== 'string') return failure(id, frameError.BAD_REQUEST.typeNotString());
  if (data !== undefined && (data === null || typeof data !== 'object' || Array.isArray(data))) {
    return failure(id, frameError.BAD_REQUEST.dataNotObject());
  }
  switch (type) {
    case 'PING':
      return { type, id };
    case 'JOIN':
    case 'LEAVE': {
      const { room, key } = (data ?? {}) as { room?: unknown; key?: unknown };
      const problem = roomNameProblem(room);
      if (problem !== null) return failure(id, frameError.INVALID_ROOM.problem(problem));
      if (type === 'LEAVE') return { type, id, room: room as string };
      // `key`: the API key, required to join the reserved stats room when one is configured; `data`: for the subscribe hook;
      // `offset` and `epoch`: where the client stood in the room's stream, to recover what it missed.
      const { data: extra, offset, epoch } = (data ?? {}) as { data?: unknown; offset?: unknown; epoch?: unknown };
      if (offset !== undefined || epoch !== undefined) {
        if (!Number.isSafeInteger(offset) || (offset as number) < 0 || typeof epoch !== 'string' || !EPOCH.test(epoch)) {
          return failure(id, frameError.BAD_REQUEST.badPosition());
        }
      }
      return {
        type,
        id,
        room: room as string,
        ...(typeof key === 'string' ? { key } : {}),
        ...(extra === undefined ? {} : { data: extra }),
        ...(offset === undefined ? {} : { since: { offset: offset as number, epoch: epoch as string } }),
      };
    }
    case 'RPC': {
      if (id === undefined) return failure(undefined, frameError.BAD_REQUEST.rpcNoId());
      const { method, data: payload } = (data ?? {}) as { method?: unknown; data?: unknown };
      if (typeof method !== 'string' || method.length === 0 || method.length > 128) return failure(id, frameError.BAD_REQUEST.rpcMethod());
      return { type, id, method, data: payload ?? null };
    }
    case 'PUBLISH': {
      const { room, data: payload } = (data ?? {}) as { room?: unknown; data?: unknown };
      const problem = roomNameProblem(room);
      if (problem !== null) return failure(id, frameError.INVALID_ROOM.problem(problem));
      if (payload === undefined) return failure(id, frameError.BAD_REQUEST.publishRefused('data.data, the item to publish, is required'));
      return { type, id, room: room as string, data: payload };
    }
    case 'AUTH': {
      const token = (data as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string' || token === '') return failure(id, frameError.BAD_REQUEST.noToken());
      return { type, id, token };
    }
    case 'PRESENCE': {
      // Its answer is a REPLY, matched to the request by its id.
      if (id === undefined) return failure(undefined, frameError.BAD_REQUEST.presenceNoId());
      const { room } = (data ?? {}) as { room?: unknown };
      const problem = roomNameProblem(room);
      if (problem !== null) return failure(id, frameError.INVALID_ROOM.problem(problem));
      return { type, id, room: room as string };
    }
    default:
      return failure(id, frameError.UNKNOWN_TYPE.unknown(type));
  }
}
