import { faultSuite, restartLocalBroker } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { beforeAll } from 'vitest';
import { descriptors } from '../src/testing.js';
import { assertKafkaRunning } from './kafka-env.js';

beforeAll(assertKafkaRunning);

// Reduced sizes of the soak run (node scripts/soak/run.mjs), on the sources; the cases and their
// expectations come from the descriptors. The kill case's consumer process runs on the built
// packages (CI builds before testing).
faultSuite(descriptors, {
  stream,
  restartBroker: restartLocalBroker,
  resolveFrom: import.meta.url,
});
