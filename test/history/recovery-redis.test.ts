import { serviceMissing, startRedis } from '../helpers/services.js';
import { describeRecoveryOver } from './recovery-brokers.js';

describeRecoveryOver({
  name: 'Redis Streams',
  missing: serviceMissing('redis-server'),
  start: startRedis,
  // Started without persistence: a restart is empty.
  restartEmpty: (redis) => redis.restart(),
  lossName: 'a Redis restart without persistence',
});
