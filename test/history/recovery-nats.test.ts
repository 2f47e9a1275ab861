import { type JetStreamService, serviceMissing, startNatsJetStream } from '../helpers/services.js';
import { describeRecoveryOver } from './recovery-brokers.js';

describeRecoveryOver({
  name: 'NATS JetStream',
  missing: serviceMissing('nats-server'),
  start: startNatsJetStream,
  restartEmpty: async (nats) => {
    // Killed already by the test: its store directory goes, as a lost disk would.
    (nats as JetStreamService).wipe();
    await nats.restart();
  },
  lossName: 'a nats-server restart that lost its JetStream store',
});
