import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { sendJson } from '../server/http-reply.js';

interface Page {
  body: Buffer;
  type: string;
  /** Extra headers (the SDK may be imported by pages of any site). */
  headers: Record<string, string>;
}

// Pages are self-contained files: inline script and style, WebSockets to any gateway (and the SDK's
// Server-Sent Events fallback to this one), nothing else.
const PAGE_CSP =
  "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src ws: wss: 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const sources: Array<[string[], URL, string, Record<string, string>?]> = [
  [['/', '/index.html'], new URL('./static/console.html', import.meta.url), 'text/html; charset=utf-8'],
  [['/dashboard'], new URL('./static/dashboard.html', import.meta.url), 'text/html; charset=utf-8'],
  // The client SDK, an ES module without imports: pages load it with `import { connect } from '/client.js'`.
  // Module scripts load with CORS: the SDK is public code, so any origin may import it.
  [
    ['/client.js'],
    new URL('../client/client.js', import.meta.url),
    'text/javascript; charset=utf-8',
    { 'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin' },
  ],
];

/**
 * The gateway's pages on the WebSocket port: the demo console at `/`, the dashboard at `/dashboard`
 * and the browser client at `/client.js`, read once at start, and `/healthz` (200 while the gateway
 * runs, else 503). A build without one of the pages still runs the gateway and says what is missing.
 */
export class Pages {
  private readonly pages = new Map<string, Page>();

  /** @param running whether the gateway runs, for `/healthz`. */
  constructor(
    log: Logger,
    private readonly running: () => boolean = () => true,
  ) {
    for (const [paths, file, type, headers = {}] of sources) {
      try {
        const page = { body: readFileSync(file), type, headers };
        for (const path of paths) this.pages.set(path, page);
      } catch (error) {
        log.warn({ err: error }, `page ${paths[0]} missing (run npm run build); it will answer 404`);
      }
    }
  }

  /** Serves a GET or HEAD for a known page, and `/healthz`; returns false for anything else. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/healthz') {
      const ok = this.running();
      sendJson(res, ok ? 200 : 503, { ok });
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const page = this.pages.get(path);
    if (page === undefined) return false;
    res.writeHead(200, {
      'Content-Type': page.type,
      'Content-Length': page.body.length,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': PAGE_CSP,
      ...page.headers,
    });
    res.end(req.method === 'HEAD' ? undefined : page.body);
    return true;
  }
}
