/**
 * Every gateway option, once: its type, default, limits, flag, environment variable and description.
 * The CLI, the config-file loader, the README's option table and the tests are all driven by this list.
 */

import { parseHistoryRule } from '../history/history-policy.js';
import { joinLeaveProblem } from '../presence/presence-rules.js';
import { type PusherAppSpec, resolvePusherApps } from '../pusher/apps.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const ROLES = ['both', 'gateway', 'api'] as const;
/** `gateway`: connections only; `api`: the stateless push API only; `both` (default): one process does both. */
export type Role = (typeof ROLES)[number];

/** The gateway's settings. Each field's default is in {@link defaultOptions}. */
export interface GatewayOptions {
  /** WebSocket (and demo console) listening address, or several separated by commas (same port). Default `0.0.0.0`. */
  host: string;
  /** WebSocket listening port; 0 picks a free one. Default 7777. */
  port: number;
  /** Push API listening address: keep it internal. Default `127.0.0.1`. */
  apiHost: string;
  /** Push API listening port; 0 picks a free one. Default 7788. */
  apiPort: number;
  /** PEM certificate (chain) of the WebSocket port: with `tlsKey`, it serves `wss://` and `https://` (and the API too, unless it has its own). Default: none (plain). */
  tlsCert: string;
  /** PEM private key of `tlsCert`. Reloaded with the certificate on SIGHUP. */
  tlsKey: string;
  /** The push API's own PEM certificate, when it is not `tlsCert`. Default: none (the API uses `tlsCert`, or is plain). */
  apiTlsCert: string;
  /** PEM private key of `apiTlsCert`. */
  apiTlsKey: string;
  /** The push API speaks HTTP/2 over plain TCP (h2c, prior knowledge) instead of HTTP/1.1; over TLS it offers both (ALPN). Default false. */
  apiH2c: boolean;
  /**
   * Negotiate permessage-deflate with WebSocket clients that offer it, answering
   * `server_no_context_takeover` (so a PUSH frame is compressed once and the same bytes written to every
   * such recipient) and `client_no_context_takeover` (no inflater kept per connection). Default false.
   */
  perMessageDeflate: boolean;
  /** Seconds between the comment lines that keep a Server-Sent Events stream (`GET /sse`) alive through proxies. Default 15. */
  sseHeartbeat: number;
  /**
   * Origins allowed to open WebSockets, e.g. `https://app.example.com` or `https://*.example.com`.
   * Empty (the default): same origin only (an http: origin on the listening port naming one of the
   * gateway's addresses, `localhost` or the machine's hostname; see `gatewayHostnames`), plus clients
   * that send no Origin (non-browsers).
   * `*`: every origin (logged as a warning).
   */
  allowedOrigins: string[];
  /** Seconds of silence after which a client is disconnected. Default 60 (as go-push). */
  heartbeatInterval: number;
  /** Rooms one connection may join. Default 16. */
  maxRooms: number;
  /** Items in one PUSH frame; a full batch is sent at once. Default 100. */
  maxBatchItems: number;
  /** Milliseconds a batch may wait for more items; 0 (default) sends at the end of the event-loop turn. */
  maxBatchDelay: number;
  /**
   * The latency budget, in milliseconds: how long an accepted item may wait to be written to its
   * recipients beyond one write pass over every connection, and the widest merge window (the least time
   * between two frames to one target under load); when delivery or the clients are behind it, the push
   * API refuses with 503 `OVERLOADED` instead of queueing. Default 100; 0 turns off both the refusals
   * and the window (pushes are then bounded by `maxPendingItems` only).
   */
  maxLatency: number;
  /** Largest message a client may send, in bytes; larger ones close the connection with 1009. Default 65536. */
  maxMessageSize: number;
  /** Outgoing bytes queued per connection before it is closed as a slow consumer (1013). Default 1 MiB. */
  maxQueueBytes: number;
  /** Items waiting to be merged or delivered before the push API answers 503. Default 100000. */
  maxPendingItems: number;
  /** Largest push API request body, in bytes; larger ones get 413. Default 1 MiB. */
  maxBodySize: number;
  /** Pushes one `POST /push/batch` may hold; more get 413 `TOO_MANY_PUSHES`. Default 1000. */
  maxBatchPushes: number;
  /**
   * Arrays and objects one pushed item may nest (`[[1]]` is 2 deep); deeper items get 400
   * `ITEM_TOO_DEEP`. Default 64 (as .NET's System.Text.Json; serde_json allows 128, Go's encoding/json
   * 10000, the highest value allowed here, so that clients in any of them can decode what is pushed).
   */
  maxItemDepth: number;
  /** Seconds a push API client may take to send a request's headers. Default 10. */
  apiHeadersTimeout: number;
  /** Seconds a push API client may take to send a whole request (headers and body). Default 30. */
  apiRequestTimeout: number;
  /** Connections the push API holds at once (per process); more are dropped and counted. Default 1000. */
  apiMaxConnections: number;
  /** Messages per second a client may send before it is closed with 1008; 0 = unlimited. Default 50. */
  maxClientRate: number;
  /** Seconds a graceful shutdown may take before remaining clients are cut. Default 10. */
  shutdownTimeout: number;
  /** HS256 secret: when set (or `jwtPublicKey`), every connection must present a valid JWT. Default: off. */
  jwtSecret: string;
  /** A PEM public key file (RS256 or ES256) for JWTs. Default: off. */
  jwtPublicKey: string;
  /** Bearer key the push API requires; mandatory when the API listens on a non-loopback address. Default: none. */
  apiKey: string;
  /**
   * Lets any client join the dashboard's stats room `pushgate:stats` (node ids, pids, counters) without
   * the API key. Default false: the room needs the API key, and is closed when none is set.
   */
  publicStats: boolean;
  /** Seconds a client may take to complete its WebSocket handshake (slowloris guard). Default 10. */
  handshakeTimeout: number;
  /** Connections one IP address may hold, handshakes under way included; 0 (default): unlimited. */
  maxConnectionsPerIp: number;
  /**
   * How nodes reach each other: `memory` (default: one process; with workers, the primary relays),
   * `redis://host:6379` (pub/sub; sharded pub/sub on a Redis Cluster) or `nats://host:4222`.
   */
  broker: string;
  /**
   * Milliseconds the broker may take to answer a publish or a liveness probe; past it the publish is
   * refused (503) and the broker counted down until a probe is answered again. Default 2000.
   */
  brokerTimeout: number;
  /** Milliseconds between liveness probes of the broker connections (Redis PING, NATS PING/PONG). Default 1000. */
  brokerProbeInterval: number;
  /**
   * Milliseconds the clocks of two nodes may differ (plus delivery lag): a push that reaches a node later
   * than its publish deadline (`brokerTimeout`) plus this is dropped, since its publisher answered 503. Default 500.
   */
  brokerClockSkew: number;
  /** What this process does: `both` (default), `gateway` (connections only), `api` (push API only). */
  role: Role;
  /** Worker processes sharing the ports; 0 (default): one per core; 1: no workers, this process serves. */
  workers: number;
  /** Seconds between presence reports for cluster-wide counts (their staleness bound is 3 of these). Default 1. */
  presenceInterval: number;
  /**
   * The largest room presence lists (`GET /presence`, PRESENCE frames) and follows with join/leave
   * events: a room with more connections is answered with counts only and sends no events. Default 1000.
   */
  presenceMax: number;
  /**
   * Rooms whose members are told of every join and leave (PRESENCE_EVENT frames): `*` patterns
   * (`chat:*`, `lobby`, `*` for every room). Default: none.
   */
  joinLeave: string[];
  /**
   * Backend URL asked at each handshake (POST, JSON): it accepts (optionally naming the user, rooms to
   * join and data for the client) or refuses. Default: none (see the README's "Hooks").
   */
  connectHook: string;
  /** Backend URL asked before each JOIN (unless the token's `rooms` claim allows the room). Default: none. */
  subscribeHook: string;
  /** Backend URL that client RPC requests are posted to (unless `rpcRoutes` names their method). Default: none. */
  rpcHook: string;
  /** Per-method RPC URLs, `method=url` each (AWS-style route selection); a method not listed goes to `rpcHook`. */
  rpcRoutes: string[];
  /** Backend URL asked before a client PUBLISH (unless the token's `publish` claim allows the room). Default: none. */
  publishHook: string;
  /**
   * Rooms that keep their recent items, with offsets and an epoch, so that a client that reconnects
   * recovers what it missed: `PATTERN=SIZE/TTL` entries (`chat:*=100/300s`), the first match wins.
   * Default: none.
   */
  history: string[];
  /**
   * Pusher Channels apps, `id:key:secret` each, or (in the config file) objects with limits and webhooks
   * (see `pusherAppFromObject`): their clients connect to `/app/<key>` (pusher-js, Laravel Echo) and
   * their backends call `/apps/<id>/…` (the `pusher` server SDKs). Default: none.
   */
  pusherApps: PusherAppSpec[];
  /** Whether Pusher clients may send `client-*` events on private and presence channels. Default false. */
  pusherClientEvents: boolean;
  /** Backend URL that closed connections are posted to, in batches (best-effort). Default: none. */
  disconnectHook: string;
  /** Handshake headers passed to the connect hook (lower case). Default `cookie,authorization,user-agent,origin`. */
  hookHeaders: string[];
  /** Shared secret every hook request is signed with (HMAC-SHA256 over timestamp and body). Default: none (unsigned). */
  hookSecret: string;
  /** Milliseconds a hook may take to answer. Default 5000. */
  hookTimeout: number;
  /** Requests one hook may have in flight at once; more wait (and time out). Default 64. */
  hookConcurrency: number;
  /** Largest hook answer body, in bytes; larger ones count as a bad answer. Default 65536. */
  hookMaxAnswer: number;
  /** Failures in a row after which a hook's breaker opens (fails fast). Default 5. */
  hookBreakerFailures: number;
  /** Milliseconds an open breaker fails fast before it lets one probe through. Default 5000. */
  hookBreakerCooldown: number;
  /** Merge RPC, publish and subscribe calls made close together into one POST per hook (an array of calls). Default false. */
  hookBatch: boolean;
  /** Calls one batched hook POST holds at most. Default 100. */
  hookBatchMax: number;
  /** Milliseconds a batched call may wait for more; 0 (default): the end of the event-loop turn. */
  hookBatchDelay: number;
  /** RPC requests one connection may have in flight; more get ERROR `TOO_MANY_REQUESTS`. Default 8. */
  maxRpcInFlight: number;
  /** Closed connections one disconnect-hook POST holds at most. Default 100. */
  disconnectBatchSize: number;
  /** Milliseconds closed connections wait to be posted with others. Default 1000. */
  disconnectBatchDelay: number;
  /** Closed connections waiting to be posted, at most; past it they are dropped and counted. Default 10000. */
  disconnectQueue: number;
  /** Log level. Default `info`. */
  logLevel: LogLevel;
  /** `text` (one readable line per event, the default) or `json` (one JSON object per line). */
  logFormat: LogFormat;
}

