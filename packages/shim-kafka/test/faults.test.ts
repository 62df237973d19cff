import { faultSuite } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { beforeAll } from 'vitest';
import * as scenarios from '../../../scripts/soak/scenarios.mjs';
import { restartBroker, shimAdapters } from '../../../scripts/soak/shims.mjs';
import * as kafka from '../src/index.js';
import { assertKafkaRunning } from './kafka-env.js';

beforeAll(assertKafkaRunning);

// Reduced sizes of the soak run (node scripts/soak/run.mjs), on the sources. The kill case forks
// scripts/soak/consumer-child.mjs, which runs on the built packages (CI builds before testing).
faultSuite({
  scenarios,
  stream,
  shims: shimAdapters({ kafka }),
  shimModule: 'kafka',
  restartBroker: () => restartBroker('kafka'),
  restart: {
    title: 'Kafka restarted in the middle of a stream',
    cases: [
      // The data dir survives the restart; the consumer group resumes from its position.
      { shim: 'kafka', delivery: 'nothing-lost', stored: 'every-event-once', batchSize: 10 },
    ],
  },
  kill: { shims: ['kafka'], inactivityMs: 30_000 },
  load: { title: 'load through Kafka', shims: ['kafka'] },
});
