import type { ErrorCodeName } from '../protocol/codes.js';

/** A push the gateway refuses, with the HTTP status the push API answers it with. */
export class PushError extends Error {
  constructor(
    readonly code: ErrorCodeName,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'PushError';
  }
}
