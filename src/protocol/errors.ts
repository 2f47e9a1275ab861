import { type ErrorCodeName, type ErrorSpec, type ErrorSurface, errorRegistry } from './codes.js';

/** A push the gateway refuses, with the HTTP status (and headers) the push API answers it with. */
export class PushError extends Error {
  /**
   * More members of the answer's JSON `error`, beside `code` and `message` (which they cannot replace):
   * e.g. how a connection ended, for `CONN_GONE`. Set with {@link withDetails}.
   */
  details: Readonly<Record<string, unknown>> | undefined = undefined;

  constructor(
    readonly code: ErrorCodeName,
    message: string,
    readonly status: number,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    // An answer to a request, not a fault: its stack would never be read, and capturing it costs more
    // than the rest of a refusal (a busy gateway refuses thousands a second).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'PushError';
  }
}

/** The error with `details` added to its JSON `error` (see {@link PushError.details}); returns it. */
export function withDetails(error: PushError, details: Readonly<Record<string, unknown>>): PushError {
  error.details = { ...error.details, ...details };
  return error;
}

/** What an ERROR frame carries. */
export interface ErrorFrameBody {
  readonly code: ErrorCodeName;
  readonly message: string;
}

/** A refused handshake (or page) on the WebSocket port: its status, headers and JSON error. */
export interface HandshakeRefusal {
  readonly ok: false;
  readonly status: number;
  readonly code: ErrorCodeName;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
}

type Registry = typeof errorRegistry;

/** For each code answered on surface `S`, a function per message that builds a `T`. */
type Builders<S extends ErrorSurface, T> = {
  readonly [C in keyof Registry as Registry[C]['messages'] extends { readonly [K in S]: unknown } ? C : never]: Registry[C]['messages'] extends {
    readonly [K in S]: infer M;
  }
    ? { readonly [N in keyof M]: M[N] extends (...args: infer A) => string ? (...args: A) => T : never }
    : never;
};

// Turns each message of surface `surface` into a function building `make(code, spec, message)`.
function buildersFor<S extends ErrorSurface, T>(surface: S, make: (code: ErrorCodeName, spec: ErrorSpec, message: string) => T): Builders<S, T> {
  const result: Record<string, Record<string, (...args: never[]) => T>> = {};
  for (const [code, spec] of Object.entries(errorRegistry) as Array<[ErrorCodeName, ErrorSpec]>) {
    const messages = spec.messages[surface];
    if (messages === undefined) continue;
    if (surface !== 'frame' && spec.status === undefined) throw new Error(`error ${code} is answered over HTTP but has no status`);
    result[code] = Object.fromEntries(Object.entries(messages).map(([name, build]) => [name, (...args: never[]) => make(code, spec, build(...args))]));
  }
  return result as unknown as Builders<S, T>;
}

/** Push API errors, e.g. `throw apiError.QUEUE_FULL.full(pending, limit)`: code, status and headers from the registry. */
export const apiError = buildersFor('api', (code, spec, message) => new PushError(code, message, spec.status as number, spec.headers));

/** ERROR frame bodies, e.g. `frameError.TOO_MANY_ROOMS.limit(max)`. */
export const frameError = buildersFor('frame', (code, _spec, message): ErrorFrameBody => ({ code, message }));

/** Refusals on the WebSocket port's HTTP side, e.g. `handshakeRefusal.TOO_MANY_CONNECTIONS.perAddress(max)`. */
export const handshakeRefusal = buildersFor(
  'handshake',
  (code, spec, message): HandshakeRefusal => ({
    ok: false,
    status: spec.status as number,
    code,
    message,
    ...(spec.headers === undefined ? {} : { headers: spec.headers }),
  }),
);
