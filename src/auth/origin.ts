/**
 * Decides which browser origins may open a WebSocket, against cross-site WebSocket hijacking: a page on
 * another site could otherwise connect with the user's cookies. Browsers always send `Origin` on a
 * WebSocket handshake; clients that send none are not browsers and are not subject to this check.
 */
export interface OriginPolicy {
  /** `true` when every origin is allowed (`*`), which start-up logs as a warning. */
  readonly allowsAll: boolean;
  /** Whether a handshake with this `Origin` (and `Host`) header may proceed. */
  allows(origin: string | undefined, host: string | undefined): boolean;
}

interface Pattern {
  scheme: string;
  /** Exact host, or the suffix after `*.` for a wildcard. */
  host: string;
  wildcard: boolean;
  port: string;
}

const defaultPorts: Record<string, string> = { http: '80', https: '443', ws: '80', wss: '443' };

function parsePattern(entry: string): Pattern {
  const match = /^([a-z][a-z0-9+.-]*):\/\/(\*\.)?([^/:*]+)(?::(\d+))?\/?$/i.exec(entry);
  if (match === null) {
    throw new TypeError(`allowed origin "${entry}" must look like https://host[:port] or https://*.domain`);
  }
  const scheme = match[1].toLowerCase();
  // URL reports a scheme's default port as '', so an explicit :443 on https must compare as ''.
  const port = match[4] === defaultPorts[scheme] ? '' : (match[4] ?? '');
  return { scheme, wildcard: match[2] !== undefined, host: match[3].toLowerCase(), port };
}

function parseOrigin(origin: string): URL | null {
  try {
    return new URL(origin);
  } catch {
    return null;
  }
}

/**
 * Builds the policy from `allowedOrigins`:
 * - empty: same origin only (the page's `Origin` host equals the request's `Host`, as for the demo console);
 * - `*`: every origin;
 * - otherwise exact origins (`https://app.example.com:8443`), wildcard subdomains (`https://*.example.com`,
 *   which does not match `example.com` itself) and `null` (pages opened from files) when listed.
 * Throws a `TypeError` naming a malformed entry.
 */
export function createOriginPolicy(allowedOrigins: readonly string[]): OriginPolicy {
  if (allowedOrigins.includes('*')) return { allowsAll: true, allows: () => true };
  const allowNull = allowedOrigins.includes('null');
  const patterns = allowedOrigins.filter((entry) => entry !== 'null').map(parsePattern);
  return {
    allowsAll: false,
    allows(origin, host) {
      if (origin === undefined) return true;
      if (origin === 'null') return allowNull;
      const url = parseOrigin(origin);
      if (url === null) return false;
      if (patterns.length === 0) return host !== undefined && url.host === host.toLowerCase();
      const scheme = url.protocol.slice(0, -1);
      const hostname = url.hostname;
      return patterns.some((p) =>
        p.scheme === scheme &&
        p.port === url.port &&
        (p.wildcard ? hostname.endsWith(`.${p.host}`) : hostname === p.host));
    },
  };
}
