import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type RunningGateway, startGateway } from '../helpers/gateway.js';
import { type Child, CLI, startNode, WORKERS_ON_LOOPBACK } from '../helpers/process.js';
import { type Service, serviceMissing, startNatsJetStream, startRedis } from '../helpers/services.js';
import { type ChurnReport, churn } from './churn.js';

/** How long each churn runs: the 60 s by default; PUSHGATE_CHURN_SECONDS shortens it for a quick local run. */
const SECONDS = Number(process.env.PUSHGATE_CHURN_SECONDS ?? 60);
const HISTORY = 'churn:*=20000/300s';

function assertClean(name: string, report: ChurnReport): void {
  process.stdout.write(`# churn ${name}: ${JSON.stringify(report)}\n`);
  // Four stores share two cores: each reaches a fraction of the ~500/s asked for, and the proof is in what follows.
  assert.ok(report.pushes > SECONDS * 20, `${name}: pushes flowed (${report.pushes})`);
  assert.ok(report.reconnects > report.clients, `${name}: clients dropped and came back (${report.reconnects})`);
  assert.equal(report.silentGaps, 0, `${name}: no gap without recovered: false`);
  assert.equal(report.duplicates, 0, `${name}: no item twice`);
  assert.equal(report.notRecovered, 0, `${name}: with history this large, every rejoin recovers`);
  // A rejoin is answered recovered, or errored (announced), or its client dropped it before the answer
  // came (its random life ended first: rejoins over a slower store wait longer); nothing else.
  const errors = Object.values(report.joinErrors).reduce((sum, n) => sum + n, 0);
  assert.ok(report.recovered + errors + report.unanswered >= report.reconnects * 0.95, `${name}: rejoins accounted for`);
  assert.ok(report.recovered >= report.reconnects * 0.5, `${name}: most rejoins recovered (${report.recovered} of ${report.reconnects})`);
  assert.equal(report.behind, 0, `${name}: every client caught up`);
}

describe(`churn: 200 clients in 10 rooms dropping and reconnecting at random for ${SECONDS} s while ~500 pushes/s flow`, () => {
  let alone: RunningGateway;
  let primary: Child;
  let redis: Service | undefined;
  let nats: Service | undefined;
  const overRedis: RunningGateway[] = [];
  const overNats: RunningGateway[] = [];
  after(async () => {
    await alone?.close();
    await primary?.stop(15000);
    for (const node of [...overRedis, ...overNats]) await node.close();
    await redis?.stop();
    await nats?.stop();
  });

  it('is gap-free and duplicate-free on every store, the stores side by side', { timeout: (SECONDS + 60) * 1000 }, async () => {
    alone = await startGateway({ history: [HISTORY] });
    primary = startNode(CLI, [...WORKERS_ON_LOOPBACK, '--history', HISTORY]);
    const [, ws, api] = await primary.waitForLine(/listening ws=(\S+) api=(\S+) workers=2/, 15000);
    const common = { clients: 200, rooms: 10, durationMs: SECONDS * 1000, pushesPerSecond: 500, maxLifeMs: 3000, maxAwayMs: 1000 };
    const runs = [
      churn({ ...common, prefix: 'churn:m', wsUrls: [alone.wsUrl()], apiUrl: alone.apiUrl }),
      churn({ ...common, prefix: 'churn:w', wsUrls: [`ws://${ws}/connect`], apiUrl: `http://${api}` }),
    ];
    // Over Redis: two gateways, each client reconnecting to either.
    if (serviceMissing('redis-server') === null) {
      redis = await startRedis();
      for (let i = 0; i < 2; i++) overRedis.push(await startGateway({ history: [HISTORY], broker: redis.url }));
      runs.push(churn({ ...common, prefix: 'churn:r', wsUrls: overRedis.map((node) => node.wsUrl()), apiUrl: overRedis[0].apiUrl }));
    }
    // Over NATS JetStream: likewise.
    if (serviceMissing('nats-server') === null) {
      nats = await startNatsJetStream();
      for (let i = 0; i < 2; i++) overNats.push(await startGateway({ history: [HISTORY], broker: nats.url }));
      runs.push(churn({ ...common, prefix: 'churn:n', wsUrls: overNats.map((node) => node.wsUrl()), apiUrl: overNats[0].apiUrl }));
    }
    const names = ['memory', 'workers', ...(redis === undefined ? [] : ['redis']), ...(nats === undefined ? [] : ['nats'])];
    const reports = await Promise.all(runs);
    reports.forEach((report, i) => assertClean(names[i], report));
  });
});
