/**
 * pushgate's public API. Everything exported here is documented and stable within a major version;
 * other modules are internal.
 */

export { type ConnectionAuth, JwtVerifier, TokenError, type TokenGrant } from './auth/jwt.js';
export { createOriginPolicy, gatewayHostnames, type LocalEndpoint, type OriginPolicy } from './auth/origin.js';
export { MAX_ROOM_PATTERN_LENGTH, MAX_ROOM_PATTERNS, RoomPolicy } from './auth/room-policy.js';
export type {
  ClosedCount,
  CloseRequest,
  ConnectionInfo,
  ConnectionService,
  RoomCount,
  RoomList,
  UserConnections,
} from './cluster/connection-service.js';
export { loadOptions, type OptionSources } from './config/load.js';
export {
  defaultOptions,
  type GatewayOptions,
  type LogFormat,
  type LogLevel,
  OptionError,
  type OptionSpec,
  optionSpecs,
  resolveOptions,
} from './config/options.js';
export {
  type CloseInfo,
  Connection,
  type ConnectionHandler,
  type ConnectionLimits,
  defaultConnectionLimits,
  type IncomingMessage,
  type SendResult,
} from './connection/connection.js';
export { ConnectionClosedError } from './connection/inbound-queue.js';
export { Gateway, type GatewayAddresses, type PushResult, WEBSOCKET_PATHS } from './gateway/gateway.js';
export { HookHeader, signHookRequest, type VerifyOptions, verifyHookSignature } from './hooks/hook-signature.js';
export { createLogger, type Logger } from './log.js';
export type { PresenceApi, PresenceCounts, PresenceView } from './presence/presence-service.js';
export type {
  ClientProtocol,
  ClientRequest,
  ConnectedInfo,
  DecodedFrame,
  DecodeFailure,
  FrameRefusal,
  PreparedFrame,
  PresenceEntry,
  PresenceEventBody,
  RequestId,
} from './protocol/client-protocol.js';
export { CloseCode, ErrorCode, type ErrorCodeName, type ErrorSpec, type ErrorSurface, errorRegistry, WarningCode } from './protocol/codes.js';
export { PushError } from './protocol/errors.js';
export { goPushProtocol } from './protocol/go-push.js';
export { decodeClientMessage } from './protocol/messages.js';
export { MAX_ROOM_NAME_LENGTH, roomNameProblem } from './protocol/room-name.js';
export { WsListener, type WsListenerOptions } from './server/ws-listener.js';
export { Stats, type StatsSnapshot } from './stats/stats.js';
export type { Transport, TransportSink } from './transport/transport.js';
export { connectionFromWebSocket } from './transport/ws-connection.js';
export { WsTransport } from './transport/ws-transport.js';
