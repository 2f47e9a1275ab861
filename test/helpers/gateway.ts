import type { Logger } from 'pino';
import type { GatewayOptions } from '../../src/config/options.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { TestClient } from './client.js';

/** A gateway on free loopback ports, with URLs for its two sides. */
export interface RunningGateway {
  gateway: Gateway;
  /** `ws://127.0.0.1:PORT/connect` (or another path). */
  wsUrl(path?: string): string;
  /** `http://127.0.0.1:PORT` of the WebSocket port (pages). */
  pageUrl: string;
  /** `http://127.0.0.1:PORT` of the push API. */
  apiUrl: string;
  connect(path?: string): Promise<TestClient>;
  close(): Promise<void>;
}

/** Starts a real gateway on port 0 (loopback only), logging to `log` if given. Close it in an `after` hook. */
export async function startGateway(options: Partial<GatewayOptions> = {}, log?: Logger): Promise<RunningGateway> {
  const gateway = new Gateway({ host: '127.0.0.1', port: 0, apiHost: '127.0.0.1', apiPort: 0, ...options }, log);
  const addresses = await gateway.listen();
  const ws = addresses.ws!;
  const api = addresses.api!;
  const wsUrl = (path = '/connect'): string => `ws://127.0.0.1:${ws.port}${path}`;
  return {
    gateway,
    wsUrl,
    pageUrl: `http://127.0.0.1:${ws.port}`,
    apiUrl: `http://127.0.0.1:${api.port}`,
    connect: (path) => TestClient.open(wsUrl(path)),
    close: () => gateway.close(),
  };
}

/** POSTs a go-push form body (`items=[...]`, `room=...`). */
export async function postForm(url: string, fields: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: await res.json() };
}

/** POSTs a JSON body. */
export async function postJson(url: string, body: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}