type Kind =
  | { type: 'int'; min: number; max: number }
  | { type: 'number'; min: number; max: number }
  | { type: 'string'; optional?: boolean }
  | { type: 'list' }
  | { type: 'apps' }
  | { type: 'boolean' }
  | { type: 'enum'; choices: readonly string[] };

/** One option's description, used to build the CLI, read the environment and check config files. */
export interface OptionSpec {
  key: keyof GatewayOptions;
  /** Command-line flag, e.g. `--api-port`. */
  flag: string;
  /** Environment variable, e.g. `PUSHGATE_API_PORT`. */
  env: string;
  /** Placeholder shown in `--help` ('' for a boolean, a flag without a value). */
  arg: string;
  kind: Kind;
  description: string;
}

function spec(key: keyof GatewayOptions, arg: string, kind: Kind, description: string): OptionSpec {
  const dashed = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return { key, flag: `--${dashed}`, env: `PUSHGATE_${dashed.replace(/-/g, '_').toUpperCase()}`, arg, kind, description };
}

const port = { type: 'int', min: 0, max: 65535 } as const;
const positiveInt = (max: number): Kind => ({ type: 'int', min: 1, max });
const GiB = 1024 * 1024 * 1024;

/** All options, in the order `--help` lists them. */
export const optionSpecs: readonly OptionSpec[] = [
  spec('host', 'address', { type: 'string' }, 'WebSocket listening address; several, comma-separated, share the port'),
  spec('port', 'port', port, 'WebSocket listening port (0: any free port)'),
  spec('apiHost', 'address', { type: 'string' }, 'push API listening address (keep it internal)'),
  spec('apiPort', 'port', port, 'push API listening port (0: any free port)'),
  spec(
    'tlsCert',
    'file',
    { type: 'string', optional: true },
    'PEM certificate: serve wss:// and https:// (the API too, unless --api-tls-cert); reloaded on SIGHUP',
  ),
  spec('tlsKey', 'file', { type: 'string', optional: true }, 'PEM private key of --tls-cert'),
  spec('apiTlsCert', 'file', { type: 'string', optional: true }, "the push API's own PEM certificate (HTTP/2 and HTTP/1.1 over TLS)"),
  spec('apiTlsKey', 'file', { type: 'string', optional: true }, 'PEM private key of --api-tls-cert'),
  spec('apiH2c', '', { type: 'boolean' }, 'push API over HTTP/2 without TLS (h2c, prior knowledge) instead of HTTP/1.1'),
  spec('perMessageDeflate', '', { type: 'boolean' }, 'negotiate permessage-deflate: each PUSH frame compressed once for every client that offers it'),
  spec('sseHeartbeat', 'seconds', { type: 'number', min: 1, max: 300 }, 'seconds between keep-alive comment lines on Server-Sent Events streams (GET /sse)'),
  spec(
    'allowedOrigins',
    'list',
    { type: 'list' },
    'comma-separated origins allowed to connect (https://a.example, https://*.example); empty: same origin only; *: all',
  ),
  spec(
    'heartbeatInterval',
    'seconds',
    { type: 'number', min: 0.05, max: 86400 },
    'disconnect a client silent for this long (PING or any frame keeps it alive)',
  ),
  spec('maxRooms', 'count', positiveInt(100000), 'rooms one connection may join'),
  spec('maxBatchItems', 'count', positiveInt(1000000), 'items merged into one PUSH frame at most'),
  spec('maxBatchDelay', 'ms', { type: 'int', min: 0, max: 60000 }, 'wait up to this long to merge more items (0: flush at the end of each event-loop turn)'),
  spec(
    'maxLatency',
    'ms',
    { type: 'int', min: 0, max: 60000 },
    'latency budget: while delivery is behind it (beyond one write pass over every connection), pushes get 503 OVERLOADED (0: off)',
  ),
  spec('maxMessageSize', 'bytes', positiveInt(GiB), 'largest client message; larger ones close with 1009'),
  spec('maxQueueBytes', 'bytes', positiveInt(GiB), 'outgoing bytes queued per connection before a slow-consumer close (1013)'),
  spec('maxPendingItems', 'count', positiveInt(1e9), 'items waiting for merge or delivery before the push API answers 503'),
  spec('maxBodySize', 'bytes', positiveInt(GiB), 'largest push API request body; larger ones get 413'),
  spec('maxBatchPushes', 'count', positiveInt(1000000), 'pushes one POST /push/batch may hold; more get 413 TOO_MANY_PUSHES'),
  spec('maxItemDepth', 'depth', positiveInt(10000), 'arrays and objects one pushed item may nest; deeper items get 400 ITEM_TOO_DEEP'),
  spec(
    'apiHeadersTimeout',
    'seconds',
    { type: 'number', min: 0.1, max: 3600 },
    "time a push API client may take to send a request's headers (at most apiRequestTimeout)",
  ),
  spec(
    'apiRequestTimeout',
    'seconds',
    { type: 'number', min: 0.1, max: 3600 },
    'time a push API client may take to send a whole request; a slower one is cut (408)',
  ),
  spec('apiMaxConnections', 'count', positiveInt(1000000), 'connections the push API holds at once, per process; more are dropped and counted'),
  spec('maxClientRate', 'per-second', { type: 'number', min: 0, max: 1e6 }, 'messages per second a client may send before a 1008 close (0: unlimited)'),
  spec(
    'shutdownTimeout',
    'seconds',
    { type: 'number', min: 0, max: 3600 },
    'how long a graceful shutdown may take: waiting for accepted pushes to come back from the broker, then for clients to close',
  ),
  spec('jwtSecret', 'secret', { type: 'string', optional: true }, 'HS256 secret: connections must present a valid JWT (off when empty)'),
  spec('jwtPublicKey', 'file', { type: 'string', optional: true }, 'PEM public key file (RS256/ES256) to verify connection JWTs (off when empty)'),
  spec('apiKey', 'key', { type: 'string', optional: true }, 'bearer key the push API requires (required when --api-host is not loopback)'),
  spec(
    'publicStats',
    '',
    { type: 'boolean' },
    'let any client join the dashboard stream pushgate:stats without the API key (node ids, pids and counters become public)',
  ),
  spec(
    'handshakeTimeout',
    'seconds',
    { type: 'number', min: 0.1, max: 600 },
    'time a client may take to complete its WebSocket handshake (and, with JWT auth, to send AUTH)',
  ),
  spec(
    'maxConnectionsPerIp',
    'count',
    { type: 'int', min: 0, max: 10000000 },
    'connections one IP address may hold, handshakes under way included (0: unlimited)',
  ),
  spec('broker', 'url', { type: 'string' }, 'memory (one machine), redis://host:6379 or nats://host:4222 (a cluster of nodes)'),
  spec(
    'brokerTimeout',
    'ms',
    { type: 'int', min: 10, max: 600000 },
    'a publish or liveness probe the broker does not answer within this is refused (503) and the broker counted down',
  ),
  spec('brokerProbeInterval', 'ms', { type: 'int', min: 10, max: 600000 }, 'how often the broker connections are probed for liveness'),
  spec(
    'brokerClockSkew',
    'ms',
    { type: 'int', min: 0, max: 600000 },
    'tolerated clock difference between nodes (plus delivery lag): pushes arriving later than their publish deadline plus this are dropped',
  ),
  spec('role', 'role', { type: 'enum', choices: ROLES }, 'both, gateway (connections only) or api (push API only); also the subcommands'),
  spec('workers', 'count', { type: 'int', min: 0, max: 1024 }, 'worker processes sharing the ports (0: one per core, 1: none)'),
  spec('presenceInterval', 'seconds', { type: 'number', min: 0.05, max: 60 }, 'seconds between cluster presence reports (counts are at most 3 of these stale)'),
  spec('presenceMax', 'count', positiveInt(1000000), 'rooms with more connections than this answer presence with counts only, and send no join/leave events'),
  spec('joinLeave', 'list', { type: 'list' }, 'rooms whose members get join/leave events: comma-separated * patterns (chat:*,lobby; * for all)'),
  spec('connectHook', 'url', { type: 'string', optional: true }, 'backend URL asked at each handshake (accept, with user, rooms and data, or refuse)'),
  spec('subscribeHook', 'url', { type: 'string', optional: true }, "backend URL asked before a JOIN (rooms the token's rooms claim allows skip it)"),
  spec('rpcHook', 'url', { type: 'string', optional: true }, 'backend URL that client RPC requests are posted to'),
  spec('rpcRoutes', 'list', { type: 'list' }, 'per-method RPC URLs: method=url,method=url (others go to --rpc-hook)'),
  spec('publishHook', 'url', { type: 'string', optional: true }, "backend URL asked before a client PUBLISH (rooms the token's publish claim allows skip it)"),
  spec('history', 'list', { type: 'list' }, 'rooms keeping recent items for recovery: pattern=size/ttl,… (e.g. chat:*=100/300s; first match wins)'),
  spec('pusherApps', 'apps', { type: 'apps' }, 'Pusher Channels apps served at /app/<key> and /apps/<id>/…: id:key:secret,… (off when empty)'),
  spec('pusherClientEvents', '', { type: 'boolean' }, 'let Pusher clients send client-* events on private and presence channels'),
  spec('disconnectHook', 'url', { type: 'string', optional: true }, 'backend URL closed connections are posted to, in batches (best-effort)'),
  spec('hookHeaders', 'list', { type: 'list' }, 'handshake headers passed to the connect hook'),
  spec('hookSecret', 'secret', { type: 'string', optional: true }, 'shared secret signing every hook request (HMAC-SHA256 of timestamp.body)'),
  spec('hookTimeout', 'ms', { type: 'int', min: 1, max: 600000 }, 'time a hook may take to answer'),
  spec('hookConcurrency', 'count', positiveInt(100000), 'requests one hook may have in flight'),
  spec('hookMaxAnswer', 'bytes', positiveInt(GiB), 'largest hook answer body; larger ones are a bad answer'),
  spec('hookBreakerFailures', 'count', positiveInt(1000000), "failures in a row that open a hook's circuit breaker"),
  spec('hookBreakerCooldown', 'ms', { type: 'int', min: 1, max: 3600000 }, 'time an open breaker fails fast before one probe goes through'),
  spec('hookBatch', '', { type: 'boolean' }, 'merge RPC, publish and subscribe calls made close together into one POST per hook'),
  spec('hookBatchMax', 'count', positiveInt(100000), 'calls one batched hook POST holds at most'),
  spec('hookBatchDelay', 'ms', { type: 'int', min: 0, max: 60000 }, 'time a batched hook call may wait for more (0: the end of the event-loop turn)'),
  spec('maxRpcInFlight', 'count', positiveInt(100000), 'RPC requests one connection may have in flight'),
  spec('disconnectBatchSize', 'count', positiveInt(100000), 'closed connections one disconnect-hook POST holds at most'),
  spec('disconnectBatchDelay', 'ms', { type: 'int', min: 0, max: 600000 }, 'time closed connections wait to be posted with others'),
  spec('disconnectQueue', 'count', positiveInt(10000000), 'closed connections waiting to be posted at most (more are dropped and counted)'),
  spec('logLevel', 'level', { type: 'enum', choices: LOG_LEVELS }, `log level: ${LOG_LEVELS.join(', ')}`),
  spec('logFormat', 'format', { type: 'enum', choices: LOG_FORMATS }, 'log format: text or json'),
];

