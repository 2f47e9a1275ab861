import { WebSocket } from 'ws';
import type { WebSocketConstructor } from '../../src/client/client.js';

/**
 * A WebSocket the test steers: `hold()` makes the next connections wait until `release()` (a reconnect
 * held while the test pushes), and `redirect(url)` sends them to another gateway (one on a new store).
 */
export function steered(): { WebSocket: WebSocketConstructor; hold(): void; release(): void; redirect(url: string): void } {
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => {};
  let target: string | undefined;
  class Steered {
    private real: WebSocket | null = null;
    private readonly listeners: Array<[string, (event: unknown) => void]> = [];
    constructor(url: string, protocols?: string | string[]) {
      void gate.then(() => {
        this.real = new WebSocket(target ?? url, protocols);
        for (const [type, listener] of this.listeners) this.real.addEventListener(type as 'open', listener);
      });
    }
    get readyState(): number {
      return this.real?.readyState ?? 0;
    }
    send(data: string): void {
      this.real?.send(data);
    }
    close(code?: number, reason?: string): void {
      this.real?.close(code, reason);
    }
    addEventListener(type: string, listener: (event: unknown) => void): void {
      this.listeners.push([type, listener]);
      this.real?.addEventListener(type as 'open', listener);
    }
  }
  return {
    WebSocket: Steered as unknown as WebSocketConstructor,
    hold: () => {
      gate = new Promise((resolve) => (open = resolve));
    },
    release: () => open(),
    redirect: (url) => {
      target = url;
    },
  };
}
