import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { connect as sdkConnect } from '../../src/client/node.js';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { serviceMissing } from '../helpers/services.js';
import { makeCertificates, type TestCertificates } from '../helpers/tls.js';
import { withTimeout } from '../helpers/wait.js';

const WAIT = 8000;
// The test's CA and certificates are made with openssl.
const opensslMissing = serviceMissing('openssl') ?? false;

/** The next message of a WebSocket, parsed. */
function nextMessage(ws: WebSocket): Promise<any> {
  return withTimeout(new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(data.toString())))), WAIT, 'a message');
}

/** The certificate a TLS server at host:port presents, as its SHA-256 fingerprint. */
function presented(port: number, ca: Buffer): Promise<string> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
        socket.end();
      });
      socket.on('error', reject);
    }),
    WAIT,
    'a TLS handshake',
  );
}

/** A request over HTTPS (HTTP/1.1) with the test CA. */
function httpsPost(url: string, ca: Buffer, type: string, body: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', ca, headers: { 'content-type': type, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('TLS on both ports: wss:// and https://, HTTP/2 on the push API', { skip: opensslMissing }, () => {
  let certs: TestCertificates;
  let gateway: RunningGateway;
  before(async () => {
    certs = makeCertificates(['server']);
    const { cert, key } = certs.server('server');
    gateway = await startGateway({ tlsCert: cert, tlsKey: key });
  });
  after(async () => {
    await gateway?.close();
    certs?.remove();
  });

  const wsUrl = () => gateway.pageUrl.replace(/^http:/, 'wss:');
  const apiUrl = () => gateway.apiUrl.replace(/^http:/, 'https:');

  it('serves wss:// to ws and to the SDK, and pushes through https://', async () => {
    const ws = new WebSocket(`${wsUrl()}/connect`, { ca: certs.ca });
    await withTimeout(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), WAIT, 'wss open');
    ws.send(JSON.stringify({ type: 'JOIN', id: 1, data: { room: 'secure' } }));
    await nextMessage(ws);
    // The SDK, unchanged, given a WebSocket that trusts the test CA.
    const ca = certs.ca;
    class TrustingWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { ca });
      }
    }
    const sdk = sdkConnect(`${wsUrl()}/connect`, { WebSocket: TrustingWebSocket as never });
    const sdkGot = withTimeout(new Promise((resolve) => sdk.on('push', (push: unknown) => resolve(push))), WAIT, 'the SDK push');
    await withTimeout(sdk.join('secure'), WAIT, 'the SDK joined');
    const got = nextMessage(ws);
    const answer = await httpsPost(`${apiUrl()}/push/room`, certs.ca, 'application/json', JSON.stringify({ room: 'secure', items: [{ n: 1 }] }));
    assert.equal(answer.status, 200);
    assert.deepEqual((await got).data.items, [{ n: 1 }]);
    assert.ok(JSON.stringify(await sdkGot).includes('"n":1'));
    sdk.close();
    ws.close();
  });

  it('refuses plain connections and TLS older than 1.2', async () => {
    const old = tlsConnect({
      host: '127.0.0.1',
      port: new URL(gateway.pageUrl).port as unknown as number,
      ca: certs.ca,
      maxVersion: 'TLSv1.1',
      minVersion: 'TLSv1',
    });
    await withTimeout(new Promise<void>((resolve) => old.once('error', () => resolve())), WAIT, 'TLS 1.1 refused');
    const plain = new WebSocket(`${gateway.pageUrl.replace(/^http:/, 'ws:')}/connect`);
    await withTimeout(new Promise<void>((resolve) => plain.once('error', () => resolve())), WAIT, 'plain ws refused');
  });

  it("takes go-push's logic tier as it talks: HTTP/2 over TLS, form bodies, many streams on one connection", async () => {
    const ws = new WebSocket(`${wsUrl()}/connect`, { ca: certs.ca });
    await withTimeout(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), WAIT, 'wss open');
    ws.send(JSON.stringify({ type: 'JOIN', id: 1, data: { room: 'logic' } }));
    await nextMessage(ws);
    const items: number[] = [];
    const all = withTimeout(
      new Promise<void>((resolve) => {
        ws.on('message', (data) => {
          const frame = JSON.parse(data.toString());
          if (frame.type === 'PUSH') for (const item of frame.data.items) items.push(item.n);
          if (items.length === 50) resolve();
        });
      }),
      WAIT,
      '50 items over HTTP/2',
    );
    const session = http2Connect(apiUrl(), { ca: certs.ca });
    assert.equal(await withTimeout(new Promise((resolve) => session.once('connect', () => resolve(session.alpnProtocol))), WAIT, 'h2 session'), 'h2');
    const post = (n: number) =>
      new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/push/room', 'content-type': 'application/x-www-form-urlencoded' });
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.end(new URLSearchParams({ room: 'logic', items: JSON.stringify([{ n }]) }).toString());
      });
    const statuses = await Promise.all(Array.from({ length: 50 }, (_, n) => post(n)));
    assert.deepEqual(new Set(statuses), new Set([200]));
    await all;
    assert.deepEqual(
      [...items].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, n) => n),
    );
    session.close();
    ws.close();
    // HTTP/1.1 on the same port still works (ALPN falls back).
    const h1 = await httpsPost(`${apiUrl()}/push/all`, certs.ca, 'application/x-www-form-urlencoded', 'items=%5B%7B%22n%22%3A1%7D%5D');
    assert.equal(h1.status, 200);
  });
});

