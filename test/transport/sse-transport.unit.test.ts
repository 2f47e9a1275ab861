import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { type CloseInfo, Connection, type ConnectionHandler } from '../../src/connection/connection.js';
import { sseProtocol } from '../../src/protocol/sse-protocol.js';
import { SseTransport } from '../../src/transport/sse-transport.js';
import type { TransportSink } from '../../src/transport/transport.js';

/** An HTTP response without a socket: it records writes, holds `writableLength` as the test sets it. */
class FakeResponse extends EventEmitter {
  readonly writes: string[] = [];
  /** Write callbacks not yet called: the kernel has not taken those bytes. */
  readonly pending: Array<(error?: Error | null) => void> = [];
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  corked = 0;
  uncorked = 0;
  readonly socket = { remoteAddress: '192.0.2.7' };

  write(chunk: Buffer | string, callback?: (error?: Error | null) => void): boolean {
    this.writes.push(chunk.toString());
    if (callback !== undefined) this.pending.push(callback);
    return true;
  }

  end(chunk?: string): void {
    if (chunk !== undefined) this.writes.push(chunk);
    this.writableEnded = true;
  }

  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }

  cork(): void {
    this.corked += 1;
  }

  uncork(): void {
    this.uncorked += 1;
  }

  /** The kernel took everything written: the write callbacks run. */
  flush(error: Error | null = null): void {
    for (const callback of this.pending.splice(0)) callback(error);
  }
}

/** A sink recording what the transport reports. */
class RecordingSink implements TransportSink {
  readonly reports: string[] = [];
  transportMessage(data: Buffer, isBinary: boolean): void {
    this.reports.push(`message ${isBinary ? 'binary' : 'text'} ${data.toString()}`);
  }
  transportAlive(): void {
    this.reports.push('alive');
  }
  transportPong(): void {
    this.reports.push('pong');
  }
  transportClosed(code: number, reason: string): void {
    this.reports.push(`closed ${code} ${reason}`);
  }
  transportError(code: number, reason: string): void {
    this.reports.push(`error ${code} ${reason}`);
  }
}

const make = (): { res: FakeResponse; transport: SseTransport; sink: RecordingSink } => {
  const res = new FakeResponse();
  const transport = new SseTransport(res as unknown as ServerResponse);
  const sink = new RecordingSink();
  assert.equal(transport.attach(sink), true);
  return { res, transport, sink };
};

describe('SseTransport', () => {
  it('writes prepared frames to the response as they are, several in one corked write, skipping empty ones', () => {
    const { res, transport } = make();
    transport.write(Buffer.from('event: a\ndata: 1\n\n'));
    transport.write(Buffer.alloc(0));
    transport.writeMany([{ bytes: Buffer.from('event: b\ndata: 2\n\n') }, { bytes: Buffer.alloc(0) }, { bytes: Buffer.from('event: c\ndata: 3\n\n') }]);
    assert.deepEqual(res.writes, ['event: a\ndata: 1\n\n', 'event: b\ndata: 2\n\n', 'event: c\ndata: 3\n\n']);
    assert.deepEqual([res.corked, res.uncorked], [1, 1]);
    transport.send('plain\ntext');
    assert.equal(res.writes.at(-1), 'event: message\ndata: plain\ndata: text\n\n');
    assert.equal(transport.remoteAddress, '192.0.2.7');
  });

  it("reports the response's writableLength as its queue", () => {
    const { res, transport } = make();
    assert.equal(transport.queuedBytes, 0);
    res.writableLength = 12345;
    assert.equal(transport.queuedBytes, 12345);
  });

  it('answers a probe, and counts a heartbeat as a sign of life, once the kernel took the comment', () => {
    const { res, transport, sink } = make();
    transport.probe();
    transport.heartbeat();
    assert.deepEqual(res.writes, [': ping\n\n', ': ping\n\n']);
    assert.deepEqual(sink.reports, [], 'nothing before the bytes are taken');
    res.flush();
    assert.deepEqual(sink.reports, ['pong', 'alive']);
    transport.probe();
    res.flush(new Error('EPIPE'));
    assert.deepEqual(sink.reports, ['pong', 'alive'], 'a failed write answers nothing');
  });

  it("hands the client's HTTP requests to the connection as text messages", () => {
    const { transport, sink } = make();
    transport.deliver('{"type":"PING","id":1,"data":{}}');
    assert.deepEqual(sink.reports, ['message text {"type":"PING","id":1,"data":{}}']);
    assert.equal(transport.isPaused, false);
    transport.pause();
    assert.equal(transport.isPaused, false, 'nothing to pause: requests come on other sockets');
  });

  it('closes with a last close event and reports the close it started once the response is gone', () => {
    const { res, transport, sink } = make();
    transport.close(1001, 'server shutting down');
    assert.equal(transport.isOpen, false);
    assert.equal(res.writes.at(-1), 'event: close\ndata: {"code":1001,"reason":"server shutting down"}\n\n');
    assert.equal(res.writableEnded, true);
    transport.close(1000, 'again');
    transport.write(Buffer.from('late'));
    assert.equal(res.writes.length, 1, 'nothing after the end');
    res.emit('close');
    res.emit('close');
    assert.deepEqual(sink.reports, ['closed 1001 server shutting down'], 'reported once');
  });

  it('reports a client that went as 1001, and terminates by destroying the response', () => {
    const gone = make();
    gone.res.emit('close');
    assert.deepEqual(gone.sink.reports, ['closed 1001 the client closed the stream']);
    assert.equal(gone.transport.isOpen, false);
    const cut = make();
    cut.transport.terminate();
    assert.equal(cut.res.destroyed, true);
    assert.equal(cut.sink.reports.length, 1);
  });

  it('refuses to attach to a response already over, and forgets its sink on detach', () => {
    const res = new FakeResponse();
    res.writableEnded = true;
    assert.equal(new SseTransport(res as unknown as ServerResponse).attach(new RecordingSink()), false);
    const { res: open, transport, sink } = make();
    transport.detach();
    open.emit('close');
    assert.deepEqual(sink.reports, []);
    assert.equal(open.listenerCount('close'), 0);
  });

  it('carries a Connection: the out queue bound cuts a slow consumer with 1013 and a close event', () => {
    const res = new FakeResponse();
    const closes: CloseInfo[] = [];
    let slow = 0;
    const handler: ConnectionHandler = {
      onMessage: () => {},
      onClose: (_conn, info) => closes.push(info),
      onSlow: () => {
        slow += 1;
      },
    };
    const conn = new Connection(
      new SseTransport(res as unknown as ServerResponse),
      'c1',
      sseProtocol,
      { maxQueueBytes: 100, maxInboundMessages: 4, maxClientRate: 0 },
      handler,
    );
    assert.equal(conn.sendPrepared(sseProtocol.push(['1'], 'r')), 'sent');
    res.writableLength = 90;
    assert.equal(conn.sendPrepared(sseProtocol.push(['"a long enough item to pass the bound"'], 'r')), 'slow');
    assert.equal(slow, 1);
    assert.deepEqual(closes, [{ code: 1013, reason: 'slow consumer', by: 'server' }]);
    assert.equal(res.writes.at(-1), 'event: close\ndata: {"code":1013,"reason":"slow consumer"}\n\n');
    assert.equal(conn.sendPrepared(sseProtocol.push(['2'], 'r')), 'closed');
    res.emit('close');
    assert.equal(conn.isClosed, true);
  });
});
