import { faultSuite } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import * as scenarios from '../../../scripts/soak/scenarios.mjs';
import { restartBroker, shimAdapters } from '../../../scripts/soak/shims.mjs';
import * as redis from '../src/index.js';

// Reduced sizes of the soak run (node scripts/soak/run.mjs), on the sources. The kill cases fork
// scripts/soak/consumer-child.mjs, which runs on the built packages (CI builds before testing).
faultSuite({
  scenarios,
  stream,
  shims: shimAdapters({ redis }),
  shimModule: 'redis',
  restartBroker: () => restartBroker('redis'),
  restart: {
    title: 'Redis restarted in the middle of a stream',
    cases: [
      // Redis keeps every event (the list queue's reads consume, so only Streams can be re-read);
      // a command replayed after the reconnect may store a batch twice (at least once).
      // A read whose reply the restart cut leaves its message in the subscriber's pending list,
      // delivered on the first read after the reconnect: nothing lost, at most that one message
      // (10 events) after a later one.
      {
        shim: 'redis-list',
        delivery: 'nothing-lost',
        stored: 'every-event-at-least-once',
        batchSize: 10,
        maxReordered: 10,
      },
      // A read whose reply the restart cut is read again from the pending entries after the
      // reconnect, or claimed after claimIdleMs and waited for by StreamConsumer: nothing lost,
      // at most one read (64 messages of 10 events) late. A batch stored twice is skipped.
      {
        shim: 'redis-streams',
        delivery: 'nothing-lost',
        stored: 'every-event-at-least-once',
        batchSize: 10,
        maxReordered: 640,
      },
      // The subscriber resubscribes by itself; pub/sub keeps nothing.
      { shim: 'redis-pubsub', delivery: 'every-loss-reported', stored: 'not-checked' },
    ],
  },
  kill: { shims: ['redis-list', 'redis-streams'] },
  load: {
    title: 'load through the persistent Redis shims',
    shims: ['redis-list', 'redis-streams'],
  },
});
