/**
 * The client SDK's Node entry (`import { connect } from 'pushgate/client'`): everything from
 * `client.ts`, with a {@link connect} that uses the `ws` package's WebSocket when the runtime has no
 * global one (Node 20 has none by default). Bundlers targeting browsers pick `client.js` instead,
 * through the `browser` condition of the package's exports.
 *
 * @module
 */
import { WebSocket as NodeWebSocket } from 'ws';
import { type ClientOptions, PushgateClient, type WebSocketConstructor } from './client.js';

export * from './client.js';

/**
 * Connects to a pushgate gateway, like the browser `connect`, with `options.WebSocket` defaulting to
 * `globalThis.WebSocket` when there is one and to the `ws` package's WebSocket otherwise.
 */
export function connect(url: string, options: ClientOptions = {}): PushgateClient {
  const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (NodeWebSocket as unknown as WebSocketConstructor);
  return new PushgateClient(url, { ...options, WebSocket });
}
