import type { AddressInfo, Server } from 'node:net';

/**
 * Starts `server` on `host:port`; rejects with the listen error (EADDRINUSE, …). Later server errors go
 * to `onError`: without a listener they would be thrown and end the process.
 */
export function listenHttp(server: Server, port: number, host: string, onError: (error: Error) => void): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Stops listening and closes idle keep-alive connections; resolves once every socket of the server
 * (requests in flight, upgraded WebSockets) has closed.
 */
export function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    // An HTTP/1.1 server holds idle keep-alive sockets; an HTTP/2 one has its sessions closed by its owner.
    (server as Server & { closeIdleConnections?(): void }).closeIdleConnections?.();
  });
}

/** `host:port`, with IPv6 hosts in brackets: the form of the start-up line. */
export function hostPort(address: AddressInfo): string {
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}