/** The embedded defaults: what `npm start` runs with. */
export const defaultOptions: Readonly<GatewayOptions> = Object.freeze({
  host: '0.0.0.0',
  port: 7777,
  apiHost: '127.0.0.1',
  apiPort: 7788,
  allowedOrigins: [],
  heartbeatInterval: 60,
  maxRooms: 16,
  maxBatchItems: 100,
  maxBatchDelay: 0,
  maxLatency: 100,
  maxMessageSize: 64 * 1024,
  maxQueueBytes: 1024 * 1024,
  maxPendingItems: 100000,
  maxBodySize: 1024 * 1024,
  maxBatchPushes: 1000,
  maxItemDepth: 64,
  apiHeadersTimeout: 10,
  apiRequestTimeout: 30,
  apiMaxConnections: 1000,
  maxClientRate: 50,
  shutdownTimeout: 10,
  jwtSecret: '',
  jwtPublicKey: '',
  apiKey: '',
  publicStats: false,
  handshakeTimeout: 10,
  maxConnectionsPerIp: 0,
  broker: 'memory',
  brokerTimeout: 2000,
  brokerProbeInterval: 1000,
  brokerClockSkew: 500,
  role: 'both',
  workers: 0,
  presenceInterval: 1,
  presenceMax: 1000,
  joinLeave: [],
  connectHook: '',
  subscribeHook: '',
  rpcHook: '',
  rpcRoutes: [],
  publishHook: '',
  history: [],
  pusherApps: [],
  pusherClientEvents: false,
  disconnectHook: '',
  hookHeaders: ['cookie', 'authorization', 'user-agent', 'origin'],
  hookSecret: '',
  tlsCert: '',
  tlsKey: '',
  apiTlsCert: '',
  apiTlsKey: '',
  apiH2c: false,
  perMessageDeflate: false,
  sseHeartbeat: 15,
  hookTimeout: 5000,
  hookConcurrency: 64,
  hookMaxAnswer: 64 * 1024,
  hookBreakerFailures: 5,
  hookBreakerCooldown: 5000,
  hookBatch: false,
  hookBatchMax: 100,
  hookBatchDelay: 0,
  maxRpcInFlight: 8,
  disconnectBatchSize: 100,
  disconnectBatchDelay: 1000,
  disconnectQueue: 10000,
  logLevel: 'info',
  logFormat: 'text',
});

