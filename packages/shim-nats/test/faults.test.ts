import { faultSuite } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import * as scenarios from '../../../scripts/soak/scenarios.mjs';
import { restartBroker, shimAdapters } from '../../../scripts/soak/shims.mjs';
import * as nats from '../src/index.js';

// Reduced sizes of the soak run (node scripts/soak/run.mjs), on the sources. The kill case forks
// scripts/soak/consumer-child.mjs, which runs on the built packages (CI builds before testing).
faultSuite({
  scenarios,
  stream,
  shims: shimAdapters({ nats }),
  shimModule: 'nats',
  restartBroker: () => restartBroker('nats'),
  restart: {
    title: 'nats-server restarted in the middle of a stream',
    cases: [
      // The broker loses nothing: a new group reads every event, once, in order. A batch whose
      // delivery the restart cut comes again after ackWaitMs (10 s here), after later ones:
      // StreamConsumer waits for it (lateBatchWaitMs) and delivers it late — at most one pull
      // (256 messages of 10 events) out of order.
      {
        shim: 'jetstream',
        delivery: 'nothing-lost',
        stored: 'every-event-once',
        batchSize: 10,
        maxReordered: 2_560,
      },
      // The subscriber reconnects by itself; core NATS keeps nothing.
      { shim: 'nats-core', delivery: 'every-loss-reported', stored: 'not-checked' },
    ],
  },
  kill: { shims: ['jetstream'] },
  load: { title: 'load through JetStream', shims: ['jetstream'] },
});
