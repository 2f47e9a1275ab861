import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the backend received. */
export interface BackendRequest {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: any;
}

/** What a route answers: a status and a JSON body (or a raw string), after an optional delay; `hang` never answers. */
export type BackendAnswer = { status?: number; body?: unknown; raw?: string; delayMs?: number } | 'hang' | 'reset';

/** A route: answers a request (its parsed JSON body). */
export type BackendRoute = (body: any, request: BackendRequest) => BackendAnswer | Promise<BackendAnswer>;

/**
 * A real `node:http` backend on 127.0.0.1 (port 0) for hook tests: each path has a route the test sets
 * (and may change), every request is recorded, and a waiter can await the n-th request of a path.
 */
export class Backend {
  readonly requests: BackendRequest[] = [];
  private readonly routes = new Map<string, BackendRoute>();
  private readonly waiters: Array<() => void> = [];
  private readonly hanging = new Set<() => void>();
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(routes: Record<string, BackendRoute> = {}): Promise<Backend> {
    let backend: Backend | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown = null;
        try {
          body = raw === '' ? null : JSON.parse(raw);
        } catch {
          body = raw;
        }
        const request: BackendRequest = { path: (req.url ?? '/').split('?')[0], headers: req.headers, raw, body };
        const self = backend as Backend;
        self.requests.push(request);
        for (const wake of self.waiters.splice(0)) wake();
        const route = self.routes.get(request.path);
        const answer: BackendAnswer = route === undefined ? { status: 404, body: { reason: 'no route' } } : await route(body, request);
        if (answer === 'hang') {
          self.hanging.add(() => res.destroy());
          return;
        }
        if (answer === 'reset') {
          req.socket.destroy();
          return;
        }
        if (answer.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
        const text = answer.raw ?? (answer.body === undefined ? '' : JSON.stringify(answer.body));
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
        res.end(text);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    backend = new Backend(server, `http://127.0.0.1:${port}`);
    for (const [path, route] of Object.entries(routes)) backend.route(path, route);
    return backend;
  }

  /** Sets (or replaces) the route of `path`. */
  route(path: string, route: BackendRoute): void {
    this.routes.set(path, route);
  }

  /** Requests received on `path`. */
  on(path: string): BackendRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  /** Resolves once `path` has received `count` requests (fails after `ms`). */
  async received(path: string, count: number, ms = 5000): Promise<BackendRequest[]> {
    const deadline = Date.now() + ms;
    while (this.on(path).length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${path} received ${this.on(path).length} requests, not ${count}, within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.on(path);
  }

  async close(): Promise<void> {
    for (const cut of this.hanging) cut();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