/** An option value that cannot be used; the message names the option, its flag and variable. */
export class OptionError extends Error {
  readonly code = 'INVALID_OPTION';
  constructor(
    readonly option: OptionSpec | string,
    detail: string,
  ) {
    super(typeof option === 'string' ? detail : `invalid ${option.flag} (${option.env}, config key "${option.key}"): ${detail}`);
    this.name = 'OptionError';
  }
}

/** How the option is written on a command line: `--port <port>`, or `--public-stats` for a boolean. */
export function optionUsage(option: OptionSpec): string {
  return option.kind.type === 'boolean' ? option.flag : `${option.flag} <${option.arg}>`;
}

const BOOLEAN_WORDS: ReadonlyMap<string, boolean> = new Map([
  ['true', true],
  ['false', false],
  ['1', true],
  ['0', false],
  ['yes', true],
  ['no', false],
]);

const specsByKey = new Map(optionSpecs.map((s) => [s.key, s]));

/** The spec of `key`, or `undefined` if no such option exists. */
export function optionSpec(key: string): OptionSpec | undefined {
  return specsByKey.get(key as keyof GatewayOptions);
}

/**
 * Converts a value from a flag, a variable (strings) or a config file (JSON values) to the option's type,
 * throwing an {@link OptionError} that names the option when it does not fit.
 */