describe('h2c: the push API over HTTP/2 without TLS', () => {
  let gateway: RunningGateway;
  before(async () => {
    gateway = await startGateway({ apiH2c: true });
  });
  after(async () => {
    await gateway?.close();
  });

  it('takes pushes by prior knowledge', async () => {
    const session = http2Connect(gateway.apiUrl);
    const status = await withTimeout(
      new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/push/all', 'content-type': 'application/json' });
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.end(JSON.stringify({ items: [1] }));
      }),
      WAIT,
      'an h2c push',
    );
    assert.equal(status, 200);
    session.close();
  });
});

describe('SIGHUP reloads the certificate without dropping a connection', { skip: opensslMissing }, () => {
  let certs: TestCertificates;
  let node: Child;
  after(async () => {
    await node?.stop(10000);
    certs?.remove();
  });

  it('new handshakes get the new certificate; the connection open stays', async () => {
    certs = makeCertificates(['live', 'renewed']);
    const live = certs.server('live');
    node = startNode(CLI, ['--host', '127.0.0.1', '--port', '0', '--api-host', '127.0.0.1', '--api-port', '0', '--tls-cert', live.cert, '--tls-key', live.key]);
    const [, ws] = await node.waitForLine(/listening ws=(\S+) api=(\S+)/, 10000);
    const port = Number(ws.split(':').pop());
    const before = await presented(port, certs.ca);
    assert.equal(before, new X509Certificate(readFileSync(live.cert)).fingerprint256);
    const open = new WebSocket(`wss://${ws}/connect`, { ca: certs.ca });
    await withTimeout(new Promise((resolve, reject) => open.once('open', resolve).once('error', reject)), WAIT, 'wss open');
    const renewed = certs.server('renewed');
    copyFileSync(renewed.cert, live.cert);
    copyFileSync(renewed.key, live.key);
    process.kill(node.child.pid as number, 'SIGHUP');
    await node.waitForLine(/TLS certificate reloaded/, WAIT);
    assert.equal(await presented(port, certs.ca), new X509Certificate(readFileSync(renewed.cert)).fingerprint256);
    open.send(JSON.stringify({ type: 'PING', id: 9, data: {} }));
    const pong = await nextMessage(open);
    assert.equal(pong.type, 'PONG', 'the connection made before the reload still answers');
    // A broken pair is refused, and the certificate in use stays.
    // (the CA's certificate beside the renewed key: a certificate and a key that are not a pair)
    copyFileSync(`${certs.dir}/ca.pem`, live.cert);
    process.kill(node.child.pid as number, 'SIGHUP');
    await node.waitForLine(/TLS certificate not reloaded/, WAIT);
    assert.equal(await presented(port, certs.ca), new X509Certificate(readFileSync(renewed.cert)).fingerprint256);
    open.close();
  });
});

describe('SIGHUP with --workers 2: the primary has every worker reload', { skip: opensslMissing }, () => {
  let certs: TestCertificates;
  let primary: Child;
  after(async () => {
    await primary?.stop(15000);
    certs?.remove();
  });

  it('both workers serve the renewed certificate', async () => {
    certs = makeCertificates(['live', 'renewed']);
    const live = certs.server('live');
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--tls-cert', live.cert, '--tls-key', live.key]);
    const [, ws] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
    const port = Number(ws.split(':').pop());
    const renewed = certs.server('renewed');
    copyFileSync(renewed.cert, live.cert);
    copyFileSync(renewed.key, live.key);
    process.kill(primary.child.pid as number, 'SIGHUP');
    await primary.waitForLine(/TLS certificate reloaded[\s\S]*TLS certificate reloaded/, WAIT);
    // The kernel spreads handshakes over the workers: each of a few new ones sees the renewed certificate.
    const fingerprint = new X509Certificate(readFileSync(renewed.cert)).fingerprint256;
    for (let i = 0; i < 6; i++) assert.equal(await presented(port, certs.ca), fingerprint);
  });
});

describe('the HTTPS push API keeps its deadlines on HTTP/1.1', { skip: opensslMissing }, () => {
  let certs: TestCertificates;
  let gateway: RunningGateway;
  before(async () => {
    certs = makeCertificates(['server']);
    const { cert, key } = certs.server('server');
    gateway = await startGateway({ tlsCert: cert, tlsKey: key, apiHeadersTimeout: 1, apiRequestTimeout: 2 });
  });
  after(async () => {
    await gateway?.close();
    certs?.remove();
  });

  it('answers a request whose headers never end with 408, and closes it (slowloris)', async () => {
    const port = Number(new URL(gateway.apiUrl).port);
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
      socket.write('POST /push/all HTTP/1.1\r\nHost: x\r\n');
    });
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    await withTimeout(new Promise((resolve) => socket.once('close', resolve)), WAIT, 'the slow request cut');
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });
});
