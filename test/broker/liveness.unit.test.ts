import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { type BrokerStatus, BrokerUnavailableError } from '../../src/broker/broker.js';
import { answerWithin, LivenessProbe, NoAnswerError } from '../../src/broker/liveness.js';
import { IpcBroker, type IpcBrokerMessage } from '../../src/cluster/ipc-broker.js';
import { waitFor } from '../helpers/wait.js';

/** A promise settled from outside. */
function deferred<T = void>(): { promise: Promise<T>; resolve(value?: T): void; reject(error: Error): void } {
  let resolve!: (value?: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res as (value?: T) => void;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('answerWithin', () => {
  it('settles like the promise when it settles in time', async () => {
    assert.equal(await answerWithin(Promise.resolve(7), 1000, 'seven'), 7);
    await assert.rejects(answerWithin(Promise.reject(new Error('boom')), 1000, 'boom'), /boom/);
  });

  it('rejects with a BrokerUnavailableError naming what was awaited, after telling onTimeout, when no answer comes', async () => {
    const never = deferred<number>();
    const told: Error[] = [];
    const error = await answerWithin(never.promise, 20, 'publish on x', (e) => told.push(e)).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(error instanceof NoAnswerError && error instanceof BrokerUnavailableError);
    assert.match(error.message, /publish on x: no answer from the broker within 20 ms/);
    assert.deepEqual(told, [error]);
    // The late failure of the original has a handler: no unhandled rejection ends the test run.
    never.reject(new Error('too late'));
  });
});

describe('LivenessProbe', () => {
  const timing = { timeoutMs: 60, probeIntervalMs: 15 };

  it('reports answers, reports a probe not answered within the timeout, sends no second probe meanwhile, and reports the late answer', async () => {
    const reports: Array<Error | null> = [];
    const probes: Array<ReturnType<typeof deferred<void>>> = [];
    const probe = new LivenessProbe(
      timing,
      () => {
        const next = deferred();
        probes.push(next);
        return next.promise;
      },
      (error) => reports.push(error),
    );
    try {
      probe.start();
      await waitFor(() => probes.length === 1, 2000, 'a first probe');
      probes[0]!.resolve();
      await waitFor(() => reports.length === 1, 2000, 'its report');
      assert.equal(reports[0], null);
      // The second probe hangs: a timeout is reported, and no other probe is sent while it waits.
      await waitFor(() => probes.length === 2, 2000, 'a second probe');
      await waitFor(() => reports.length === 2, 2000, 'the timeout report');
      assert.ok(reports[1] instanceof NoAnswerError, String(reports[1]));
      assert.equal(probes.length, 2, 'one probe waiting, however many intervals pass');
      probes[1]!.resolve();
      await waitFor(() => reports.length === 3, 2000, 'the late answer');
      assert.equal(reports[2], null, 'a late answer is an answer');
      // A failing probe is reported as such, at once.
      await waitFor(() => probes.length === 3, 2000, 'a third probe');
      probes[2]!.reject(new Error('connection closed'));
      await waitFor(() => reports.length === 4, 2000, 'the failure');
      assert.match(String(reports[3]), /connection closed/);
    } finally {
      probe.stop();
    }
    // Stopped: no probe is sent, and whatever settles later is not reported.
    const count = probes.length;
    const reported = reports.length;
    probe.now();
    assert.equal(probes.length, count);
    probes.at(-1)?.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reports.length, reported);
  });

  it('now() probes at once, and a probe that throws is a failed probe', async () => {
    const reports: Array<Error | null> = [];
    const probe = new LivenessProbe(
      { timeoutMs: 1000, probeIntervalMs: 60000 },
      () => {
        throw new Error('not connected');
      },
      (error) => reports.push(error),
    );
    try {
      probe.now();
      await waitFor(() => reports.length === 1, 2000, 'the report');
      assert.match(String(reports[0]), /not connected/);
    } finally {
      probe.stop();
    }
  });
});

/** Stands in for a worker's IPC channel to the primary; the test plays the primary. */
class FakeChannel extends EventEmitter {
  connected = true;
  readonly sent: IpcBrokerMessage[] = [];
  /** Whether the "primary" acknowledges publishes (false: it is stopped). */
  answering = true;
  send(message: IpcBrokerMessage): boolean {
    this.sent.push(message);
    if (this.answering && message.pushgate === 'pub') queueMicrotask(() => this.emit('message', { pushgate: 'ack', id: message.id }));
    return true;
  }
}

describe('IpcBroker when the primary stops answering', () => {
  it('rejects a publish not acknowledged within the timeout, goes down, and comes back up once a probe is acknowledged', async () => {
    const channel = new FakeChannel();
    const broker = new IpcBroker(channel as unknown as NodeJS.Process, { timeoutMs: 80, probeIntervalMs: 20 });
    const statuses: BrokerStatus[] = [];
    broker.onStatus((status) => statuses.push(status));
    try {
      await broker.connect();
      await broker.publish('pushgate.all', Buffer.from('answered'));
      channel.answering = false;
      await assert.rejects(broker.publish('pushgate.all', Buffer.from('unanswered')), NoAnswerError);
      assert.equal(broker.status, 'down');
      await assert.rejects(broker.publish('pushgate.all', Buffer.from('refused')), BrokerUnavailableError);
      channel.answering = true;
      await waitFor(() => broker.status === 'up', 2000, 'a probe to be acknowledged');
      await broker.publish('pushgate.all', Buffer.from('answered again'));
      assert.deepEqual(statuses, ['up', 'down', 'up']);
      assert.ok(
        channel.sent.some((m) => m.pushgate === 'pub' && m.channel === 'pushgate.probe'),
        'probes are publishes on their own channel',
      );
    } finally {
      await broker.close();
    }
  });
});