export function parseOptionValue(option: OptionSpec, raw: unknown): GatewayOptions[keyof GatewayOptions] {
  const shown = JSON.stringify(raw);
  const { kind } = option;
  switch (kind.type) {
    case 'int':
    case 'number': {
      const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      const what = kind.type === 'int' ? 'an integer' : 'a number';
      if (!Number.isFinite(value) || (kind.type === 'int' && !Number.isInteger(value)) || value < kind.min || value > kind.max) {
        throw new OptionError(option, `must be ${what} from ${kind.min} to ${kind.max}, got ${shown}`);
      }
      return value;
    }
    case 'string':
      if (typeof raw !== 'string' || (raw.trim() === '' && kind.optional !== true)) throw new OptionError(option, `must be a non-empty string, got ${shown}`);
      return raw.trim();
    case 'list': {
      const items = typeof raw === 'string' ? raw.split(',') : Array.isArray(raw) ? raw : null;
      if (items === null || !items.every((item) => typeof item === 'string')) {
        throw new OptionError(option, `must be a comma-separated string or an array of strings, got ${shown}`);
      }
      return items.map((item: string) => item.trim()).filter((item: string) => item !== '');
    }
    case 'apps': {
      // Flags and variables give the one-line forms; a config file may give objects beside them.
      const items = typeof raw === 'string' ? raw.split(',') : Array.isArray(raw) ? raw : null;
      const fits = (item: unknown): boolean => typeof item === 'string' || (typeof item === 'object' && item !== null && !Array.isArray(item));
      if (items === null || !items.every(fits)) {
        throw new OptionError(option, `must be a comma-separated string of id:key:secret, or an array of those and app objects, got ${shown}`);
      }
      return items.map((item: unknown) => (typeof item === 'string' ? item.trim() : item)).filter((item: unknown) => item !== '') as PusherAppSpec[];
    }
    case 'boolean': {
      // A flag given alone arrives as true; a variable or a config file may spell it out.
      const value = typeof raw === 'boolean' ? raw : typeof raw === 'string' ? BOOLEAN_WORDS.get(raw.trim().toLowerCase()) : undefined;
      if (value === undefined) throw new OptionError(option, `must be true or false (or 1/0, yes/no), got ${shown}`);
      return value;
    }
    case 'enum':
      if (typeof raw !== 'string' || !kind.choices.includes(raw)) {
        throw new OptionError(option, `must be one of ${kind.choices.join(', ')}, got ${shown}`);
      }
      return raw as LogLevel;
  }
}

