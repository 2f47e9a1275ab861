import type { WebSocket } from 'ws';
import { Connection, type ConnectionHandler, type ConnectionLimits, defaultConnectionLimits } from '../connection/connection.js';
import type { ClientProtocol } from '../protocol/client-protocol.js';
import { goPushProtocol } from '../protocol/go-push.js';
import { WsTransport } from './ws-transport.js';

/**
 * A {@link Connection} over an open `ws` WebSocket, speaking `protocol` (go-push's JSON by default).
 * With a `handler`, messages go to `handler.onMessage`; without one, they queue for `readMessage` and
 * async iteration.
 *
 * @example
 * onConnection(ws) {
 *   const conn = connectionFromWebSocket(ws, 'c1');
 *   (async () => { for await (const message of conn) conn.send(message); })();
 * }
 */
export function connectionFromWebSocket(
  ws: WebSocket,
  id: string,
  limits: ConnectionLimits = defaultConnectionLimits,
  handler: ConnectionHandler | null = null,
  protocol: ClientProtocol = goPushProtocol,
): Connection {
  return new Connection(new WsTransport(ws), id, protocol, limits, handler);
}
