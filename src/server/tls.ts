import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';

/** The oldest TLS version either port accepts: 1.0 and 1.1 are deprecated (RFC 8996). */
export const MIN_TLS_VERSION = 'TLSv1.2';

/** A certificate chain and its private key, as PEM files. */
export interface TlsFiles {
  cert: string;
  key: string;
}

/** What a reload made of the files: the new certificate in use, or why the old one stays. */
export type TlsReload = { ok: true; servers: number } | { ok: false; error: string };

/**
 * The certificate of a port: read from its PEM files at start (a file that cannot be read, or a key
 * that does not match the certificate, stops the start with a message naming the file), handed to
 * every server of the port, and read again by {@link reload} (SIGHUP), which swaps the servers'
 * secure context in place: connections open keep the session they have, new handshakes get the new
 * certificate. A reload whose files do not make a valid context changes nothing.
 */
export class TlsCredentials {
  private current: SecureContextOptions;
  private readonly servers = new Set<TlsServer>();

  /** Throws an Error naming the file for files that cannot be read or do not make a context. */
  constructor(readonly files: TlsFiles) {
    this.current = load(files);
  }

  /** The options a server of this port is created with (the certificate, its key, TLS 1.2 at least). */
  get serverOptions(): SecureContextOptions & { minVersion: typeof MIN_TLS_VERSION } {
    return { ...this.current, minVersion: MIN_TLS_VERSION };
  }

  /** Follows `server`: a reload changes its certificate too. */
  attach(server: TlsServer): void {
    this.servers.add(server);
    server.once('close', () => this.servers.delete(server));
  }

  /** Reads the files again and, when they make a valid context, gives it to every server. */
  reload(): TlsReload {
    let next: SecureContextOptions;
    try {
      next = load(this.files);
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
    this.current = next;
    for (const server of this.servers) server.setSecureContext({ ...next, minVersion: MIN_TLS_VERSION });
    return { ok: true, servers: this.servers.size };
  }
}

function load({ cert, key }: TlsFiles): SecureContextOptions {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const options = { cert: read(cert, 'certificate'), key: read(key, 'key') };
  try {
    // Checked now, so that a wrong pair fails the start (or the reload) rather than every handshake.
    createSecureContext({ ...options, minVersion: MIN_TLS_VERSION });
  } catch (error) {
    throw new Error(`the TLS certificate ${cert} and key ${key} do not make a usable pair: ${(error as Error).message}`);
  }
  return options;
}