const hookUrl = (value: string): string | null =>
  value === '' || /^https?:\/\/[^\s/]+\S*$/i.test(value) ? null : `must be an http:// or https:// URL, got "${value}"`;

/** Checks that go beyond the type: values the gateway could not start with. */
const semanticChecks: Partial<Record<keyof GatewayOptions, (value: never) => string | null>> = {
  connectHook: hookUrl,
  subscribeHook: hookUrl,
  rpcHook: hookUrl,
  publishHook: hookUrl,
  disconnectHook: hookUrl,
  rpcRoutes: (value: string[]) => {
    for (const entry of value) {
      const at = entry.indexOf('=');
      if (at <= 0) return `"${entry}" must be method=url`;
      const problem = hookUrl(entry.slice(at + 1));
      if (problem !== null || entry.slice(at + 1) === '') return `"${entry}": the url ${problem ?? 'is empty'}`;
    }
    return null;
  },
  history: (value: string[]) => {
    for (const entry of value) {
      try {
        parseHistoryRule(entry);
      } catch (error) {
        return (error as Error).message;
      }
    }
    return null;
  },
  joinLeave: (value: string[]) => joinLeaveProblem(value),
  pusherApps: (value: PusherAppSpec[]) => {
    try {
      resolvePusherApps(value, false);
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  },
  hookHeaders: (value: string[]) => {
    for (const entry of value) if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(entry)) return `"${entry}" is not a header name`;
    return null;
  },
  broker: (value: string) =>
    /^(memory(:\/\/[\w.-]*)?|rediss?:\/\/\S+|nats:\/\/\S+)$/.test(value) ? null : `must be memory, redis://host:port or nats://host:port, got "${value}"`,
  host: (value: string) => (value.split(',').some((host) => host.trim() !== '') ? null : `must name at least one address, got "${value}"`),
  allowedOrigins: (value: string[]) => {
    for (const entry of value) {
      if (entry === '*' || entry === 'null') continue;
      if (!/^[a-z][a-z0-9+.-]*:\/\/(\*\.)?[^/:*]+(:\d+)?\/?$/i.test(entry))
        return `"${entry}" must look like https://host[:port] or https://*.domain (or * or null)`;
    }
    return null;
  },
};

