import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A test CA and server certificates it signed for 127.0.0.1 and localhost, as PEM files in a temp dir. */
export interface TestCertificates {
  dir: string;
  /** The CA certificate (PEM): what clients trust. */
  ca: Buffer;
  /** A server certificate and its key, by name. */
  server(name: string): { cert: string; key: string };
  remove(): void;
}

const openssl = (args: string[], cwd: string): void => {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
};

/**
 * Makes a CA and one server certificate per name (EC P-256: quick to make), each valid for 127.0.0.1,
 * ::1 and localhost, with `openssl` (Debian's `openssl` package). Each has its own serial, so two
 * certificates of the same names tell apart by fingerprint.
 */
export function makeCertificates(names: readonly string[] = ['server']): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=pushgate test CA'], dir);
  for (const name of names) {
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    const ext = `${name}.ext`;
    execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\\n' > ${ext}`], { cwd: dir });
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', ext],
      dir,
    );
  }
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.pem')),
    server: (name) => ({ cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
