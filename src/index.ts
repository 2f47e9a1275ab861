/**
 * pushgate's public API. Everything exported here is documented and stable within a major version;
 * other modules are internal.
 */
export { Gateway, WEBSOCKET_PATHS, type GatewayAddresses, type PushResult } from './gateway/gateway.js';
export { PushError } from './protocol/errors.js';
export {
  Connection,
  defaultConnectionLimits,
  type CloseInfo,
  type ConnectionHandler,
  type ConnectionLimits,
  type IncomingMessage,
  type SendResult,
} from './connection/connection.js';
export { ConnectionClosedError } from './connection/inbound-queue.js';
export { WsListener, type WsListenerOptions } from './server/ws-listener.js';
export { createOriginPolicy, gatewayHostnames, type LocalEndpoint, type OriginPolicy } from './auth/origin.js';
export {
  defaultOptions,
  optionSpecs,
  resolveOptions,
  OptionError,
  type GatewayOptions,
  type OptionSpec,
  type LogLevel,
  type LogFormat,
} from './config/options.js';
export { loadOptions, type OptionSources } from './config/load.js';
export { CloseCode, ErrorCode, WarningCode, errorRegistry, type ErrorCodeName, type ErrorSpec, type ErrorSurface } from './protocol/codes.js';
export { JwtVerifier, TokenError, type ConnectionAuth, type TokenGrant } from './auth/jwt.js';
export { MAX_ROOM_PATTERN_LENGTH, MAX_ROOM_PATTERNS, RoomPolicy } from './auth/room-policy.js';
export { MAX_ROOM_NAME_LENGTH, roomNameProblem } from './protocol/room-name.js';
export { decodeClientMessage, type ClientRequest, type DecodeFailure, type RequestId } from './protocol/messages.js';
export { Stats, type StatsSnapshot } from './stats/stats.js';
export { createLogger, type Logger } from './log.js';