/**
 * Defaults overlaid with `partial`, every given field checked. Throws an {@link OptionError} for an
 * unknown key or a bad value. Used by the CLI and by `new Gateway(options)`.
 */
export function resolveOptions(partial: Partial<Record<keyof GatewayOptions, unknown>> = {}): GatewayOptions {
  const options: Record<string, unknown> = {
    ...defaultOptions,
    allowedOrigins: [...defaultOptions.allowedOrigins],
    rpcRoutes: [...defaultOptions.rpcRoutes],
    history: [...defaultOptions.history],
    pusherApps: [...defaultOptions.pusherApps],
    joinLeave: [...defaultOptions.joinLeave],
    hookHeaders: [...defaultOptions.hookHeaders],
  };
  for (const [key, raw] of Object.entries(partial)) {
    if (raw === undefined) continue;
    const option = optionSpec(key);
    if (option === undefined) throw new OptionError(key, `unknown option "${key}"`);
    const value = parseOptionValue(option, raw);
    const problem = semanticChecks[option.key]?.(value as never) ?? null;
    if (problem !== null) throw new OptionError(option, problem);
    options[key] = value;
  }
  const resolved = options as unknown as GatewayOptions;
  checkTls(resolved);
  return resolved;
}

// A certificate needs its key and a key its certificate; h2c is HTTP/2 without TLS, so not with it.
function checkTls(options: GatewayOptions): void {
  for (const [cert, key] of [
    ['tlsCert', 'tlsKey'],
    ['apiTlsCert', 'apiTlsKey'],
  ] as const) {
    if ((options[cert] === '') !== (options[key] === '')) {
      const missing = options[cert] === '' ? cert : key;
      throw new OptionError(optionSpec(missing) ?? missing, `${optionSpec(cert)?.flag} and ${optionSpec(key)?.flag} go together: give both, or neither`);
    }
  }
  if (options.apiH2c && (options.apiTlsCert !== '' || options.tlsCert !== '')) {
    throw new OptionError(optionSpec('apiH2c') ?? 'apiH2c', 'h2c is HTTP/2 without TLS: over TLS the push API offers HTTP/2 and HTTP/1.1 by itself (ALPN)');
  }
}
