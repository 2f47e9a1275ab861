import { isIPv6 } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

/** The local side of a handshake's socket: the address and port the request arrived on. */
export interface LocalEndpoint {
  address?: string | undefined;
  port?: number | undefined;
}

/**
 * Decides which browser origins may open a WebSocket, against cross-site WebSocket hijacking: a page on
 * another site could otherwise connect with the user's cookies. Browsers always send `Origin` on a
 * WebSocket handshake; clients that send none are not browsers and are not subject to this check.
 */
export interface OriginPolicy {
  /** `true` when every origin is allowed (`*`), which start-up logs as a warning. */
  readonly allowsAll: boolean;
  /**
   * The hostnames the default same-origin check takes as the gateway's own (see
   * {@link gatewayHostnames}); empty when origins are listed.
   */
  readonly ownHostnames: readonly string[];
  /**
   * Whether a handshake with this `Origin`, arrived at `local` (the socket's local address and
   * port), may proceed. The request's `Host` is not consulted: a DNS-rebinding page sets it to its own name.
   */
  allows(origin: string | undefined, local: LocalEndpoint): boolean;
}

// The WebSocket port's own pages have an http: origin (ws: from clients that name the WebSocket URL
// itself), or https: (wss:) when it serves TLS.
const PLAIN = { schemes: new Set(['http:', 'ws:']), defaultPort: 80 };
const SECURE = { schemes: new Set(['https:', 'wss:']), defaultPort: 443 };
type OwnSchemes = typeof PLAIN;

/**
 * `host` (an address or a DNS name, IPv6 with or without brackets, IPv4-mapped IPv6 as its IPv4
 * address) as `URL.hostname` spells it, so that it compares with an origin's hostname; null when it
 * cannot be a hostname.
 */
function urlHostname(host: string): string | null {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const plain = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare)?.[1] ?? bare;
  try {
    return new URL(`http://${isIPv6(plain) ? `[${plain}]` : plain}`).hostname;
  } catch {
    return null;
  }
}

const WILDCARDS = new Set(['0.0.0.0', '[::]']);
const isLoopbackHostname = (name: string): boolean => name === 'localhost' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name);

/**
 * The hostnames a gateway listening on `listenHosts` (the `--host` entries) is known by, as
 * `URL.hostname` spells them: each specific address or name given; for a wildcard (`0.0.0.0`, `::`)
 * the machine's interface addresses, `localhost` and `os.hostname()`. `localhost` is also one of a
 * gateway on a loopback address: it always resolves to loopback (RFC 6761), so no other server can
 * be behind it. Any other DNS name must be listed in `allowedOrigins`: a page of an attacker's name
 * resolving to this machine (DNS rebinding) is not the gateway's own.
 */
export function gatewayHostnames(listenHosts: readonly string[]): string[] {
  const names = new Set<string>();
  const add = (host: string): void => {
    const name = urlHostname(host);
    if (name !== null) names.add(name);
  };
  for (const host of listenHosts) {
    const name = urlHostname(host.trim());
    if (name === null) continue;
    if (WILDCARDS.has(name)) {
      for (const addresses of Object.values(networkInterfaces())) for (const info of addresses ?? []) add(info.address);
      add('localhost');
      add(hostname());
    } else {
      names.add(name);
      if (isLoopbackHostname(name)) names.add('localhost');
    }
  }
  return [...names];
}

// Same origin: the listener's scheme, its port and one of its names, or the very address the request
// arrived on (an IP-literal origin is that server's own page; this covers interfaces that appeared
// after start and a --host name bound to one of its addresses).
function isOwnOrigin(url: URL, own: ReadonlySet<string>, local: LocalEndpoint, schemes: OwnSchemes): boolean {
  if (!schemes.schemes.has(url.protocol) || local.port === undefined) return false;
  if ((url.port === '' ? schemes.defaultPort : Number(url.port)) !== local.port) return false;
  return own.has(url.hostname) || (local.address !== undefined && url.hostname === urlHostname(local.address));
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
 * - empty: same origin only: an `http:` (or `ws:`; `https:` or `wss:` when the port serves TLS, `secure`)
 *   origin on the port the request arrived on, whose hostname is one of {@link gatewayHostnames}`(listenHosts)`
 *   or the address the request arrived on;
 * - `*`: every origin;
 * - otherwise exact origins (`https://app.example.com:8443`), wildcard subdomains (`https://*.example.com`,
 *   which does not match `example.com` itself) and `null` (pages opened from files) when listed.
 * Throws a `TypeError` naming a malformed entry.
 */
export function createOriginPolicy(allowedOrigins: readonly string[], listenHosts: readonly string[], secure = false): OriginPolicy {
  if (allowedOrigins.includes('*')) return { allowsAll: true, ownHostnames: [], allows: () => true };
  const allowNull = allowedOrigins.includes('null');
  const patterns = allowedOrigins.filter((entry) => entry !== 'null').map(parsePattern);
  const own = new Set(patterns.length === 0 ? gatewayHostnames(listenHosts) : []);
  return {
    allowsAll: false,
    ownHostnames: [...own],
    allows(origin, local) {
      if (origin === undefined) return true;
      if (origin === 'null') return allowNull;
      const url = parseOrigin(origin);
      if (url === null) return false;
      if (patterns.length === 0) return isOwnOrigin(url, own, local, secure ? SECURE : PLAIN);
      const scheme = url.protocol.slice(0, -1);
      const hostname = url.hostname;
      return patterns.some((p) => p.scheme === scheme && p.port === url.port && (p.wildcard ? hostname.endsWith(`.${p.host}`) : hostname === p.host));
    },
  };
}
